"""Synthetic clips with known motion (pan, zoom, moving object, cut), for tests and benchmarks."""

from __future__ import annotations

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
