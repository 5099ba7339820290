"""The exceptions library code raises for the user: bad input, and renders stopped before their end."""

from __future__ import annotations

import difflib
from typing import Iterable


class UserError(Exception):
    """A problem with the user's input or settings; the CLI prints it as one line and exits 2."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """" (did you mean 'size'?)" for a near miss of one of `choices`, else "": typos are the commonest mistake."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Stopped:
    """A render that stopped early with its state kept: the same render with resume continues it exactly.
    `reason` says what stopped it ("the callback returned False after frame 5 of 12")."""

    def __init__(self, output: str = "", resume_from: int | None = 0, total: int = 0, reason: str = ""):
        self.output, self.resume_from, self.total, self.reason = output, resume_from, total, reason
        what = f"the render of {output}" if output else "the dream"
        why = f" ({reason})" if reason else ""
        how = self.continues("resume=True") if output else "nothing was kept: the same call dreams it afresh"
        super().__init__(f"{what} stopped{why}; {how}")

    def continues(self, how: str) -> str:
        """What resuming does, e.g. "resume=True continues from frame 12 of 40"."""
        if self.resume_from == 0:  # stopped before the first checkpoint, which leaves nothing behind
            return "nothing was checkpointed yet, so nothing was kept: the same render starts afresh"
        if self.resume_from is None:  # shots on workers: each keeps its own checkpoint
            return f"{how} continues (the finished shots and each shot's last checkpoint are kept)"
        return f"{how} continues from frame {self.resume_from} of {self.total}"


class Cancelled(_Stopped, Exception):
    """A render stopped because its callback (or `on_step`) returned False."""


class Interrupted(_Stopped, KeyboardInterrupt):
    """A render stopped by Ctrl-C (still a KeyboardInterrupt, for code that catches those)."""
