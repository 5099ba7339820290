"""What makes two renders the same, kept in the checkpoint so that a refused `--resume` says what changed.

A render reads files besides its settings: the input (a clip, a picture or a frame sequence), the guide,
the colour reference, the weights, the sound. Each is known by its content: a SHA-256 of every byte (about
0.6 s a GB, once per render or resume), so a clip whose middle frames changed with its size and time kept
is another input. (A hash of the first and last 64 KiB, as before, missed exactly that.) A frame sequence
is known by every file it names, each by its content.
"""

from __future__ import annotations

import hashlib
import json
import os
import re

from dreamvid.media.outputs import FRAME_PATTERN, is_frame_pattern
from dreamvid.media.sealing import file_sha256
from dreamvid.settings.commands import FILE_ONLY  # settings about the files written, not the render
from dreamvid.settings.files import FILE_SETTINGS  # the files whose content matters

IDENTITY_VERSION = 3  # 2: file contents, frame sequences, what changed; 3: every byte hashed


def content_hash(path: str) -> str:
    """SHA-256 of every byte of a file, shortened."""
    return file_sha256(path)[:16]


def sequence_files(pattern: str) -> list[str]:
    """The files a frame pattern (frames/%05d.png) names, in name order."""
    folder, name = os.path.split(os.path.abspath(pattern))
    matches = re.compile(FRAME_PATTERN.sub(r"\\d+", re.escape(name)) + "$")
    return sorted(entry for entry in os.listdir(folder) if matches.match(entry)) if os.path.isdir(folder) else []


def sequence_identity(pattern: str) -> str:
    """Every frame of a sequence by name and content: one changed, added or removed frame changes it."""
    folder = os.path.dirname(os.path.abspath(pattern))
    digest, names = hashlib.sha256(), sequence_files(pattern)
    for name in names:
        digest.update(f"{name}:{content_hash(os.path.join(folder, name))}\n".encode())
    return f"{os.path.abspath(pattern)}: {len(names)} files, {digest.hexdigest()[:16]}"


def file_identity(path: str) -> str:
    """A file as a render reads it: its path, size and content ("" for no file)."""
    if path and is_frame_pattern(path) and not os.path.isfile(path):
        return sequence_identity(path)
    if not path or not os.path.isfile(path):
        return path or ""
    return f"{os.path.abspath(path)}: {os.path.getsize(path)} bytes, {content_hash(path)}"


def render_identity(mode: str, input_path: str, settings: dict, frame_size: tuple[int, int],
                    audio_digest: str = "") -> dict:
    """Mode, the input and other files read, every setting, the frame size, and the audio features the
    schedules read (`Features.digest()`, empty when none), as plain JSON values."""
    described = {"mode": mode, "input": file_identity(input_path),
                 "files": {name: file_identity(str(settings.get(name, ""))) for name in FILE_SETTINGS},
                 "settings": {name: value for name, value in settings.items() if name not in FILE_ONLY},
                 "size": list(frame_size), "version": IDENTITY_VERSION}
    if audio_digest:
        described["audio_features"] = audio_digest
    return json.loads(json.dumps(described, sort_keys=True, default=str))


def identity_digest(identity: dict) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


CHANGE_NAMES = {"mode": "the mode", "input": "the input", "size": "the frame size",
                "audio_features": "the sound the schedules read", "version": "the dreamvid version"}


def changes(before: dict, now: dict, limit: int = 3) -> str:
    """What differs between two identities, in words: "the input frames/%05d.png changed; zoom: 1.05 -> 1.5"."""
    found = []
    for key in sorted(set(before) | set(now)):
        old, new = before.get(key), now.get(key)
        if old == new:
            continue
        if key in ("settings", "files"):
            found += [change_of(f"{name}", old.get(name), new.get(name), key == "files")
                      for name in sorted(set(old or {}) | set(new or {}))
                      if (old or {}).get(name) != (new or {}).get(name)]
        else:
            found.append(change_of(CHANGE_NAMES.get(key, key), old, new, key == "input"))
    shown = "; ".join(found[:limit])
    return shown + (f"; and {len(found) - limit} more" if len(found) > limit else "")


def change_of(name: str, old: object, new: object, is_file: bool) -> str:
    if is_file:
        path = str(new or old or "").split(": ")[0]
        return f"{name} {path} changed" if path else f"{name} changed"
    return f"{name}: {json.dumps(old)} -> {json.dumps(new)}"
