"""Faults on purpose, for the tests of distributed renders. Workers are other processes, so the tests
steer them with environment variables, read by the driver and handed to each task:

- DREAMVID_TEST_LOG=FOLDER: an empty file FOLDER/dream-T-ID for every frame T a worker dreams;
- DREAMVID_TEST_EXIT_AT=T: the first worker to reach frame T ends its process there (os._exit), once;
- DREAMVID_TEST_DRIVER_EXIT_AFTER=N: the driver ends its own process once N shots are finished.
"""

from __future__ import annotations

import os
from typing import Callable
import uuid

from dreamvid.render.loop import ClosingStep, LoopState, Step, close_step

NAMES = ("DREAMVID_TEST_LOG", "DREAMVID_TEST_EXIT_AT", "DREAMVID_TEST_DRIVER_EXIT_AFTER")


def faults_from_environment() -> dict[str, str]:
    return {name: os.environ[name] for name in NAMES if os.environ.get(name)}


def first_time(folder: str, name: str) -> bool:
    """True for the one process that creates FOLDER/name (O_EXCL: atomic across processes)."""
    try:
        os.close(os.open(os.path.join(folder, name), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


def with_faults(step_from: Callable[[int], Step], faults: dict[str, str]) -> Callable[[int], Step]:
    """`step_from` whose steps log each dreamed frame and end the process at DREAMVID_TEST_EXIT_AT."""
    log, exit_at = faults.get("DREAMVID_TEST_LOG"), int(faults.get("DREAMVID_TEST_EXIT_AT", -1))
    if not log:
        return step_from

    def make(first: int) -> Step:
        step = step_from(first)

        def faulty(t: int, state: LoopState):
            if t == exit_at and first_time(log, f"exit-{t}"):
                os._exit(17)  # a worker dying mid-shot, with no clean-up at all
            result = step(t, state)
            open(os.path.join(log, f"dream-{t:06d}-{uuid.uuid4().hex}"), "w").close()
            return result

        return ClosingStep(faulty, lambda: close_step(step))

    return make


def driver_exit(faults: dict[str, str], finished: int) -> None:
    if finished >= int(faults.get("DREAMVID_TEST_DRIVER_EXIT_AFTER", 0) or 1 << 60):
        os._exit(17)  # the driver dying between shots
