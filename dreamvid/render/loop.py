"""The frame loop: drives a render (zoom or clip), checkpoints it, writes and joins the output.

A loop is a `step(t, state) -> (frame, state)` function over a dict of numpy arrays (the loop's
whole memory, saved losslessly at each checkpoint), so resuming is exact by construction. Steps
are made by `step_from(first_frame)` once the resume state is checked, so a loop builds its model
only for a render that goes ahead, and one that reads a source can start reading at that frame.
A step that holds resources (a decoder, a prefetch thread) has a `close()`, called when the loop ends.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass, field, replace
from fractions import Fraction
import os
import time
from typing import Callable, Iterator

import numpy as np
from tqdm import tqdm

from dreamvid.errors import Cancelled, Interrupted, UserError, write_failure
from dreamvid.media.audio import AudioSource
from dreamvid.media.segments import SegmentedOutput, check_video_output, join_segments, segment_count
from dreamvid.notices import notify
from dreamvid.render.identity import render_identity
from dreamvid.render.lock import output_lock
from dreamvid.render.report import FrameReport, wrote
from dreamvid.render.resume import (RenderState, check_segments, discard_state, join_begun, layout_problem,
                                    prepare_state, save_state, trusted_checkpoint)
from dreamvid.settings import Resolved
from dreamvid.settings.commands import sidecar_for

LoopState = dict[str, np.ndarray]
Step = Callable[[int, LoopState], tuple[np.ndarray, LoopState]]
Callback = Callable[[int, np.ndarray, int], "bool | None"]  # (frame index, frame, total): False stops


@dataclass(frozen=True)
class FrameJob:
    """What a frame loop renders: where from and to, how many frames, at what size and rate."""

    mode: str
    input_path: str
    output_path: str
    settings: Resolved
    size: tuple[int, int]  # (width, height) of every frame
    fps: Fraction
    frames: int  # frames dreamed
    audio: AudioSource | None = None
    repeats: tuple[int, ...] | None = None  # output frames per dreamed frame (a variable-rate clip's held frames)
    audio_digest: str = ""  # the analysed features the schedules read (resume fingerprint), "" when none
    lead: int = 0  # frames dreamed before the first one written (a loop's: render/zoom_loop.py, clip_loop.py)
    started: float = field(default_factory=time.monotonic, compare=False)  # for the time in the last line

    @property
    def written_frames(self) -> int:
        """Frames the loop writes (each once), into segments."""
        return self.frames - self.lead

    @property
    def forward_frames(self) -> int:
        """The output's frames forward: each written frame as many times as it is held."""
        return self.written_frames if self.repeats is None else sum(self.repeats[:self.written_frames])

    @property
    def output_frames(self) -> int:
        """A boomerang comes back without its end frames twice."""
        forward = self.forward_frames
        return forward + max(0, forward - 2) if self.settings["boomerang"] else forward

    def copies(self, t: int) -> int:
        return 1 if self.repeats is None else self.repeats[t]


def prepare_output(output_path: str, settings: dict, overwrite: bool, preview: bool) -> tuple[str, dict]:
    """The prologue of every frame loop: a preview's own path and settings, then the output check."""
    if settings["loop"] and settings["boomerang"]:
        raise UserError("give --loop or --boomerang, not both (a boomerang already plays on repeat without a jump)")
    if preview:
        final_path, output_path, settings = output_path, preview_path(output_path), preview_settings(settings)
        dreamed = "" if settings["cadence"] == 1 else f", every {settings['cadence']}th frame dreamed"
        notify(f"preview: writing {output_path} ({settings['size']} px, at most {settings['octaves']} octaves "
               f"of 3 steps{dreamed}); without --preview the render goes to {final_path}")
    check_video_output(output_path, overwrite or join_begun(output_path))  # that join's output: --resume ends it
    return output_path, settings


@dataclass(frozen=True)
class ClosingStep:
    """A step holding something to close when the loop ends: a decoder, a prefetch thread."""

    step: Step
    close: Callable[[], None]

    def __call__(self, t: int, state: LoopState) -> tuple[np.ndarray, LoopState]:
        return self.step(t, state)


def close_step(step: Step | None) -> None:
    if isinstance(step, ClosingStep):
        step.close()


def encoder_options(settings: dict) -> tuple[str | None, int | None]:
    crf = settings["crf"]
    return settings["codec"] or None, (None if crf < 0 else crf)


def segmented_output(job: FrameJob, folder: str, records: dict | None = None) -> SegmentedOutput:
    """The job's output segments in its state folder (a shot worker opens the same ones); `records`:
    the seals of those already written, which the output adds to."""
    return SegmentedOutput(job.output_path, folder, job.size, job.fps, *encoder_options(job.settings),
                           segment_frames=job.settings["checkpoint_frames"], records=records)


def dreamed_frames(step_from: Callable[[int], Step], first: int, stop: int,
                   state: LoopState) -> Iterator[tuple[int, np.ndarray, LoopState]]:
    """The render core: frames `first`..`stop`-1, each with the loop state after it. Every render
    drives it (the one-process loop, a worker's shot, the API's generators); closing it early closes
    the step's decoder and threads."""
    step = step_from(first)
    try:
        for t in range(first, stop):
            frame, state = step(t, state)
            yield t, frame, state
    finally:
        close_step(step)


def render_frames(job: FrameJob, step_from: Callable[[int], Step], start: Callable[[], LoopState],
                  overwrite: bool, resume: bool, progress: bool = True, callback: Callback | None = None) -> str:
    """Run the loop's step for every frame not yet rendered, checkpointing after each finished segment,
    then join the output; returns its path. `callback(t, frame, total)` returning False stops the render
    (`Cancelled`) with its last checkpoint kept, as Ctrl-C does (`Interrupted`)."""
    with output_lock(job.output_path):
        identity = render_identity(job.mode, job.input_path, job.settings.values, job.size, job.audio_digest)
        check = layout_problem(job.output_path, job.settings["checkpoint_frames"], job.frames, job.lead)
        folder, state, loop_state = prepare_state(job.output_path, identity, resume, overwrite, check)
        output = segmented_output(job, folder, state.segments)
        state, loop_state = trusted_checkpoint(output, state, loop_state)
        if job.audio and job.settings["boomerang"]:
            notify("boomerang: the sound plays backward on the way back, as the picture does")
        try:
            if state.next_frame < job.frames:
                render_missing(job, step_from, start, folder, output, state, loop_state, progress, callback)
        except BaseException as error:
            output.abort()
            if state.next_frame == 0:  # stopped before any checkpoint: nothing to resume, so leave nothing
                discard_state(folder)
            if isinstance(error, KeyboardInterrupt):
                raise Interrupted(job.output_path, state.next_frame, job.frames, "Ctrl-C") from None
            failure = write_failure(error)
            if failure is not None and state.next_frame:  # a full disk: the checkpoint is kept for --resume
                raise failure.continued(resume_hint(state.next_frame, job.frames)) from None
            raise
        return finish_render(job, folder, output, overwrite or resume)


def resume_hint(next_frame: int, frames: int) -> str:
    if next_frame >= frames:
        return "then the same command with --resume joins the finished frames"
    return f"then the same command with --resume continues from frame {next_frame} of {frames}"


def render_missing(job: FrameJob, step_from: Callable[[int], Step], start: Callable[[], LoopState], folder: str,
                   output: SegmentedOutput, state: RenderState, loop_state: LoopState, progress: bool,
                   callback: Callback | None) -> None:
    """Frames `state.next_frame`.. of the job into the output's segments, checkpointing after each; once
    every frame is in, a last checkpoint says so (a kill during the join or before the sidecar: --resume
    finishes)."""
    report = FrameReport(job.mode, job.settings, job.size, job.frames, state.next_frame)
    frames = dreamed_frames(report.announced(step_from), state.next_frame, job.frames, loop_state or start())
    with closing(frames), progress_bar(job, state.next_frame, progress) as bar:
        for t, frame, loop_state in frames:
            bar.update()
            report.frame_done(t)
            written = t - job.lead  # a loop's lead is dreamed, not written
            if written < 0:
                continue
            if output.write(frame, written, job.copies(written)):  # 1. write; 2. checkpoint at a segment's end
                save_state(folder, replace(state, next_frame=t + 1), loop_state)
                state.next_frame = t + 1  # once it is on the disk: a failed save leaves the one before
            if callback and callback(written, frame, job.written_frames) is False:  # 3. the caller may stop here
                raise Cancelled(job.output_path, state.next_frame, job.frames,
                                f"the callback returned False after frame {written} of {job.written_frames}")
    output.close()
    save_state(folder, replace(state, next_frame=job.frames, joining=True), {})
    state.next_frame, state.joining = job.frames, True


def progress_bar(job: FrameJob, done: int, shown: bool) -> tqdm:
    return tqdm(total=job.frames, initial=done, unit="frame", desc=job.mode, dynamic_ncols=True, disable=not shown)


def finish_render(job: FrameJob, folder: str, output: SegmentedOutput, replace: bool) -> str:
    """Check the segments, join them (with the sound) into exactly the frames planned, put the settings
    beside the output, drop the state. Interrupted, the state is kept and --resume joins again."""
    count = segment_count(job.written_frames, job.settings["checkpoint_frames"])
    try:
        check_segments(output, count)
        segments, audio = output.segment_paths(count), job.audio
        if job.settings["boomerang"]:  # the way back, one more segment, its sound reversed
            segments, audio = segments + [output.way_back(count, job.forward_frames)], boomerang_sound(job)
        with sidecar_for(job.mode, job.input_path, job.output_path, job.settings.values) as commit_settings:
            join_segments([path for path in segments if path], job.output_path, job.size, job.fps, audio, replace,
                          frames=job.output_frames)
            sidecar = commit_settings()
    except KeyboardInterrupt:
        raise Interrupted(job.output_path, job.frames, job.frames) from None  # the join is done again
    except (OSError, UserError) as error:
        failure = write_failure(error)
        if failure is None:
            raise
        raise failure.continued(resume_hint(job.frames, job.frames)) from None
    discard_state(folder)
    wrote(job.output_path, job.output_frames, time.monotonic() - job.started, sidecar)
    return job.output_path


def boomerang_sound(job: FrameJob) -> AudioSource | None:
    """The sound under the frames forward, then the same under frames N-2..1 reversed (the way back)."""
    if job.audio is None:
        return None
    forward, fps = job.forward_frames, job.fps
    back = (float(1 / fps), float((forward - 1) / fps)) if forward > 2 else None
    return replace(job.audio, duration=float(forward / fps), back=back)


def preview_path(path: str) -> str:
    """tunnel.mp4 -> tunnel.preview.mp4; frames/%05d.png -> frames_preview/%05d.png."""
    folder, name = os.path.split(path)
    if "%" in name:
        return os.path.join(folder.rstrip("/") + "_preview", name)
    root, extension = os.path.splitext(path)
    return f"{root}.preview{extension}"


PREVIEW_SIDE = 256  # small enough for about one frame a second on a laptop CPU
# Every 4th frame dreamed, the others carried along the camera path (a zoom) or the flow (a clip): the same
# motion at a quarter of the dreaming. Fewer pixels alone left a 150-frame preview at 7 min on a busy CPU.
PREVIEW_CADENCE = 4
NO_CARRYING_FLOW = ("blend", "none")  # a clip dreamed without optical flow has nothing to carry frames along


def preview_settings(settings: dict) -> dict:
    """Low resolution, few steps and few dreamed frames, the same motion: a quick look before a long render."""
    side = min(settings["size"] or PREVIEW_SIDE, PREVIEW_SIDE)
    carried = settings.get("flow") not in NO_CARRYING_FLOW
    return {**settings, "size": side, "noise_size": min(settings["noise_size"], side),
            "octaves": min(settings["octaves"], 2), "iterations": at_most(settings["iterations"], 3),
            "iterations_next": at_most(settings["iterations_next"], 2),
            "cadence": max(settings["cadence"], PREVIEW_CADENCE) if carried else settings["cadence"]}


def at_most(value: object, limit: int) -> object:
    """A constant above `limit` becomes `limit`; fewer steps, or a schedule, the user keeps."""
    return min(value, limit) if isinstance(value, (int, float)) else limit
