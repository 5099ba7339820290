"""Synthetic clips with known motion (pan, zoom, moving object, walkers, pan + mover, cut), for tests and benchmarks."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
import os
import subprocess

import cv2
import numpy as np

from dreamvid.media.process import ffmpeg_exe
from dreamvid.media.writer import VideoWriter


def crop_window(picture: np.ndarray, x: float, y: float, width: int, height: int, zoom: float = 1.0) -> np.ndarray:
    """A sub-pixel window of `picture` (top-left x, y) magnified by `zoom` about its centre."""
    centre = (x + width / 2, y + height / 2)
    matrix = np.array([[1 / zoom, 0, centre[0] - width / (2 * zoom)],
                       [0, 1 / zoom, centre[1] - height / (2 * zoom)]], np.float64)
    return cv2.warpAffine(picture, matrix, (width, height), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT_101)


def pan_clip(picture: np.ndarray, frames: int, size: tuple[int, int], speed: float = 2.0) -> list[np.ndarray]:
    width, height = size
    return [crop_window(picture, 10 + speed * t, 10 + 0.5 * speed * t, width, height) for t in range(frames)]


def circle_clip(picture: np.ndarray, frames: int, size: tuple[int, int], radius: float = 8.0) -> list[np.ndarray]:
    """A window going once around a circle: a clip that loops (its frame `frames` would be its first)."""
    width, height = size
    angles = 2 * np.pi * np.arange(frames) / frames
    return [crop_window(picture, 20 + radius * (1 + np.cos(a)), 20 + radius * (1 + np.sin(a)), width, height)
            for a in angles]


def zoom_clip(picture: np.ndarray, frames: int, size: tuple[int, int], rate: float = 1.01) -> list[np.ndarray]:
    width, height = size
    return [crop_window(picture, 20, 20, width, height, rate**t) for t in range(frames)]


def moving_object_clip(picture: np.ndarray, frames: int, size: tuple[int, int], speed: int = 3) -> list[np.ndarray]:
    """A static background with a textured square crossing it (it covers and uncovers the scene)."""
    width, height = size
    background = crop_window(picture, 10, 10, width, height)
    patch_side = height // 3
    patch = cv2.resize(np.ascontiguousarray(picture[::-1, ::-1]), (patch_side, patch_side), interpolation=cv2.INTER_AREA)
    clip = []
    for t in range(frames):
        frame = background.copy()
        x, y = 5 + speed * t, height // 3
        visible = max(0, min(patch_side, width - x))
        frame[y:y + patch_side, x:x + visible] = patch[:, :visible]
        clip.append(frame)
    return clip


@dataclass(frozen=True)
class Mover:
    """A textured object crossing a clip: where it is at frame 0 (top-left, px) and its speed in px per frame."""

    patch: np.ndarray
    x: float
    y: float
    dx: float
    dy: float


def paste_mover(frame: np.ndarray, mover: Mover, t: int) -> None:
    """Draw `mover` at frame t's sub-pixel position (bilinear, so it moves smoothly); parts outside are cut."""
    height, width = frame.shape[:2]
    matrix = np.array([[1, 0, mover.x + mover.dx * t], [0, 1, mover.y + mover.dy * t]], np.float64)
    side_y, side_x = mover.patch.shape[:2]
    alpha = np.zeros((side_y + 2, side_x + 2), np.float32)
    alpha[1:-1, 1:-1] = 1.0  # a one-pixel clear border, so the warped edge is anti-aliased
    patch = cv2.copyMakeBorder(mover.patch, 1, 1, 1, 1, cv2.BORDER_REPLICATE).astype(np.float32)
    matrix[:, 2] -= 1
    drawn = cv2.warpAffine(patch, matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=0)
    cover = cv2.warpAffine(alpha, matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=0)[..., None]
    frame[:] = np.clip(frame * (1 - cover) + drawn * cover + 0.5, 0, 255).astype(np.uint8)


def picture_patch(picture: np.ndarray, side: int, corner: tuple[float, float]) -> np.ndarray:
    """A square textured patch cut from `picture` at the fractional corner (x, y), scaled to `side` px."""
    height, width = picture.shape[:2]
    crop = min(height, width) // 4
    x, y = int(corner[0] * (width - crop)), int(corner[1] * (height - crop))
    return cv2.resize(np.ascontiguousarray(picture[y:y + crop, x:x + crop]), (side, side), interpolation=cv2.INTER_AREA)


def walkers_clip(background: np.ndarray, objects: np.ndarray, frames: int, size: tuple[int, int]) -> list[np.ndarray]:
    """A static camera on a textured scene with five small textured objects (under a tenth of the frame
    height) walking in different directions at 1-4 px per frame; two enter and one leaves the frame."""
    width, height = size
    side = max(4, height // 10 - 1)
    scene = crop_window(background, 10, 10, width, height)
    paths = [  # (start x, start y) as fractions of the frame, speed (dx, dy) in px per frame
        ((0.20, 0.25), (1.0, 0.0)), ((0.70, 0.60), (-2.0, 0.5)), ((0.45, 0.80), (1.5, -1.5)),
        ((-0.10, 0.45), (3.0, 0.0)), ((0.50, 1.05), (0.0, -4.0)),  # these two enter; the third leaves
    ]
    movers = [Mover(picture_patch(objects, side, (0.15 + 0.17 * k, 0.2 + 0.13 * k)), fx * width, fy * height, dx, dy)
              for k, ((fx, fy), (dx, dy)) in enumerate(paths)]
    clip = []
    for t in range(frames):
        frame = scene.copy()
        for mover in movers:
            paste_mover(frame, mover, t)
        clip.append(frame)
    return clip


def pan_mover_clip(background: np.ndarray, objects: np.ndarray, frames: int, size: tuple[int, int],
                   speed: float = 2.0) -> list[np.ndarray]:
    """A camera pan across a scene with one object moving against it (at twice the pan's speed, the other way)."""
    width, height = size
    side = max(8, height // 5)
    mover = Mover(picture_patch(objects, side, (0.4, 0.3)), 0.75 * width, 0.4 * height, -1.5 * speed, 0.3)
    clip = pan_clip(background, frames, size, speed)
    for t, frame in enumerate(clip):
        paste_mover(frame, mover, t)
    return clip


def cut_clip(first: np.ndarray, second: np.ndarray, frames: int, size: tuple[int, int]) -> list[np.ndarray]:
    """A slow pan over one picture, then a hard cut to a pan over another."""
    half = frames // 2
    return pan_clip(first, half, size, 1.0) + pan_clip(second, frames - half, size, 1.0)


def write_clip(frames: list[np.ndarray], path: str, fps: Fraction | float = 24, tone_hz: float | None = 440.0,
               crf: int = 12) -> None:
    """Encode frames as a near-lossless clip, with a sine tone as its sound when tone_hz is given."""
    height, width = frames[0].shape[:2]
    # the silent copy shares the target's container: an mkv's 1 ms time base would leave a short mp4
    # at 30000/1001 (or 12) fps with jittered timestamps, so ffmpeg would report 29.92 (or 11.99) fps
    root, extension = os.path.splitext(path)
    silent = f"{root}.silent{extension}"
    with VideoWriter(silent if tone_hz else path, (width, height), fps, crf=crf, overwrite=True) as writer:
        for frame in frames:
            writer.write(frame)
    if tone_hz:
        seconds = len(frames) / float(fps)
        subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-i", silent, "-f", "lavfi", "-i",
                        f"sine=frequency={tone_hz}:sample_rate=44100:duration={seconds:.3f}",
                        "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", path], check=True)
        os.remove(silent)
