"""A clip's shots: the stretches between the frames where the renderer starts a fresh dream (the first
frame and each scene cut), so that each can be dreamed on its own (docs/DESIGN.md, "More GPUs or machines").

The cuts are found ahead, with the renderer's own flow and cut test, over the source at the dream size.
A shot longer than `max_shot_seconds` is split into pieces; each later piece starts dreaming a warm-up
before its first frame, so that its dream has its full strength at the seam, and its warm-up frames
cross-fade with the previous piece's last frames (two dreams started apart grow different patterns).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import chain
import json
import os
from typing import Callable, Iterable, Iterator

from dreamvid.render.clip import FLOW_METHODS, ClipWork, analysed_frames, is_fresh_start
from dreamvid.settings import Resolved

WARMUP_SECONDS = 1.0  # a piece's warm-up: the carried dream settles within it (benchmarks/bench_workers.py)
UNCUT_SHOT_FRAMES = 240  # --flow none: every frame stands alone; shots this long keep model loads rare


@dataclass(frozen=True)
class Shot:
    """Frames [first, stop) of the output, dreamed from a fresh start at `warm_from` (<= first). A piece
    whose warm-up does not reach back to its shot's start `fades_in`: its warm-up frames cross-fade with
    the previous piece's last ones, which that piece marks with `fade_out_from`."""

    first: int
    stop: int
    warm_from: int
    fade_out_from: int | None = None  # None: no fade at the end
    fades_in: bool = False

    @property
    def name(self) -> str:
        return f"shot_{self.first:06d}"

    @property
    def key(self) -> str:
        """Names the shot in its checkpoint: a checkpoint of another split is never taken for this one."""
        return f"{self.warm_from}-{self.first}-{self.stop}"

    @property
    def frames(self) -> int:
        return self.stop - self.first


def fresh_starts(work: ClipWork, on_frame: Callable[[], None] = lambda: None) -> Iterator[int]:
    """The frames where the renderer starts afresh (clip.is_fresh_start): 0, then each scene cut."""
    method, frames = FLOW_METHODS[work.settings["flow"]], work.frames
    if not method.carries:  # every frame starts afresh, so any frame may start a shot: chunks of about 240
        shot = -(-UNCUT_SHOT_FRAMES // work.settings["checkpoint_frames"]) * work.settings["checkpoint_frames"]
        yield from range(0, frames, shot)
        return
    yield 0
    if not method.cuts:  # a dream carried through the whole clip: one shot
        return
    sources = analysed_frames(work.input_path, work.size, work.settings, work.plan, 1)
    try:
        for t, source in enumerate(sources, start=1):
            if is_fresh_start(method, source, True, work.settings["cut_threshold"]):
                yield t
            on_frame()
    finally:
        sources.close()


def remembered_starts(starts: Iterable[int], folder: str) -> Iterator[int]:
    """`starts`, kept in the state folder once all are found, so a resumed render skips the analysis."""
    path = os.path.join(folder, "starts.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as handle:
            yield from json.load(handle)
        return
    found = []
    for start in starts:
        found.append(start)
        yield start
    with open(path + ".partial", "w", encoding="utf-8") as handle:
        json.dump(found, handle)
    os.replace(path + ".partial", path)


def split_shot(first: int, stop: int, piece: int, warmup: int, segment: int) -> list[Shot]:
    """Pieces of about `piece` frames (0: the whole shot), ending on segment boundaries, each after the
    first warmed up over the `warmup` frames before it (never before the shot's own start)."""
    pieces, start = [], first
    while start < stop:
        end = stop if not piece else min(stop, -(-(start + piece) // segment) * segment)
        # never before the previous piece either, so that only that piece fades out under the warm-up
        warm_from = max(first, start - warmup, pieces[-1].first) if pieces else first
        if warm_from > first:  # a warm-up from the shot's own start is the unsplit dream: nothing to fade
            pieces[-1] = replace(pieces[-1], fade_out_from=warm_from)
        pieces.append(Shot(start, end, warm_from, fades_in=warm_from > first))
        start = end
    return pieces


def fade_weights(pieces: Iterable[Shot]) -> dict[int, float]:
    """The share of a fading-in piece's warm-up frame t in output frame t: rising linearly to the piece's
    first frame, where it is the piece's own (a jump spread over the warm-up instead of one seam)."""
    weights = {}
    for shot in pieces:
        if shot.fades_in:
            span = shot.first - shot.warm_from + 1
            weights.update({t: (t - shot.warm_from + 1) / span for t in range(shot.warm_from, shot.first)})
    return weights


def plan_shots(starts: Iterable[int], frames: int, piece: int = 0, warmup: int = 0,
               segment: int = 1) -> Iterator[Shot]:
    """The shots between consecutive fresh starts (a shot is known once the next start is found)."""
    previous = None
    for start in chain(starts, [frames]):
        if previous is not None and start > previous:
            yield from split_shot(previous, start, piece, warmup, segment)
        previous = start


def piece_frames(settings: Resolved) -> tuple[int, int]:
    """`max_shot_seconds` and the warm-up in frames at the clip's rate (0, 0: shots are never split)."""
    seconds = settings["max_shot_seconds"]
    if not seconds:
        return 0, 0
    fps = float(settings.fps)
    return max(1, round(seconds * fps)), round(WARMUP_SECONDS * fps)
