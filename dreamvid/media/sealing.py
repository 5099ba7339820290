"""Files a render trusts after a crash: each is flushed to the disk (fsync) before anything records it,
and the record (frames, bytes, SHA-256) is checked before the file is used again.

A rename is atomic but not durable by itself: after a power cut the new name can point at a file whose
data never reached the disk. So a finished segment is fsynced, then its folder, and only then does a
checkpoint name it; a resume or a join re-reads every segment against its record.
"""

from __future__ import annotations

import hashlib
import os

from dreamvid.media.outputs import is_frame_pattern

CHUNK = 1 << 20


def fsync_file(path: str) -> None:
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def fsync_folder(path: str) -> None:
    """Make the names in a folder durable (a rename or a new file); a no-op where folders cannot be opened."""
    try:
        handle = os.open(path or ".", os.O_RDONLY)
    except OSError:
        return  # Windows: folders are not opened, and NTFS journals names itself
    try:
        os.fsync(handle)
    except OSError:
        pass  # some filesystems refuse fsync on a folder; the data itself was synced
    finally:
        os.close(handle)


def segment_files(path: str) -> list[str]:
    """A segment's files: the file itself, or a PNG segment's frames (`segment_00000/%06d.png`)."""
    if not is_frame_pattern(path):
        return [path] if os.path.isfile(path) else []
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        return []
    return [os.path.join(folder, name) for name in sorted(os.listdir(folder))]


def feed_file(digest, path: str) -> int:
    """Add a file's bytes to `digest` (a hashlib object), a chunk at a time; returns how many there were."""
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size


def file_sha256(path: str) -> str:
    """SHA-256 of every byte of a file (a checkpoint's arrays, a render's input)."""
    digest = hashlib.sha256()
    feed_file(digest, path)
    return digest.hexdigest()


def describe(path: str, frames: int) -> dict:
    """The record of a segment: its frames (as written), its bytes and a SHA-256 of its files."""
    digest, size = hashlib.sha256(), 0
    for file in segment_files(path):
        digest.update(os.path.basename(file).encode() + b"\0")
        size += feed_file(digest, file)
    return {"frames": frames, "bytes": size, "sha256": digest.hexdigest()}


def seal(path: str, frames: int) -> dict:
    """Flush a finished segment (its files, its folder) to the disk; returns its record."""
    files = segment_files(path)
    for file in files:
        fsync_file(file)
    folder = os.path.dirname(path)
    if is_frame_pattern(path):
        fsync_folder(folder)
        folder = os.path.dirname(folder)
    fsync_folder(folder)
    return describe(path, frames)


def flaw(path: str, record: dict | None) -> str | None:
    """What is wrong with a segment against its record ("missing", "empty"...), or None when it is whole."""
    if record is None:
        return "not recorded in the checkpoint"
    files = segment_files(path)
    if not files:
        return "missing"
    found = describe(path, record["frames"])
    if found["bytes"] == 0:
        return "empty"
    if found["bytes"] != record["bytes"]:
        return f"{found['bytes']} bytes instead of {record['bytes']}"
    if found["sha256"] != record["sha256"]:
        return "changed since it was written (its checksum differs)"
    return None
