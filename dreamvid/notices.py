"""User-facing notices from library code (a size adjusted, nothing to resume): one function, so that
the CLI shows them on stderr and the Python API can silence or capture them."""

from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator

Handler = Callable[[str], None]


def _to_stderr(message: str) -> None:
    from tqdm import tqdm  # its write() puts the line above a progress bar, not through it

    tqdm.write(f"dreamvid: {message}", file=sys.stderr)


_handler: Handler = _to_stderr  # the one piece of state here: where notices go


def notify(message: str) -> None:
    """Tell the user something worth knowing that is not an error."""
    _handler(message)


@contextlib.contextmanager
def notices_to(handler: Handler | None) -> Iterator[None]:
    """Send notices to `handler` (None: drop them) inside the `with` block."""
    global _handler
    previous, _handler = _handler, handler or (lambda message: None)
    try:
        yield
    finally:
        _handler = previous
