"""Dreaming an existing clip so that the dream follows the scene's motion (docs/DESIGN.md, "Dreaming a clip").

Frame t starts from its source frame plus the previous dream *residual* (dream - source), warped
along the backward optical flow of the source; then a few ascent steps with a temporal term hold
the reliably tracked pixels near that carried dream and reshape the rest. `--flow blend` (no motion
compensation) and `--flow none` (each frame alone) are there to compare with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import torch

from dreamvid.ascent.dream import Anchor
from dreamvid.ascent.engine import Engine
from dreamvid.audio.schedules import Soundtrack, clip_soundtrack
from dreamvid.errors import UserError
from dreamvid.flow import FlowEstimator, is_scene_cut
from dreamvid.media.frames import float_to_frame, frame_to_float, frame_to_image, image_to_float_frame
from dreamvid.media.pictures import check_dream_shape
from dreamvid.media.reader import VideoInfo, probe_video, read_frames
from dreamvid.media.timing import ClipPlan, plan_clip, read_frame_times
from dreamvid.media.writer import even_size
from dreamvid.notices import notify
from dreamvid.render.clip_loop import ClipLoop, looped_sources, looping_step, plan_clip_loop, toward_loop
from dreamvid.render.dreaming import FrameDreamer, frame_dreamer
from dreamvid.masks.sources import MaskSource
from dreamvid.render.masking import ClipMasks, check_clip_mask
from dreamvid.render.loop import Callback, ClosingStep, FrameJob, LoopState, prepare_output, render_frames
from dreamvid.render.prefetch import prefetch
from dreamvid.settings import Resolved, check_schedules
from dreamvid.temporal import SourceFrame, Start, analyse, background_after, carried_start


def dream_size(info: VideoInfo, settings: dict) -> tuple[int, int]:
    """The source size x scale, capped by `size` on the longer side, rounded down to even sides."""
    scale = settings["scale"]
    if settings["size"]:
        scale = min(scale, settings["size"] / max(info.width, info.height))
    exact = (max(2, round(info.width * scale)), max(2, round(info.height * scale)))
    even = even_size(*exact)
    check_dream_shape(*even, "the clip")
    if even != exact:
        notify(f"dreaming at {even[0]}x{even[1]} instead of {exact[0]}x{exact[1]} (video needs even sides)")
    return even


def clip_range(settings: dict) -> dict:
    return {"start": settings["start"], "duration": settings["duration"] or None,
            "max_frames": settings["frames"] or None}


def clip_plan(path: str, info: VideoInfo, settings: dict) -> ClipPlan:
    """Decode the range once at a tiny size: each frame's exact time, and a corrupt file fails before any dreaming."""
    return plan_clip(read_frame_times(path, info, **clip_range(settings)), info)


@dataclass(frozen=True)
class FlowMethod:
    """What a `flow` setting means for the loop: a DIS preset (or no flow), whether a frame carries the
    previous dream, and whether scene cuts restart it."""

    estimator: str | None  # a key of flow.FLOW_PRESETS; None: no optical flow
    carries: bool  # frame t starts from frame t-1's dream (warped, or blended in place)
    cuts: bool  # a frame the flow cannot follow starts a fresh dream


FLOW_METHODS = {
    "dis": FlowMethod("dis", carries=True, cuts=True),
    "dis-fast": FlowMethod("dis-fast", carries=True, cuts=True),
    "dis-fine": FlowMethod("dis-fine", carries=True, cuts=True),
    "blend": FlowMethod(None, carries=True, cuts=False),  # no motion compensation: to compare with
    "none": FlowMethod(None, carries=False, cuts=False),  # each frame alone: to compare with
}


def is_fresh_start(method: FlowMethod, source: SourceFrame, has_previous: bool, cut_threshold: float) -> bool:
    """The renderer's one rule for where a dream starts afresh: the first frame, every frame without a
    carried dream, and each scene cut (render and shot planning both ask it)."""
    if not method.carries or not has_previous:
        return True
    return method.cuts and is_scene_cut(source.weights, cut_threshold)


def dreamed_source_frames(path: str, size: tuple[int, int], settings: Resolved, plan: ClipPlan) -> Iterator[np.ndarray]:
    """The plan's frames: each stored frame of the range once (a held frame is one frame, not many)."""
    kept = set(plan.kept)
    frames = read_frames(path, size=size, start=settings["start"], max_frames=plan.kept[-1] + 1)
    return (frame for index, frame in enumerate(frames) if index in kept)


def analysed_frames(path: str, size: tuple[int, int], settings: Resolved, plan: ClipPlan,
                    first: int) -> Iterator[SourceFrame]:
    """Source frames from `first` on, with their flow: it depends only on the source, so it runs ahead."""
    method = FLOW_METHODS[settings["flow"]]
    estimator = FlowEstimator(method.estimator) if method.estimator else None
    previous = None
    for index, frame in enumerate(dreamed_source_frames(path, size, settings, plan)):
        if index >= first:
            yield SourceFrame(frame) if estimator is None or previous is None else \
                analyse(estimator, previous, frame, noise_mode(settings))
        previous = frame


def noise_mode(settings: Resolved) -> str:
    """How the flow's failures on noise are held (temporal.NOISE_MODES): always, as far as each frame's flow
    follows noise, or never."""
    return "on" if settings["noise_hold"] else "auto" if settings["auto_noise_hold"] else "off"


def start_image(method: FlowMethod, t: int, source: SourceFrame, state: LoopState, settings: Resolved) -> Start:
    """The image frame t's dream starts from, and what holds it near the previous dream."""
    current = frame_to_float(source.frame)
    if is_fresh_start(method, source, "output" in state, settings["cut_threshold"]):
        return Start(current, True)
    if method.estimator is None:  # blend: the previous dream mixed in where it was
        weight = settings.at("blend", t)
        return Start((1 - weight) * current + weight * state["output"], False)
    return carried_start(current, source, state, settings.at("persistence", t), settings)


def anchor_for(start: Start, t: int, settings: Resolved, device) -> Anchor | None:
    pull = settings.at("temporal_weight", t)
    if start.target is None or pull <= 0:
        return None
    weights = torch.from_numpy(np.ascontiguousarray(start.weights))[None, None].to(device)
    young = None if start.maturity is None else torch.from_numpy(1.0 - start.maturity)[None, None].to(device)
    return Anchor(frame_to_image(start.target, device), weights, pull, settings.at("fresh_boost", t), young,
                  settings.at("wake_boost", t))


def kept(start: Start, state: LoopState, settings: Resolved, current: np.ndarray) -> LoopState:
    """The loop state after a frame (`current`: its source as floats): with the dream's maturity where it is
    tracked, and the background's dream with how long each pixel has shown it (a checkpoint keeps them)."""
    state = {key: value for key, value in state.items() if key not in ("maturity", "background", "still_age")}
    if start.maturity is not None:
        state["maturity"] = start.maturity
    if settings["wake_memory"] and FLOW_METHODS[settings["flow"]].estimator:
        state["background"] = background_after(start, state["output"] - current)
        if start.still_age is not None:
            state["still_age"] = start.still_age
    return state


def clip_step(dreamer: FrameDreamer, sources: Iterator[SourceFrame], settings: Resolved, masks: ClipMasks):
    method = FLOW_METHODS[settings["flow"]]

    def step(t: int, state: LoopState) -> tuple[np.ndarray, LoopState]:
        source = next(sources, None)
        if source is None:
            raise UserError(f"the clip ended before frame {t} (it decoded to fewer frames than counted)")
        # 1. carry the previous dream along the motion (or start afresh on the first frame and at cuts)
        start = start_image(method, t, source, masks.for_carry(state), settings)
        mask, mask_state = masks.frame_mask(t, source, state, start.fresh)  # and only inside the mask
        current = frame_to_float(source.frame)
        start = toward_loop(masks.restrict(start, current, mask), state, current)  # a looping clip's closing frames
        if start.target is not None and t % settings["cadence"]:  # an in-between frame: carried, not dreamed
            return float_to_frame(start.target), kept(start, {**state, "source": source.frame, "output": start.target,
                                                              **mask_state}, settings, current)
        # 2. dream: a full dream for a fresh start; after it, the follow-up ascent with the temporal
        #    term, which holds reliably tracked pixels near the carried dream and reshapes the rest
        iterations = None if start.fresh else settings.at("iterations_next", t)
        octaves = None if start.fresh else min(settings["octaves_next"], settings["octaves"])
        dreamed = dreamer.dream(frame_to_image(start.image, dreamer.device), t, iterations, octaves=octaves,
                                anchor=anchor_for(start, t, settings, dreamer.device), mask=mask)
        dreamed = image_to_float_frame(dreamed)
        strength = masks.strength(dreamed, current, mask) if start.fresh else state["strength"]
        return float_to_frame(dreamed), kept(start, {"source": source.frame, "output": dreamed,
                                                     "strength": np.float64(strength), **mask_state}, settings,
                                             current)

    return step


def check_cadence(settings: Resolved) -> None:
    if settings["cadence"] > 1 and not FLOW_METHODS[settings["flow"]].estimator:
        raise UserError(f"--cadence {settings['cadence']} needs an optical-flow method (--flow dis or dis-fast): "
                        f"the frames between dreamed ones are carried along the flow")


@dataclass(frozen=True)
class ClipWork:
    """What any process needs to dream frames of one clip (picklable without its engine: a worker
    rebuilds its step from it)."""

    input_path: str
    size: tuple[int, int]
    settings: Resolved
    plan: ClipPlan
    baseline: bool = False
    engine: Engine | None = field(default=None, compare=False)  # None: built when the loop starts
    mask: MaskSource | None = None  # where to dream
    loop: ClipLoop | None = None  # `--loop`: the source's last frames dreamed first (render/clip_loop.py)

    @property
    def frames(self) -> int:
        return len(self.plan.kept) + self.lead

    @property
    def lead(self) -> int:
        """Frames dreamed before the first one written."""
        return self.loop.lead if self.loop else 0

    def start(self) -> LoopState:
        return {}  # an empty state starts a fresh dream

    def time_of(self, t: int) -> float:
        """Seconds from the first dreamed frame to dreamed frame t in the output."""
        return float(sum(self.plan.repeats[:t]) / self.plan.fps)

    def step_from(self, first: int) -> ClosingStep:
        """The step for frames `first`, `first` + 1, ... of the plan; frame t is given its own index t, and a
        fresh dream starts where the state is empty (so `{}` at any frame starts a shot there)."""
        dreamer = frame_dreamer(self.settings, self.engine, self.baseline)
        masks = ClipMasks(self.mask, self.settings, self.size)
        sources = masks.attach(self.sources(first), first)
        sources = sources if self.baseline else prefetch(sources)
        step = clip_step(dreamer, sources, self.settings, masks)
        return ClosingStep(looping_step(step, self.loop) if self.loop else step, sources.close)

    def sources(self, first: int) -> Iterator[SourceFrame]:
        if self.loop is None:
            return analysed_frames(self.input_path, self.size, self.settings, self.plan, first)
        estimator = FLOW_METHODS[self.settings["flow"]].estimator
        frames = list(dreamed_source_frames(self.input_path, self.size, self.settings, self.plan))
        return looped_sources(frames, self.loop, estimator and FlowEstimator(estimator), first,
                              noise_mode(self.settings))


def prepare_clip(input_path: str, output_path: str, settings: dict, overwrite: bool = False, preview: bool = False,
                 baseline: bool = False, engine: Engine | None = None) -> tuple[FrameJob, ClipWork]:
    """Every check of `dreamvid video` before any dreaming: the output, the clip's frames, size, sound, schedules."""
    output_path, settings = prepare_output(output_path, settings, overwrite, preview)
    work, sound = prepare_clip_work(input_path, settings, baseline, engine)
    repeats = None if work.plan.is_constant_rate else work.plan.repeats
    job = FrameJob("video", input_path, output_path, work.settings, work.size, work.plan.fps, work.frames,
                   audio=sound.source, repeats=repeats, audio_digest=sound.digest, lead=work.lead)
    return job, work


def prepare_clip_work(input_path: str, settings: dict, baseline: bool = False,
                      engine: Engine | None = None) -> tuple[ClipWork, Soundtrack]:
    """The clip's frames, size, sound and schedules, checked before any dreaming."""
    info = probe_video(input_path)
    plan = clip_plan(input_path, info, settings)
    size = dream_size(info, settings)
    # the sound starts at the first dreamed frame (at or a little after `start`) and lasts as long as the video
    sound = clip_soundtrack(input_path, info.has_audio, settings, plan)  # analysed once, ahead
    resolved = Resolved(settings, fps=plan.fps, audio=sound.table)
    check_schedules(resolved, len(plan.kept))
    check_cadence(resolved)
    mask = check_clip_mask(resolved, size, info.size, len(plan.kept),
                           FLOW_METHODS[resolved["flow"]].estimator is not None)
    loop = clip_loop(input_path, size, resolved, plan)
    return ClipWork(input_path, size, resolved, plan, baseline, engine, mask, loop), sound


def clip_loop(path: str, size: tuple[int, int], settings: Resolved, plan: ClipPlan) -> ClipLoop | None:
    """`--loop`: the plan of a source that loops, or one line saying it does not (it is decoded once more)."""
    if not settings["loop"]:
        return None
    if settings["mask"] or settings["workers"] > 1 or settings["ray"]:
        raise UserError("--loop on a clip dreams it in one process without --mask (drop --workers, --ray, --mask)")
    loop = plan_clip_loop(list(dreamed_source_frames(path, size, settings, plan)), float(plan.fps), path)
    notify(f"loop: the clip's last {loop.lead} frames are dreamed first (not written) and carried into its first")
    return loop


def render_clip(input_path: str, output_path: str, settings: dict, overwrite: bool = False, resume: bool = False,
                preview: bool = False, baseline: bool = False, engine: Engine | None = None, progress: bool = True,
                callback: Callback | None = None) -> str:
    """`dreamvid video` in this process: every check first, then the resumable loop, with the source's
    sound; returns the output's path. (Shots on Ray workers: dreamvid.distributed, chosen above this.)

    `baseline` (benchmarks only): the straightforward version, with flow computed in line."""
    job, work = prepare_clip(input_path, output_path, settings, overwrite, preview, baseline, engine)
    if job.settings["max_shot_seconds"]:
        notify("--max-shot-seconds splits shots between workers; with one process it has nothing to do")
    return render_frames(job, work.step_from, work.start, overwrite, resume, progress, callback)
