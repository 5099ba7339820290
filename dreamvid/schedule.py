"""Keyframed parameter schedules (Deforum style): every numeric knob is a value per frame.

    schedule   := [("linear" | "smooth") ":"] (expression | keyframe ("," keyframe)*)
    keyframe   := FRAME ":" expression          FRAME: whole number >= 0, each at most once
    expression := numbers, t (frame), s (seconds = t / fps), pi, e, + - * / ** % (),
                  sin cos tan abs min max sqrt exp log floor ceil clamp(x, lo, hi)

Between keys the two neighbouring keys are interpolated; before the first key and after the
last one the nearest key holds. A key's value is its expression evaluated at the frame asked
for, so "0: (t), 10: 5" at frame 4 is 4 + (5 - 4) * 0.4, and a lone expression is itself.
"""

from __future__ import annotations

import ast
import math
import numbers
import operator
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Callable, Iterator

from dreamvid.errors import UserError

INTERPOLATIONS = ("linear", "smooth")

_TIME_NAMES = ("t", "s")
_CONSTANTS = {"pi": math.pi, "e": math.e}


def _clamp(x: float, lo: float, hi: float) -> float:
    return min(max(x, lo), hi)


def _power(base: float, exponent: float) -> float:
    result = base**exponent
    # Python answers a negative base with a fractional exponent by a complex number.
    if isinstance(result, complex):
        raise ValueError("negative number raised to a fractional power")
    return result


# name -> (function, fewest arguments, most arguments or None for any number)
_FUNCTIONS: dict[str, tuple[Callable[..., float], int, int | None]] = {
    "sin": (math.sin, 1, 1), "cos": (math.cos, 1, 1), "tan": (math.tan, 1, 1),
    "abs": (abs, 1, 1), "min": (min, 2, None), "max": (max, 2, None),
    "sqrt": (math.sqrt, 1, 1), "exp": (math.exp, 1, 1), "log": (math.log, 1, 1),
    "floor": (math.floor, 1, 1), "ceil": (math.ceil, 1, 1), "clamp": (_clamp, 3, 3),
}
_BINARY: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Mod: operator.mod, ast.Pow: _power,
}
# "^" is the usual slip for a power, so it gets a hint.
_REFUSED_OPERATORS = {ast.BitXor: '"^" (write ** for powers)', ast.FloorDiv: '"//"'}


class _ParseError(Exception):
    """Where (index into the whole text) and why parsing stopped; parse_schedule adds the name."""

    def __init__(self, kind: str, index: int, detail: str) -> None:
        super().__init__(detail)
        self.kind, self.index, self.detail = kind, index, detail


@dataclass(frozen=True)
class _Expr:
    source: str  # canonical text, from ast.unparse
    uses_time: bool
    value: float | None  # precomputed when the expression reads neither t nor s
    tree: ast.expr = field(compare=False, repr=False)

    def __call__(self, t: float, s: float) -> float:
        if self.value is not None:
            return self.value
        return _finite(_evaluate(self.tree, {"t": t, "s": s, **_CONSTANTS}))


@dataclass(frozen=True)
class Schedule:
    """A numeric setting as a function of frame; build it with parse_schedule."""

    frames: tuple[int, ...]
    values: tuple[_Expr, ...]
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

    def key_frames(self) -> tuple[int, ...]:
        """The frames that carry keys, in order (a lone value or expression sits at frame 0)."""
        return self.frames

    def at(self, frame: int, fps: float = 30.0) -> float:
        """The value at a frame; fps turns the frame into seconds for expressions of s."""
        if not fps > 0:
            raise UserError(f"{self.name}: fps must be positive, got {fps}")
        t = float(frame)
        i = bisect_right(self.frames, t)  # frames[i - 1] <= t < frames[i]
        if i == 0 or i == len(self.frames):
            return self._key(0 if i == 0 else i - 1, t, fps)
        k0, k1 = self.frames[i - 1], self.frames[i]
        u = (t - k0) / (k1 - k0)
        if self.interpolation == "linear":
            v0, v1 = self._key(i - 1, t, fps), self._key(i, t, fps)
            return v0 + (v1 - v0) * u
        # The two slopes need the keys either side of the interval, and no others.
        ys = {j: self._key(j, t, fps) for j in range(max(i - 2, 0), min(i + 2, len(self.frames)))}
        m0, m1 = _slope(self.frames, ys, i - 1), _slope(self.frames, ys, i)
        return _hermite(ys[i - 1], ys[i], m0, m1, k1 - k0, u)

    def _key(self, index: int, t: float, fps: float) -> float:
        expr = self.values[index]
        try:
            return expr(t, t / fps)
        except (ArithmeticError, ValueError) as err:
            where = f"frame {t:g} (s={t / fps:g})"
            raise UserError(
                f'{self.name}: expression "{expr.source}" failed at {where}: {_reason(err)}'
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
    except _ParseError as err:
        where = f'at character {err.index + 1} of "{value}"'
        raise UserError(f"{name}: bad {err.kind} {where}: {err.detail}") from None
    frames, values = zip(*keys)
    return Schedule(tuple(frames), tuple(values), interpolation, name)


def _key_text(expr: _Expr) -> str:
    node = expr.tree.operand if isinstance(expr.tree, ast.UnaryOp) else expr.tree
    return expr.source if isinstance(node, ast.Constant) else f"({expr.source})"


def _parse_text(text: str) -> tuple[str, list[tuple[int, _Expr]]]:
    interpolation, start = "linear", 0
    prefix = re.match(r"\s*([A-Za-z_]\w*)\s*:", text)
    if prefix:
        word = prefix.group(1)
        if word.lower() not in INTERPOLATIONS:
            detail = f'"{word}" is neither a frame number nor an interpolation (linear, smooth)'
            raise _ParseError("keyframe", prefix.start(1), detail)
        interpolation, start = word.lower(), prefix.end()
    start, end = _strip(text, start, len(text))
    if start == end:
        raise _ParseError("value", start, 'nothing to read; expected a number, an expression '
                          'like "1 + 0.002*t" or keyframes like "0: 1.0, 48: 1.05"')
    if _find_top_level(text, start, end, ":") < 0:
        return interpolation, [(0, _compile(text, start, end))]
    keys: dict[int, _Expr] = {}
    for seg_start, seg_end in _split_top_level(text, start, end, ","):
        frame, index, expr = _parse_keyframe(text, seg_start, seg_end)
        if frame in keys:
            raise _ParseError("keyframe", index, f"frame {frame} appears twice")
        keys[frame] = expr
    return interpolation, sorted(keys.items())


def _parse_keyframe(text: str, start: int, end: int) -> tuple[int, int, _Expr]:
    start, end = _strip(text, start, end)
    expected = 'expected "FRAME: VALUE"'
    if start == end:
        raise _ParseError("keyframe", start, f"empty keyframe (stray comma?); {expected}")
    colon = _find_top_level(text, start, end, ":")
    if colon < 0:
        raise _ParseError("keyframe", start, f'{expected}, got "{text[start:end]}"')
    second = _find_top_level(text, colon + 1, end, ":")
    if second >= 0:
        raise _ParseError("keyframe", second, 'second ":" in one keyframe (missing comma?)')
    frame = text[start:colon].strip()
    if not re.fullmatch(r"[0-9]+", frame):
        if not frame:
            why = "missing frame number"
        elif re.fullmatch(r"-\s*[0-9]+", frame):
            why = f'frame "{frame}" is negative'
        else:
            why = f'frame "{frame}" is not a whole number'
        raise _ParseError("keyframe", start, f"{why}; {expected}")
    return int(frame), start, _compile(text, colon + 1, end)


def _compile(text: str, start: int, end: int) -> _Expr:
    """Parse and check text[start:end] once; a constant expression is evaluated right away."""
    start, end = _strip(text, start, end)
    src = text[start:end]
    if not src:
        raise _ParseError("expression", start, "missing value")
    try:
        tree = ast.parse(src, mode="eval").body
    except SyntaxError as err:
        if not err.offset:  # the parser ran off the end of the text
            raise _ParseError("expression", end, f"{err.msg}: it ends too early") from None
        at = _char_index(src, err.lineno or 1, err.offset - 1, in_bytes=False)
        raise _ParseError("expression", start + min(at, len(src)), err.msg) from None
    except (RecursionError, MemoryError, ValueError) as err:
        raise _ParseError("expression", start, str(err) or "expression is too complex") from None
    uses_time = _check(tree, src, start)
    value = None
    if not uses_time:
        try:
            value = _finite(_evaluate(tree, dict(_CONSTANTS)))
        except (ArithmeticError, ValueError) as err:
            raise _ParseError("expression", start, _reason(err)) from None
    return _Expr(ast.unparse(tree), uses_time, value, tree)


def _check(node: ast.expr, src: str, start: int) -> bool:
    """Refuse anything outside the grammar; return whether the node reads t or s."""

    def refuse(detail: str) -> None:
        at = _char_index(src, node.lineno, node.col_offset, in_bytes=True)
        raise _ParseError("expression", start + at, detail)

    fragment = ast.get_source_segment(src, node)
    if isinstance(node, ast.Constant):
        if type(node.value) not in (int, float):
            refuse(f'only numbers are allowed, not "{fragment}"')
        try:
            finite = math.isfinite(float(node.value))
        except OverflowError:
            finite = False
        if not finite:
            refuse(f'number "{fragment}" is too large')
        return False
    if isinstance(node, ast.Name):
        if node.id in _FUNCTIONS:
            refuse(f'"{node.id}" is a function: write {node.id}(...)')
        if node.id not in _TIME_NAMES and node.id not in _CONSTANTS:
            refuse(f'unknown name "{node.id}" (allowed: t, s, pi, e)')
        return node.id in _TIME_NAMES
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _check(node.operand, src, start)
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            op = _REFUSED_OPERATORS.get(type(node.op), type(node.op).__name__)
            refuse(f"operator {op} is not allowed")
        return _check(node.left, src, start) | _check(node.right, src, start)
    if not isinstance(node, ast.Call):
        only = "numbers, t, s, pi, e, + - * / ** % and functions such as sin(t)"
        refuse(f'"{fragment}" is not allowed: only {only}')
    allowed = ", ".join(_FUNCTIONS)
    name = node.func.id if isinstance(node.func, ast.Name) else None
    if name not in _FUNCTIONS:
        callee = ast.get_source_segment(src, node.func)
        refuse(f'unknown function "{callee}" (allowed: {allowed})')
    _, fewest, most = _FUNCTIONS[name]
    count = len(node.args)
    if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
        refuse(f"{name}() takes plain arguments only")
    if count < fewest or (most is not None and count > most):
        wanted = f"{fewest} argument" if fewest == most else f"at least {fewest} argument"
        refuse(f"{name}() takes {wanted}{'s' if fewest > 1 else ''}, got {count}")
    return any([_check(arg, src, start) for arg in node.args])


def _evaluate(node: ast.expr, env: dict[str, float]) -> float:
    """Walk a tree that _check accepted; nothing outside its grammar is ever executed."""
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.UnaryOp):
        value = _evaluate(node.operand, env)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_evaluate(node.left, env), _evaluate(node.right, env))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        function = _FUNCTIONS[node.func.id][0]
        return float(function(*(_evaluate(arg, env) for arg in node.args)))
    raise TypeError(f"unchecked expression node {type(node).__name__}")


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"result is {value}")
    return value


def _reason(err: Exception) -> str:
    # float ** reports overflow as an errno tuple, which reads as noise to a user.
    return "result is too large" if isinstance(err, OverflowError) else str(err)


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


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


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


def _char_index(src: str, lineno: int, col: int, in_bytes: bool) -> int:
    """Index into src of a parser position (ast columns count UTF-8 bytes, SyntaxError chars)."""
    lines = src.split("\n")
    line = lines[min(lineno, len(lines)) - 1]
    if in_bytes:
        col = len(line.encode()[:col].decode("utf-8", "ignore"))
    return sum(len(previous) + 1 for previous in lines[: lineno - 1]) + col
