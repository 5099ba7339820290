"""Looping clips (`--loop` on a video): a source that loops (a cinemagraph, a GIF) gives a dream that loops.

The render first dreams the source's last `lead` frames (not written), then carries that dream, along
the flow from the last source frame to the first, into frame 0, and dreams the whole clip on from it.
Its own last `lead` frames are the same source frames again: their start and temporal target are drawn,
more and more, toward the first pass's dreams of them (mixed as strong as both, not averaged into a softer
ghost), all of it at the end, so the last frame is the one frame 0 was carried from and the wrap is one more
step along the flow (docs/DESIGN.md, "Loops").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator

import numpy as np

from dreamvid.errors import UserError
from dreamvid.flow import FlowEstimator
from dreamvid.media.frames import frame_to_float
from dreamvid.temporal import SourceFrame, Start, analyse, local_strength, made_up_to

CLOSING_SECONDS = 1.0  # the first pass and the closing: a second of the source, at most the clip less a frame
# A source loops when its last frame is no farther from its first than this many times the median
# change between its frames (a cut back to the start is tens of times farther).
LOOP_TOLERANCE = 3.0
SOFTEN_SHARE = 32  # the frames are compared blurred by 1/32 of their longer side
# A closing frame's two dreams are mixed as strong as both in two bands, split by a Gaussian of this sigma (px): the
# grain loses most in a mix, and made up with the broad dream it stayed softer (the circle's closing 0.88, 0.92 apart).
GRAIN_SIGMA = 1.0


@dataclass(frozen=True)
class ClipLoop:
    """A looping clip of `frames` source frames, whose last `lead` are dreamed first."""

    frames: int
    lead: int

    def source_index(self, t: int) -> int:
        """The source frame that loop frame t dreams: the last `lead` ones, then all in order."""
        return self.frames - self.lead + t if t < self.lead else t - self.lead

    def share(self, t: int) -> float:
        """How far loop frame t is drawn toward the first pass's dream: smoothly up to 1 at the last frame."""
        closing_from = self.frames  # loop frame of the first closing source frame (frames - lead) again
        x = min(max((t - closing_from + 1) / self.lead, 0.0), 1.0)
        return x * x * (3.0 - 2.0 * x)


def softened(frame: np.ndarray) -> np.ndarray:
    """The frame's broad shapes: a far move then changes it far more than a small one (fine texture is
    changed by both alike)."""
    import cv2

    return cv2.GaussianBlur(frame_to_float(frame), (0, 0), max(1.0, max(frame.shape[:2]) / SOFTEN_SHARE))


def plan_clip_loop(frames: list[np.ndarray], fps: float, path: str) -> ClipLoop:
    """The loop of a clip's frames (at the dream size), or one line saying it does not loop."""
    if len(frames) < 3:
        raise UserError(f"{path} has {len(frames)} frames: too few to loop")
    soft = [softened(frame) for frame in frames]
    steps = [np.abs(a - b).mean() for a, b in zip(soft, soft[1:])]
    wrap = np.abs(soft[-1] - soft[0]).mean()
    if wrap > LOOP_TOLERANCE * max(float(np.median(steps)), 1e-3):
        raise UserError(f"{path} does not loop: its last frame differs from its first by {255 * wrap:.1f} "
                        f"(mean of 0..255), {wrap / max(float(np.median(steps)), 1e-6):.0f}x the median change "
                        f"between its frames; --boomerang plays it forward, then backward, instead")
    return ClipLoop(len(frames), max(1, min(round(CLOSING_SECONDS * fps), len(frames) - 1)))


def looped_sources(frames: list[np.ndarray], loop: ClipLoop, estimator: FlowEstimator | None,
                   first: int, noise: str = "off") -> Iterator[SourceFrame]:
    """The source frames in loop order from loop frame `first`, each with its flow to the one before it
    (frame 0's: to the last frame, across the wrap), analysed as a clip's are (`noise`: temporal.analyse's)."""
    for t in range(first, loop.lead + loop.frames):
        frame = frames[loop.source_index(t)]
        if estimator is None or t == 0:
            yield SourceFrame(frame)
        else:
            yield analyse(estimator, frames[loop.source_index(t - 1)], frame, noise)


def toward_loop(start: Start, state: dict, current: np.ndarray) -> Start:
    """A closing frame's start and temporal target drawn toward the first pass's dream of its source frame
    (`current`), and held there more firmly (all of it at the last frame)."""
    if "loop_target" not in state or start.target is None:
        return start
    share, target = float(state["loop_share"]), frame_to_float(state["loop_target"])
    return replace(start, image=mixed_dreams(start.image, target, share, current),
                   target=mixed_dreams(start.target, target, share, current),
                   weights=start.weights + share * (1.0 - start.weights))


def mixed_dreams(dream: np.ndarray, other: np.ndarray, share: float, current: np.ndarray) -> np.ndarray:
    """`share` of the way from one dream of `current` to another, as strong as they are: where their patterns
    differ, a plain average is a weaker, softer ghost of both, so the mix's local strength is made up to
    theirs (at most temporal.MAX_GAIN), the grain's apart from the broad dream's."""
    ours, theirs = dream - current, other - current
    broad_ours, broad_theirs = broad(ours), broad(theirs)
    mix = strong_mix(broad_ours, broad_theirs, share) + strong_mix(ours - broad_ours, theirs - broad_theirs, share)
    return np.clip(current + mix, 0.0, 1.0)


def broad(residual: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(residual, (0, 0), GRAIN_SIGMA)


def strong_mix(ours: np.ndarray, theirs: np.ndarray, share: float) -> np.ndarray:
    mix = ours + share * (theirs - ours)
    return made_up_to(mix, (1.0 - share) * local_strength(ours) + share * local_strength(theirs))


def looping_step(step, loop: ClipLoop):
    """The clip's step over loop frames: it dreams their source frames, keeps the first pass's dreams
    (a checkpoint keeps them: resume is exact) and hands each closing frame its target."""

    def looped(t: int, state: dict) -> tuple[np.ndarray, dict]:
        tail = state.get("loop_tail")
        inner = {key: value for key, value in state.items() if key != "loop_tail"}
        if t >= loop.frames:
            inner.update(loop_target=tail[t - loop.frames], loop_share=np.float64(loop.share(t)))
        frame, after = step(loop.source_index(t), inner)
        after = {key: value for key, value in after.items() if key not in ("loop_target", "loop_share")}
        if t < loop.lead:
            tail = frame[None] if tail is None else np.concatenate([tail, frame[None]])
        return frame, {**after, "loop_tail": tail}

    return looped
