"""Checking and merging settings: defaults < preset < user TOML file < explicit flags, as one dict.

Every value is checked against its setting; unknown keys are rejected with the list of allowed ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
import math
from typing import Mapping, Sequence

from dreamvid.errors import UserError, did_you_mean
from dreamvid.nets.registry import get_spec, model_layers
from dreamvid.schedule import Schedule, parse_schedule
from dreamvid.settings.table import BY_NAME, Setting, allowed_keys_message, defaults


def describe(setting: Setting) -> str:
    return f"{setting.name} ({setting.flag})"


def number_text(value: float) -> str:
    """A bound or a value as typed: 4294967295 in full, 1e+30 short, a 400-digit int by its length."""
    if isinstance(value, int) and abs(value) >= 10**16:
        return f"a {len(str(abs(value)))}-digit number"
    return str(int(value)) if math.isfinite(value) and value == int(value) and abs(value) < 10**16 else f"{value:g}"


def range_text(setting: Setting) -> str:
    """The values a numeric setting takes, in words: ">= 0 and <= 63", "0 or >= 16 and <= 16384"."""
    parts = []
    if setting.low is not None:
        parts.append(f">= {number_text(setting.low)}")
    if setting.above is not None:
        parts.append(f"> {number_text(setting.above)}")
    if setting.nonzero_low is not None:
        parts = [f"0 or >= {number_text(setting.nonzero_low)}"]
    if setting.high is not None:
        parts.append(f"<= {number_text(setting.high)}")
    kind = "a whole number" if setting.kind == "int" or setting.integer else "a number"
    return f"{kind} {' and '.join(parts)}" if parts else f"a finite {kind[2:]}"


def check_bounds(setting: Setting, value: float, where: str = "") -> None:
    problems = []
    if not isinstance(value, int) and not math.isfinite(value):
        problems.append("finite")
    elif setting.low is not None and value < setting.low:
        problems.append(f">= {number_text(setting.low)}")
    elif setting.above is not None and value <= setting.above:
        problems.append(f"> {number_text(setting.above)}")
    elif setting.high is not None and value > setting.high:
        problems.append(f"<= {number_text(setting.high)}")
    elif setting.nonzero_low is not None and 0 < value < setting.nonzero_low:
        problems.append(f"0 or >= {number_text(setting.nonzero_low)}")
    if problems:
        shown = number_text(value)
        raise UserError(f"{describe(setting)} must be {problems[0]}, got {shown}{where}; it takes "
                        f"{range_text(setting)}")


def as_number(setting: Setting, value: object, integer: bool) -> float | int:
    """`value` as a number (an int where `integer`), or one line naming the setting and its range: any value
    at all (inf, nan, 1e400, a string) ends here, never in an OverflowError further on."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UserError(f"{describe(setting)} must be {range_text(setting)}, got {value!r}")
    if isinstance(value, int):  # exact, however large: the bounds refuse it without a float overflow
        number = value
    else:
        try:
            number = float(value)
        except ValueError:
            raise UserError(f"{describe(setting)} must be {range_text(setting)}, got {value!r}") from None
    check_bounds(setting, number)
    if integer and number != int(number):
        raise UserError(f"{describe(setting)} must be a whole number, got {value!r}; it takes {range_text(setting)}")
    return int(number) if integer else number


def check_schedule(setting: Setting, value: object) -> float | str:
    """A constant stays a number; a keyframe string is parsed, range-checked at its keys (a first check:
    `check_schedules` checks every frame once the render's length and rate are known), kept as text."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UserError(f"{describe(setting)} must be a number or a schedule string, got {value!r}")
    if not isinstance(value, str):
        value = as_number(setting, value, False)  # in range, so a huge int never overflows a float below
    schedule = parse_schedule(value, setting.name)
    if schedule.audio_names:  # its values exist once the track is analysed: range-checked then, every frame
        return str(schedule)
    for frame in schedule.key_frames():
        check_bounds(setting, schedule.at(frame, 30.0), f" at frame {frame}")
    if schedule.is_constant:
        constant = schedule.at(0, 30.0)
        return int(constant) if setting.integer and constant == int(constant) else constant
    return str(schedule)


# a frame a second at least: fewer is a slide show, and a per-second rate's per-frame share (zoom ** (1 / fps))
# would overflow a float (1.2 ** 1e7), and 5 s at 0.01 fps would be no frame at all
LOWEST_FPS, HIGHEST_FPS = 1, 1000


def parse_fps(value: object) -> Fraction:
    try:
        fps = Fraction(str(value).strip())
    except (ValueError, ZeroDivisionError):
        raise UserError(f"fps (--fps) must be a number or a ratio like 30000/1001, got {value!r}") from None
    if not LOWEST_FPS <= fps <= HIGHEST_FPS:
        raise UserError(f"fps (--fps) must be >= {LOWEST_FPS} and <= {HIGHEST_FPS}, got {value}")
    return fps


def parse_layer_item(item: str) -> tuple[str, object]:
    name, _, weight = item.partition("=")
    return name.strip(), (weight.strip() if weight.strip() else 1.0)


def check_layers_value(setting: Setting, value: object) -> dict[str, object]:
    """Layers come as "NAME", ["NAME=WEIGHT", ...] or a table {NAME: WEIGHT}; weights may be schedules."""
    if isinstance(value, str):
        value = [part for part in value.replace(";", " ").split() if part]
    if isinstance(value, list):
        value = dict(parse_layer_item(str(item)) for item in value)
    if not isinstance(value, dict):
        raise UserError(f"layers (--layers) must be NAME, a list of NAME=WEIGHT or a table, got {value!r}")
    weight_setting = Setting(f"layers.{'/'.join(value) or '?'}", 1.0, "", "schedule", low=-100.0, high=100.0)
    return {str(name): check_schedule(weight_setting, weight) for name, weight in value.items()}


def check_value(setting: Setting, value: object) -> object:
    """Return the canonical form of `value`, or raise UserError naming the setting."""
    kind = setting.kind
    if kind == "schedule":
        return check_schedule(setting, value)
    if kind == "layers":
        return check_layers_value(setting, value)
    if kind == "fps":
        return str(parse_fps(value))
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise UserError(f"{describe(setting)} must be true or false, got {value!r}")
    if kind in ("int", "float"):
        return as_number(setting, value, kind == "int")
    if not isinstance(value, str) or "\0" in value:  # a NUL byte ends a path in the OS: open() would raise
        raise UserError(f"{describe(setting)} must be a string, got {value!r}")
    if kind == "choice" and value not in setting.choices:
        raise UserError(f"{describe(setting)} must be one of: {', '.join(setting.choices)}; got {value!r}"
                        f"{did_you_mean(value, setting.choices)}")
    return value


def check_keys(values: dict, source: str) -> None:
    unknown = [key for key in values if key not in BY_NAME]
    if unknown:
        near = did_you_mean(unknown[0], BY_NAME)
        raise UserError(f"unknown setting {unknown[0]!r} in {source}{near}; {allowed_keys_message()}")


def merge(*layers: tuple[str, dict]) -> dict[str, object]:
    """defaults < each (source, values) in order; every value checked, unknown keys rejected."""
    resolved = defaults()
    for source, values in layers:
        check_keys(values, source)
        for key, value in values.items():
            resolved[key] = check_value(BY_NAME[key], value)
    return with_model_layers(resolved)


def with_model_layers(resolved: dict[str, object]) -> dict[str, object]:
    """Roles become the model's layers and the default layer is named, so saved settings say what was
    dreamed (and reproduce it); every name is checked."""
    spec = get_spec(resolved["model"])
    resolved["layers"] = model_layers(spec, resolved["layers"] or {spec.default_layer: 1.0})
    return resolved


def audio_readers(values: dict[str, object]) -> list[tuple[str, str]]:
    """(setting, audio feature) for every schedule, layer weights included, that reads the sound."""
    readers = []
    for name, setting in BY_NAME.items():
        if setting.kind == "schedule":
            readers += [(describe(setting), n) for n in sorted(parse_schedule(values[name], name).audio_names)]
    for layer, weight in dict(values.get("layers") or {}).items():
        readers += [(f"layers {layer}", n) for n in sorted(parse_schedule(weight, f"layers.{layer}").audio_names)]
    return readers


@dataclass
class Resolved:
    """The settings of one render, with the frame-independent values pre-parsed."""

    values: dict[str, object]
    fps: Fraction | None = None  # a clip's own rate; None: the `fps` setting (zoom videos)
    # Each audio feature per frame of the render (dreamvid.audio.at_frames); never saved with the settings.
    audio: Mapping[str, Sequence[float]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.fps = self.fps or parse_fps(self.values["fps"])
        self._schedules = {
            name: parse_schedule(self.values[name], name) for name, s in BY_NAME.items() if s.kind == "schedule"
        }

    def schedules(self) -> dict[str, Schedule]:
        """Every scheduled setting's schedule, by name."""
        return dict(self._schedules)

    def audio_at(self, frame: int) -> dict[str, float] | None:
        """Every audio feature at `frame` (0 past the table's end: the music is over); None without audio."""
        if self.audio is None:
            return None
        return {name: float(curve[frame]) if 0 <= frame < len(curve) else 0.0 for name, curve in self.audio.items()}

    def at(self, name: str, frame: int = 0) -> float:
        schedule = self._schedules[name]
        value = schedule.at(frame, float(self.fps), self.audio_at(frame) if schedule.audio_names else None)
        return round(value) if BY_NAME[name].integer else value

    def __getitem__(self, name: str) -> object:
        return self.values[name]


LAYER_WEIGHT = Setting("layers", 1.0, "", "schedule", low=-100.0, high=100.0)


def check_schedules(resolved: Resolved, frames: int) -> None:
    """Every schedule that varies, at every frame of the render at its real rate, within its setting's
    bounds: a mistake fails before the model is built, naming the frame and the value."""
    fps = float(resolved.fps)
    varying = [(BY_NAME[name], schedule) for name, schedule in resolved.schedules().items()]
    varying += [(replace(LAYER_WEIGHT, name=f"layers.{layer}"), parse_schedule(weight, f"layers.{layer}"))
                for layer, weight in resolved["layers"].items()]
    for setting, schedule in varying:
        if schedule.is_constant:
            continue  # checked when the settings were merged
        for frame in range(frames):
            value = schedule.at(frame, fps, resolved.audio_at(frame) if schedule.audio_names else None)
            value = round(value) if setting.integer and math.isfinite(value) else value
            check_bounds(setting, value, f" at frame {frame} ({frame / fps:.2f} s) of this {frames}-frame render")
