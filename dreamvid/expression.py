"""A small, safe evaluator for the expressions in schedules: numbers, t, s, pi, e, the audio
features (level, bass, mid, treble, onset, beat), arithmetic and a few math functions. Parsed once
with `ast`, checked against that grammar, then walked; never `eval`. Errors carry the character
position where the text went wrong.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
import math
import operator
from typing import Callable, Mapping

_TIME_NAMES = ("t", "s")
# The music features a schedule may read at each frame (dreamvid.audio.NAMES; kept here as plain names
# so that parsing settings never imports numpy).
AUDIO_NAMES = ("level", "bass", "mid", "treble", "onset", "beat")
_VARIABLES = (*_TIME_NAMES, *AUDIO_NAMES)
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
# the checks and the evaluation recurse once per node: a cap far above any real expression (a few dozen) keeps
# them off Python's recursion limit ("1.0001 ** ... ** 1.0001" 900 deep was a RecursionError after 3.6 s)
MAX_NODES = 500
# "^" is the usual slip for a power, so it gets a hint.
_REFUSED_OPERATORS = {ast.BitXor: '"^" (write ** for powers)', ast.FloorDiv: '"//"'}


class ParseError(Exception):
    """Where (index into the whole text) and why parsing stopped; parse_schedule adds the name."""

    def __init__(self, kind: str, index: int, detail: str) -> None:
        super().__init__(detail)
        self.kind, self.index, self.detail = kind, index, detail


@dataclass(frozen=True)
class Expression:
    source: str  # canonical text, from ast.unparse
    uses_time: bool  # reads a variable (t, s or an audio feature), so its value changes per frame
    value: float | None  # precomputed when the expression reads no variable
    tree: ast.expr = field(compare=False, repr=False)
    audio_names: frozenset[str] = frozenset()  # the audio features it reads

    def __call__(self, t: float, s: float, audio: Mapping[str, float] | None = None) -> float:
        """The value at frame t (s seconds); `audio`: each feature's value at that frame."""
        if self.value is not None:
            return self.value
        if self.audio_names and audio is None:
            raise ValueError(f'"{min(self.audio_names)}" needs audio, and this render has none')
        return _finite(_evaluate(self.tree, {**(audio or {}), "t": t, "s": s, **_CONSTANTS}))


def compile_expression(text: str, start: int, end: int) -> Expression:
    """Parse and check text[start:end] once; a constant expression is evaluated right away."""
    start, end = strip_span(text, start, end)
    src = text[start:end]
    if not src:
        raise ParseError("expression", start, "missing value")
    try:
        tree = ast.parse(src, mode="eval").body
    except SyntaxError as err:
        if not err.offset:  # the parser ran off the end of the text
            raise ParseError("expression", end, f"{err.msg}: it ends too early") from None
        at = _char_index(src, err.lineno or 1, err.offset - 1, in_bytes=False)
        raise ParseError("expression", start + min(at, len(src)), err.msg) from None
    except (RecursionError, MemoryError, ValueError) as err:
        raise ParseError("expression", start, str(err) or "expression is too complex") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:  # ast.walk keeps a queue: no recursion of its own
        raise ParseError("expression", start, f"expression is too long (at most {MAX_NODES} numbers, names and operations)")
    names = _check(tree, src, start)
    value = None
    if not names:
        try:
            value = _finite(_evaluate(tree, dict(_CONSTANTS)))
        except (ArithmeticError, ValueError) as err:
            raise ParseError("expression", start, failure_reason(err)) from None
    return Expression(ast.unparse(tree), bool(names), value, tree, names & frozenset(AUDIO_NAMES))


def _check(node: ast.expr, src: str, start: int) -> frozenset[str]:
    """Refuse anything outside the grammar; return the variables the node reads."""

    def refuse(detail: str) -> None:
        at = _char_index(src, node.lineno, node.col_offset, in_bytes=True)
        raise ParseError("expression", start + at, detail)

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
        return frozenset()
    if isinstance(node, ast.Name):
        if node.id in _FUNCTIONS:
            refuse(f'"{node.id}" is a function: write {node.id}(...)')
        if node.id not in _VARIABLES and node.id not in _CONSTANTS:
            refuse(f'unknown name "{node.id}" (allowed: t, s, pi, e, {", ".join(AUDIO_NAMES)})')
        return frozenset([node.id]) if node.id in _VARIABLES else frozenset()
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _check(node.operand, src, start)
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            op = _REFUSED_OPERATORS.get(type(node.op), type(node.op).__name__)
            refuse(f"operator {op} is not allowed")
        return _check(node.left, src, start) | _check(node.right, src, start)
    if not isinstance(node, ast.Call):
        only = "numbers, t, s, pi, e, audio features, + - * / ** % and functions such as sin(t)"
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
    return frozenset().union(*[_check(arg, src, start) for arg in node.args])


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


def failure_reason(err: Exception) -> str:
    # float ** reports overflow as an errno tuple, which reads as noise to a user.
    return "result is too large" if isinstance(err, OverflowError) else str(err)


def strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _char_index(src: str, lineno: int, col: int, in_bytes: bool) -> int:
    """Index into src of a parser position (ast columns count UTF-8 bytes, SyntaxError chars)."""
    lines = src.split("\n")
    line = lines[min(lineno, len(lines)) - 1]
    if in_bytes:
        col = len(line.encode()[:col].decode("utf-8", "ignore"))
    return sum(len(previous) + 1 for previous in lines[: lineno - 1]) + col
