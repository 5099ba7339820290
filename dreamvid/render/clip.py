"""Dreaming an existing clip so that the dream follows the scene's motion (docs/DESIGN.md, "Dreaming a clip").

Frame t starts from its source frame plus the previous dream *residual* (dream - source), warped
along the backward optical flow of the source; then a few ascent steps with a temporal term hold
the reliably tracked pixels near that carried dream and reshape the rest. `--flow blend` (no motion
compensation) and `--flow none` (each frame alone) are there to compare with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from dreamvid.ascent.dream import Anchor
from dreamvid.ascent.engine import Dreamer
from dreamvid.audio.schedules import clip_soundtrack
from dreamvid.errors import UserError
from dreamvid.flow import FlowEstimator, backward_forward, is_scene_cut, lands_inside, reliability, warp_with_flow
from dreamvid.media.frames import float_to_frame, frame_to_float, frame_to_image, image_to_float_frame
from dreamvid.media.reader import VideoInfo, probe_video, read_frames
from dreamvid.media.timing import ClipPlan, plan_clip, read_frame_times
from dreamvid.media.writer import even_size
from dreamvid.nets.device import pick_device
from dreamvid.notices import notify
from dreamvid.render.loop import ClosingStep, FrameJob, LoopState, prepare_output, render_frames
from dreamvid.render.prefetch import prefetch
from dreamvid.settings import Resolved, check_schedules


def dream_size(info: VideoInfo, settings: Resolved) -> tuple[int, int]:
    """The source size x scale, capped by `size` on the longer side, rounded down to even sides."""
    scale = settings["scale"]
    if settings["size"]:
        scale = min(scale, settings["size"] / max(info.width, info.height))
    exact = (max(2, round(info.width * scale)), max(2, round(info.height * scale)))
    even = even_size(*exact)
    if even != exact:
        notify(f"dreaming at {even[0]}x{even[1]} instead of {exact[0]}x{exact[1]} (video needs even sides)")
    return even


def clip_range(settings: Resolved) -> dict:
    return {"start": settings["start"], "duration": settings["duration"] or None,
            "max_frames": settings["frames"] or None}


def clip_plan(path: str, info: VideoInfo, settings: Resolved) -> ClipPlan:
    """Decode the range once at a tiny size: each frame's exact time, and a corrupt file fails before any dreaming."""
    return plan_clip(read_frame_times(path, info, **clip_range(settings)), info)


MAX_GAIN = 1.5  # the most the carried residual is amplified to hold the dream's strength
# The residual is resampled every frame, so bilinear warps blur a mover's dream away: measured on the
# walkers clip (bench_temporal.py), moving-pixel strength 0.68 x naive bilinear, 0.76 cubic (Lanczos: the same, slower).
RESIDUAL_WARP = "cubic"


@dataclass(frozen=True)
class SourceFrame:
    """A source frame at the dream size, with the backward flow to the previous one and its reliability."""

    frame: np.ndarray
    backward: np.ndarray | None = None  # flow t -> t-1 on frame t's grid; None: first frame, or no flow
    weights: np.ndarray | None = None  # reliability of `backward`, 0..1
    inside: np.ndarray | None = None  # where `backward` lands inside the frame (elsewhere content enters)


def dreamed_source_frames(path: str, size: tuple[int, int], settings: Resolved, plan: ClipPlan) -> Iterator[np.ndarray]:
    """The plan's frames: each stored frame of the range once (a held frame is one frame, not many)."""
    kept = set(plan.kept)
    frames = read_frames(path, size=size, start=settings["start"], max_frames=plan.kept[-1] + 1)
    return (frame for index, frame in enumerate(frames) if index in kept)


def analysed_frames(path: str, size: tuple[int, int], settings: Resolved, plan: ClipPlan,
                    first: int) -> Iterator[SourceFrame]:
    """Source frames from `first` on, with their flow: it depends only on the source, so it runs ahead."""
    method = settings["flow"]
    estimator = FlowEstimator(method) if method.startswith("dis") else None
    previous = None
    for index, frame in enumerate(dreamed_source_frames(path, size, settings, plan)):
        if index >= first:
            if estimator is None or previous is None:
                yield SourceFrame(frame)
            else:
                backward, forward = backward_forward(estimator, previous, frame)
                yield SourceFrame(frame, backward, reliability(backward, forward), lands_inside(backward))
        previous = frame


@dataclass(frozen=True)
class Start:
    """Where frame t's dream starts: the image, whether it is a fresh start (first frame or a cut), and in
    flow mode the temporal term's target (the previous dream carried along the flow) and its weights."""

    image: np.ndarray
    fresh: bool
    target: np.ndarray | None = None
    weights: np.ndarray | None = None


def start_image(method: str, t: int, source: SourceFrame, state: LoopState, settings: Resolved) -> Start:
    """The image frame t's dream starts from, and what holds it near the previous dream."""
    current = frame_to_float(source.frame)
    if method == "none" or "output" not in state:
        return Start(current, True)
    if method == "blend":
        weight = settings.at("blend", t)
        return Start((1 - weight) * current + weight * state["output"], False)
    if is_scene_cut(source.weights, settings["cut_threshold"]):
        return Start(current, True)
    residual = warp_with_flow(state["output"] - frame_to_float(state["source"]), source.backward, RESIDUAL_WARP)
    # hold the carried dream at the fresh dream's strength: left alone it deepens frame after frame
    # (and fades where resampling blurs it, as in a zoom)
    gain = min(MAX_GAIN, float(state["strength"]) / max(float(np.abs(residual).mean()), 1e-6))
    carried = residual * (settings.at("persistence", t) * gain)
    # every pixel the flow brings from inside the frame starts from the carried dream, as in Ruder et
    # al.'s initialisation: where the flow is unreliable it is not held, and the ascent reshapes it,
    # instead of regrowing it from the source (which flickers wherever noise fails the check)
    target = np.clip(current + carried, 0.0, 1.0)
    carry = source.inside if settings["carry_unreliable"] else source.weights
    return Start(current + (target - current) * carry[..., None], False, target, source.weights)


def anchor_for(start: Start, t: int, settings: Resolved, device) -> Anchor | None:
    pull = settings.at("temporal_weight", t)
    if start.target is None or pull <= 0:
        return None
    weights = torch.from_numpy(np.ascontiguousarray(start.weights))[None, None].to(device)
    return Anchor(frame_to_image(start.target, device), weights, pull, settings.at("fresh_boost", t))


def clip_step(dreamer: Dreamer, sources: Iterator[SourceFrame], settings: Resolved):
    method = settings["flow"]

    def step(t: int, state: LoopState) -> tuple[np.ndarray, LoopState]:
        source = next(sources, None)
        if source is None:
            raise UserError(f"the clip ended before frame {t} (it decoded to fewer frames than counted)")
        # 1. carry the previous dream along the motion (or start afresh on the first frame and at cuts)
        start = start_image(method, t, source, state, settings)
        if start.target is not None and t % settings["cadence"]:  # an in-between frame: carried, not dreamed
            return float_to_frame(start.target), {**state, "source": source.frame, "output": start.target}
        # 2. dream: a full dream for a fresh start; after it, the follow-up ascent with the temporal
        #    term, which holds reliably tracked pixels near the carried dream and reshapes the rest
        iterations = None if start.fresh else settings.at("iterations_next", t)
        octaves = None if start.fresh else min(settings["octaves_next"], settings["octaves"])
        dreamed = dreamer.dream(frame_to_image(start.image, dreamer.device), t, iterations, octaves=octaves,
                                anchor=anchor_for(start, t, settings, dreamer.device))
        dreamed = image_to_float_frame(dreamed)
        strength = np.abs(dreamed - frame_to_float(source.frame)).mean() if start.fresh else state["strength"]
        return float_to_frame(dreamed), {"source": source.frame, "output": dreamed, "strength": np.float64(strength)}

    return step


def check_cadence(settings: Resolved) -> None:
    if settings["cadence"] > 1 and not settings["flow"].startswith("dis"):
        raise UserError(f"--cadence {settings['cadence']} needs an optical-flow method (--flow dis or dis-fast): "
                        f"the frames between dreamed ones are carried along the flow")


@dataclass(frozen=True)
class ClipWork:
    """What any process needs to dream frames of one clip (picklable: a worker rebuilds its step from it)."""

    input_path: str
    size: tuple[int, int]
    settings: Resolved
    plan: ClipPlan
    baseline: bool = False

    def step_from(self, first: int) -> ClosingStep:
        """The step for frames `first`, `first` + 1, ... of the plan; frame t is given its own index t, and a
        fresh dream starts where the state is empty (so `{}` at any frame starts a shot there)."""
        dreamer = Dreamer(self.settings, pick_device(self.settings["device"]), baseline=self.baseline)
        sources = analysed_frames(self.input_path, self.size, self.settings, self.plan, first)
        sources = sources if self.baseline else prefetch(sources)
        return ClosingStep(clip_step(dreamer, sources, self.settings), sources.close)


def prepare_clip(input_path: str, output_path: str, settings: dict, overwrite: bool = False,
                 preview: bool = False, baseline: bool = False) -> tuple[FrameJob, ClipWork]:
    """Every check of `dreamvid video` before any dreaming: the output, the clip's frames, size, sound, schedules."""
    output_path, settings = prepare_output(output_path, settings, overwrite, preview)
    info = probe_video(input_path)
    plan = clip_plan(input_path, info, Resolved(settings, fps=info.fps))
    size = dream_size(info, Resolved(settings, fps=plan.fps))
    # the sound starts at the first dreamed frame (at or a little after `start`) and lasts as long as the video
    sound = clip_soundtrack(input_path, info.has_audio, settings, plan)  # analysed once, ahead
    resolved = Resolved(settings, fps=plan.fps, audio=sound.table)
    check_schedules(resolved, len(plan.kept))
    check_cadence(resolved)
    repeats = None if plan.is_constant_rate else plan.repeats
    job = FrameJob("video", input_path, output_path, settings, size, plan.fps, len(plan.kept), audio=sound.source,
                   repeats=repeats, audio_digest=sound.digest)
    return job, ClipWork(input_path, size, resolved, plan, baseline)


def render_clip(input_path: str, output_path: str, settings: dict, overwrite: bool = False,
                resume: bool = False, preview: bool = False, baseline: bool = False) -> None:
    """`dreamvid video`: every check first, then the resumable loop, with the source's sound; with
    `workers` > 1 or `ray`, its shots on Ray workers (render/workers.py).

    `baseline` (benchmarks only): the straightforward version, with flow computed in line."""
    job, work = prepare_clip(input_path, output_path, settings, overwrite, preview, baseline)
    if job.settings["workers"] > 1 or job.settings["ray"]:
        from dreamvid.render.workers import render_shots

        render_shots(job, work, overwrite, resume)
    else:  # step_from is called after the resume check: a refused resume loads no model
        if job.settings["max_shot_seconds"]:
            notify("--max-shot-seconds splits shots between workers; with one process it has nothing to do")
        render_frames(job, work.step_from, dict, overwrite, resume)
