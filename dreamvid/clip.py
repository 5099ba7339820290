"""Dreaming an existing clip so that the dream follows the scene's motion (RESEARCH.md section 3).

Frame t starts from its source frame plus the previous dream *residual* (dream - source), warped
along the backward optical flow of the source and weighted by the flow's reliability; then a
short dream finishes it. `--flow blend` (no motion compensation) and `--flow none` (each frame
alone) are there to compare with.
"""

from __future__ import annotations

import sys
from typing import Iterator

import numpy as np

from .engine import Dreamer, pick_device
from .errors import UserError
from .flow import FlowEstimator, backward_forward, is_scene_cut, reliability, warp_with_flow
from .images import float_to_frame, frame_to_image, image_to_float_frame
from .scheduler import FrameJob, LoopState, preview_path, preview_settings, render_frames
from .segments import check_output
from .settings import Resolved
from .video import AudioSource, VideoInfo, even_size, probe_video, read_frames


def dream_size(info: VideoInfo, settings: Resolved) -> tuple[int, int]:
    """The source size x scale, capped by `size` on the longer side, rounded down to even sides."""
    scale = settings["scale"]
    if settings["size"]:
        scale = min(scale, settings["size"] / max(info.width, info.height))
    exact = (max(2, round(info.width * scale)), max(2, round(info.height * scale)))
    even = even_size(*exact)
    if even != exact:
        print(f"dreamvid: dreaming at {even[0]}x{even[1]} instead of {exact[0]}x{exact[1]} "
              "(video needs even sides)", file=sys.stderr)
    return even


def clip_range(settings: Resolved) -> dict:
    return {"start": settings["start"], "duration": settings["duration"] or None,
            "max_frames": settings["frames"] or None}


def count_frames(path: str, settings: Resolved) -> int:
    """Decode the range once at a tiny size: an exact count, and a corrupt file fails before any dreaming."""
    return sum(1 for _ in read_frames(path, size=(16, 16), **clip_range(settings)))


class SourceFrames:
    """Source frames at the dream size, read in order; `get(t)` skips ahead when resuming."""

    def __init__(self, path: str, size: tuple[int, int], settings: Resolved):
        self.path, self.size, self.settings = path, size, settings
        self._frames: Iterator[np.ndarray] | None = None
        self._next = 0

    def get(self, t: int) -> np.ndarray:
        if self._frames is None:
            self._frames = read_frames(self.path, size=self.size, **clip_range(self.settings))
        while True:
            try:
                frame = next(self._frames)
            except StopIteration:
                raise UserError(f"{self.path} ended before frame {t}") from None
            self._next += 1
            if self._next > t:
                return frame


def start_image(method: str, t: int, source: np.ndarray, state: LoopState, settings: Resolved,
                estimator: FlowEstimator | None) -> tuple[np.ndarray, bool]:
    """The image frame t's dream starts from, and whether it is a fresh start (first frame or cut)."""
    current = source.astype(np.float32) / 255.0
    if method == "none" or "output" not in state:
        return current, True
    persistence = settings.at("persistence", t)
    if method == "blend":
        return (1 - persistence) * current + persistence * state["output"], False
    backward, forward = backward_forward(estimator, state["source"], source)
    weights = reliability(backward, forward)
    if is_scene_cut(weights, settings["cut_threshold"]):
        return current, True
    residual = state["output"] - state["source"].astype(np.float32) / 255.0
    carried = warp_with_flow(residual, backward) * (persistence * weights)[..., None]
    return np.clip(current + carried, 0.0, 1.0), False


def clip_step(dreamer: Dreamer, sources: SourceFrames, settings: Resolved):
    method = settings["flow"]
    estimator = FlowEstimator(method) if method.startswith("dis") else None

    def step(t: int, state: LoopState) -> tuple[np.ndarray, LoopState]:
        source = sources.get(t)
        # 1. carry the previous dream along the motion (or start afresh on the first frame and at cuts)
        image, fresh = start_image(method, t, source, state, settings, estimator)
        # 2. dream: a full dream for a fresh start, a short one on top of the carried dream
        iterations = None if fresh else settings.at("iterations_next", t)
        dreamed = image_to_float_frame(dreamer.dream(frame_to_image(image, dreamer.device), t, iterations))
        return float_to_frame(dreamed), {"source": source, "output": dreamed}

    return step


def render_clip(input_path: str, output_path: str, settings: dict, overwrite: bool = False,
                resume: bool = False, preview: bool = False) -> None:
    """`dreamvid video`: every check first, then the resumable loop, with the source's sound."""
    if preview:
        output_path, settings = preview_path(output_path), preview_settings(settings)
    check_output(output_path, overwrite)
    resolved = Resolved(settings)
    info = probe_video(input_path)
    size = dream_size(info, resolved)
    frames = count_frames(input_path, resolved)
    audio = AudioSource(input_path, resolved["start"], float(frames / info.fps)) if info.has_audio else None
    job = FrameJob("video", input_path, output_path, settings, size, info.fps, frames, audio)
    dreamer = Dreamer(resolved, pick_device(resolved["device"]))
    render_frames(job, clip_step(dreamer, SourceFrames(input_path, size, resolved), resolved),
                  dict, overwrite, resume)
