"""Temporal consistency and dream strength of a rendered clip (docs/DESIGN.md, "Measuring flicker").

Warping error after Lai et al., "Learning Blind Video Temporal Consistency" (ECCV 2018):
flow and occlusion masks come from the source clip, never from the output, so a method cannot
look stable by making its own output easy to track. Report it beside the source clip's own
error (the floor), the naive per-frame dream's (the ceiling) and the dream strength, so that
dreaming less cannot pass for stability.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dreamvid.flow import FlowEstimator, disoccluded, lands_inside, reliability, warp_with_flow
from dreamvid.media.frames import float_to_frame, frame_to_float

# reliability() blurs its 0/1 decision; a pixel counts as visible in both frames when the
# blurred weight is at least one half, i.e. when most of its neighbourhood passed the check.
VISIBLE_THRESHOLD = 0.5


def _uint8(frame: np.ndarray) -> np.ndarray:
    return frame if frame.dtype == np.uint8 else float_to_frame(frame)


def _check_pairs(sources: Sequence[np.ndarray], outputs: Sequence[np.ndarray]) -> None:
    if len(sources) != len(outputs):
        raise ValueError(f"{len(sources)} source frames but {len(outputs)} output frames")
    for t, (source, output) in enumerate(zip(sources, outputs)):
        if source.shape != output.shape:
            raise ValueError(f"frame {t}: source {source.shape} but output {output.shape}")


def frame_warping_error(
    estimator: FlowEstimator,
    source_pair: tuple[np.ndarray, np.ndarray],
    output_pair: tuple[np.ndarray, np.ndarray],
) -> float | None:
    """E_t for one step t-1 -> t, on frame t-1's grid; None when no pixel is visible in both."""
    (source_prev, source_cur), (output_prev, output_cur) = source_pair, output_pair
    grey_prev, grey_cur = _uint8(source_prev), _uint8(source_cur)
    forward = estimator.flow(grey_prev, grey_cur)  # on t-1's grid, pointing into t
    backward = estimator.flow(grey_cur, grey_prev)
    # Roles swapped against the render loop: the mask lives on t-1's grid, since O_t is
    # warped into t-1, so the flow leaving that grid (forward) is the one checked.
    mask = reliability(forward, backward) >= VISIBLE_THRESHOLD
    if not mask.any():
        return None
    warped = warp_with_flow(frame_to_float(output_cur), forward)  # O_t(x + F(x))
    squared = np.mean((frame_to_float(output_prev) - warped) ** 2, axis=2)
    return float(squared[mask].mean())


def warping_error(
    source_frames: Sequence[np.ndarray],
    output_frames: Sequence[np.ndarray],
    estimator: FlowEstimator | None = None,
) -> float:
    """Lai et al.'s E_warp: mean over t >= 1 of the masked squared difference between O_{t-1}
    and O_t warped back along the source's flow (RGB in 0..1, mean over channels)."""
    _check_pairs(source_frames, output_frames)
    estimator = estimator or FlowEstimator()
    errors = []
    for t in range(1, len(source_frames)):
        error = frame_warping_error(
            estimator,
            (source_frames[t - 1], source_frames[t]),
            (output_frames[t - 1], output_frames[t]),
        )
        if error is not None:  # a scene cut leaves nothing to compare
            errors.append(error)
    return float(np.mean(errors)) if errors else 0.0


def strength_per_frame(
    source_frames: Sequence[np.ndarray], output_frames: Sequence[np.ndarray]
) -> list[float]:
    """mean |O_t - I_t| per frame in 0..1 units, to see whether the dream deepens over time."""
    _check_pairs(source_frames, output_frames)
    return [
        float(np.mean(np.abs(frame_to_float(output) - frame_to_float(source))))
        for source, output in zip(source_frames, output_frames)
    ]


def dream_strength(
    source_frames: Sequence[np.ndarray], output_frames: Sequence[np.ndarray]
) -> float:
    """mean |O - I| over all frames in 0..1 units: how much the dream changed the clip."""
    per_frame = strength_per_frame(source_frames, output_frames)
    return float(np.mean(per_frame)) if per_frame else 0.0


def flicker_reduction(e_out: float, e_src: float, e_naive: float) -> float:
    """1 - (e_out - e_src) / (e_naive - e_src): 1 is as stable as the source, 0 as the naive
    per-frame dream; NaN when the naive dream is no less stable than the source."""
    span = e_naive - e_src
    if span <= 0:
        return float("nan")
    return 1.0 - (e_out - e_src) / span


# What counts as a moving pixel (issue 10's definition, from the source alone): the backward flow is
# longer than 1 px and the frame changed there by more than 6/255 after a 5x5 Gaussian blur.
MOVING_FLOW_PX = 1.0
MOVING_CHANGE = 6 / 255


def visibly_changed(source_prev: np.ndarray, source_cur: np.ndarray) -> np.ndarray:
    """Bool H x W: where the frame changed in place by more than MOVING_CHANGE after a 5x5 Gaussian blur."""
    import cv2

    change = np.abs(frame_to_float(source_cur) - frame_to_float(source_prev)).mean(axis=2)
    return cv2.GaussianBlur(change, (5, 5), 0) > MOVING_CHANGE


def is_moving(flow: np.ndarray, changed: np.ndarray) -> np.ndarray:
    return (np.hypot(flow[..., 0], flow[..., 1]) > MOVING_FLOW_PX) & changed


def moving_mask(estimator: FlowEstimator, source_prev: np.ndarray, source_cur: np.ndarray) -> np.ndarray:
    """Bool H x W on frame t's grid: where the source moved (long backward flow) and visibly changed."""
    backward = estimator.flow(_uint8(source_cur), _uint8(source_prev))
    return is_moving(backward, visibly_changed(source_prev, source_cur))


def moving_masks(source_frames: Sequence[np.ndarray], estimator: FlowEstimator | None = None) -> list[np.ndarray]:
    """One moving-pixel mask per frame; frame 0 has no previous frame, so nothing moves there."""
    estimator = estimator or FlowEstimator()
    masks = [np.zeros(source_frames[0].shape[:2], bool)]
    masks += [moving_mask(estimator, source_frames[t - 1], source_frames[t]) for t in range(1, len(source_frames))]
    return masks


def masked_strength(source_frames: Sequence[np.ndarray], output_frames: Sequence[np.ndarray],
                    masks: Sequence[np.ndarray]) -> float:
    """mean |O - I| over the masked pixels of all frames (0..1 units); NaN when no pixel is masked."""
    _check_pairs(source_frames, output_frames)
    total, count = 0.0, 0
    for source, output, mask in zip(source_frames, output_frames, masks):
        difference = np.abs(frame_to_float(output) - frame_to_float(source)).mean(axis=2)
        total += float(difference[mask].sum())
        count += int(mask.sum())
    return total / count if count else float("nan")


# ---------------------------------------------------------------- real footage: movers and their trails


@dataclass(frozen=True)
class StepMotion:
    """What the source says about one step t-1 -> t, computed once for every measure of that step."""

    forward: np.ndarray  # flow t-1 -> t on t-1's grid
    backward: np.ndarray  # flow t -> t-1 on t's grid
    visible: np.ndarray  # bool, t-1's grid: tracked into t (Lai's mask)
    moving: np.ndarray  # bool, t-1's grid: visible, moved more than 1 px and visibly changed
    uncovered: np.ndarray  # bool, t's grid: hidden at t-1 and visibly changed (what a mover leaves behind)


def step_motion(estimator: FlowEstimator, source_prev: np.ndarray, source_cur: np.ndarray) -> StepMotion:
    grey_prev, grey_cur = _uint8(source_prev), _uint8(source_cur)
    forward, backward = estimator.flow(grey_prev, grey_cur), estimator.flow(grey_cur, grey_prev)
    visible = reliability(forward, backward) >= VISIBLE_THRESHOLD
    changed = visibly_changed(grey_prev, grey_cur)
    # sensor noise fails the round trip too, in place; a mover's wake is where the picture changed
    uncovered = disoccluded(backward, forward) & lands_inside(backward) & changed
    return StepMotion(forward, backward, visible, visible & is_moving(forward, changed), uncovered)


def source_motion(source_frames: Sequence[np.ndarray], estimator: FlowEstimator | None = None) -> list[StepMotion]:
    """One StepMotion per step t-1 -> t (len(source_frames) - 1 of them)."""
    estimator = estimator or FlowEstimator()
    return [step_motion(estimator, source_frames[t - 1], source_frames[t]) for t in range(1, len(source_frames))]


def region_errors(output_frames: Sequence[np.ndarray], motions: Sequence[StepMotion],
                  region: str = "visible") -> list[tuple[float, int]]:
    """Per step: (sum, count) of Lai's squared warping error over the step's `region` ("visible" or "moving")."""
    sums = []
    for t, motion in enumerate(motions, start=1):
        mask = getattr(motion, region)
        warped = warp_with_flow(frame_to_float(output_frames[t]), motion.forward)  # O_t(x + F(x))
        squared = np.mean((frame_to_float(output_frames[t - 1]) - warped) ** 2, axis=2)
        sums.append((float(squared[mask].sum()), int(mask.sum())))
    return sums


def motion_warping_errors(output_frames: Sequence[np.ndarray], motions: Sequence[StepMotion]) -> tuple[float, float]:
    """(E_warp as warping_error computes it, E_warp over moving pixels pooled over all steps; NaN if none move).
    The second asks whether a mover's dream rides with it or boils."""
    whole = [total / count for total, count in region_errors(output_frames, motions) if count]
    moving = region_errors(output_frames, motions, "moving")
    count = sum(count for _, count in moving)
    return (float(np.mean(whole)) if whole else 0.0,
            sum(total for total, _ in moving) / count if count else float("nan"))


def trail(source_frames: Sequence[np.ndarray], output_frames: Sequence[np.ndarray],
          motions: Sequence[StepMotion]) -> float:
    """How much of the previous dream, carried along the source's backward flow, what a mover uncovers takes on:
    the regression slope of D_t on warp(D_t-1) over uncovered pixels (1: the mover's dream smeared into its
    wake; a per-frame dream's value is the noise level); NaN when nothing is uncovered."""
    _check_pairs(source_frames, output_frames)
    carried, dreamed = [], []
    for t, motion in enumerate(motions, start=1):
        if motion.uncovered.any():
            previous = frame_to_float(output_frames[t - 1]) - frame_to_float(source_frames[t - 1])
            carried.append(warp_with_flow(previous, motion.backward, "cubic")[motion.uncovered])
            dreamed.append((frame_to_float(output_frames[t]) - frame_to_float(source_frames[t]))[motion.uncovered])
    if not carried:
        return float("nan")
    carried, dreamed = np.concatenate(carried).ravel(), np.concatenate(dreamed).ravel()
    carried, dreamed = carried - carried.mean(), dreamed - dreamed.mean()
    return float(np.dot(carried, dreamed) / max(float(np.dot(carried, carried)), 1e-12))
