"""Bounds on everything a page can ask of the studio, each with its reason; a request past one is refused
in one line (HTTP 4xx) before it is queued. The command line has none of these: they keep a page (or a
buggy script) from tying up the machine, its disk or the server for hours."""

from __future__ import annotations

import json
import math

from dreamvid.errors import UserError

MAX_FRAMES = 3600  # two minutes at 30 fps: longer videos are the command line's
MAX_PREVIEW_FRAMES = 600  # a Dream's frames loop in the page, which keeps 600 of them
MAX_SIDE = 2048  # px, the dream's longer side: a look at a dream, not a print
MAX_ITERATIONS = 200  # ascent steps per octave: past ~50 a dream only saturates
MAX_OCTAVES = 8  # pyramid levels: 8 x 1.4 already spans 10x in size
# pixels x frames x full-size ascent steps (a step on a smaller octave counts by its area): ~3 hours on 2 CPU
# cores, minutes on a GPU (a 1080p clip of 1000 frames at 2 octaves x 1.4 x 3 steps is 0.94e10)
MAX_WORK = 2e10
MAX_QUEUED_PER_TAB = 8  # a page queues one Dream and a few renders
MAX_QUEUED = 1000  # all tabs together
MAX_STREAMS = 32  # open progress streams (one per tab's job): each holds a connection and a file descriptor
# uploads received at once: a page sends an input and a few files (mask, guide, colour, sound); each may fill
# --max-upload-mb of disk before the storage quota counts it, so together they stay within 8 x that
MAX_UPLOADS_AT_ONCE = 8
DEFAULT_MAX_STORAGE_MB = 4000.0  # uploads and results kept in the work folder, all tabs together
TAB_SHARE = 0.5  # the part of that one tab may fill before its own oldest files go
MAX_FILES = 1000  # uploads and results kept, however small
MAX_JSON_BYTES = 1_000_000  # a page's request is a few KB; a schedule of thousands of key frames still fits
# a clip's frames are counted from its header (duration x fps), which may be a little off, or lie: a render
# that goes this far past the count (frames + 2 % + 30) is stopped, so the bounds hold whatever the header says
CLIP_FRAME_SLACK = (0.02, 30)


class Refused(UserError):
    """A request past a bound (HTTP 429 for capacity, 400 for a value)."""


class BodyTooLarge(UserError):
    """A JSON body past MAX_JSON_BYTES (HTTP 413): refused before it is all read, so it never fills the memory."""


def finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UserError(f"numbers must be finite, got {text}")
    return value


def refuse_constant(text: str) -> float:
    raise UserError(f"numbers must be finite, got {text}")


def parse_json(body: bytes) -> dict:
    """The page's JSON, refusing NaN, Infinity and numbers too large for a float (1e400)."""
    try:
        value = json.loads(body, parse_float=finite_float, parse_constant=refuse_constant)
    except (ValueError, RecursionError):
        raise UserError("the request is not the JSON the page sends") from None
    if not isinstance(value, dict):
        raise UserError("the request is not the JSON the page sends")
    return value


def shown(number: float) -> str:
    """A number as a person reads it: 4294967295, not 4.29497e+09; 1e+30 stays short."""
    return str(int(number)) if float(number).is_integer() and abs(number) < 1e15 else f"{number:g}"


def at_most(name: str, value: float, bound: float, hint: str = "") -> None:
    if value > bound:
        raise UserError(f"{name}: the studio takes at most {shown(bound)}, got {shown(value)}{hint}")


def check_work(side: int, short_side: int, frames: int, steps: int, preview: bool) -> None:
    """The request's size, length and steps, and their product, against the bounds above."""
    at_most("size (the dream's longer side, px)", side, MAX_SIDE, "; set a smaller size")
    at_most("frames of a Dream (a longer one is a Render)" if preview else "frames", frames,
            MAX_PREVIEW_FRAMES if preview else MAX_FRAMES)
    work = side * short_side * frames * steps
    if work > MAX_WORK:
        raise UserError(f"this asks for {work:.2g} pixel-steps ({side}x{short_side} px x {frames} frames x "
                        f"{steps} full-size steps); the studio takes at most {MAX_WORK:.0e}: fewer frames, steps or pixels "
                        "(or the command line)")


def most_clip_frames(counted: int) -> int:
    """The frames a clip's render may reach when its header counts `counted` (see CLIP_FRAME_SLACK)."""
    share, frames = CLIP_FRAME_SLACK
    return counted + max(frames, math.ceil(counted * share))
