"""Keyframed parameter schedules (Deforum style): every numeric knob is a value per frame.

    schedule   := [("linear" | "smooth") ":"] (expression | keyframe ("," keyframe)*)
    keyframe   := FRAME ":" expression          FRAME: whole number >= 0, each at most once
    expression := numbers, t (frame), s (seconds = t / fps), pi, e, + - * / ** % (),
                  sin cos tan abs min max sqrt exp log floor ceil clamp(x, lo, hi),
                  level bass mid treble onset beat (the sound at frame t, 0..1: dreamvid.audio)

Between keys the two neighbouring keys are interpolated; before the first key and after the
last one the nearest key holds. A key's value is its expression evaluated at the frame asked
for, so "0: (t), 10: 5" at frame 4 is 4 + (5 - 4) * 0.4, and a lone expression is itself.
"""

from __future__ import annotations

import ast
from bisect import bisect_right
from dataclasses import dataclass
import math
import numbers
import re
from typing import Iterator, Mapping

from dreamvid.errors import UserError
from dreamvid.expression import Expression, ParseError, compile_expression, failure_reason, strip_span

INTERPOLATIONS = ("linear", "smooth")


@dataclass(frozen=True)
class Schedule:
    """A numeric setting as a function of frame; build it with parse_schedule."""

    frames: tuple[int, ...]
    values: tuple[Expression, ...]
    interpolation: str = "linear"
    name: str = "value"

    @property
    def is_constant(self) -> bool:
        """True when every frame gets the same value."""
        values = self.values
        return not any(v.uses_time for v in values) and len({v.value for v in values}) == 1

    @property
    def text(self) -> str:
        """Canonical text that parses back to the same schedule (saved with the settings)."""
        if len(self.frames) == 1:
            return self.values[0].source
        keys = ", ".join(f"{k}: {_key_text(v)}" for k, v in zip(self.frames, self.values))
        return f"smooth: {keys}" if self.interpolation == "smooth" else keys

    def __str__(self) -> str:
        return self.text

    @property
    def audio_names(self) -> frozenset[str]:
        """The audio features any key reads (empty: the schedule needs no sound)."""
        return frozenset().union(*(v.audio_names for v in self.values))

    def key_frames(self) -> tuple[int, ...]:
        """The frames that carry keys, in order (a lone value or expression sits at frame 0)."""
        return self.frames

    def at(self, frame: int, fps: float = 30.0, audio: Mapping[str, float] | None = None) -> float:
        """The value at a frame; fps turns the frame into seconds for expressions of s, and `audio`
        holds each audio feature's value at this frame."""
        if not fps > 0:
            raise UserError(f"{self.name}: fps must be positive, got {fps}")
        t = float(frame)
        i = bisect_right(self.frames, t)  # frames[i - 1] <= t < frames[i]
        if i == 0 or i == len(self.frames):
            return self._key(0 if i == 0 else i - 1, t, fps, audio)
        k0, k1 = self.frames[i - 1], self.frames[i]
        u = (t - k0) / (k1 - k0)
        if self.interpolation == "linear":
            v0, v1 = self._key(i - 1, t, fps, audio), self._key(i, t, fps, audio)
            return v0 + (v1 - v0) * u
        # The two slopes need the keys either side of the interval, and no others.
        ys = {j: self._key(j, t, fps, audio) for j in range(max(i - 2, 0), min(i + 2, len(self.frames)))}
        m0, m1 = _slope(self.frames, ys, i - 1), _slope(self.frames, ys, i)
        return _hermite(ys[i - 1], ys[i], m0, m1, k1 - k0, u)

    def _key(self, index: int, t: float, fps: float, audio: Mapping[str, float] | None) -> float:
        expr = self.values[index]
        try:
            return expr(t, t / fps, audio)
        except (ArithmeticError, ValueError) as err:
            where = f"frame {t:g} (s={t / fps:g})"
            raise UserError(
                f'{self.name}: expression "{expr.source}" failed at {where}: {failure_reason(err)}'
            ) from None


def parse_schedule(value: float | int | str | Schedule, name: str = "value") -> Schedule:
    """Read a constant, an expression of t and s, or keyframes; errors name setting and place."""
    if isinstance(value, Schedule):
        return value
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
        raise UserError(f"{name}: expected a number or a schedule string, got {value!r}")
    if not isinstance(value, str):
        if not math.isfinite(value):
            raise UserError(f"{name}: expected a finite number, got {value}")
        value = repr(int(value)) if isinstance(value, numbers.Integral) else repr(float(value))
    try:
        interpolation, keys = _parse_text(value)
    except ParseError as err:
        where = f'at character {err.index + 1} of "{value}"'
        raise UserError(f"{name}: bad {err.kind} {where}: {err.detail}") from None
    frames, values = zip(*keys)
    return Schedule(tuple(frames), tuple(values), interpolation, name)


def _key_text(expr: Expression) -> str:
    node = expr.tree.operand if isinstance(expr.tree, ast.UnaryOp) else expr.tree
    return expr.source if isinstance(node, ast.Constant) else f"({expr.source})"


def _parse_text(text: str) -> tuple[str, list[tuple[int, Expression]]]:
    interpolation, start = "linear", 0
    prefix = re.match(r"\s*([A-Za-z_]\w*)\s*:", text)
    if prefix:
        word = prefix.group(1)
        if word.lower() not in INTERPOLATIONS:
            detail = f'"{word}" is neither a frame number nor an interpolation (linear, smooth)'
            raise ParseError("keyframe", prefix.start(1), detail)
        interpolation, start = word.lower(), prefix.end()
    start, end = strip_span(text, start, len(text))
    if start == end:
        raise ParseError("value", start, 'nothing to read; expected a number, an expression '
                          'like "1 + 0.002*t" or keyframes like "0: 1.0, 48: 1.05"')
    if _find_top_level(text, start, end, ":") < 0:
        return interpolation, [(0, compile_expression(text, start, end))]
    keys: dict[int, Expression] = {}
    for seg_start, seg_end in _split_top_level(text, start, end, ","):
        frame, index, expr = _parse_keyframe(text, seg_start, seg_end)
        if frame in keys:
            raise ParseError("keyframe", index, f"frame {frame} appears twice")
        keys[frame] = expr
    return interpolation, sorted(keys.items())


def _parse_keyframe(text: str, start: int, end: int) -> tuple[int, int, Expression]:
    start, end = strip_span(text, start, end)
    expected = 'expected "FRAME: VALUE"'
    if start == end:
        raise ParseError("keyframe", start, f"empty keyframe (stray comma?); {expected}")
    colon = _find_top_level(text, start, end, ":")
    if colon < 0:
        raise ParseError("keyframe", start, f'{expected}, got "{text[start:end]}"')
    second = _find_top_level(text, colon + 1, end, ":")
    if second >= 0:
        raise ParseError("keyframe", second, 'second ":" in one keyframe (missing comma?)')
    frame = text[start:colon].strip()
    if not re.fullmatch(r"[0-9]+", frame):
        if not frame:
            why = "missing frame number"
        elif re.fullmatch(r"-\s*[0-9]+", frame):
            why = f'frame "{frame}" is negative'
        else:
            why = f'frame "{frame}" is not a whole number'
        raise ParseError("keyframe", start, f"{why}; {expected}")
    return int(frame), start, compile_expression(text, colon + 1, end)


def _slope(frames: tuple[int, ...], ys: dict[int, float], j: int) -> float:
    """Fritsch-Carlson slope at key j: zero at the ends and at turning points, so no overshoot."""
    if j == 0 or j == len(frames) - 1:
        return 0.0
    h0, h1 = frames[j] - frames[j - 1], frames[j + 1] - frames[j]
    d0, d1 = (ys[j] - ys[j - 1]) / h0, (ys[j + 1] - ys[j]) / h1
    if d0 * d1 <= 0:
        return 0.0
    w0, w1 = 2 * h1 + h0, h1 + 2 * h0
    return (w0 + w1) / (w0 / d0 + w1 / d1)


def _hermite(y0: float, y1: float, m0: float, m1: float, h: float, u: float) -> float:
    u2, u3 = u * u, u * u * u
    return ((2 * u3 - 3 * u2 + 1) * y0 + (u3 - 2 * u2 + u) * h * m0
            + (3 * u2 - 2 * u3) * y1 + (u3 - u2) * h * m1)


def _top_level(text: str, start: int, end: int) -> Iterator[tuple[int, str]]:
    """Characters of text[start:end] outside any brackets, so min(a, b) keeps its comma."""
    depth = 0
    for i in range(start, end):
        char = text[i]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(depth - 1, 0)
        elif depth == 0:
            yield i, char


def _find_top_level(text: str, start: int, end: int, target: str) -> int:
    return next((i for i, char in _top_level(text, start, end) if char == target), -1)


def _split_top_level(text: str, start: int, end: int, separator: str) -> list[tuple[int, int]]:
    cuts = [i for i, char in _top_level(text, start, end) if char == separator]
    bounds = [start - 1, *cuts, end]
    return [(a + 1, b) for a, b in zip(bounds, bounds[1:])]
