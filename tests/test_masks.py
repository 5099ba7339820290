"""Masks (docs/DESIGN.md, "Masks"): outside the mask a still, a zoom's frame and a clip's frame are the
source; inside they dream as strongly as without a mask; a feathered edge has no seam; a motion mask
follows a mover; bad masks are one line, exit 2, nothing written."""

import os

import cv2
from PIL import Image
import numpy as np
import pytest

from dreamvid.api import Dreamer, dream_image
from dreamvid.cli import run
from dreamvid.flow import FlowEstimator, backward_forward, reliability
from dreamvid.masks.moving import motion_evidence, moving_mask, smoothed
from dreamvid.masks.sources import FEATHER_SIGMAS
from dreamvid.media.frames import float_to_frame, frame_to_float
from dreamvid.media.pictures import resize_frame
from dreamvid.media.reader import read_frames
from dreamvid.media.synthetic import moving_object_clip, write_clip
from dreamvid.motion import CameraMove
from dreamvid.render.cadence import move_image, path_matrix

CLIP_SIZE = (64, 48)
CLIP_FAST = ["--octaves", "1", "--iterations", "2", "--iterations-next", "1", "--device", "cpu"]
ZOOM_FAST = ["--size", "48", "--octaves", "1", "--iterations", "2", "--device", "cpu"]


def save_mask(path, mask: np.ndarray) -> str:
    Image.fromarray((mask * 255).astype(np.uint8)).save(path)
    return str(path)


def half_mask(height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), np.float32)
    mask[:, : width // 2] = 1.0
    return mask


def strength(dreamed: np.ndarray, source: np.ndarray) -> np.ndarray:
    """|dream - source| per pixel, mean over RGB."""
    return np.abs(dreamed.astype(int) - source.astype(int)).mean(axis=-1)


def outside(mask_path: str, feather: float) -> np.ndarray:
    """Where the mask is 0 after feathering, as the renderer feathers it."""
    mask = np.asarray(Image.open(mask_path), np.float32) / 255.0
    if feather:
        mask = cv2.GaussianBlur(mask, (0, 0), feather / FEATHER_SIGMAS, borderType=cv2.BORDER_REPLICATE)
    return mask == 0


@pytest.fixture(scope="module")
def dreamer():
    return Dreamer.from_settings(device="cpu")


@pytest.fixture(scope="module")
def still(cat_frame):
    return resize_frame(cat_frame, 112)


def test_a_masked_still_is_the_source_outside_and_dreams_fully_inside(still, dreamer, tmp_path):
    height, width = still.shape[:2]
    path = save_mask(tmp_path / "left.png", half_mask(height, width))
    knobs = {"octaves": 2, "iterations": 6, "mask_feather": 6}
    masked = dream_image(still, dreamer=dreamer, mask=path, **knobs)
    whole = dream_image(still, dreamer=dreamer, **knobs)
    assert np.abs(masked.astype(int) - still).max(axis=-1)[outside(path, 6)].max() <= 1
    inside = np.zeros((height, width), bool)
    inside[:, : width // 2 - 12] = True  # clear of the feathered edge
    ratio = strength(masked, still)[inside].mean() / strength(whole, still)[inside].mean()
    assert ratio >= 0.9, ratio
    # inverted: the other half dreams
    flipped = dream_image(still, dreamer=dreamer, mask=path, mask_invert=True, **knobs)
    assert strength(flipped, still)[:, : width // 2 - 12].max() <= 1
    assert strength(flipped, still)[:, width // 2 + 12:].mean() > 5


def seam(dreamed: np.ndarray, source: np.ndarray, edge: int, band: int) -> float:
    """How abruptly the dream stops at a vertical mask edge: the largest column-to-column change of the
    dream's strength (averaged down each column) within `band` px of the edge, over the 90th percentile of
    that change inside the region, where the dream's own texture makes it vary. A cut edge drops the whole
    strength in one column; a feathered one ramps it down over the feather."""
    profile = strength(dreamed, source).mean(axis=0)
    change = np.abs(np.diff(profile))
    across = change[edge - band: edge + band].max()
    inside = np.percentile(change[: edge - 2 * band], 90)
    return float(across / inside)


def test_a_feathered_edge_shows_no_seam_and_a_cut_one_does(still, dreamer, tmp_path):
    height, width = still.shape[:2]
    path = save_mask(tmp_path / "left.png", half_mask(height, width))
    knobs = {"octaves": 2, "iterations": 6}
    feathered = seam(dream_image(still, dreamer=dreamer, mask=path, mask_feather=12, **knobs), still, width // 2, 12)
    cut = seam(dream_image(still, dreamer=dreamer, mask=path, mask_feather=0, **knobs), still, width // 2, 12)
    assert feathered < 1.5 < 3 < cut, (feathered, cut)


def test_a_zoom_is_the_picture_under_the_camera_outside_its_mask(cat_path, tmp_path, capsys):
    mask = np.zeros((32, 48), np.float32)
    mask[8:24, 12:36] = 1.0  # the centre, on the screen
    path = save_mask(tmp_path / "centre.png", mask)
    out = tmp_path / "zoom" / "%05d.png"
    argv = ["zoom", cat_path, *ZOOM_FAST, "--frames", "11", "--zoom", "1.3", "--mask", path,
            "--mask-feather", "3"]
    assert run([*argv, "-o", str(out)]) == 0, capsys.readouterr().err
    frame = np.asarray(Image.open(tmp_path / "zoom" / "00011.png"))
    start = frame_to_float(resize_frame(np.asarray(Image.open(cat_path).convert("RGB")), 48))[:32]
    camera = path_matrix([CameraMove(zoom=1.3)] * 10, 30.0, 48, 32)
    plain = float_to_frame(move_image(start, camera, "lanczos"))
    differences = np.abs(frame.astype(int) - plain).max(axis=-1)
    assert differences[outside(path, 3)].max() <= 1
    assert differences[mask > 0].mean() > 5  # and the centre dreams
    # --mask-follow: the region moves with the camera, so zooming in it grows on the screen
    assert run([*argv, "--mask-follow", "-o", str(tmp_path / "follow" / "%05d.png")]) == 0
    followed = np.asarray(Image.open(tmp_path / "follow" / "00011.png"))
    dreamed_area = (np.abs(followed.astype(int) - plain).max(axis=-1) > 1).mean()
    assert dreamed_area > 1.1 * (differences > 1).mean(), dreamed_area  # 1.3 ** (10 / 30) squared: 1.19


@pytest.fixture(scope="module")
def mover_clip(tmp_path_factory, cat_frame):
    """24 frames at 12 fps: a still scene with a textured square crossing it at 2 px per frame."""
    path = tmp_path_factory.mktemp("masks") / "mover.mp4"
    write_clip(moving_object_clip(cat_frame, 24, CLIP_SIZE, speed=2), str(path), fps=12, tone_hz=None)
    return path


def frames_of(folder):
    return np.stack([np.asarray(Image.open(folder / name)) for name in sorted(os.listdir(folder))])


def test_a_masked_clip_is_the_source_outside_and_dreams_fully_inside(mover_clip, tmp_path, capsys):
    width, height = CLIP_SIZE
    path = save_mask(tmp_path / "left.png", half_mask(height, width))
    source = np.stack(list(read_frames(str(mover_clip))))
    assert run(["video", str(mover_clip), "-o", str(tmp_path / "m" / "%05d.png"), *CLIP_FAST, "--mask", path,
                "--mask-feather", "3"]) == 0, capsys.readouterr().err
    assert run(["video", str(mover_clip), "-o", str(tmp_path / "w" / "%05d.png"), *CLIP_FAST]) == 0
    masked, whole = frames_of(tmp_path / "m"), frames_of(tmp_path / "w")
    assert np.abs(masked[20].astype(int) - source[20]).max(axis=-1)[outside(path, 3)].max() <= 1
    inside = np.s_[:, : width // 2 - 6]
    ratio = strength(masked[20], source[20])[inside].mean() / strength(whole[20], source[20])[inside].mean()
    assert ratio >= 0.9, ratio


def mover_box(t: int, size=CLIP_SIZE, speed: int = 2) -> np.ndarray:
    """Where moving_object_clip's square is at frame t."""
    width, height = size
    box = np.zeros((height, width), bool)
    side, x = height // 3, 5 + speed * t
    box[height // 3: height // 3 + side, x: x + side] = True
    return box


def test_a_motion_mask_follows_a_mover_without_specks(cat_frame):
    size = (128, 96)
    frames = moving_object_clip(cat_frame, 20, size, speed=3)
    estimator, evidence, lags = FlowEstimator("dis"), None, []
    for t in range(1, 20):
        backward, forward = backward_forward(estimator, frames[t - 1], frames[t])
        evidence = smoothed(motion_evidence(backward), evidence, backward, reliability(backward, forward))
        mask = moving_mask(evidence).astype(bool)
        box = mover_box(t, size, 3)
        if t < 6:
            continue  # DIS bleeds over the low-texture strip between the mover and the frame's edge
        near = cv2.dilate(box.astype(np.uint8), np.ones((25, 25), np.uint8)).astype(bool)
        assert mask[box].mean() >= 0.95, t  # the mover is covered
        assert not mask[~near].any(), t  # nothing more than 12 px from it (the flow bleeds past its edges)
        assert cv2.connectedComponents(mask.astype(np.uint8))[0] == 2, t  # one region, no specks
        lags.append(np.nonzero(box)[1].mean() - np.nonzero(mask)[1].mean())
    # it keeps up: a little behind (the strip just uncovered), never falling further behind
    assert 0 <= min(lags) and max(lags) < 6, np.round(lags, 1)


def test_a_clip_dreamed_with_mask_motion_leaves_the_still_scene_alone_and_resumes_exactly(
        mover_clip, tmp_path, capsys, dream_calls):
    calls, stop_at = dream_calls
    source = np.stack(list(read_frames(str(mover_clip))))
    argv = ["video", str(mover_clip), *CLIP_FAST, "--mask", "motion", "--checkpoint-frames", "8"]
    assert run([*argv, "-o", str(tmp_path / "whole" / "%05d.png")]) == 0, capsys.readouterr().err
    frames = frames_of(tmp_path / "whole")
    for t in (12, 20):  # clear of the frame's edge, where the flow bleeds at 64 px
        near = cv2.dilate(mover_box(t).astype(np.uint8), np.ones((25, 25), np.uint8)).astype(bool)
        assert strength(frames[t], source[t])[~near].max() <= 1, t
        assert strength(frames[t], source[t])[mover_box(t)].mean() > 4, t  # dreamed
    stop_at.add(12)
    assert run([*argv, "-o", str(tmp_path / "resumed" / "%05d.png")]) == 130
    assert run([*argv, "-o", str(tmp_path / "resumed" / "%05d.png"), "--resume"]) == 0, capsys.readouterr().err
    assert np.array_equal(frames_of(tmp_path / "resumed"), frames)  # the smoothed motion is in the checkpoint


def test_a_mask_of_another_size_is_resized_with_a_notice(still, dreamer, tmp_path, capsys):
    height, width = still.shape[:2]
    path = save_mask(tmp_path / "big.png", half_mask(2 * height, 2 * width))
    masked = dream_image(still, dreamer=dreamer, mask=path, octaves=1, iterations=2, mask_feather=0)
    assert "resized to" in capsys.readouterr().err
    assert strength(masked, still)[:, width // 2 + 2:].max() <= 1


def bad_run(argv, tmp_path, capsys) -> str:
    """Run a render that must fail: exit 2, one line, and the folder as it was."""
    before = sorted(os.listdir(tmp_path))
    assert run(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert sorted(os.listdir(tmp_path)) == before
    return err


def test_bad_masks_are_one_line_exit_2_and_write_nothing(cat_path, mover_clip, tmp_path, capsys):
    width, height = CLIP_SIZE
    wide = save_mask(tmp_path / "wide.png", np.ones((height, width + 8), np.float32))
    text = tmp_path / "notes.txt"
    text.write_text("not a mask")
    short = tmp_path / "short.mp4"
    write_clip(moving_object_clip(np.asarray(Image.open(cat_path).convert("RGB")), 6, CLIP_SIZE), str(short),
               fps=12, tone_hz=None)
    video = ["video", str(mover_clip), "-o", str(tmp_path / "out.mp4"), *CLIP_FAST, "--mask"]
    assert "aspect ratios differ" in bad_run([*video, wide], tmp_path, capsys)
    assert "has 6 frames, but the render has 24" in bad_run([*video, str(short)], tmp_path, capsys)
    assert "neither a picture nor a clip" in bad_run([*video, str(text)], tmp_path, capsys)
    assert "not found" in bad_run([*video, str(tmp_path / "missing.png")], tmp_path, capsys)
    assert "optical flow" in bad_run([*video, "motion", "--flow", "none"], tmp_path, capsys)
    image = ["image", cat_path, "-o", str(tmp_path / "out.png"), "--size", "64", "--device", "cpu", "--mask"]
    assert "clip's motion" in bad_run([*image, "still"], tmp_path, capsys)
    assert "neither a picture nor a clip" in bad_run([*image, str(text)], tmp_path, capsys)
    zoom = ["zoom", cat_path, "-o", str(tmp_path / "z.mp4"), *ZOOM_FAST, "--frames", "8", "--mask"]
    short_zoom = tmp_path / "short_zoom.mp4"  # the zoom's own 48 x 32
    write_clip([np.full((32, 48, 3), 255, np.uint8)] * 5, str(short_zoom), fps=12, tone_hz=None)
    assert "has 5 frames, but the render has 8" in bad_run([*zoom, str(short_zoom)], tmp_path, capsys)


def test_a_job_file_finds_its_mask_beside_it_and_keeps_motion_as_it_is(tmp_path):
    from dreamvid.settings.files import job_text, settings_in

    folder = tmp_path / "job"
    folder.mkdir()
    text = job_text("video", str(folder / "in.mp4"), str(folder / "out.mp4"),
                    {"mask": str(folder / "masks" / "%05d.png"), "guide": ""}, str(folder))
    assert 'mask = "masks/%05d.png"' in text
    assert settings_in({"mask": "masks/%05d.png"}, str(folder / "out.mp4.dreamvid.toml"))["mask"] == \
        str(folder / "masks" / "%05d.png")
    assert 'mask = "motion"' in job_text("video", "in.mp4", "out.mp4", {"mask": "motion"}, str(folder))
    assert settings_in({"mask": "still"}, str(folder / "job.toml"))["mask"] == "still"
