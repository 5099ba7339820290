"""The small state a render keeps beside its output, so that `--resume` continues it exactly.

The state folder `OUT.dreamvid-state/` holds `state.json` (settings fingerprint, next frame),
`loop.npz` (the loop's float state, lossless) and the finished output segments. After each finished
segment, that segment is synced to the disk and sealed (media/sealing.py), then the checkpoint is
written atomically and durably, so a kill -9 or a power cut at any moment leaves the last checkpoint
whole, and a segment damaged later is found before it is used.
"""

from __future__ import annotations

import os
import shutil
from typing import Callable

import numpy as np

from dreamvid.errors import UserError, writing
from dreamvid.media.outputs import output_target
from dreamvid.media.segments import SegmentedOutput, segment_count, segment_name
from dreamvid.notices import notify
from dreamvid.render.checkpoint import CheckpointDamaged, RenderState, load_state, save_state  # noqa: F401
from dreamvid.render.identity import changes, identity_digest, render_identity

Check = Callable[[RenderState, dict], "str | None"]  # what is wrong with a loaded checkpoint, or None


def state_folder(output_path: str) -> str:
    return output_target(output_path) + ".dreamvid-state"


def fingerprint(mode: str, input_path: str, settings: dict, frame_size: tuple[int, int],
                audio_digest: str = "") -> str:
    """What makes two renders the same, as a short hash (render/identity.py)."""
    return identity_digest(render_identity(mode, input_path, settings, frame_size, audio_digest))


def prepare_state(output_path: str, identity: dict, resume: bool, overwrite: bool, check: Check | None = None):
    """Decide how a render starts: fresh, or from its checkpoint. Returns (folder, state, arrays).
    `check(state, arrays)`: what else is wrong with the checkpoint for this render (None: nothing). A damaged
    checkpoint is refused; with --overwrite too, it is said in one line and the render starts again."""
    folder = state_folder(output_path)
    discard_state(discarded_folder(folder))  # left by a clean-up that was cut short
    expected = identity_digest(identity)
    if os.path.isdir(folder) and not resume:
        check_no_state(output_path, overwrite)
        discard_state(folder)
    loaded = checked_checkpoint(folder, check, overwrite) if resume else None
    if loaded is None:
        if resume and not os.path.isfile(os.path.join(folder, "state.json")):
            notify(f"nothing to resume for {output_path}; starting from frame 0")
        discard_state(folder)  # started again: nothing it held is trusted
        with writing(folder):
            os.makedirs(folder, exist_ok=True)
        return folder, RenderState(expected, identity=identity), {}
    state, arrays = loaded
    if state.fingerprint != expected:
        raise UserError(f"cannot resume {output_path}: it was started with other settings or input "
                        f"({changes(state.identity, identity) if state.identity else 'by an older dreamvid'}); "
                        f"pass --overwrite to start again with these")
    return folder, state, arrays


def checked_checkpoint(folder: str, check: Check | None, overwrite: bool):
    """The checkpoint in `folder` if it is whole and fits (None: there is none, or it is damaged and
    --overwrite starts again); otherwise CheckpointDamaged."""
    try:
        loaded = load_state(folder)
        problem = check(*loaded) if loaded and check else None
        if problem:
            raise CheckpointDamaged(folder, problem)
    except CheckpointDamaged as damage:
        if not overwrite:
            raise
        notify(f"{damage.what}: --overwrite starts the render again")
        return None
    return loaded


def layout_problem(final_path: str, size: int, frames: int, lead: int = 0) -> Check:
    """The check of a one-process render's checkpoint (`size` frames a segment): it was saved at a segment's
    end (or once every frame was in), names exactly the segments before its next frame, holds the loop's state.
    `lead`: frames dreamed before the first one written (a loop's), counted in `frames` and the next frame."""
    def problem(state: RenderState, arrays: dict) -> str | None:
        written = state.next_frame - lead
        at_end = state.next_frame == 0 or (written >= 0 and written % size == 0)
        done = state.next_frame == frames if state.joining else at_end
        if not done or state.next_frame > frames:
            return f"its next frame {state.next_frame} is not the end of a segment of this {frames}-frame render"
        names = {segment_name(index, final_path) for index in range(segment_count(max(written, 0), size))}
        if set(state.segments) != names:
            return f"its next frame {state.next_frame} does not match its {len(state.segments)} sealed segments"
        if state.next_frame and not state.joining and not arrays:
            return "loop.npz holds no loop state"
        return None
    return problem


def join_begun(output_path: str) -> bool:
    """True when the output's state says every frame was in and the join began: an output in place is then
    that join's (a kill came before the sidecar), and --resume joins again and finishes."""
    try:
        loaded = load_state(state_folder(output_path))
    except UserError:
        return False
    return loaded is not None and loaded[0].joining


def discarded_folder(folder: str) -> str:
    parent, name = os.path.split(os.path.abspath(folder))
    return os.path.join(parent, f".{name}.discarded")


def check_no_state(output_path: str, overwrite: bool) -> None:
    """A fresh render of an output that has an interrupted one needs --overwrite (or --resume)."""
    if os.path.isdir(state_folder(output_path)) and not overwrite:
        raise UserError(f"an interrupted render of {output_path} exists: pass --resume to continue it "
                        f"or --overwrite to start again")


def discard_state(folder: str) -> None:
    """Renamed away first (one atomic step: no half-deleted state is ever taken for a checkpoint), then deleted."""
    if not os.path.lexists(folder):
        return
    trash = folder if folder.endswith(".discarded") else discarded_folder(folder)
    if trash != folder:
        remove_entry(trash)
        os.replace(folder, trash)
    remove_entry(trash)


def remove_entry(path: str) -> None:
    """A folder with what it holds; a link (or a file) in its place is removed itself, never followed: what it
    points at is not the render's to delete, and a link left there would make the next rename onto it fail."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


def trusted_checkpoint(output: SegmentedOutput, state: RenderState,
                       arrays: dict[str, np.ndarray]) -> tuple[RenderState, dict[str, np.ndarray]]:
    """The checkpoint to continue from: as saved when every segment it names is whole; else frame 0,
    the one earlier point whose loop state is known (a checkpoint keeps the state at its own frame only)."""
    found = output.first_flaw(len(state.segments))
    if found is None:
        return state, arrays
    name, problem = found
    notify(f"{name} in {output.folder} is {problem}; rendering again from frame 0")
    output.records.clear()
    return RenderState(state.fingerprint, segments=output.records, identity=state.identity), {}


def check_segments(output: SegmentedOutput, count: int) -> None:
    """Before a join: every segment whole, or one line (the state is kept, and --resume renders it again)."""
    found = output.first_flaw(count)
    if found is not None:
        name, problem = found
        raise UserError(f"{name} in {output.folder} is {problem}; the same command with --resume renders it again")
