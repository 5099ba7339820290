"""User-facing notices from library code (a size adjusted, nothing to resume): one function, so that
the CLI shows them on stderr and the Python API can silence or capture them."""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
import sys
from typing import Callable, Iterator

Handler = Callable[[str], None]


def _to_stderr(message: str) -> None:
    from tqdm import tqdm  # its write() puts the line above a progress bar, not through it

    tqdm.write(f"dreamvid: {message}", file=sys.stderr)


# Where notices go: the one piece of state here. A context variable, not a global, so that jobs running side
# by side in threads (the studio's preview and render lanes) each send theirs to their own page and
# leaving one `notices_to` never restores another thread's handler.
_handler: ContextVar[Handler] = ContextVar("dreamvid_notices", default=_to_stderr)


def notify(message: str) -> None:
    """Tell the user something worth knowing that is not an error."""
    _handler.get()(message)


@contextlib.contextmanager
def notices_to(handler: Handler | None) -> Iterator[None]:
    """Send notices to `handler` (None: drop them) inside the `with` block, in this thread (or task) only."""
    token = _handler.set(handler or (lambda message: None))
    try:
        yield
    finally:
        _handler.reset(token)
