"""Faults on purpose, for the tests of distributed renders. The real path never makes any: a test
hands a `Faults` to `render_shots` (workers.py), which passes it to every shot task, so that a
worker process (with no test code in it) still logs and fails where the test asked."""

from __future__ import annotations

from dataclasses import dataclass
import os
from typing import Callable
import uuid

from dreamvid.render.loop import ClosingStep, LoopState, Step, close_step


@dataclass(frozen=True)
class Faults:
    log: str = ""  # a folder: an empty file dream-T-ID for every frame T a worker dreams
    exit_at: int = -1  # the first worker to reach this frame ends its process there (os._exit), once
    driver_exit_after: int = 0  # the driver ends its own process once this many shots are finished (0: never)


def first_time(folder: str, name: str) -> bool:
    """True for the one process that creates FOLDER/name (O_EXCL: atomic across processes)."""
    try:
        os.close(os.open(os.path.join(folder, name), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


def with_faults(step_from: Callable[[int], Step], faults: Faults | None) -> Callable[[int], Step]:
    """`step_from` whose steps log each dreamed frame and end the process at `faults.exit_at`."""
    if faults is None or not faults.log:
        return step_from

    def make(first: int) -> Step:
        step = step_from(first)

        def faulty(t: int, state: LoopState):
            if t == faults.exit_at and first_time(faults.log, f"exit-{t}"):
                os._exit(17)  # a worker dying mid-shot, with no clean-up at all
            result = step(t, state)
            open(os.path.join(faults.log, f"dream-{t:06d}-{uuid.uuid4().hex}"), "w").close()
            return result

        return ClosingStep(faulty, lambda: close_step(step))

    return make


def driver_exit(faults: Faults | None, finished: int) -> None:
    if faults is not None and faults.driver_exit_after and finished >= faults.driver_exit_after:
        os._exit(17)  # the driver dying between shots
