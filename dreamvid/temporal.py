"""Where a clip's follow-up frame starts, and how firmly it is held (docs/DESIGN.md, "Dreaming a clip").

The previous dream's residual is carried along the source's backward flow, its local strength made up
where resampling blurred it, and blurred where the two flows disagree by pixels (a fast mover): as sharp
as the motion is known. The follow-up ascent starts from it and holds each pixel toward it by its
reliability. With `wake_memory`, what a mover uncovers takes back the background's dream as it was
before the mover covered it (remembered wherever a pixel has shown the background for a while, and
moved along with the camera) instead of the mover's dream smeared into it. With `wake_frames`, the hold
also goes by maturity (0..1: how long the pixel's dream has grown), which is carried along the flow like
the residual and starts again at 0 in a mover's wake (what it uncovers) and where content enters the
frame: the wake then starts from the clean source instead of a smear of the mover's dream, and grows
(with `wake_boost`, in longer steps) before it is held in full. Where the flow fails its check on content that
hardly changed in place (sensor noise: night footage), the carried dream is held as if the check had passed: by
default as far as the frame's flow follows noise (`noise_share`: on a large share of its still content; a flat
mover's inside is a small share, so clean footage is held as before), with `noise_hold` always.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dreamvid.flow import (RELIABILITY_BLUR_SIGMA, FlowEstimator, RoundTrip, backward_forward, camera_motion,
                           lands_inside, motion_boundary, reliability, warp_with_flow)
from dreamvid.media.frames import frame_to_float

MAX_GAIN = 1.5  # the most the carried residual is amplified to hold the dream's strength
# The residual is resampled every frame, so bilinear warps blur a mover's dream away: measured on the
# walkers clip (bench_temporal.py), moving-pixel strength 0.68 x naive bilinear, 0.76 cubic (Lanczos the same).
# Lanczos keeps far more of a dream's grain where the picture moves by fractions of a pixel (sharpness 0.60 of a fresh
# dream's against 0.38, bench_loop.py's circle), but the grain it keeps flickers: bench_real's bikes 0.907 -> 0.893
# (target 0.9), bench_temporal's zoom 0.954 -> 0.938, cut 0.902 (0.923 in its table); docs/BENCHMARKS.md, "Loops".
RESIDUAL_WARP = "cubic"
# Resampling still blurs a mover's dream a little every frame, and a dream that is held fades with it (a real
# street clip: moving pixels 0.74 x naive where tracked reliably); the carried residual's local strength (a
# Gaussian of this sigma, px) is brought back to what it was where it came from.
LOCAL_STRENGTH_SIGMA = 3.0
# A mover's wake: the round trip fails there AND the picture changed in place by more than this (0..1, after
# a 5x5 blur), which sensor noise and compression do not (they fail the check in place, on static content).
WAKE_CHANGE = 6 / 255
# `noise_hold`: a pixel whose flow fails the check while the picture changed in place by no more than this (0..1,
# after a 5x5 blur) is taken to show noise, not motion. Sensor noise after H.264 reaches 10/255 there (99th
# percentile on still content of the night clip, bench_real's bikes-night); 6/255 (WAKE_CHANGE) kept less of it
# (measured with an earlier carry along the camera's motion: flicker reduction 0.898 at 6/255, 0.905 at 10/255;
# docs/DESIGN.md, "Approaching, receding, night").
NOISE_CHANGE = 10 / 255
# The automatic noise hold (the default): the share of a frame's still content (changed in place by <= NOISE_CHANGE)
# on which the flow fails its check, from where the hold starts to where it is full. Per frame on bench_real's clips
# (60 frames): the night clip 0.15-0.63 (median 0.30, 90% of frames above 0.23); the clean ones at most 0.06 (vtest,
# its walkers' flat coats included), 0.14 (carphone-distorted), 0.20 (carphone, tree) and 0.23 (bikes, median 0.14).
NOISY_SHARE = (0.18, 0.28)
# A reliably tracked pixel that moves with the camera to within this (px per frame) shows the background: its dream
# is remembered, and given back where a mover uncovers the background again (`wake_memory`).
BACKGROUND_PX = 1.0
# ... once it has done so for this many frames in a row: a talking head that pauses is not the wall behind it
# (carphone's trail 0.58 -> 0.30 at 8; docs/DESIGN.md, "Real footage").
STILL_FRAMES = 8
# Where the backward flow and the forward flow's round trip miss each other by more than this (px), the carried
# residual is blurred by the excess (up to BLUR_LEVELS[-1] px): a fast hand (24-39 px per frame at 320x240) is
# tracked to 1.7 px, more than the dream's grain, and its carried dream boiled (docs/DESIGN.md, "Real footage").
SHARP_WITHIN_PX = 1.0
BLUR_LEVELS = (0.0, 1.0, 2.0, 4.0)  # sigmas, px, of the copies the blur blends between


@dataclass(frozen=True)
class SourceFrame:
    """A source frame at the dream size, with the backward flow to the previous one and what it tells."""

    frame: np.ndarray
    backward: np.ndarray | None = None  # flow t -> t-1 on frame t's grid; None: first frame, or no flow
    weights: np.ndarray | None = None  # reliability of `backward`, 0..1
    inside: np.ndarray | None = None  # where `backward` lands inside the frame (elsewhere content enters)
    wake: np.ndarray | None = None  # bool: what a mover has just uncovered (hidden at t-1, changed in place)
    mask: np.ndarray | None = None  # its raw mask (render/masking.py), where the render has one
    camera: np.ndarray | None = None  # the camera's motion t -> t-1: the affine flow that fits most of `backward`
    uncertainty: np.ndarray | None = None  # px: how far the flows' round trip misses
    steady: np.ndarray | None = None  # bool: the check failed on content that kept still in place (noise, not motion)
    noise: float = 0.0  # 0..1: how far the hold takes `steady` as noise (1 with `noise_hold`; `noise_share`'s gate)

    def held(self) -> np.ndarray:
        """The hold's weights: the reliability, and up to `noise` where the flow only followed the noise (`steady`)."""
        if self.steady is None or self.noise <= 0 or not self.steady.any():
            return self.weights
        import cv2

        steady = cv2.GaussianBlur(self.steady.astype(np.float32), (0, 0), RELIABILITY_BLUR_SIGMA)
        return np.maximum(self.weights, steady * np.float32(self.noise))


NOISE_MODES = ("off", "auto", "on")  # the noise hold: never, as far as the frame's flow follows noise, always


def analyse(estimator: FlowEstimator, previous: np.ndarray, frame: np.ndarray, noise: str = "off") -> SourceFrame:
    """Frame t with its flow to t-1, reliability, where the flow lands inside and a mover's wake; unless `noise` is
    "off" (NOISE_MODES), where the check failed on sensor noise rather than motion, and how far to hold it."""
    import cv2

    backward, forward = backward_forward(estimator, previous, frame)
    change = cv2.GaussianBlur(np.abs(frame_to_float(frame) - frame_to_float(previous)).mean(axis=2), (5, 5), 0)
    inside = lands_inside(backward)
    round_trip = RoundTrip.of(backward, forward)
    disoccluded = round_trip.disoccluded()
    failed = disoccluded | motion_boundary(backward)
    camera = camera_motion(backward)
    still = None if noise == "off" else kept_still(change, camera)
    steady = None if still is None else failed & still
    share = 0.0 if steady is None else 1.0 if noise == "on" else noise_share(steady, still)
    return SourceFrame(frame, backward, reliability(backward, forward, failed=failed), inside,
                       disoccluded & inside & (change > WAKE_CHANGE), camera=camera,
                       uncertainty=round_trip.error(), steady=steady, noise=share)


def kept_still(change: np.ndarray, camera: np.ndarray) -> np.ndarray:
    """Bool: content that changed in place by no more than NOISE_CHANGE (`change`: blurred, 0..1), where the camera's
    motion lands inside the frame. Where the flow's check fails there, it failed on sensor noise or compression, not
    on motion (SourceFrame.steady)."""
    return (change <= NOISE_CHANGE) & lands_inside(camera)


def noise_share(steady: np.ndarray, still: np.ndarray) -> float:
    """0..1: how far a frame's flow follows noise, from the share of its still content (`still`, kept_still's) on
    which the check fails (`steady`): 0 up to NOISY_SHARE[0], 1 from NOISY_SHARE[1]."""
    share = np.count_nonzero(steady) / max(int(np.count_nonzero(still)), 1)
    low, high = NOISY_SHARE
    return float(np.clip((share - low) / (high - low), 0.0, 1.0))


@dataclass(frozen=True)
class Start:
    """Where frame t's dream starts: the image, whether it is a fresh start (first frame or a cut), and in
    flow mode the temporal term's target (the previous dream carried along the flow), its weights (reliability
    x maturity) and the maturity to keep for the next frame."""

    image: np.ndarray
    fresh: bool
    target: np.ndarray | None = None
    weights: np.ndarray | None = None
    maturity: np.ndarray | None = None
    background: np.ndarray | None = None  # the background's dream as last seen, carried along the camera's motion
    still_age: np.ndarray | None = None  # frames each pixel has shown the background in a row (the loop keeps it)


def carried_residual(previous: np.ndarray, backward: np.ndarray, local: bool) -> np.ndarray:
    """The previous residual moved along the flow; with `local`, its local strength made up where resampling
    lost some (never amplified more than MAX_GAIN, never weakened)."""
    residual = warp_with_flow(previous, backward, RESIDUAL_WARP)
    if not local:
        return residual
    return made_up_to(residual, warp_with_flow(local_strength(previous), backward))


def made_up_to(residual: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """`residual` amplified where its local strength is under `expected` (never weakened; at most MAX_GAIN)."""
    gain = np.clip(expected / np.maximum(local_strength(residual), 1e-6), 1.0, MAX_GAIN)
    return residual * gain[..., None]


def local_strength(residual: np.ndarray) -> np.ndarray:
    """A residual's local strength: its mean absolute value around each pixel (a Gaussian of LOCAL_STRENGTH_SIGMA)."""
    import cv2

    return cv2.GaussianBlur(np.abs(residual).mean(axis=2), (0, 0), LOCAL_STRENGTH_SIGMA)


def grown(previous: np.ndarray | None, source: SourceFrame, wake_frames: int) -> np.ndarray | None:
    """Maturity carried along the flow, one frame older, and 0 where the dream starts again (None: all mature,
    with `wake_frames` 0; a fresh dream leaves none behind, as it is fully grown)."""
    if wake_frames <= 0:
        return None
    carried = np.ones_like(source.weights) if previous is None else warp_with_flow(previous, source.backward)
    restart = source.wake | ~source.inside
    return np.where(restart, 0.0, np.minimum(carried + 1.0 / wake_frames, 1.0)).astype(np.float32)


def carried_start(current: np.ndarray, source: SourceFrame, state: dict, strength_share: float,
                  settings) -> Start:
    """A follow-up frame's start: the carried dream where the flow brings content from inside the frame (all of
    it, or only where reliable without `carry_unreliable`; with `wake_memory`, the background's remembered dream
    in a mover's wake), the source where content enters (and, with `wake_frames`, in a mover's wake)."""
    previous = state["output"] - frame_to_float(state["source"])
    residual = carried_residual(previous, source.backward, settings["local_gain"])
    if source.uncertainty is not None:  # a fine pattern carried along a flow that is off by pixels boils
        residual = as_sharp_as_known(residual, source.uncertainty)
    background = remembered_background(state, source) if settings["wake_memory"] else None
    if background is not None:  # the wake takes the background's own dream back, not the mover's smeared into it
        residual = np.where(source.wake[..., None], background, residual)
    # hold the carried dream at the fresh dream's strength: left alone it deepens frame after frame
    # (and fades where resampling blurs it, as in a zoom)
    gain = min(MAX_GAIN, float(state["strength"]) / max(float(np.abs(residual).mean()), 1e-6))
    target = np.clip(current + residual * (strength_share * gain), 0.0, 1.0)
    maturity = grown(state.get("maturity"), source, settings["wake_frames"])
    held = source.held()
    carry = source.inside if settings["carry_unreliable"] else held
    if settings["wake_frames"] > 0:  # the wake starts from the source, not from the mover's dream smeared into it
        carry = carry * ~source.wake
    weights = held if maturity is None else held * maturity
    age = None if background is None else still_age(state.get("still_age"), source)
    return Start(current + (target - current) * carry[..., None], False, target, weights, maturity, background, age)


def remembered_background(state: dict, source: SourceFrame) -> np.ndarray | None:
    """The background's dream as last seen, moved along the camera's motion (None: none is remembered)."""
    if "background" not in state:
        return None
    return warp_with_flow(state["background"], source.camera, RESIDUAL_WARP)


def settled(source: SourceFrame) -> np.ndarray:
    """Bool: reliably tracked pixels that move with the camera, whose dream is the background's."""
    against = np.linalg.norm(source.backward - source.camera, axis=2)
    return (source.weights > 0.5) & (against < BACKGROUND_PX)


def still_age(previous: np.ndarray | None, source: SourceFrame) -> np.ndarray:
    """Frames each pixel has been `settled` in a row, carried along the camera's motion (None: a fresh start)."""
    carried = np.zeros(source.frame.shape[:2], np.float32) if previous is None else \
        warp_with_flow(previous, source.camera)
    return np.where(settled(source), carried + 1.0, 0.0).astype(np.float32)


def background_after(start: Start, residual: np.ndarray) -> np.ndarray:
    """The background's dream to remember after a frame: this frame's where it has shown the background for
    STILL_FRAMES frames (all of it after a fresh dream), what was remembered elsewhere."""
    if start.background is None:
        return residual.astype(np.float32)
    shows_background = start.still_age >= STILL_FRAMES
    return np.where(shows_background[..., None], residual, start.background).astype(np.float32)


def as_sharp_as_known(residual: np.ndarray, uncertainty: np.ndarray) -> np.ndarray:
    """The carried residual blurred where the flow is known to within more than SHARP_WITHIN_PX: by a Gaussian
    of sigma (uncertainty - SHARP_WITHIN_PX) px, at most the last of BLUR_LEVELS (blended between pre-blurred
    copies). Its expected value, where a pixel of a fast mover could have come from a few px around."""
    import cv2

    sigma = np.clip(uncertainty - SHARP_WITHIN_PX, 0.0, BLUR_LEVELS[-1])
    if not sigma.any():
        return residual
    levels = np.stack([residual] + [cv2.GaussianBlur(residual, (0, 0), level) for level in BLUR_LEVELS[1:]])
    position = np.interp(sigma, BLUR_LEVELS, np.arange(len(BLUR_LEVELS)))
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, len(BLUR_LEVELS) - 1)
    share = (position - low)[..., None]
    rows, columns = np.indices(sigma.shape)
    return (levels[low, rows, columns] * (1 - share) + levels[high, rows, columns] * share).astype(np.float32)
