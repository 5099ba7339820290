"""One shot dreamed into the render's state folder, resumable on its own; then the segments two shots share.

Output segments start at the same frames as in a one-process render. A worker writes the segments that
lie wholly inside its shot itself, with the same writer, so they come out the same; the frames of a
segment it shares with a neighbouring shot it keeps loose (lossless .npy), and the driver encodes that
segment from them once both shots are in. Each shot checkpoints its loop state at every segment
boundary, so a worker killed mid-shot resumes there, exactly, like `--resume`.
"""

from __future__ import annotations

from contextlib import closing
import os
from typing import Callable

import numpy as np

from dreamvid.distributed.shots import Shot
from dreamvid.errors import UserError
from dreamvid.media.frames import float_to_frame
from dreamvid.media.sealing import flaw
from dreamvid.media.segments import SegmentedOutput, segment_count, segment_name
from dreamvid.notices import notify
from dreamvid.render.clip import ClipWork
from dreamvid.render.loop import FrameJob, LoopState, Step, dreamed_frames, segmented_output
from dreamvid.render.resume import RenderState, discard_state, load_state, save_state


def shot_folder(folder: str, shot: Shot) -> str:
    return os.path.join(folder, "shots", shot.name)


def loose_frame_path(folder: str, t: int, kind: str = "frames") -> str:
    """A frame kept loose: "frames" for output frames, "warm" for a fading-in piece's warm-up frames."""
    return os.path.join(folder, kind, f"{t:06d}.npy")


def shot_progress(folder: str, shot: Shot) -> tuple[RenderState, LoopState]:
    """The shot's checkpoint and its loop state (at its warm-up start, with {}, when new)."""
    loaded = load_state(shot_folder(folder, shot))
    if loaded is None or loaded[0].fingerprint != shot.key:
        return RenderState(shot.key, shot.warm_from), {}
    return loaded


def shot_flaw(job: FrameJob, folder: str, shot: Shot, state: RenderState) -> str | None:
    """What of the shot's finished work is damaged or missing (its sealed segments, its loose frames), or None."""
    size = job.settings["checkpoint_frames"]
    for t in range(shot.warm_from, min(state.next_frame, shot.stop)):
        if t < shot.first:
            problem = shot.fades_in and loose_flaw(loose_frame_path(folder, t, "warm"), job.size)
        elif is_whole_segment(job, shot, t):
            name = segment_name(t // size, job.output_path)
            problem = t % size == 0 and flaw(os.path.join(folder, name), state.segments.get(name))  # once a segment
            problem = problem and f"{name} is {problem}"
        else:
            problem = loose_flaw(loose_frame_path(folder, t), job.size)
        if problem:
            return problem
    return None


def loose_flaw(path: str, size: tuple[int, int]) -> str | None:
    try:
        shape = np.load(path, mmap_mode="r").shape
    except (OSError, ValueError, EOFError):
        return f"{os.path.basename(path)} is missing or damaged"
    return None if shape == (size[1], size[0], 3) else f"{os.path.basename(path)} holds a frame of another size"


def is_shot_done(job: FrameJob, folder: str, shot: Shot) -> bool:
    """True when the shot is finished and whole; a damaged shot's checkpoint is dropped (one line says
    so), and the shot is dreamed again from its fresh start."""
    state, _ = shot_progress(folder, shot)
    problem = shot_flaw(job, folder, shot, state)
    if problem:
        notify(f"{shot.name}: {problem}; dreaming frames {shot.first}-{shot.stop - 1} again")
        discard_state(shot_folder(folder, shot))
        return False
    return state.next_frame >= shot.stop


def is_whole_segment(job: FrameJob, shot: Shot, t: int) -> bool:
    """True when frame t's segment lies inside the shot, clear of a fade out, so the shot's worker writes it."""
    size = job.settings["checkpoint_frames"]
    start = t // size * size
    end = shot.stop if shot.fade_out_from is None else shot.fade_out_from
    return shot.first <= start and min(start + size, job.frames) <= end


def save_loose_frame(path: str, frame: np.ndarray) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    partial = path + ".partial.npy"
    np.save(partial, frame)
    os.replace(partial, path)


def keep_frame(job: FrameJob, folder: str, output: SegmentedOutput, shot: Shot, t: int, frame: np.ndarray) -> bool:
    """Write frame t into its segment or keep it loose; True at a checkpoint (a segment's end, the shot's end)."""
    if is_whole_segment(job, shot, t):
        finished = output.write(frame, t, job.copies(t))
    else:
        save_loose_frame(loose_frame_path(folder, t), frame)
        finished = (t + 1) % job.settings["checkpoint_frames"] == 0
    if t + 1 == shot.stop:
        output.close()  # the clip's last segment ends here without a boundary
        return True
    return finished


def render_shot(job: FrameJob, work: ClipWork, folder: str, shot: Shot, report: Callable[[int], None],
                step_from: Callable[[int], Step] | None = None) -> None:
    """Dream the shot from its checkpoint on; `report(n)`: n of its frames are written."""
    checkpoint, state = shot_progress(folder, shot)
    first = checkpoint.next_frame
    os.makedirs(shot_folder(folder, shot), exist_ok=True)
    report(max(0, first - shot.first))
    output = segmented_output(job, folder, checkpoint.segments)
    try:
        with closing(dreamed_frames(step_from or work.step_from, first, shot.stop, state)) as frames:
            for t, frame, state in frames:  # 1. frame t dreamed (from a fresh start at warm_from)
                if t < shot.first:  # 2. a warm-up frame: dreamed for the state it leaves; kept for a cross-fade
                    if shot.fades_in:
                        save_loose_frame(loose_frame_path(folder, t, "warm"), frame)
                    continue
                if keep_frame(job, folder, output, shot, t, frame):  # 3. write it; checkpoint at a boundary
                    save_state(shot_folder(folder, shot), RenderState(shot.key, t + 1, output.records), state)
                report(t + 1 - shot.first)
    except BaseException:
        output.abort()
        raise


def loose_frame(folder: str, t: int, fades: dict[int, float]) -> np.ndarray:
    try:
        frame = np.load(loose_frame_path(folder, t))
        if t not in fades:
            return frame
        warm = np.load(loose_frame_path(folder, t, "warm")).astype(np.float32)
    except (OSError, ValueError, EOFError) as error:
        raise UserError(f"frame {t} of a shared segment cannot be read ({error}); the same command with "
                        f"--resume dreams it again") from None
    return float_to_frame(((1 - fades[t]) * frame + fades[t] * warm) / 255.0)


def shot_records(folder: str) -> dict:
    """The seals of the segments the shots' workers wrote, from each shot's checkpoint."""
    records = {}
    shots = os.path.join(folder, "shots")
    for name in sorted(os.listdir(shots)) if os.path.isdir(shots) else []:
        loaded = load_state(os.path.join(shots, name))
        records.update(loaded[0].segments if loaded else {})
    return records


def assemble_shared_segments(job: FrameJob, folder: str, fades: dict[int, float],
                             driver: RenderState) -> SegmentedOutput:
    """Encode every segment two shots share from its loose frames (the writer a one-process render uses),
    cross-fading where a piece fades in (`fades`: shots.fade_weights); each is sealed into the driver's
    checkpoint. A segment already whole is kept."""
    output = segmented_output(job, folder, {**driver.segments, **shot_records(folder)})
    size = job.settings["checkpoint_frames"]
    for index, path in enumerate(output.segment_paths(segment_count(job.frames, size))):
        if flaw(path, output.records.get(segment_name(index, job.output_path))) is None:
            continue
        for t in range(index * size, min((index + 1) * size, job.frames)):
            output.write(loose_frame(folder, t, fades), t, job.copies(t))
        output.close()
        save_state(folder, RenderState(driver.fingerprint, segments=output.records, identity=driver.identity), {})
    return output
