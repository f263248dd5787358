"""Evaluate the XPath expressions of XLSForm workbooks: relevant, constraint, calculation,
choice_filter and repeat_count. Pure: no I/O, no XML; answers come from :class:`Env`.

``compile_expr`` parses once (and rejects syntax errors, unknown functions and wrong
arity); :meth:`Expr.evaluate` then runs against any number of environments.

Values follow XPath 1.0 as ODK uses it. Answers the engine hands over are read as:
``None``/``""`` the empty string; ``str`` a string; ``int``/``float``/``Decimal`` a number;
``bool`` a boolean; ``date``/``datetime`` a date; a list (select_multiple names, a repeat
group's items or one column of a repeat) a node list whose string value is the
space-joined names, so ``selected()`` works on it and ``count()``/``sum()`` see the items;
a geopoint ``dict`` the string ``"lat lon alt acc"``; any other non-empty ``dict`` (a
sealed identity number) the opaque string ``"***"``, so only emptiness tests mean anything
and nothing personal can leak into a calculation.

Comparison: a boolean on either side compares booleans; else a number (or a date) on
either side compares numbers; else ``=``/``!=`` compare strings and ``<``/``>`` compare
numbers. Text that is not a number is NaN (every comparison false, ``!=`` true), which is
why ``${n} > 3`` is false while ``n`` is unanswered. As in ODK, a date counts as days since
1970-01-01 (a date-time as fractional days in its own wall-clock time), and an ISO date
text reads as a date wherever a number is needed, so ``${tgl} <= today()`` and
``today() - date(${tgl})`` work on date answers.

Work is bounded: nesting deeper than :data:`MAX_DEPTH` is an ``ExprError``, long chains of
operators are evaluated in loops, and an invalid ``regex()`` pattern is simply false.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, DecimalException
from functools import lru_cache
from typing import Any, NamedTuple

__all__ = ["MAX_DEPTH", "Env", "Expr", "ExprError", "compile_expr"]

#: Parentheses, calls and unary minus may nest this deep; real forms stay under ten.
MAX_DEPTH = 32


class ExprError(ValueError):
    """An expression that cannot be compiled, or evaluated in the environment given."""

    def __init__(self, message: str, position: int | None = None) -> None:
        self.message = message
        self.position = position  # 0-based offset into the source, when known
        where = "" if position is None else f" (at character {position + 1})"
        super().__init__(message + where)


@dataclass(frozen=True)
class Env:
    """What an expression can see: answers, the answer being checked, choice columns, clock."""

    value: Callable[[str], Any]
    current: Any = None
    prop: Callable[[str], Any] | None = None
    today: date | None = None
    now: datetime | None = None
    position: int | None = None


@dataclass(frozen=True, slots=True)
class _Nodes:
    """A list answer: select_multiple names, repeat items, or a repeat column."""

    items: tuple[str | float | bool | date, ...]


Value = str | float | bool | date | _Nodes  # datetime is a date

_EPOCH = datetime(1970, 1, 1)
_NUMBER = re.compile(r"\s*-?(?:\d+(?:\.\d*)?|\.\d+)\s*")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})?"
)
_MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
_WEEKDAYS = "Mon Tue Wed Thu Fri Sat Sun".split()


# --- conversions ---------------------------------------------------------------------


def _from_python(raw: Any, what: str) -> Value:
    if raw is None:
        return ""
    if isinstance(raw, bool | str | date):
        return raw
    if isinstance(raw, int | float | Decimal):
        try:
            return float(raw)
        except OverflowError:
            return math.copysign(math.inf, raw)
        except ValueError:  # signalling NaN
            return math.nan
    if isinstance(raw, list | tuple):
        items = (_from_python(item, what) for item in raw)
        return _Nodes(tuple(_string(i) if isinstance(i, _Nodes) else i for i in items))
    if isinstance(raw, dict):
        if "latitude" in raw and "longitude" in raw:
            parts = (raw["latitude"], raw["longitude"], raw.get("altitude"), raw.get("accuracy"))
            return " ".join(_string(_from_python(p or 0, what)) for p in parts)
        return "***" if raw else ""
    raise ExprError(f"{what} holds a {type(raw).__name__}, which an expression cannot use")


def _format_number(n: float) -> str:
    if math.isnan(n):
        return "NaN"
    if math.isinf(n):
        return "Infinity" if n > 0 else "-Infinity"
    if n.is_integer():
        return str(int(n))
    text = repr(n)
    return format(Decimal(text), "f") if "e" in text else text  # XPath has no exponents


def _string(v: Value) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return _format_number(v)
    if isinstance(v, datetime):
        return v.isoformat(timespec="milliseconds")
    if isinstance(v, date):
        return v.isoformat()
    return " ".join(_string(item) for item in v.items)


def _days(d: date) -> float:
    if isinstance(d, datetime):  # wall-clock time, so a local midnight is a whole day
        return (d.replace(tzinfo=None) - _EPOCH) / timedelta(days=1)
    return float((d - _EPOCH.date()).days)


def _parse_date(text: str) -> date | None:
    text = text.strip()
    try:
        if _ISO_DATE.fullmatch(text):
            return date.fromisoformat(text)
        if _ISO_DATETIME.fullmatch(text):
            return datetime.fromisoformat(text)
    except ValueError:  # 2026-02-31
        return None
    return None


def _number(v: Value) -> float:
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, float):
        return v
    if isinstance(v, date):
        return _days(v)
    text = _string(v)
    if _NUMBER.fullmatch(text):
        return float(text)
    parsed = _parse_date(text)
    return math.nan if parsed is None else _days(parsed)


def _boolean(v: Value) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, float):
        return not (v == 0 or math.isnan(v))
    if isinstance(v, str):
        return v != ""
    if isinstance(v, _Nodes):
        return bool(v.items)
    return True


def _as_date(v: Value) -> date | None:
    if isinstance(v, date):
        return v
    if isinstance(v, float) and math.isfinite(v):
        try:
            return _EPOCH + timedelta(days=v)
        except OverflowError:
            return None
    if isinstance(v, str | _Nodes):
        return _parse_date(_string(v))
    return None


def _to_python(v: Value) -> Any:
    if isinstance(v, float) and v.is_integer() and abs(v) <= 2**53:
        return int(v)
    if isinstance(v, _Nodes):
        return [_to_python(item) for item in v.items]
    return v


# --- operators -----------------------------------------------------------------------


def _equal(a: Value, b: Value) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return _boolean(a) == _boolean(b)
    if isinstance(a, float | date) or isinstance(b, float | date):
        return _number(a) == _number(b)
    return _string(a) == _string(b)


def _divide(a: Value, b: Value) -> float:
    x, y = _number(a), _number(b)
    if y != 0:
        return x / y
    if x == 0 or math.isnan(x):  # IEEE division, as XPath asks: 0 div 0 is NaN
        return math.nan
    return math.copysign(math.inf, x) * math.copysign(1.0, y)  # 1 div -0 is -Infinity


def _modulo(a: Value, b: Value) -> float:
    try:
        return math.fmod(_number(a), _number(b))  # truncating, like XPath's mod
    except ValueError:  # x mod 0, Infinity mod x
        return math.nan


_Op = Callable[[Value, Value], Value]
_OPS: dict[str, _Op] = {
    "=": _equal,
    "!=": lambda a, b: not _equal(a, b),
    "<": lambda a, b: _number(a) < _number(b),
    "<=": lambda a, b: _number(a) <= _number(b),
    ">": lambda a, b: _number(a) > _number(b),
    ">=": lambda a, b: _number(a) >= _number(b),
    "+": lambda a, b: _number(a) + _number(b),
    "-": lambda a, b: _number(a) - _number(b),
    "*": lambda a, b: _number(a) * _number(b),
    "div": _divide,
    "mod": _modulo,
}
_PRECEDENCE = {"or": 1, "and": 2, "=": 3, "!=": 3, "<": 4, "<=": 4, ">": 4, ">=": 4}
_PRECEDENCE |= {"+": 5, "-": 5, "*": 6, "div": 6, "mod": 6}
_WORD_OPERATORS = frozenset({"and", "or", "div", "mod"})


# --- functions -----------------------------------------------------------------------

_Eval = Callable[[Env], Value]  # a compiled expression node


class _Fn(NamedTuple):
    impl: Callable[..., Value]
    min_args: int
    max_args: int | None  # None: any number
    kind: str  # "value": impl(*values); "env": impl(env, *values); "lazy": impl(env, *nodes)


def _fn(impl: Callable[..., Value], least: int, most: int | None = -1, kind: str = "value") -> _Fn:
    return _Fn(impl, least, least if most == -1 else most, kind)  # -1: exactly ``least``


def _finite(f: Callable[[float], float]) -> Callable[[Value], float]:
    def apply(v: Value) -> float:
        n = _number(v)
        return f(n) if math.isfinite(n) else n  # NaN and Infinity pass through

    return apply


def _selected_at(items: Value, index: Value) -> Value:
    names, i = _string(items).split(), _number(index)  # 0-based, as in ODK
    return names[int(i)] if i.is_integer() and 0 <= i < len(names) else ""


def _round(value: Value, digits: Value = 0.0) -> Value:
    n, d = _number(value), _number(digits)
    if not (math.isfinite(n) and math.isfinite(d)):
        return n if math.isfinite(d) else math.nan
    step = Decimal(1).scaleb(-int(max(-400.0, min(d, 400.0))))  # beyond a double's range
    try:  # half away from zero on the decimal text: round(2.675, 2) is 2.68 as authors expect
        return float(Decimal(repr(n)).quantize(step, ROUND_HALF_UP))
    except DecimalException:  # more digits than Decimal keeps: n is already that precise
        return n


def _numbers(args: Sequence[Value]) -> list[float]:
    out: list[float] = []
    for arg in args:
        out.extend(map(_number, arg.items) if isinstance(arg, _Nodes) else [_number(arg)])
    return out


def _extreme(pick: Callable[[list[float]], float]) -> Callable[..., Value]:
    def apply(*args: Value) -> Value:
        nums = _numbers(args)
        return math.nan if not nums or any(map(math.isnan, nums)) else pick(nums)

    return apply


def _count(values: Value) -> Value:
    if isinstance(values, _Nodes):
        return float(len(values.items))
    return 0.0 if values == "" else 1.0  # an unanswered group counts no items


def _substr(s: Value, start: Value, end: Value | None = None) -> Value:
    text = _string(s)  # ODK's substr: 0-based start, exclusive end
    lo, hi = _number(start), len(text) if end is None else _number(end)
    if math.isnan(lo) or math.isnan(hi):
        return ""
    lo, hi = max(lo, 0), min(hi, len(text))
    return text[int(lo) : int(hi)] if lo < hi else ""


def _before(s: Value, t: Value) -> Value:
    text = _string(s)
    i = text.find(_string(t))
    return text[:i] if i >= 0 else ""


def _after(s: Value, t: Value) -> Value:
    text, sep = _string(s), _string(t)
    i = text.find(sep)  # an empty separator is found at 0: the whole text, as XPath says
    return text[i + len(sep) :] if i >= 0 else ""


def _translate(s: Value, source: Value, target: Value) -> Value:
    table: dict[int, str | None] = {}
    replacements = _string(target)
    for i, ch in enumerate(_string(source)):
        table.setdefault(ord(ch), replacements[i] if i < len(replacements) else None)
    return _string(s).translate(table)


@lru_cache(maxsize=256)
def _pattern(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except (re.error, RecursionError, OverflowError):
        return None


def _regex(s: Value, pattern: Value) -> Value:
    compiled = _pattern(_string(pattern))  # ODK searches: anchor with ^…$ to match whole
    return compiled is not None and compiled.search(_string(s)) is not None


def _today(env: Env) -> Value:
    if env.today is not None:
        return env.today
    if env.now is not None:
        return env.now.date()
    raise ExprError("today() needs the date, and none was given")


def _now(env: Env) -> Value:
    if env.now is None:
        raise ExprError("now() needs the time, and none was given")
    return env.now


def _position(env: Env) -> Value:
    if env.position is None:
        raise ExprError("position(..) only works inside a repeat")
    return float(env.position)


def _date(value: Value, keep_time: bool = False) -> Value:
    if value == "":
        return ""
    d = _as_date(value)
    if d is None:
        return math.nan  # so that every comparison with it is false
    return d.date() if isinstance(d, datetime) and not keep_time else d


def _decimal_date_time(value: Value) -> Value:
    d = _as_date(value)
    return math.nan if d is None else _days(d)


def _format_date(value: Value, fmt: Value) -> Value:
    d = _as_date(value)
    if d is None:
        return ""
    t = d if isinstance(d, datetime) else datetime(d.year, d.month, d.day)
    codes = {
        "Y": f"{t.year:04d}", "y": f"{t.year % 100:02d}", "m": f"{t.month:02d}",
        "n": str(t.month), "d": f"{t.day:02d}", "e": str(t.day), "b": _MONTHS[t.month - 1],
        "a": _WEEKDAYS[t.weekday()], "H": f"{t.hour:02d}", "h": str(t.hour),
        "M": f"{t.minute:02d}", "S": f"{t.second:02d}", "3": f"{t.microsecond // 1000:03d}",
        "%": "%",
    }  # fmt: skip
    return re.sub(r"%(.)", lambda m: codes.get(m.group(1), m.group(0)), _string(fmt))


_FUNCTIONS: dict[str, _Fn] = {
    "true": _fn(lambda: True, 0),
    "false": _fn(lambda: False, 0),
    "not": _fn(lambda v: not _boolean(v), 1),
    "boolean": _fn(_boolean, 1),
    "boolean-from-string": _fn(lambda v: _string(v).strip() in ("true", "1"), 1),
    "string": _fn(_string, 1),
    "number": _fn(_number, 1),
    "string-length": _fn(lambda v: float(len(_string(v))), 1),
    "int": _fn(_finite(lambda n: float(math.trunc(n))), 1),
    "floor": _fn(_finite(lambda n: float(math.floor(n))), 1),
    "ceiling": _fn(_finite(lambda n: float(math.ceil(n))), 1),
    "abs": _fn(lambda v: abs(_number(v)), 1),
    "round": _fn(_round, 1, 2),
    "min": _fn(_extreme(min), 1, None),
    "max": _fn(_extreme(max), 1, None),
    "sum": _fn(lambda v: 0.0 if v == "" else float(sum(_numbers([v]))), 1),
    "count": _fn(_count, 1),
    "once": _fn(lambda v: v, 1),
    "concat": _fn(lambda *args: "".join(map(_string, args)), 0, None),
    "contains": _fn(lambda s, t: _string(t) in _string(s), 2),
    "starts-with": _fn(lambda s, t: _string(s).startswith(_string(t)), 2),
    "ends-with": _fn(lambda s, t: _string(s).endswith(_string(t)), 2),
    "substr": _fn(_substr, 2, 3),
    "substring-before": _fn(_before, 2),
    "substring-after": _fn(_after, 2),
    "translate": _fn(_translate, 3),
    "normalize-space": _fn(lambda v: " ".join(re.split(r"[ \t\r\n]+", _string(v))).strip(), 1),
    "regex": _fn(_regex, 2),
    "selected": _fn(lambda items, name: _string(name).strip() in _string(items).split(), 2),
    "count-selected": _fn(lambda items: float(len(_string(items).split())), 1),
    "selected-at": _fn(_selected_at, 2),
    # lazy: only the branch taken is evaluated
    "coalesce": _fn(lambda env, a, b: v if _string(v := a(env)) else b(env), 2, kind="lazy"),
    "if": _fn(lambda env, c, a, b: a(env) if _boolean(c(env)) else b(env), 3, kind="lazy"),
    "today": _fn(_today, 0, kind="env"),
    "now": _fn(_now, 0, kind="env"),
    "position": _fn(_position, 0, kind="env"),
    "date": _fn(_date, 1),
    "date-time": _fn(lambda v: _date(v, keep_time=True), 1),
    "decimal-date-time": _fn(_decimal_date_time, 1),
    "format-date": _fn(_format_date, 2),
    "format-date-time": _fn(_format_date, 2),
}
# Functions of ODK that read outside the form or give a new value each time: named in
# the error rather than reported as unknown.
_UNSUPPORTED = frozenset(
    {"pulldata", "instance", "current", "indexed-repeat", "jr:choice-name", "jr:itext",
     "property", "version", "random", "uuid", "digest", "base64-decode", "extract-signed"}
)  # fmt: skip
# XPath's context-node default: string-length() means string-length(.).
_DEFAULTS_TO_CURRENT = frozenset({"string", "string-length", "number", "normalize-space"})


# --- compiled nodes ------------------------------------------------------------------


def _literal(value: Value) -> _Eval:
    return lambda env: value


def _ref(name: str) -> _Eval:
    what = f"${{{name}}}"
    return lambda env: _from_python(env.value(name), what)


def _current(env: Env) -> Value:
    return _from_python(env.current, "'.'")


def _prop(name: str, pos: int) -> _Eval:
    def run(env: Env) -> Value:
        if env.prop is None:
            raise ExprError(f"bare name {name!r} only works in a choice_filter", pos)
        return _from_python(env.prop(name), repr(name))

    return run


def _negate(operand: _Eval, odd: bool) -> _Eval:
    return (lambda env: -_number(operand(env))) if odd else (lambda env: _number(operand(env)))


def _logic(is_or: bool, operands: Sequence[_Eval]) -> _Eval:
    """A run of ``or`` (or of ``and``), short-circuited in one loop."""

    def run(env: Env) -> Value:
        for operand in operands:
            if _boolean(operand(env)) == is_or:
                return is_or
        return not is_or

    return run


def _chain(ops: Sequence[_Op], operands: Sequence[_Eval]) -> _Eval:
    """A left-associative run of operators of one precedence, evaluated in a loop."""
    first, rest = operands[0], tuple(zip(ops, operands[1:], strict=True))

    def run(env: Env) -> Value:
        result = first(env)
        for op, operand in rest:
            result = op(result, operand(env))
        return result

    return run


def _call(fn: _Fn, args: Sequence[_Eval], pos: int) -> _Eval:
    def run(env: Env) -> Value:
        try:
            if fn.kind == "lazy":
                return fn.impl(env, *args)
            values = [arg(env) for arg in args]
            return fn.impl(env, *values) if fn.kind == "env" else fn.impl(*values)
        except ExprError as error:
            if error.position is not None:
                raise
            raise ExprError(error.message, pos) from None

    return run


# --- parser --------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<number>\d+(?:\.\d*)?|\.\d+)
      | (?P<string>'[^']*'|"[^"]*")
      | (?P<ref>\$\{[^}]*\})
      | (?P<op>!=|<=|>=|\.\.|[=<>+\-*(),.])
      | (?P<name>[^\W\d][\w.\-]*(?::[^\W\d][\w.\-]*)?)""",
    re.VERBOSE,
)
_FIELD_NAME = re.compile(r"[^\W\d][\w.\-]*")


class _Token(NamedTuple):
    kind: str  # number, string, ref, op, name, end, or bad (text is the error)
    text: str
    pos: int

    def describe(self) -> str:
        if self.kind == "end":
            return "the end of the expression"
        text = self.text if len(self.text) <= 24 else self.text[:21] + "..."
        return f"{text!r}"


def _tokenize(source: str) -> list[_Token]:
    """Split ``source``; what cannot be read becomes a final "bad" token carrying the
    error, so that errors are reported in source order (``instance(...)/x`` names
    instance, not the slash)."""
    tokens: list[_Token] = []
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None:
            ch, problem = source[pos], f"unexpected character {source[pos]!r}"
            if ch in "'\"":
                problem = f"unterminated string: no closing {ch}"
            elif source.startswith("${", pos):
                problem = "unterminated ${: no closing }"
            elif ch in "/[]@|":
                problem = f"{ch!r}: XPath paths are not supported; write ${{name}}"
            tokens.append(_Token("bad", problem, pos))
            return tokens
        if match.lastgroup != "space":
            tokens.append(_Token(match.lastgroup or "", match.group(), pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(source)))
    return tokens


class _Parser:
    """Precedence climbing over the token list; recursion only where the source nests."""

    def __init__(self, source: str) -> None:
        self.tokens = _tokenize(source)
        self.i = 0
        self.refs: set[str] = set()
        self.props: set[str] = set()
        self.functions: set[str] = set()
        self.uses_current = False

    def peek(self) -> _Token:
        token = self.tokens[self.i]
        if token.kind == "bad":
            raise ExprError(token.text, token.pos)
        return token

    def peek_is(self, text: str) -> bool:
        token = self.peek()
        return token.kind == "op" and token.text == text

    def advance(self) -> _Token:
        token = self.peek()
        self.i += 1
        return token

    def expect(self, text: str, why: str) -> None:
        if not self.peek_is(text):
            token = self.peek()
            raise ExprError(f"expected {text!r} {why}, found {token.describe()}", token.pos)
        self.i += 1

    def infix(self) -> str | None:
        token = self.peek()
        if (token.kind == "op" and token.text in _OPS) or (
            token.kind == "name" and token.text in _WORD_OPERATORS
        ):
            return token.text
        return None

    def parse(self) -> _Eval:
        if self.peek().kind == "end":
            raise ExprError("the expression is empty", 0)
        node = self.binary(1, 0)
        token = self.peek()
        if token.kind != "end":
            hint = ""
            if token.text.lower() in _WORD_OPERATORS and token.text not in _WORD_OPERATORS:
                hint = f" (operators are lower case: {token.text.lower()!r})"
            raise ExprError(f"unexpected {token.describe()}{hint}", token.pos)
        return node

    def binary(self, min_precedence: int, depth: int) -> _Eval:
        left = self.unary(depth)
        while (op := self.infix()) is not None and _PRECEDENCE[op] >= min_precedence:
            level = _PRECEDENCE[op]
            ops: list[str] = []
            operands = [left]
            while (op := self.infix()) is not None and _PRECEDENCE[op] == level:
                self.i += 1
                ops.append(op)
                operands.append(self.binary(level + 1, depth))
            if level <= 2:
                left = _logic(level == 1, operands)
            else:
                left = _chain([_OPS[o] for o in ops], operands)
        return left

    def unary(self, depth: int) -> _Eval:
        minus = 0
        while self.peek_is("-"):
            self.i += 1
            minus += 1
        operand = self.primary(depth + (minus > 0))
        return _negate(operand, minus % 2 == 1) if minus else operand

    def primary(self, depth: int) -> _Eval:
        token = self.advance()
        if depth > MAX_DEPTH:
            raise ExprError(f"the expression nests deeper than {MAX_DEPTH} levels", token.pos)
        if token.kind == "number":
            return _literal(float(token.text))
        if token.kind == "string":
            return _literal(token.text[1:-1])
        if token.kind == "ref":
            name = token.text[2:-1].strip()
            if not _FIELD_NAME.fullmatch(name):
                raise ExprError(f"{token.describe()} is not a valid question name", token.pos)
            self.refs.add(name)
            return _ref(name)
        if token.kind == "op" and token.text == "(":
            node = self.binary(1, depth + 1)
            self.expect(")", f"to close the '(' at character {token.pos + 1}")
            return node
        if token.kind == "op" and token.text == ".":
            self.uses_current = True
            return _current
        if token.kind == "name" and self.peek_is("("):
            return self.call(token, depth + 1)
        if token.kind == "name" and ":" not in token.text:
            self.props.add(token.text)
            return _prop(token.text, token.pos)
        raise ExprError(f"expected a value, found {token.describe()}", token.pos)

    def call(self, token: _Token, depth: int) -> _Eval:
        name = token.text
        if name in _UNSUPPORTED:
            raise ExprError(f"{name}() is not supported: chat flows only read the form", token.pos)
        fn = _FUNCTIONS.get(name)
        if fn is None:
            close = difflib.get_close_matches(name, _FUNCTIONS, n=1)
            hint = f"; did you mean {close[0]}()?" if close else ""
            raise ExprError(f"unknown function {name}(){hint}", token.pos)
        self.i += 1  # the "("
        args: list[_Eval] = []
        if name == "position":
            if self.peek_is(".."):
                self.i += 1
        elif not self.peek_is(")"):
            args.append(self.binary(1, depth))
            while self.peek_is(","):
                self.i += 1
                args.append(self.binary(1, depth))
        self.expect(")", f"to close {name}(")
        if not args and name in _DEFAULTS_TO_CURRENT:
            args.append(_current)
            self.uses_current = True
        if len(args) < fn.min_args or (fn.max_args is not None and len(args) > fn.max_args):
            if fn.max_args is None:
                wanted = f"at least {fn.min_args}"
            elif fn.max_args == fn.min_args:
                wanted = str(fn.min_args)
            else:
                wanted = f"{fn.min_args} or {fn.max_args}"
            noun = "argument" if wanted.split()[-1] == "1" else "arguments"
            raise ExprError(
                f"{name}() takes {wanted} {noun}, got {len(args)}",
                token.pos,
            )
        self.functions.add(name)
        return _call(fn, args, token.pos)


# --- public --------------------------------------------------------------------------


class Expr:
    """A compiled expression; immutable, so one instance serves every session."""

    __slots__ = ("_current", "_functions", "_props", "_refs", "_root", "source")

    def __init__(self, source: str) -> None:
        parser = _Parser(source)
        self.source = source
        self._root = parser.parse()
        self._refs = frozenset(parser.refs)
        self._props = frozenset(parser.props)
        self._functions = frozenset(parser.functions)
        self._current = parser.uses_current

    def __repr__(self) -> str:
        return f"Expr({self.source!r})"

    def evaluate(self, env: Env) -> Any:
        """Return the value: str, int or float, bool, date, datetime, or a list.

        Raises ExprError when ``env`` lacks what the expression needs (the date for
        today(), a repeat position, choice columns) or holds an answer of an unknown kind.
        """
        return _to_python(self._root(env))

    def holds(self, env: Env) -> bool:
        """Return the expression's truth, as XPath's boolean() reads it."""
        return _boolean(self._root(env))

    def refs(self) -> frozenset[str]:
        """Return every ${name} the expression mentions."""
        return self._refs

    def props(self) -> frozenset[str]:
        """Return the bare names (choice columns, in a choice_filter) it mentions."""
        return self._props

    def uses_current(self) -> bool:
        """Return whether it reads '.', the answer being checked."""
        return self._current

    def functions(self) -> frozenset[str]:
        """Return the names of the functions it calls."""
        return self._functions


@lru_cache(maxsize=4096)
def compile_expr(source: str) -> Expr:
    """Parse ``source``; raise ExprError naming the position of what is wrong."""
    return Expr(source)
