"""Colour coherence for long feedback loops: pull each frame's colours toward a reference.

Left alone, a zoom loop drifts over hundreds of frames (colours saturate, or collapse to one hue).
Statistics are taken in CIE LAB (L 0..100, a/b about -127..127) so that brightness and the two
colour axes are corrected separately.
"""

from dataclasses import dataclass

import cv2
import numpy as np

from dreamvid.errors import UserError
from dreamvid.media.frames import float_to_frame, frame_to_float

# A LAB channel flatter than this (well under one uint8 step, ~0.4) has no contrast to stretch:
# dividing by its std would only amplify rounding noise, so only its mean is moved.
_FLAT_STD = 0.01


@dataclass(frozen=True)
class ColourStats:
    """Per-channel mean and standard deviation of an image in CIE LAB, in (L, a, b) order."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def _like(result: np.ndarray, original: np.ndarray) -> np.ndarray:
    """A float32 [0, 1] result back in the dtype of the image it came from."""
    if original.dtype == np.uint8:
        return float_to_frame(result)
    return result.astype(original.dtype, copy=False)


def _lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame_to_float(image), cv2.COLOR_RGB2LAB)


def _stats_of_lab(lab: np.ndarray) -> ColourStats:
    pixels = lab.reshape(-1, 3).astype(np.float64)
    return ColourStats(
        mean=tuple(float(v) for v in pixels.mean(axis=0)),
        std=tuple(float(v) for v in pixels.std(axis=0)),
    )


def colour_stats(image: np.ndarray) -> ColourStats:
    """Per-channel LAB mean and std of an RGB image (float in [0, 1] or uint8)."""
    return _stats_of_lab(_lab(image))


def match_colours(image: np.ndarray, reference: ColourStats, strength: float) -> np.ndarray:
    """Move each LAB channel's mean and std toward `reference` by `strength` (0 = off, 1 = full).

    Mean/std transfer rather than full histogram matching: it is cheap and keeps the shape of each
    channel's distribution, so the palette keeps its variety while its drift is undone.
    """
    if not 0.0 <= strength <= 1.0:
        raise UserError(f"colour coherence strength must be between 0 and 1, got {strength}")
    if strength == 0.0:
        return image.copy()
    lab = _lab(image)
    current = _stats_of_lab(lab)
    mean, std = np.array(current.mean), np.array(current.std)
    ref_mean, ref_std = np.array(reference.mean), np.array(reference.std)
    gain = np.where(std > _FLAT_STD, ref_std / np.maximum(std, _FLAT_STD), 1.0)
    matched = (lab - mean) * gain + ref_mean
    blended = (lab + strength * (matched - lab)).astype(np.float32)
    rgb = cv2.cvtColor(blended, cv2.COLOR_LAB2RGB)
    return _like(np.clip(rgb, 0.0, 1.0), image)


def saturation(image: np.ndarray) -> float:
    """Mean HSV saturation in [0, 1]: 0 for greys, 1 for pure hues; tracks drift over a loop."""
    hsv = cv2.cvtColor(frame_to_float(image), cv2.COLOR_RGB2HSV)
    return float(hsv[..., 1].mean())
