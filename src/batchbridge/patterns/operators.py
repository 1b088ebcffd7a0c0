"""The conditions a pattern field can hold, each testing one event leaf.

Semantics follow the EventBridge user guide and aws/event-ruler (the matcher EventBridge is built
on); AWS-checked behaviour is in the project's corpus:

* exact values use the type rules of :mod:`values`; a pattern string that is an IP address also
  matches other spellings of the same address (the ruler compares IP literals as addresses);
* ``prefix``/``suffix``/``equals-ignore-case``/``wildcard``/``cidr`` only ever match strings;
* ``numeric`` only matches JSON numbers;
* ``anything-but`` matches any leaf not excluded: ``null`` and values of another type match, a
  missing field never does;
* ``exists: true`` matches any leaf (including ``null``); ``exists: false`` is handled by the
  matchers as "the path has no leaf at all".

Every condition has a ``key``: equal keys mean equal conditions, which lets the multi-rule matcher
share work between rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from batchbridge.patterns.values import is_number, parse_ip, render_value, value_key


@dataclass(frozen=True, slots=True)
class Condition:
    """One alternative of a pattern field."""

    def test(self, value: Any) -> bool:
        """Whether the event leaf ``value`` satisfies the condition."""
        raise NotImplementedError

    @property
    def key(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def describe(self) -> str:
        """The condition as it is written in a pattern."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Exact(Condition):
    value: Any
    ip: tuple[int, int] | None = None

    def test(self, value: Any) -> bool:
        mine = self.value
        if isinstance(mine, str):
            if type(value) is not str:
                return False
            if value == mine:
                return True
            return self.ip is not None and parse_ip(value) == self.ip
        if mine is None or mine is True or mine is False:
            return value is mine
        return is_number(value) and value == mine

    @property
    def key(self) -> tuple[Any, ...]:
        return ("exact", value_key(self.value))

    def describe(self) -> str:
        return render_value(self.value)


@dataclass(frozen=True, slots=True)
class _Affix(Condition):
    """A string at one end of the leaf (``prefix`` or ``suffix``), optionally ignoring case."""

    text: str
    ignore_case: bool = False

    #: The operator's name in a pattern, which also names its key.
    OPERATOR: ClassVar[str] = ""

    @property
    def key(self) -> tuple[Any, ...]:
        if self.ignore_case:
            return (f"{self.OPERATOR}~", self.text.lower())
        return (self.OPERATOR, self.text)

    def describe(self) -> str:
        inner = (
            f'{{"equals-ignore-case": {render_value(self.text)}}}'
            if self.ignore_case
            else render_value(self.text)
        )
        return f'{{"{self.OPERATOR}": {inner}}}'


@dataclass(frozen=True, slots=True)
class Prefix(_Affix):
    OPERATOR: ClassVar[str] = "prefix"

    def test(self, value: Any) -> bool:
        if type(value) is not str:
            return False
        if self.ignore_case:
            return value.lower().startswith(self.text.lower())
        return value.startswith(self.text)


@dataclass(frozen=True, slots=True)
class Suffix(_Affix):
    OPERATOR: ClassVar[str] = "suffix"

    def test(self, value: Any) -> bool:
        if type(value) is not str:
            return False
        if self.ignore_case:
            return value.lower().endswith(self.text.lower())
        return value.endswith(self.text)


@dataclass(frozen=True, slots=True)
class EqualsIgnoreCase(Condition):
    text: str

    def test(self, value: Any) -> bool:
        return type(value) is str and value.lower() == self.text.lower()

    @property
    def key(self) -> tuple[Any, ...]:
        return ("ieq", self.text.lower())

    def describe(self) -> str:
        return f'{{"equals-ignore-case": {render_value(self.text)}}}'


def compile_wildcard(text: str) -> re.Pattern[str]:
    """A regex for a validated wildcard: ``*`` is any run of characters, ``\\*`` and ``\\\\`` literal."""
    parts: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "*":
            parts.append(".*")
        elif ch == "\\" and i + 1 < len(text):
            parts.append(re.escape(text[i + 1]))
            i += 1
        else:
            parts.append(re.escape(ch))
        i += 1
    return re.compile("".join(parts), re.DOTALL)


@dataclass(frozen=True, slots=True)
class Wildcard(Condition):
    text: str
    regex: re.Pattern[str] = field(compare=False, hash=False, repr=False)

    def test(self, value: Any) -> bool:
        return type(value) is str and self.regex.fullmatch(value) is not None

    @property
    def key(self) -> tuple[Any, ...]:
        return ("wildcard", self.text)

    def describe(self) -> str:
        return f'{{"wildcard": {render_value(self.text)}}}'


@dataclass(frozen=True, slots=True)
class Numeric(Condition):
    low: float | None
    low_open: bool
    high: float | None
    high_open: bool
    text: str = field(compare=False, hash=False, default="")

    def test(self, value: Any) -> bool:
        if not is_number(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (self.high is not None and (value >= self.high if self.high_open else value > self.high))

    @property
    def key(self) -> tuple[Any, ...]:
        return ("numeric", self.low, self.low_open, self.high, self.high_open)

    def describe(self) -> str:
        return f'{{"numeric": {self.text}}}'


@dataclass(frozen=True, slots=True)
class Cidr(Condition):
    text: str
    version: int
    low: int
    high: int

    def test(self, value: Any) -> bool:
        if type(value) is not str:
            return False
        ip = parse_ip(value)
        return ip is not None and ip[0] == self.version and self.low <= ip[1] <= self.high

    @property
    def key(self) -> tuple[Any, ...]:
        return ("cidr", self.version, self.low, self.high)

    def describe(self) -> str:
        return f'{{"cidr": {render_value(self.text)}}}'


@dataclass(frozen=True, slots=True)
class Exists(Condition):
    present: bool

    def test(self, value: Any) -> bool:
        return self.present

    @property
    def key(self) -> tuple[Any, ...]:
        return ("exists", self.present)

    def describe(self) -> str:
        return f'{{"exists": {"true" if self.present else "false"}}}'


@dataclass(frozen=True, slots=True)
class AnythingBut(Condition):
    """``anything-but`` a set of strings or numbers (``mode`` "value"), or of prefixes, suffixes,
    case-insensitive strings or wildcards."""

    mode: str
    values: frozenset[Any]
    text: str = field(compare=False, hash=False, default="")
    regexes: tuple[re.Pattern[str], ...] = field(compare=False, hash=False, default=())

    def test(self, value: Any) -> bool:
        mode = self.mode
        if mode == "value":
            if value is None or value is True or value is False:
                return True
            return value not in self.values
        if type(value) is not str:
            return True
        if mode == "prefix":
            return not any(value.startswith(v) for v in self.values)
        if mode == "suffix":
            return not any(value.endswith(v) for v in self.values)
        if mode == "equals-ignore-case":
            return value.lower() not in self.values
        return not any(r.fullmatch(value) is not None for r in self.regexes)

    @property
    def key(self) -> tuple[Any, ...]:
        return ("anything-but", self.mode, self.values)

    def describe(self) -> str:
        return f'{{"anything-but": {self.text}}}'


def wildcard_condition(text: str) -> Wildcard:
    return Wildcard(text, compile_wildcard(text))


def anything_but(mode: str, values: list[Any], text: str) -> AnythingBut:
    """Build an ``anything-but``; case-insensitive values are stored lower-cased."""
    if mode == "equals-ignore-case":
        return AnythingBut(mode, frozenset(v.lower() for v in values), text)
    if mode == "wildcard":
        return AnythingBut(mode, frozenset(values), text, tuple(compile_wildcard(v) for v in values))
    return AnythingBut(mode, frozenset(values), text)
