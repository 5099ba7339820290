"""SIGTERM and SIGHUP stop a command as Ctrl-C does: raised as KeyboardInterrupt where Python is, so
the same clean-up runs (ffmpeg ended, partial files removed, the checkpoint kept, the `--resume` hint
printed), and the exit status names the signal (128 + its number: 130, 143, 129) as a shell expects."""

from __future__ import annotations

from contextlib import contextmanager
import signal
from typing import Iterator

STOPPING = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
_received = [signal.SIGINT]  # the last signal that stopped the command; its one piece of state
_active = [False]


def _interrupt(signum: int, frame) -> None:
    _received[0] = signum
    raise KeyboardInterrupt


def install() -> None:
    """(Again) route the stopping signals to `_interrupt`; a no-op outside `signals_interrupt` (a library
    caller keeps its own handlers). Ray's `init` sets its own SIGTERM handler, so the driver calls this after it."""
    if _active[0]:
        for number in STOPPING:
            signal.signal(number, _interrupt)


@contextmanager
def signals_interrupt() -> Iterator[None]:
    """Inside the block, SIGTERM and SIGHUP raise KeyboardInterrupt (main thread only: Python's rule)."""
    previous = {number: signal.getsignal(number) for number in STOPPING}
    _received[0], _active[0] = signal.SIGINT, True
    install()
    try:
        yield
    finally:
        _active[0] = False
        for number, handler in previous.items():
            signal.signal(number, handler)


def exit_status() -> int:
    """What a shell reports for the signal that stopped the command."""
    return 128 + int(_received[0])
