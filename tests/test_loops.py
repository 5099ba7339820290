"""Loops (`--loop`) and boomerangs (`--boomerang`): the wrap of a zoom loop is a normal step, a resumed
loop is the one left alone, a boomerang comes back without its end frames twice."""

import os
import re

from PIL import Image
import numpy as np

from dreamvid.cli import run
from dreamvid.media.synthetic import circle_clip, pan_clip, write_clip
from conftest import CLIP_SIZE, NO_DREAM, RATE, SAMPLES, audio, clip_with_audio, decoded, rms, video  # noqa: F401

FAST = ["--size", "48", "--octaves", "1", "--iterations", "2", "--device", "cpu", "--fps", "12"]


def zoom(source, out, *extra):
    return run(["zoom", str(source), "-o", str(out), *FAST, *extra])


def pngs(folder) -> np.ndarray:
    return np.stack([np.asarray(Image.open(folder / name)) for name in sorted(os.listdir(folder))])


def steps(frames: np.ndarray) -> np.ndarray:
    """Mean absolute change between consecutive frames, the wrap (last -> first) last."""
    following = np.roll(frames, -1, axis=0).astype(np.float32)
    return np.abs(following - frames.astype(np.float32)).mean(axis=(1, 2, 3))


def test_a_zoom_loop_wraps_with_a_normal_step(cat_path, tmp_path, capsys):
    plain, looped = tmp_path / "plain", tmp_path / "loop"
    assert zoom(cat_path, plain / "%03d.png", "--frames", "18", "--zoom", "1.5") == 0
    assert zoom(cat_path, looped / "%03d.png", "--frames", "18", "--zoom", "1.5", "--loop") == 0, \
        capsys.readouterr().err
    plain_steps, loop_steps = steps(pngs(plain)), steps(pngs(looped))
    assert len(loop_steps) == 18  # the lead is dreamed, not written
    assert plain_steps[-1] > 1.5 * np.median(plain_steps[:-1])  # without --loop the wrap jumps
    assert loop_steps[-1] <= 1.2 * np.median(loop_steps[:-1]), loop_steps.round(2)


def test_a_loops_schedule_that_does_not_meet_its_start_is_said(cat_path, tmp_path, capsys):
    assert zoom(cat_path, tmp_path / "z.gif", "--frames", "6", "--iterations", "0", "--loop",
                "--zoom", "0: 1.1, 20: 1.6") == 0
    err = capsys.readouterr().err
    assert "loop: zoom is" in err and "at its end" in err, err


def test_a_resumed_loop_is_the_loop_left_alone(cat_path, tmp_path, capsys, dream_calls):
    calls, stop_at = dream_calls
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    argv = ["--frames", "10", "--checkpoint-frames", "4", "--loop", "--zoom", "1.5"]
    assert zoom(cat_path, whole / "%03d.png", *argv) == 0
    stop_at.add(20)  # the lead is 12 frames: frames 12-19 are written, the head is in the checkpoint
    assert zoom(cat_path, resumed / "%03d.png", *argv) == 130
    assert "continues from frame 20" in capsys.readouterr().err
    calls.clear()
    assert zoom(cat_path, resumed / "%03d.png", *argv, "--resume") == 0
    assert calls == list(range(20, 22))
    assert np.array_equal(pngs(whole), pngs(resumed))


def test_boomerang_goes_forward_then_back_without_its_end_frames_twice(cat_path, tmp_path, capsys):
    forward, boomerang = tmp_path / "forward", tmp_path / "boomerang"
    assert zoom(cat_path, forward / "%03d.png", "--frames", "5", "--checkpoint-frames", "2") == 0
    assert zoom(cat_path, boomerang / "%03d.png", "--frames", "5", "--checkpoint-frames", "2", "--boomerang") == 0
    there = pngs(forward)
    assert np.array_equal(pngs(boomerang), there[[0, 1, 2, 3, 4, 3, 2, 1]])

    assert zoom(cat_path, tmp_path / "b.mp4", "--frames", "5", "--checkpoint-frames", "2", "--boomerang",
                "--audio", os.path.join(os.path.dirname(cat_path), "song.mp3")) == 0
    assert "sound plays backward" in capsys.readouterr().err
    assert abs(len(audio(tmp_path / "b.mp4")) / RATE - 8 / 12) < 0.05
    video = decoded(tmp_path / "b.mp4").astype(np.float32)
    assert len(video) == 8
    errors = np.abs(video[:, None] - there[None].astype(np.float32)).mean(axis=(2, 3, 4))
    assert list(errors.argmin(axis=1)) == [0, 1, 2, 3, 4, 3, 2, 1], errors.round(1)


def circle_source(tmp_path, frames=12):
    picture = np.asarray(Image.open(os.path.join(SAMPLES, "coffee.jpg")).convert("RGB").resize((128, 96)))
    path = str(tmp_path / "circle.mp4")
    write_clip(circle_clip(picture, frames, CLIP_SIZE, radius=0.5), path, fps=12, tone_hz=None)
    return path


def test_a_looping_clip_wraps_with_a_normal_step(tmp_path, capsys):
    source = circle_source(tmp_path)
    plain, looped = tmp_path / "plain", tmp_path / "loop"
    dreams = ["--iterations", "8", "--iterations-next", "2", "--octaves", "2"]
    assert video(source, plain / "%03d.png", *dreams) == 0
    assert video(source, looped / "%03d.png", *dreams, "--loop") == 0, capsys.readouterr().err
    plain_steps, loop_steps = steps(pngs(plain)), steps(pngs(looped))
    assert len(loop_steps) == 12  # the first pass's frames are dreamed, not written
    assert plain_steps[-1] > 1.3 * np.median(plain_steps[:-1]), plain_steps.round(2)
    assert loop_steps[-1] <= 1.2 * np.median(loop_steps[:-1]), loop_steps.round(2)


def test_a_clip_that_does_not_loop_is_refused_with_the_boomerang_offered(tmp_path, capsys):
    picture = np.asarray(Image.open(os.path.join(SAMPLES, "coffee.jpg")).convert("RGB").resize((160, 120)))
    source = str(tmp_path / "pan.mp4")
    write_clip(pan_clip(picture, 12, CLIP_SIZE, speed=3), source, fps=12, tone_hz=None)
    assert video(source, tmp_path / "out.mp4", "--loop") == 2
    err = capsys.readouterr().err
    assert "does not loop" in err and "--boomerang" in err and err.count("\n") == 1, err
    assert not (tmp_path / "out.mp4").exists()


def test_a_clip_boomerang_comes_back(tmp_path, capsys):
    source = circle_source(tmp_path, frames=6)
    assert video(source, tmp_path / "f" / "%03d.png", *NO_DREAM) == 0
    assert video(source, tmp_path / "b" / "%03d.png", *NO_DREAM, "--boomerang") == 0
    there = pngs(tmp_path / "f")
    assert np.array_equal(pngs(tmp_path / "b"), there[[0, 1, 2, 3, 4, 5, 4, 3, 2, 1]])


def test_a_clip_boomerang_plays_its_sound_forward_then_backward(clip_with_audio, tmp_path):
    out = tmp_path / "b.mp4"
    assert video(clip_with_audio, out, *NO_DREAM, "--boomerang") == 0
    assert len(decoded(out)) == 38  # 20 frames at 10 fps, then 18 back
    sound = audio(out)  # the source's tone swells (0.4 t): it swells forward and fades on the way back
    assert abs(len(sound) / RATE - 3.8) < 0.05
    early, late = rms(sound, 0.2, 0.6), rms(sound, 1.4, 1.8)
    assert early < 0.5 * late, (early, late)
    back_late, back_early = rms(sound, 2.1, 2.5), rms(sound, 3.3, 3.7)  # forward 1.4-1.8 and 0.2-0.6, reversed
    assert abs(back_late - late) < 0.15 * late and abs(back_early - early) < 0.25 * early, (early, late, back_late,
                                                                                           back_early)


def test_a_music_loop_lasts_whole_bars_and_loop_with_boomerang_is_refused(cat_path, tmp_path, capsys):
    song = os.path.join(SAMPLES, "song.mp3")
    assert zoom(cat_path, tmp_path / "m" / "%03d.png", "--iterations", "0", "--frames", "20", "--loop",
                "--audio", song) == 0
    err = capsys.readouterr().err
    assert "whole bar" in err, err
    said = re.search(r"loop: (\d+) frames = (\d+) whole bars? at ([\d.]+) BPM", err)
    frames, bars, tempo = int(said[1]), int(said[2]), float(said[3])
    assert abs(frames - bars * 4 * 60 / tempo * 12) <= 1  # at 12 fps
    assert len(os.listdir(tmp_path / "m")) == frames

    assert zoom(cat_path, tmp_path / "b.gif", "--loop", "--boomerang") == 2
    err = capsys.readouterr().err
    assert "not both" in err and err.count("\n") == 1, err


def test_a_music_loop_starts_between_beats_so_its_wrap_is_not_a_beats_surge(cat_path, tmp_path, capsys, dream_calls):
    calls, stop_at = dream_calls
    argv = ["--iterations", "0", "--frames", "24", "--loop", "--checkpoint-frames", "8",
            "--audio", os.path.join(SAMPLES, "song.mp3"), "--zoom", "1.1 + 0.8*beat"]
    assert zoom(cat_path, tmp_path / "whole" / "%03d.png", *argv) == 0
    assert "between beats" in capsys.readouterr().err
    loop_steps = steps(pngs(tmp_path / "whole"))
    assert len(loop_steps) == 24  # one whole bar at 120 BPM, 12 fps
    assert loop_steps[-1] <= 1.2 * np.median(loop_steps[:-1]), loop_steps.round(2)  # a beat's step: 2.5x

    stop_at.add(30)  # the lead is 12 to 17 frames: at least 8 frames are written, the head is in the checkpoint
    assert zoom(cat_path, tmp_path / "resumed" / "%03d.png", *argv) == 130
    assert zoom(cat_path, tmp_path / "resumed" / "%03d.png", *argv, "--resume") == 0
    assert "continues from frame" in capsys.readouterr().err
    assert np.array_equal(pngs(tmp_path / "whole"), pngs(tmp_path / "resumed"))


def test_the_studio_page_has_the_switches_and_they_reach_the_command():
    from dreamvid.studio.jobs import DreamRequest
    from dreamvid.studio.reproduce import cli_command

    page = open(os.path.join(os.path.dirname(SAMPLES), "dreamvid", "studio", "static", "index.html")).read()
    assert 'name="loop" type="checkbox"' in page and 'name="boomerang" type="checkbox"' in page
    request = DreamRequest("zoom", "tunnel", {"loop": True}, os.path.join(SAMPLES, "chelsea.jpg"), "samples/chelsea.jpg")
    assert request.resolved()["loop"] is True and "--loop" in cli_command(request).split()


def test_a_resumed_looping_clip_is_the_one_left_alone(tmp_path, capsys, monkeypatch):
    from dreamvid.render.dreaming import FrameDreamer

    source = circle_source(tmp_path)
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    argv = ["--loop", "--checkpoint-frames", "4"]
    assert video(source, whole / "%03d.png", *argv) == 0
    original, calls = FrameDreamer.dream, []

    def dream(self, *args, **kwargs):  # the 21st dream (loop frame 20: the pre-roll is 11 frames) is stopped
        calls.append(len(calls))
        if len(calls) == 21:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(FrameDreamer, "dream", dream)
    assert video(source, resumed / "%03d.png", *argv) == 130
    assert "continues from frame 19" in capsys.readouterr().err  # the checkpoint holds the pre-roll's dreams
    calls.clear()
    assert video(source, resumed / "%03d.png", *argv, "--resume") == 0
    assert len(calls) == 4  # loop frames 19-22 (source frames 8-11, the closing)
    assert np.array_equal(pngs(whole), pngs(resumed))


def test_a_looping_clip_analyses_its_frames_as_a_clip_does_noise_hold_included(tmp_path, monkeypatch):
    from dreamvid.render import clip, clip_loop

    heard = []
    real = clip_loop.analyse
    monkeypatch.setattr(clip_loop, "analyse", lambda *args: heard.append(args[3:]) or real(*args))
    from dreamvid.api import resolve_settings

    settings = resolve_settings("video", None, size=48, loop=True, noise_hold=True)
    work, _ = clip.prepare_clip_work(circle_source(tmp_path), settings)
    sources = work.sources(0)
    [next(sources) for _ in range(3)]
    assert heard == [("on",), ("on",)]  # loop frame 0 has no frame before it


def test_a_closing_frame_drawn_toward_the_first_pass_is_as_strong_as_both_dreams_not_their_ghost():
    import cv2

    from dreamvid.media.frames import float_to_frame, frame_to_float
    from dreamvid.render.clip_loop import toward_loop
    from dreamvid.temporal import Start

    current = np.full((48, 64, 3), 0.5, np.float32)

    def dream(seed: int) -> np.ndarray:  # a dream's grain: two dreams of a frame seldom grow the same pattern
        grain = np.random.default_rng(seed).normal(0, 0.08, current.shape).astype(np.float32)
        return frame_to_float(float_to_frame(current + cv2.GaussianBlur(grain, (0, 0), 0.8)))

    ours, first_pass = dream(1), dream(2)
    start = Start(ours, False, target=ours, weights=np.full(current.shape[:2], 0.5, np.float32))
    state = {"loop_target": float_to_frame(first_pass), "loop_share": np.float64(0.5)}

    def strength(image: np.ndarray) -> float:
        return float(np.abs(image - current).mean())

    halfway = toward_loop(start, state, current)
    assert strength(halfway.image) > 0.95 * strength(ours)  # their plain average: 0.71x, a softer ghost
    assert strength(halfway.target) > 0.95 * strength(ours)
    assert np.abs(halfway.image - ours).mean() > 0.5 * strength(ours)  # and it is half the other dream
    at_the_end = toward_loop(start, {**state, "loop_share": np.float64(1.0)}, current)
    assert np.allclose(at_the_end.image, first_pass, atol=1e-6)  # the last frame is the first pass's dream
    agreeing = toward_loop(start, {**state, "loop_target": float_to_frame(ours)}, current)
    assert np.allclose(agreeing.image, ours, atol=1e-6)  # where the two agree, nothing is made stronger
