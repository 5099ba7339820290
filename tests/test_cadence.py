"""Zoom cadence: camera paths compose per frame, in-betweens cross-fade both key frames, cadence 1 is
today's loop bit for bit, only key frames are dreamed, and an interrupted render resumes exactly."""

import numpy as np
import pytest

from dreamvid.render.dreaming import FrameDreamer, build_engine
from dreamvid.cli import run
from dreamvid.motion import CameraMove, camera_matrix, per_frame
from dreamvid.render.cadence import coverage, cross_fade, frame_matrix, key_step_scale, move_image, path_matrix
from dreamvid.render.zoom import cadence_step, start_picture, zoom_step
from dreamvid.settings import Resolved, merge
from conftest import decoded

FPS = 10.0


def maps(matrix, point):
    return (matrix @ np.array([*point, 1.0]))[:2]


def test_a_path_applies_each_frames_own_move_in_turn():
    moves = [CameraMove(zoom=1.5), CameraMove(zoom=3.0, rotate=40.0), CameraMove(translate_x=50.0)]
    point = np.array([10.0, 3.0])
    expected = point
    for move in moves:
        expected = maps(frame_matrix(move, FPS, 64, 48), expected)
    assert np.allclose(maps(path_matrix(moves, FPS, 64, 48), point), expected)
    assert not np.allclose(maps(path_matrix(moves[::-1], FPS, 64, 48), point), expected)  # order matters
    second = path_matrix([CameraMove(zoom=1.25)] * 10, FPS, 64, 48)  # one second of 1.25 per second
    assert np.allclose(second[:2, :2], 1.25 * np.eye(2))


def test_a_one_frame_path_is_that_frames_matrix_exactly():
    move = CameraMove(zoom=1.3, rotate=7.0, translate_y=2.0, center_x=0.3)
    assert np.array_equal(path_matrix([move], FPS, 64, 48)[:2], camera_matrix(per_frame(move, FPS), 64, 48))
    assert np.array_equal(path_matrix([], FPS, 64, 48), np.eye(3))


def test_key_steps_grow_gently_with_the_cadence():
    assert key_step_scale(1) == 1.0
    assert 1.0 < key_step_scale(2) < key_step_scale(3) < key_step_scale(4) < 2.0


def test_cross_fade_weights_by_distance_and_keeps_out_of_the_uncovered_ring():
    rng = np.random.default_rng(0)
    before, after = (rng.random((48, 64, 3), dtype=np.float32) for _ in range(2))
    forward = path_matrix([CameraMove(zoom=1.3)], 1.0, 64, 48)  # zoom in: `before` covers every pixel
    backward = np.linalg.inv(forward)  # zoom out: `after` leaves a ring at the edges
    early, late = move_image(before, forward, "lanczos"), move_image(after, backward, "lanczos")
    assert np.allclose(cross_fade(before, after, forward, backward, 0.0, "lanczos"), early)
    inside = coverage(backward, 64, 48) > 0.999
    assert 0.3 < inside.mean() < 0.9
    halfway = cross_fade(before, after, forward, backward, 0.5, "lanczos")
    assert np.allclose(halfway[inside], (0.5 * (early + late))[inside], atol=1e-5)
    assert np.allclose(halfway[:2], early[:2]) and np.allclose(halfway[:, :2], early[:, :2])  # the ring: `before` only
    whole = cross_fade(before, after, forward, backward, 1.0, "lanczos")
    assert np.allclose(whole[inside], late[inside], atol=1e-5)


def run_steps(step, first, frames):
    state, out = {"image": first}, []
    for t in range(frames):
        frame, state = step(t, state)
        out.append(frame)
    return out


def tiny_settings(**values):
    return Resolved(merge(("test", {"size": 48, "octaves": 1, "iterations": 1, "device": "cpu", "fps": "10",
                                    "zoom": "0: 1.5, 4: 3", "rotate": 20, **values})))


def test_cadence_1_is_todays_loop_bit_for_bit(cat_path, lite0_blocks4):
    settings = tiny_settings()
    dreamer, first = FrameDreamer(settings, build_engine(settings, net=lite0_blocks4)), start_picture(cat_path, settings)
    today = run_steps(zoom_step(dreamer, settings, None), first, 6)
    cadenced = run_steps(cadence_step(dreamer, settings, None, 1), first, 6)
    for t, (a, b) in enumerate(zip(today, cadenced)):
        assert np.array_equal(a, b), f"frame {t} differs"


@pytest.mark.parametrize("cadence", [2, 3])
def test_without_dreaming_the_in_betweens_follow_the_camera(cat_path, lite0_blocks4, cadence):
    """With no ascent every frame is the camera's move of the picture: cadence only changes the resampling."""
    settings = tiny_settings(iterations=0, colour_coherence=0.0, zoom=2.0, rotate=30.0)
    dreamer, first = FrameDreamer(settings, build_engine(settings, net=lite0_blocks4)), start_picture(cat_path, settings)
    today = np.stack(run_steps(zoom_step(dreamer, settings, None), first, 7)).astype(float)
    cadenced = np.stack(run_steps(cadence_step(dreamer, settings, None, cadence), first, 7)).astype(float)
    motion = np.abs(today[1:] - today[:-1]).mean()
    assert np.abs(cadenced - today).mean() < 0.25 * motion, (np.abs(cadenced - today).mean(), motion)


def cadence_argv(source, out, *extra):
    return ["zoom", str(source), "-o", str(out), "--size", "48", "--octaves", "1", "--iterations", "1",
            "--device", "cpu", "--frames", "10", "--checkpoint-frames", "4", "--cadence", "3", *extra]


def test_only_key_frames_are_dreamed_and_a_resume_is_exact(cat_path, tmp_path, capsys, dream_calls):
    calls, stop_at = dream_calls
    whole, resumed = tmp_path / "a.mp4", tmp_path / "b.mp4"
    assert run(cadence_argv(cat_path, whole)) == 0, capsys.readouterr().err
    assert calls == [0, 3, 6, 9, 12]  # each key is dreamed one key ahead of the frames fading toward it

    stop_at.add(9)  # dreamed while frame 6 is made: the checkpoint after frame 3 holds keys 3 and 6
    calls.clear()
    assert run(cadence_argv(cat_path, resumed)) == 130
    assert "--resume continues from frame 4 of 10" in capsys.readouterr().err
    calls.clear()
    assert run(cadence_argv(cat_path, resumed, "--resume")) == 0, capsys.readouterr().err
    assert calls == [9, 12]
    a, b = decoded(whole), decoded(resumed)
    assert a.shape == b.shape == (10, 32, 48, 3)
    for index, (frame_a, frame_b) in enumerate(zip(a, b)):
        assert np.array_equal(frame_a, frame_b), f"frame {index} differs"


def test_cadence_is_checked_like_any_setting(cat_path, tmp_path, capsys):
    assert run(cadence_argv(cat_path, tmp_path / "c.mp4", "--cadence", "0")) == 2
    err = capsys.readouterr().err
    assert "cadence" in err and ">= 1" in err and err.count("\n") == 1
