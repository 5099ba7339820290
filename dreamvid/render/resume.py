"""The small state a render keeps beside its output, so that `--resume` continues it exactly.

The state folder `OUT.dreamvid-state/` holds `state.json` (settings fingerprint, next frame),
`loop.npz` (the loop's float state, lossless) and the finished output segments. It is written atomically
after each finished segment, so a kill -9 at any moment leaves the last checkpoint intact.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import hashlib
import json
import os
import shutil

import numpy as np

from dreamvid.errors import UserError
from dreamvid.media.outputs import output_target
from dreamvid.notices import notify

STATE_VERSION = 1


def state_folder(output_path: str) -> str:
    return output_target(output_path) + ".dreamvid-state"


FILE_SETTINGS = ("guide", "colour_reference", "weights", "audio")  # settings naming files whose content matters


def file_identity(path: str) -> str:
    """A file's path, size and date: a changed file changes the render (hashing gigabytes would not pay)."""
    if not path or not os.path.isfile(path):
        return path or ""
    info = os.stat(path)
    return f"{os.path.abspath(path)}:{info.st_size}:{int(info.st_mtime)}"


def fingerprint(mode: str, input_path: str, settings: dict, frame_size: tuple[int, int],
                audio_digest: str = "") -> str:
    """What makes two renders the same: mode, the input and other files used, every setting, and the
    audio features the schedules read (`Features.digest()`, empty when none)."""
    files = {name: file_identity(str(settings.get(name, ""))) for name in FILE_SETTINGS}
    described = {"mode": mode, "input": file_identity(input_path), "files": files, "settings": settings,
                 "size": frame_size, "version": STATE_VERSION}
    if audio_digest:  # only then: renders without music keep the fingerprints they had
        described["audio_features"] = audio_digest
    described = json.dumps(described, sort_keys=True, default=str)
    return hashlib.sha256(described.encode()).hexdigest()[:16]


@dataclass
class RenderState:
    fingerprint: str
    next_frame: int = 0  # frames before it are in finished segments (segment_NNNNN.* in the state folder)


def save_state(folder: str, state: RenderState, arrays: dict[str, np.ndarray]) -> None:
    """Arrays first, then the JSON that points at them: each replaced atomically."""
    temporary = os.path.join(folder, "loop.partial.npz")
    np.savez(temporary, **arrays)
    os.replace(temporary, os.path.join(folder, "loop.npz"))
    temporary = os.path.join(folder, "state.partial.json")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(asdict(state), handle)
    os.replace(temporary, os.path.join(folder, "state.json"))


def load_state(folder: str) -> tuple[RenderState, dict[str, np.ndarray]] | None:
    path = os.path.join(folder, "state.json")
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            state = RenderState(**json.load(handle))
        with np.load(os.path.join(folder, "loop.npz")) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise UserError(f"the resume state in {folder} is damaged ({error}); pass --overwrite to start again") from None
    return state, arrays


def prepare_state(output_path: str, expected: str, resume: bool, overwrite: bool):
    """Decide how a render starts: fresh, or from its checkpoint. Returns (folder, state, arrays)."""
    folder = state_folder(output_path)
    if os.path.isdir(folder) and not resume:
        if not overwrite:
            raise UserError(f"an interrupted render of {output_path} exists: pass --resume to continue it "
                            f"or --overwrite to start again")
        shutil.rmtree(folder)
    loaded = load_state(folder) if resume else None
    if loaded is None:
        if resume:
            notify(f"nothing to resume for {output_path}; starting from frame 0")
        os.makedirs(folder, exist_ok=True)
        return folder, RenderState(expected), {}
    state, arrays = loaded
    if state.fingerprint != expected:
        raise UserError(f"cannot resume {output_path}: it was started with other settings or input "
                        f"(pass --overwrite to start again with these)")
    return folder, state, arrays


def discard_state(folder: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)
