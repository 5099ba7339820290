"""One render per output at a time: a lock the OS releases when its process ends, however it ends.

The lock is an `flock` on `OUT.dreamvid-lock` beside the output, holding the owner's process id, so a
second render of the same output is refused with one line naming the process (before it reads or
touches anything of the first one's), and a kill -9 never leaves a stale lock behind: the file may stay,
but no process holds it, and the next render takes it.
"""

from __future__ import annotations

from contextlib import contextmanager
import os
from typing import Iterator

from dreamvid.errors import UserError, writing
from dreamvid.media.outputs import output_target

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; renders are not guarded there
    fcntl = None


def lock_path(output_path: str) -> str:
    return output_target(output_path) + ".dreamvid-lock"


def _owner(handle) -> str:
    handle.seek(0)
    pid = handle.read().strip()
    return f"process {pid}" if pid else "another process"


def _take(path: str):
    """An open handle holding the lock on `path`, or a UserError naming its holder."""
    while True:
        with writing(path):  # a read-only or full disk: one line, before anything else is touched
            handle = open(path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            owner = _owner(handle)
            handle.close()
            raise UserError(f"{path[: -len('.dreamvid-lock')]} is being rendered by {owner}; wait for it to "
                            f"finish, or stop it first") from None
        # the holder before us may have removed the file after we opened it: then ours is a ghost, retry
        if os.path.exists(path) and os.path.samestat(os.fstat(handle.fileno()), os.stat(path)):
            return handle
        handle.close()


@contextmanager
def output_lock(output_path: str) -> Iterator[None]:
    """Hold the output for the `with` block; the lock file goes when the block ends."""
    if fcntl is None or not os.path.isdir(os.path.dirname(os.path.abspath(lock_path(output_path)))):
        yield  # no folder yet: the output check that follows reports it
        return
    path = lock_path(output_path)
    handle = _take(path)
    try:
        with writing(path):
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
        yield
    finally:
        os.remove(path)  # removed while still held, so nobody locks the old file in between
        handle.close()
