"""What a request would cost, from its resolved settings and its input's size, checked against the
studio's bounds (`bounds`) before it is queued: the dream's size, its frames, its ascent steps, and their
product (pixels x frames x steps)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
import math

from dreamvid.errors import UserError
from dreamvid.media.pictures import MIN_SIDE, check_dream_shape
from dreamvid.schedule import parse_schedule
from dreamvid.settings import BY_NAME
from dreamvid.studio.bounds import MAX_ITERATIONS, MAX_OCTAVES, MAX_SIDE, at_most, check_work

ZOOM_SECONDS = 5  # a zoom's length when neither frames nor a sound say (the setting's help)


@dataclass(frozen=True)
class Source:
    """What the studio knows of a file a request reads: its size, and a clip's frames or a sound's length."""

    width: int = 0
    height: int = 0
    frames: int = 0
    seconds: float = 0.0


def peak(name: str, value: object, pick=max) -> float:
    """The largest value a setting takes (`pick=min`: the least): a schedule's at its key frames; one driven by
    the sound, its bound."""
    if not isinstance(value, str):
        return float(value)
    schedule = parse_schedule(value, name)
    if schedule.audio_names:
        setting = BY_NAME[name]
        bound = setting.high if pick is max else next((b for b in (setting.low, setting.above) if b is not None), None)
        return float(bound) if bound is not None else (math.inf if pick is max else -math.inf)
    return pick(schedule.at(frame, 30.0) for frame in schedule.key_frames())


def dream_sides(mode: str, settings: dict, source: Source | None) -> tuple[int, int]:
    """(longer, shorter) side in px of the frames dreamed."""
    if source is None:  # a zoom from noise: a square
        side = settings["size"] or settings["noise_size"]
        return side, side
    longer, shorter = max(source.width, source.height), min(source.width, source.height)
    scale = settings["scale"] if mode == "video" else 1.0
    side = settings["size"] or math.ceil(longer * scale)
    return side, max(1, math.ceil(side * shorter / max(1, longer)))


def frame_count(mode: str, settings: dict, source: Source | None, sound_seconds: float) -> int:
    if mode == "image":
        return 1
    if settings["frames"]:
        return int(settings["frames"])
    if mode == "video":
        if source is not None and not source.frames:  # a raw stream or a header without a duration
            raise UserError("the clip does not say how long it is (its header has no duration): set frames "
                            "to dream that many of its first frames")
        return source.frames if source else 0
    fps = Fraction(str(settings["fps"]))
    return math.ceil((sound_seconds or ZOOM_SECONDS) * fps)


def octave_area(octaves: int, scale: float) -> float:
    """A pyramid's pixels over its full-size octave's: each level is 1/scale of the side of the one above."""
    return sum(scale ** (-2 * level) for level in range(octaves))


def steps_per_frame(mode: str, settings: dict, frames: int) -> float:
    """Full-size ascent steps per frame, on average (a step on a smaller octave counts by its area): a clip's
    later frames take `iterations_next` x `octaves_next`."""
    scale = peak("octave_scale", settings["octave_scale"], min)  # the least: smaller octaves weigh the most
    first = peak("iterations", settings["iterations"]) * octave_area(settings["octaves"], scale)
    if mode == "image":
        return first
    later = first if mode == "zoom" else (peak("iterations_next", settings["iterations_next"])
                                          * octave_area(settings["octaves_next"], scale))
    return (first + (frames - 1) * later) / max(1, frames) / peak("cadence", settings["cadence"])


def check_request(mode: str, settings: dict, source: Source | None, sound_seconds: float, preview: bool) -> int:
    """Every bound a request must keep (one line, UserError, for the first one it breaks), beyond the settings
    table's own ranges (the seed's among them), which `resolved` has already checked; returns the frames
    counted."""
    at_most("iterations", peak("iterations", settings["iterations"]), MAX_ITERATIONS)
    at_most("iterations_next", peak("iterations_next", settings["iterations_next"]), MAX_ITERATIONS)
    at_most("octaves", settings["octaves"], MAX_OCTAVES)
    at_most("octaves_next", settings["octaves_next"], MAX_OCTAVES)
    longer, shorter = dream_sides(mode, settings, source)
    if source is not None:  # what the render would refuse after its turn in the queue, refused now
        if min(source.width, source.height) < MIN_SIDE:
            raise UserError(f"the input is {source.width}x{source.height} px: each side must be at least {MIN_SIDE} px")
        check_dream_shape(longer, shorter, "the input")
        at_most("the input's longer side (px)", max(source.width, source.height),
                MAX_SIDE if not settings["size"] else math.inf, "; set a size to dream it smaller")
    frames = frame_count(mode, settings, source, sound_seconds)
    check_work(longer, shorter, frames, math.ceil(steps_per_frame(mode, settings, frames)), preview)
    return frames
