"""Run a producer (decoding, optical flow) ahead of the consumer (the ascent) in a thread.

ffmpeg decodes and encodes in processes of its own; OpenCV and PyTorch release the GIL, so
a thread is enough for the flow of the next frames to be computed while this one dreams.
"""

from __future__ import annotations

import queue
import threading
from typing import Iterator, TypeVar

Item = TypeVar("Item")
_DONE = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def prefetch(items: Iterator[Item], depth: int = 4) -> Iterator[Item]:
    """Yield what `items` yields, produced up to `depth` items ahead in a background thread."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(entry) -> bool:
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer(item):
                    return
            offer(_DONE)
        except BaseException as error:  # handed to the consumer, raised there
            offer(_Failure(error))
        finally:
            close = getattr(items, "close", None)
            if close:
                close()

    worker = threading.Thread(target=produce, name="dreamvid-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            entry = buffer.get()
            if entry is _DONE:
                return
            if isinstance(entry, _Failure):
                raise entry.error
            yield entry
    finally:
        stop.set()
        worker.join(timeout=5)
