"""A render's mask: a picture, a clip or frame pattern (matched by frame index), or the clip's own motion.

Every check runs before any work (`open_mask`); each frame's mask is then read at the render's size
(`raw_frames`) and shaped by the settings (`shaped`): inverted, feathered, scaled by its strength.
A mask is float32 H x W in 0..1, 1 = dream.
"""

from __future__ import annotations

from dataclasses import dataclass
import os
from typing import Iterator
import warnings

import cv2
from PIL import Image, ImageOps, UnidentifiedImageError
import numpy as np

from dreamvid.errors import UserError
from dreamvid.media.outputs import is_frame_pattern
from dreamvid.media.pictures import to_rgb_array
from dreamvid.media.reader import probe_video, read_frames
from dreamvid.media.timing import read_frame_times
from dreamvid.notices import notify
from dreamvid.settings.files import MASK_FROM_MOTION

MOTION, STILL = MASK_FROM_MOTION  # masks made from the clip's own motion: what moves, the rest
ASPECT_TOLERANCE = 0.01  # a mask this far off the render's aspect ratio is for another picture
# The soft edge of `mask_feather` px: a Gaussian of sigma px / FEATHER_SIGMAS takes a hard edge from
# 10% to 90% over about px (2 x 1.28 sigma).
FEATHER_SIGMAS = 2.56


@dataclass(frozen=True)
class MaskSource:
    """What the `mask` setting names, checked: its kind, and a picture's pixels."""

    path: str
    kind: str  # "picture" | "frames" (a clip or a frame pattern) | MOTION | STILL
    picture: np.ndarray | None = None  # a picture's mask, float32 0..1 at its own size

    @property
    def from_motion(self) -> bool:
        return self.kind in (MOTION, STILL)


def mask_picture(picture: Image.Image) -> np.ndarray:
    """Grey levels, or the alpha channel where there is one; float32 0..1."""
    if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
        values = np.asarray(picture.convert("RGBA"))[..., 3]
    else:
        values = to_rgb_array(picture)[..., 0] if picture.mode.startswith(("I", "F")) else np.asarray(picture.convert("L"))
    return values.astype(np.float32) / 255.0


def read_picture(path: str) -> np.ndarray | None:
    """A still picture's mask; None when the file is no picture, or an animated one (read as a clip)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as picture:
                if getattr(picture, "n_frames", 1) > 1:
                    return None
                return mask_picture(ImageOps.exif_transpose(picture))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def identify(path: str) -> MaskSource:
    """The mask's kind from the file itself: a picture, a clip, or one line saying it is neither."""
    if path in (MOTION, STILL):
        return MaskSource(path, path)
    if is_frame_pattern(path):
        return MaskSource(path, "frames")
    if not os.path.exists(path):
        raise UserError(f"mask not found: {path}")
    if os.path.isdir(path):
        raise UserError(f"mask is a folder, not a picture or a clip: {path} (a frame pattern: {path}/%05d.png)")
    picture = read_picture(path)
    if picture is not None:
        return MaskSource(path, "picture", picture)
    try:
        probe_video(path)
    except UserError:
        raise UserError(f"mask {path} is neither a picture nor a clip dreamvid can read") from None
    return MaskSource(path, "frames")


def mask_size(source: MaskSource) -> tuple[int, int]:
    """(width, height) of the mask's pictures."""
    if source.picture is not None:
        return source.picture.shape[1], source.picture.shape[0]
    return probe_video(source.path).size


def check_size(source: MaskSource, size: tuple[int, int], input_size: tuple[int, int]) -> None:
    """Another aspect ratio is an error; another size is resized, with a notice unless it is the input's own."""
    width, height = mask_size(source)
    if abs((width / height) / (size[0] / size[1]) - 1) > ASPECT_TOLERANCE:
        raise UserError(f"mask {source.path} is {width}x{height}, but the render is {size[0]}x{size[1]}: "
                        f"their aspect ratios differ by more than {ASPECT_TOLERANCE:.0%}")
    if (width, height) not in (size, input_size):
        notify(f"mask {source.path} is {width}x{height}; resized to {size[0]}x{size[1]}")


def check_length(source: MaskSource, frames: int) -> None:
    if source.kind != "frames":
        return
    count = len(read_frame_times(source.path, probe_video(source.path)))
    if count < frames:
        raise UserError(f"mask {source.path} has {count} frames, but the render has {frames}")


def open_mask(settings, size: tuple[int, int], input_size: tuple[int, int], frames: int = 1,
              clip: bool = False) -> MaskSource | None:
    """Every check of the `mask` setting for a render of `frames` frames at `size` (width, height), made
    from an input of `input_size`; None when there is no mask."""
    path = settings["mask"]
    if not path:
        return None
    source = identify(path)
    if source.from_motion:
        if not clip:
            raise UserError(f"--mask {path} is made from a clip's motion; give a picture or clip as the mask here")
        return source
    check_size(source, size, input_size)
    check_length(source, frames)
    return source


def fitted(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A mask resized to (width, height)."""
    if (mask.shape[1], mask.shape[0]) == tuple(size):
        return mask
    shrinking = mask.shape[1] > size[0]
    return cv2.resize(mask, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def raw_frames(source: MaskSource, size: tuple[int, int], first: int = 0) -> Iterator[np.ndarray]:
    """The mask of every frame from `first` on, at `size`, before shaping (a picture: the same one)."""
    if source.picture is not None:
        picture = fitted(source.picture, size)
        while True:
            yield picture
    for index, frame in enumerate(read_frames(source.path, size=size)):
        if index >= first:
            yield cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0


def shaped(raw: np.ndarray, settings, t: int = 0) -> np.ndarray:
    """A frame's mask as the dream uses it: inverted if asked, feathered, times the strength at frame t."""
    mask = 1.0 - raw if settings["mask_invert"] else raw
    feather = settings["mask_feather"]
    if feather > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), feather / FEATHER_SIGMAS, borderType=cv2.BORDER_REPLICATE)
    return np.clip(mask * settings.at("mask_strength", t), 0.0, 1.0).astype(np.float32)


def within(mask: np.ndarray | None, image: np.ndarray, source: np.ndarray) -> np.ndarray:
    """`image` where the mask is 1, `source` where it is 0, mixed between (float H x W x 3 frames)."""
    if mask is None:
        return image
    return (source + mask[..., None] * (image - source)).astype(np.float32)
