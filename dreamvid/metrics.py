"""Temporal consistency and dream strength of a rendered clip (docs/DESIGN.md, "Measuring flicker").

Warping error after Lai et al., "Learning Blind Video Temporal Consistency" (ECCV 2018):
flow and occlusion masks come from the source clip, never from the output, so a method cannot
look stable by making its own output easy to track. Report it beside the source clip's own
error (the floor), the naive per-frame dream's (the ceiling) and the dream strength, so that
dreaming less cannot pass for stability.
"""

from collections.abc import Sequence

import numpy as np

from dreamvid.flow import FlowEstimator, reliability, warp_with_flow
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


def moving_mask(estimator: FlowEstimator, source_prev: np.ndarray, source_cur: np.ndarray) -> np.ndarray:
    """Bool H x W on frame t's grid: where the source moved (long backward flow) and visibly changed."""
    import cv2

    backward = estimator.flow(_uint8(source_cur), _uint8(source_prev))
    moved = np.hypot(backward[..., 0], backward[..., 1]) > MOVING_FLOW_PX
    change = np.abs(frame_to_float(source_cur) - frame_to_float(source_prev)).mean(axis=2)
    changed = cv2.GaussianBlur(change, (5, 5), 0) > MOVING_CHANGE
    return moved & changed


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
