"""Zoom loops (`--loop`): a zoom that ends where it began, so that played on repeat it shows no seam.

The render dreams `lead` frames before the loop's first one (the picture's own, lightly dreamed frames
would jump back from the deep dream at the wrap), then the loop's `frames`. Frame `end = lead + frames`
would be the loop's first frame (the head) again: its camera is the head's up to the loop's total zoom.
So each of the last `closing` frames starts its dream from the head moved back along the camera path
to its own time, inside a disc that grows from the zoom's centre until it fills the frame (the tunnel's
own picture outside it): the tail flies into the head instead of cross-fading onto it, which would show
two pictures at once (docs/DESIGN.md, "Loops").
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
import math
from typing import Callable

import numpy as np

from dreamvid.audio.beats import beat_curve
from dreamvid.audio.features import Features, at_frames
from dreamvid.audio.schedules import Soundtrack
from dreamvid.media.audio import AudioSource
from dreamvid.notices import notify
from dreamvid.render.cadence import coverage, move_image
from dreamvid.settings import Resolved

# The dream's depth settles within about a second of feedback (tunnel preset: the median frame-to-frame
# change is reached by frame ~20 at 30 fps); the loop starts there, not on the picture itself.
LEAD_SECONDS = 1.0
# The tail's flight into the head: the longer, the less each frame changes on its way (tunnel, 96 px,
# 15 fps: the largest step 1.23x the median over 1 s, 1.14x over 1.5 s; the wrap 1.0x and 0.94x).
CLOSING_SECONDS = 1.5
# Only the start is drawn toward the moved head, the ascent is free: holding it there too (a clip's temporal
# term) made the closing frames softer (tunnel, 96 px: the softest at 0.80 / 0.86 of the median frame with a
# hold of 0.5 / 0.1 per step, 0.95 without), since the moved head is resampled and the hold keeps the blur.
RIM = 0.25  # the soft rim of the head's disc, a share of the distance from the centre to the farthest corner
BEATS_PER_BAR = 4


@dataclass(frozen=True)
class ZoomLoop:
    """Where a zoom loop's frames are: `lead` dreamed before it, `frames` in it, the last `closing` pulled."""

    lead: int
    frames: int
    closing: int

    @property
    def end(self) -> int:
        """The frame that would be the head again (never written)."""
        return self.lead + self.frames

    def progress(self, t: int) -> float:
        """How far frame t is through the closing: 0 before it, 1 at the loop's last frame and after."""
        return min(max((t - (self.end - self.closing)) / max(self.closing - 1, 1), 0.0), 1.0)

    def share(self, t: int, radius: np.ndarray) -> np.ndarray:
        """How far each pixel of frame t is pulled toward the moved head: a disc that grows from the zoom's
        centre (`radius`: each pixel's distance from it, 0..1 from the centre to the farthest corner) with a
        soft rim, so the head shows beside the tunnel, never through it (a ghost)."""
        if t <= self.end - self.closing:
            return np.zeros_like(radius)
        edge = self.progress(t) * (1.0 + RIM) - radius
        x = np.clip(edge / RIM, 0.0, 1.0)
        return (x * x * (3.0 - 2.0 * x)).astype(np.float32)


def plan_loop(frames: int, fps: Fraction, cadence: int) -> ZoomLoop:
    """The lead (a whole number of cadence steps, so the head is a dreamed key) and the closing for a loop
    of `frames` frames."""
    lead = cadence * math.ceil(round(LEAD_SECONDS * float(fps)) / cadence)
    closing = max(1, min(round(CLOSING_SECONDS * float(fps)), frames - 1))
    return ZoomLoop(lead, frames, closing)


class Closing:
    """The pull of a loop's last frames toward its head, moved along the camera to their time."""

    def __init__(self, loop: ZoomLoop, path: Callable[[int, int], np.ndarray], centre: Callable[[int], tuple],
                 interpolation: str):
        self.loop, self.path, self.interpolation = loop, path, interpolation  # path(first, last): 3x3 camera
        self.centre = centre  # the zoom's centre at frame t, as fractions of the width and height

    def target(self, head: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
        """The head moved from the loop's end to frame t, and where it really covers the frame (H x W)."""
        end = self.loop.end
        matrix = np.linalg.inv(self.path(t + 1, end)) if t <= end else self.path(end + 1, t)
        return move_image(head, matrix, self.interpolation), coverage(matrix, head.shape[1], head.shape[0])

    def pull(self, image: np.ndarray, t: int, state: dict) -> np.ndarray:
        """Frame t's start image: the moved head inside the closing's disc (where it covers the frame)."""
        if self.loop.progress(t) <= 0 or "head" not in state:
            return image
        target, covered = self.target(state["head"], t)
        weight = self.loop.share(t, centre_distance(image.shape[:2], self.centre(t))) * covered
        return (image + weight[..., None] * (target - image)).astype(np.float32)

    def kept(self, t: int, image: np.ndarray, state: dict) -> dict:
        """The head joins the loop state at its frame, and stays (a checkpoint keeps it: resume is exact)."""
        if t == self.loop.lead:
            return {"head": image}
        return {"head": state["head"]} if "head" in state else {}


def centre_distance(shape: tuple[int, int], centre: tuple[float, float]) -> np.ndarray:
    """Each pixel's distance from `centre` (fractions of the width and height), 1 at the farthest corner."""
    height, width = shape
    x = (np.arange(width, dtype=np.float32) + 0.5) / width - centre[0]
    y = (np.arange(height, dtype=np.float32) + 0.5) / height - centre[1]
    distance = np.hypot(x[None, :], y[:, None])
    return distance / max(float(distance.max()), 1e-6)


def bar_frames(tempo: float, fps: Fraction) -> float:
    return BEATS_PER_BAR * 60.0 / tempo * float(fps)


def music_loop_frames(wanted: int, music: Features, fps: Fraction) -> int:
    """A music-driven loop lasts whole bars (the nearest count to `wanted` frames, at least one), so the
    beat goes on across the wrap; said in one line."""
    if music.tempo <= 0:
        notify("loop: no tempo found in the music, so the loop is not snapped to whole bars")
        return wanted
    bar = bar_frames(music.tempo, fps)
    bars = max(1, round(wanted / bar))
    frames = max(2, round(bars * bar))
    notify(f"loop: {frames} frames = {bars} whole bar{'s' * (bars != 1)} at {music.tempo:.1f} BPM")
    return frames


def quiet_head(loop: ZoomLoop, music: Features, fps: Fraction, cadence: int) -> ZoomLoop:
    """A music loop's head moved later by less than a beat (whole cadence steps), to where the beat envelope
    is lowest within a frame of the head and of the wrap's step (frame `end`): a loop starting on a beat
    wraps with that beat's surge (`zoom = "1.15 + 0.6*beat"`), one starting between beats with a quiet step.
    The loop stays whole bars, and its music starts at the head's time."""
    if music.tempo <= 0 or not len(music.beats):
        return loop
    beat = 60.0 / music.tempo * float(fps)
    leads = range(loop.lead, loop.lead + max(1, math.ceil(beat)), cadence)
    envelope = beat_curve(music.beats, leads[-1] + loop.frames + 2, float(fps), music.tempo)

    def loudness(lead: int) -> float:
        return float(envelope[lead - 1:lead + 2].max() + envelope[lead + loop.frames - 1:lead + loop.frames + 2].max())

    lead = min(leads, key=loudness)  # the first of equals: the shortest lead
    if lead != loop.lead:
        notify(f"loop: its first frame is {lead - loop.lead} frame{'s' * (lead - loop.lead != 1)} later, between "
               f"beats, so the wrap is a quiet step")
    return ZoomLoop(lead, loop.frames, loop.closing)


def loop_soundtrack(path: str, music: Features, loop: ZoomLoop, fps: Fraction) -> Soundtrack:
    """The music under the loop's frames only (from the head's time), its features under every dreamed frame."""
    source = AudioSource(path, float(loop.lead / fps), float(loop.frames / fps))
    return Soundtrack(source, at_frames(music, float(fps), loop.end + 1), music.digest())


def check_loop_schedules(settings: Resolved, loop: ZoomLoop) -> None:
    """A schedule whose value at the loop's end does not meet its start makes the loop jump: one line."""
    jumps = []
    for name, schedule in settings.schedules().items():
        if schedule.is_constant or schedule.audio_names:
            continue  # music repeats by whole bars
        start, end = settings.at(name, loop.lead), settings.at(name, loop.end)
        if not math.isclose(start, end, rel_tol=1e-6, abs_tol=1e-9):
            jumps.append(f"{name} is {start:g} at its start and {end:g} at its end")
    if jumps:
        notify(f"loop: {'; '.join(jumps)}: the loop jumps there (make the schedule end where it starts)")
