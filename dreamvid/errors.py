"""The exceptions library code raises for the user: bad input, and renders stopped before their end."""

from __future__ import annotations

from contextlib import contextmanager
import difflib
import errno
import os
from typing import Iterable, Iterator


class UserError(Exception):
    """A problem with the user's input or settings; the CLI prints it as one line and exits 2."""

    def __init__(self, message: str = "", *args):
        super().__init__(shortened(one_line(str(message))), *args)


def one_line(text: str) -> str:
    """`text` with its control characters (a newline typed into a value) escaped, so a message stays one line."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


# a message quotes what it was given, which may be 100 KB (a studio request, a pasted schedule): its head
# names the setting and the value's start, its tail says what the setting takes
MESSAGE_HEAD, MESSAGE_TAIL = 600, 300


def shortened(text: str) -> str:
    left_out = len(text) - MESSAGE_HEAD - MESSAGE_TAIL
    if left_out <= 100:  # a few lines' worth more is kept whole
        return text
    return f"{text[:MESSAGE_HEAD]} [... {left_out} characters ...] {text[-MESSAGE_TAIL:]}"


# The writes a disk refuses, with what the user can do about each: the commonest failure of a long render.
FREE_SPACE = "free some space"
ANOTHER_FOLDER = "write to a folder you may write in, or change its permissions"
FIXES = {errno.ENOSPC: FREE_SPACE, errno.EDQUOT: FREE_SPACE, errno.EROFS: "write to a folder on another disk",
         errno.EACCES: ANOTHER_FOLDER, errno.EPERM: ANOTHER_FOLDER}
AGAIN = "then run the same command again"


class WriteFailed(UserError):
    """A write the disk refused (full, read-only, not allowed), as one line naming the file and what to do."""

    def __init__(self, path: str, reason: str, fix: str, then: str = AGAIN):
        self.path, self.reason, self.fix, self.then = path, reason, fix, then
        super().__init__(f"cannot write {path}: {reason}; {fix}, {then}")

    def continued(self, then: str) -> WriteFailed:
        """The same failure with what follows the fix said otherwise (e.g. how --resume continues)."""
        return WriteFailed(self.path, self.reason, self.fix, then)


def write_failure(error: BaseException, path: str = "") -> WriteFailed | None:
    """`error` as a WriteFailed when it is a disk refusing a write of `path` (else its own file name);
    None for any other error. The one place that words full and read-only disks, for every writer."""
    if isinstance(error, WriteFailed):
        return error
    if not isinstance(error, OSError) or error.errno not in FIXES:
        return None
    return WriteFailed(path or error.filename or "a file", os.strerror(error.errno), FIXES[error.errno])


# A disk's refusal as another program (ffmpeg) reports it in its own words. Not EACCES/EPERM: a program that also
# reads (the joiner reads the sound) may be refused a read, which no folder of ours would fix.
REPORTED_REFUSALS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def reported_write_failure(report: str, path: str) -> WriteFailed | None:
    """A write the disk refused, as a program's error text says it ("No space left on device"), or None."""
    for number in REPORTED_REFUSALS:
        if os.strerror(number) in report:
            return WriteFailed(path, os.strerror(number), FIXES[number])
    return None


@contextmanager
def writing(path: str) -> Iterator[None]:
    """Around any write of `path` (a still, a sidecar, a lock, a checkpoint, a join, an upload): a full,
    read-only or forbidden disk becomes one line naming the file; other errors pass through."""
    try:
        yield
    except OSError as error:
        failure = write_failure(error, path)
        if failure is None:
            raise
        raise failure from None


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
