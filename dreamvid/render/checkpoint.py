"""The checkpoint's two files, trusted only when they are exactly what dreamvid wrote.

`state.json` holds the render's fingerprint, its next frame, the seals of its finished segments, what the
fingerprint hashes, the SHA-256 of `loop.npz`, and a SHA-256 of all of that (its own content). A checkpoint
that was edited, truncated, copied half or written by an older dreamvid fails one of these checks, or the
type, range and value checks after them, and is refused in one line: resuming from it could give a video
that differs from the uninterrupted render, with nothing said.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
import hashlib
import json
import os
import re
import zipfile

import numpy as np

from dreamvid.errors import UserError, writing
from dreamvid.media.sealing import file_sha256, fsync_file, fsync_folder

SHA256 = re.compile(r"[0-9a-f]{64}")
LOOP_FILE, LOOP_NEXT_FILE = "loop.npz", "loop.next.npz"  # the arrays; the next ones until state.json names them


class CheckpointDamaged(UserError):
    """A checkpoint that is not what dreamvid wrote: one line saying what, and how to start again."""

    def __init__(self, folder: str, what: str):
        self.folder, self.what = folder, what
        super().__init__(f"the checkpoint in {folder} is damaged: {what}; pass --overwrite to start again")


@dataclass
class RenderState:
    fingerprint: str
    next_frame: int = 0  # frames before it are in finished segments (segment_NNNNN.* in the state folder)
    segments: dict = field(default_factory=dict)  # segment name -> its seal (media/sealing.py)
    identity: dict = field(default_factory=dict)  # what the fingerprint hashes, to say what changed
    joining: bool = False  # every frame is in a sealed segment: what is left is the join (and the sidecar)


def content_sha256(values: dict) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


def save_state(folder: str, state: RenderState, arrays: dict[str, np.ndarray]) -> None:
    """The arrays and the JSON that points at them (by SHA-256) and at the sealed segments, sealed by its own
    SHA-256: the arrays are written beside the old ones (`loop.next.npz`), both files are on the disk, and the
    JSON's rename is the one step that moves the checkpoint on; the arrays' rename after it is finished by
    `read_loop` if a kill comes between the two. So a kill leaves the checkpoint before or the one after."""
    loop_path, state_path = os.path.join(folder, LOOP_FILE), os.path.join(folder, "state.json")
    loop_next, state_temporary = os.path.join(folder, LOOP_NEXT_FILE), state_path + ".partial.json"
    committed = False
    try:
        with writing(loop_path):  # a full disk: one line, the checkpoint before this one kept whole
            np.savez(loop_next, **arrays)
            fsync_file(loop_next)
            values = {**asdict(state), "loop_sha256": file_sha256(loop_next)}
            values["state_sha256"] = content_sha256(values)
            write_json(state_temporary, values)
            fsync_file(state_temporary)
            os.replace(state_temporary, state_path)
            committed = True
            os.replace(loop_next, loop_path)
    finally:
        for temporary in (state_temporary,) if committed else (state_temporary, loop_next):
            if os.path.exists(temporary):
                os.remove(temporary)
    fsync_folder(folder)


def write_json(path: str, values: dict) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(values, handle)


def load_state(folder: str) -> tuple[RenderState, dict[str, np.ndarray]] | None:
    """The checkpoint in `folder` (None when it has none), or CheckpointDamaged saying what is wrong."""
    path = os.path.join(folder, "state.json")
    if not os.path.isfile(path):
        return None
    values = read_sealed_json(folder, path)
    loop_sha256 = values.pop("loop_sha256", None)
    state = checked_state(folder, values)
    return state, read_loop(folder, loop_sha256)


def read_sealed_json(folder: str, path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            values = json.load(handle)
    except (OSError, ValueError) as error:
        raise CheckpointDamaged(folder, f"state.json cannot be read ({error})") from None
    if not isinstance(values, dict) or "state_sha256" not in values:
        raise CheckpointDamaged(folder, "state.json has no checksum (an older dreamvid wrote it, or it was edited)")
    if content_sha256({k: v for k, v in values.items() if k != "state_sha256"}) != values.pop("state_sha256"):
        raise CheckpointDamaged(folder, "state.json was changed after dreamvid wrote it (its checksum differs)")
    return values


def checked_state(folder: str, values: dict) -> RenderState:
    """The fields of state.json with their types and ranges checked (the checksum proves who wrote them;
    these checks keep a wrong one a line, never a traceback)."""
    expected = {"fingerprint": str, "next_frame": int, "segments": dict, "identity": dict, "joining": bool}
    if set(values) != set(expected):
        raise CheckpointDamaged(folder, f"state.json holds {sorted(values)}, not {sorted(expected)}")
    for name, kind in expected.items():
        value = values[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise CheckpointDamaged(folder, f"state.json's {name} is {value!r}, not a {kind.__name__}")
    if values["next_frame"] < 0:
        raise CheckpointDamaged(folder, f"state.json's next_frame is {values['next_frame']}, below 0")
    for name, seal in values["segments"].items():
        if not seal_is_whole(seal):
            raise CheckpointDamaged(folder, f"the seal of {name} in state.json is {seal!r}")
    return RenderState(**values)


def seal_is_whole(seal: object) -> bool:
    """A segment's seal as media/sealing.py writes it: frames and bytes counted, a SHA-256."""
    return (isinstance(seal, dict) and set(seal) == {"frames", "bytes", "sha256"}
            and all(isinstance(seal[k], int) and not isinstance(seal[k], bool) and seal[k] >= 0
                    for k in ("frames", "bytes"))
            and isinstance(seal["sha256"], str) and SHA256.fullmatch(seal["sha256"]) is not None)


def read_loop(folder: str, sha256: object) -> dict[str, np.ndarray]:
    """loop.npz, if its SHA-256 is the one state.json recorded and every array is finite numbers. A save cut
    between its two renames left state.json naming loop.next.npz's arrays: that rename is finished first."""
    path, pending = os.path.join(folder, LOOP_FILE), os.path.join(folder, LOOP_NEXT_FILE)
    if os.path.isfile(pending) and file_sha256(pending) == sha256:
        os.replace(pending, path)
    elif not os.path.isfile(path):
        raise CheckpointDamaged(folder, "loop.npz is missing")
    elif file_sha256(path) != sha256:
        raise CheckpointDamaged(folder, "loop.npz was changed after dreamvid wrote it (its checksum differs)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise CheckpointDamaged(folder, f"loop.npz cannot be read ({type(error).__name__}: {error})") from None
    for name, array in arrays.items():
        if array.dtype.kind not in "biuf" or (array.dtype.kind == "f" and not np.isfinite(array).all()):
            raise CheckpointDamaged(folder, f"loop.npz's {name} holds {array.dtype} values that are not finite numbers")
    return arrays
