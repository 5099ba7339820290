"""The small state a render keeps beside its output, so that `--resume` continues it exactly.

The state folder `OUT.dreamvid-state/` holds `state.json` (settings fingerprint, next frame),
`loop.npz` (the loop's float state, lossless) and the finished output segments. After each finished
segment, that segment is synced to the disk and sealed (media/sealing.py), then the checkpoint is
written atomically and durably, so a kill -9 or a power cut at any moment leaves the last checkpoint
whole, and a segment damaged later is found before it is used.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
import json
import os
import shutil
import zipfile

import numpy as np

from dreamvid.errors import UserError
from dreamvid.media.outputs import output_target
from dreamvid.media.sealing import fsync_file, fsync_folder
from dreamvid.media.segments import SegmentedOutput
from dreamvid.notices import notify
from dreamvid.render.identity import changes, identity_digest, render_identity


def state_folder(output_path: str) -> str:
    return output_target(output_path) + ".dreamvid-state"


def fingerprint(mode: str, input_path: str, settings: dict, frame_size: tuple[int, int],
                audio_digest: str = "") -> str:
    """What makes two renders the same, as a short hash (render/identity.py)."""
    return identity_digest(render_identity(mode, input_path, settings, frame_size, audio_digest))


@dataclass
class RenderState:
    fingerprint: str
    next_frame: int = 0  # frames before it are in finished segments (segment_NNNNN.* in the state folder)
    segments: dict = field(default_factory=dict)  # segment name -> its seal (media/sealing.py)
    identity: dict = field(default_factory=dict)  # what the fingerprint hashes, to say what changed


def write_durably(path: str, write) -> None:
    """`write(temporary)`, fsync, then rename over `path`: after a crash, the old file or the new one."""
    temporary = path + ".partial" + os.path.splitext(path)[1]
    write(temporary)
    fsync_file(temporary)
    os.replace(temporary, path)


def save_state(folder: str, state: RenderState, arrays: dict[str, np.ndarray]) -> None:
    """Arrays first, then the JSON that points at them and at the sealed segments: each on the disk
    before it is renamed, and the folder's names synced last."""
    write_durably(os.path.join(folder, "loop.npz"), lambda path: np.savez(path, **arrays))
    write_durably(os.path.join(folder, "state.json"), lambda path: write_json(path, asdict(state)))
    fsync_folder(folder)


def write_json(path: str, values: dict) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(values, handle)


DAMAGED = (OSError, ValueError, TypeError, KeyError, EOFError, zipfile.BadZipFile)  # what np.load and json raise


def load_state(folder: str) -> tuple[RenderState, dict[str, np.ndarray]] | None:
    path = os.path.join(folder, "state.json")
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            state = RenderState(**json.load(handle))
        with np.load(os.path.join(folder, "loop.npz")) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except DAMAGED as error:
        raise UserError(f"the checkpoint in {folder} is damaged ({type(error).__name__}: {error}); it is kept "
                        f"as it is: pass --overwrite to start again") from None
    return state, arrays


def prepare_state(output_path: str, identity: dict, resume: bool, overwrite: bool):
    """Decide how a render starts: fresh, or from its checkpoint. Returns (folder, state, arrays)."""
    folder = state_folder(output_path)
    discard_state(discarded_folder(folder))  # left by a clean-up that was cut short
    expected = identity_digest(identity)
    if os.path.isdir(folder) and not resume:
        check_no_state(output_path, overwrite)
        discard_state(folder)
    loaded = load_state(folder) if resume else None
    if loaded is None:
        if resume:
            notify(f"nothing to resume for {output_path}; starting from frame 0")
        os.makedirs(folder, exist_ok=True)
        return folder, RenderState(expected, identity=identity), {}
    state, arrays = loaded
    if state.fingerprint != expected:
        raise UserError(f"cannot resume {output_path}: it was started with other settings or input "
                        f"({changes(state.identity, identity) if state.identity else 'by an older dreamvid'}); "
                        f"pass --overwrite to start again with these")
    return folder, state, arrays


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
    if not os.path.isdir(folder):
        return
    trash = folder if folder.endswith(".discarded") else discarded_folder(folder)
    if trash != folder:
        shutil.rmtree(trash, ignore_errors=True)
        os.replace(folder, trash)
    shutil.rmtree(trash, ignore_errors=True)


def trusted_checkpoint(output: SegmentedOutput, state: RenderState, arrays: dict[str, np.ndarray],
                       lead: int = 0) -> tuple[RenderState, dict[str, np.ndarray]]:
    """The checkpoint to continue from: as saved when every segment it names is whole; else frame 0,
    the one earlier point whose loop state is known (a checkpoint keeps the state at its own frame only).
    `lead`: frames dreamed before the first one written (a loop's)."""
    found = output.first_flaw(max(0, state.next_frame - lead) // output.segment_frames)
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
