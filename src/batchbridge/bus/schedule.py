"""EventBridge schedule expressions: ``rate(...)`` and six-field ``cron(...)``, evaluated in UTC.

AWS rules emulated (EventBridge user guide, "Creating a rule that runs on a schedule"):

* ``rate(value unit)``: ``value`` a positive integer, ``unit`` one of minute(s), hour(s), day(s);
  a value of 1 takes the singular unit and any other value the plural (``rate(1 minutes)`` and
  ``rate(5 minute)`` are both refused by AWS).
* ``cron(Minutes Hours Day-of-month Month Day-of-week Year)``: minutes 0-59, hours 0-23,
  day-of-month 1-31, month 1-12 or JAN-DEC, day-of-week 1-7 or SUN-SAT (1 is Sunday), year
  1970-2199.  Wildcards ``,`` ``-`` ``*`` ``/`` everywhere, ``?`` in day-of-month or day-of-week,
  ``L`` and ``W`` in day-of-month, ``L`` and ``#`` in day-of-week.  Exactly one of day-of-month and
  day-of-week must be ``?``.
* Every schedule of an EventBridge rule runs in UTC.
* A bad expression answers ``ValidationException: Parameter ScheduleExpression is not valid.``

Choices where AWS documents nothing: a rate schedule fires one period after the instant it is
measured from (the rule's creation or its previous firing); ranges whose start exceeds their end
wrap around (``FRI-MON``, ``NOV-FEB``) as in Quartz, on which the syntax is modelled.
"""

from __future__ import annotations

import calendar
import dataclasses
import re
from datetime import UTC, date, datetime, timedelta

from batchbridge.errors import ValidationException

INVALID_MESSAGE = "Parameter ScheduleExpression is not valid."
MAX_LENGTH = 256
MIN_YEAR = 1970
MAX_YEAR = 2199

_RATE_RE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON_RE = re.compile(r"^cron\(([^()]*)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
_WEEKDAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}


class ScheduleError(ValidationException):
    """A schedule expression AWS would refuse."""

    def __init__(self) -> None:
        super().__init__(INVALID_MESSAGE)


@dataclasses.dataclass(frozen=True)
class RateSchedule:
    """``rate(n unit)``: fires every ``seconds``."""

    seconds: int

    def next_fire(self, after: datetime) -> datetime:
        return _utc(after) + timedelta(seconds=self.seconds)


@dataclasses.dataclass(frozen=True)
class DayOfMonth:
    """The day-of-month field: plain days, ``L`` (last day), ``nW`` (nearest weekday), ``LW``."""

    days: frozenset[int] = frozenset()
    last: bool = False
    last_weekday: bool = False
    nearest_weekday: frozenset[int] = frozenset()

    def days_in(self, year: int, month: int) -> set[int]:
        length = calendar.monthrange(year, month)[1]
        found = {d for d in self.days if d <= length}
        if self.last:
            found.add(length)
        if self.last_weekday:
            found.add(_nearest_weekday(year, month, length, length))
        for day in self.nearest_weekday:
            if day <= length:
                found.add(_nearest_weekday(year, month, day, length))
        return found


@dataclasses.dataclass(frozen=True)
class DayOfWeek:
    """The day-of-week field (1 = Sunday): plain days, ``nL`` (last n of the month), ``n#k``."""

    days: frozenset[int] = frozenset()
    last_of: frozenset[int] = frozenset()
    nth: frozenset[tuple[int, int]] = frozenset()

    def days_in(self, year: int, month: int) -> set[int]:
        length = calendar.monthrange(year, month)[1]
        found: set[int] = set()
        for day in range(1, length + 1):
            weekday = _aws_weekday(date(year, month, day))
            if weekday in self.days:
                found.add(day)
            if weekday in self.last_of and day + 7 > length:
                found.add(day)
            if (weekday, (day - 1) // 7 + 1) in self.nth:
                found.add(day)
        return found


@dataclasses.dataclass(frozen=True)
class CronSchedule:
    """A parsed ``cron(...)`` expression; exactly one of ``dom``/``dow`` is set."""

    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    years: frozenset[int]
    dom: DayOfMonth | None
    dow: DayOfWeek | None

    def days_in(self, year: int, month: int) -> list[int]:
        spec = self.dom if self.dom is not None else self.dow
        assert spec is not None
        return sorted(spec.days_in(year, month))

    def next_fire(self, after: datetime) -> datetime:
        """The first instant strictly after ``after`` (whole minutes, UTC) that the rule fires."""
        start = _utc(after).replace(second=0, microsecond=0) + timedelta(minutes=1)
        for year in sorted(y for y in self.years if y >= start.year):
            for month in sorted(self.months):
                if (year, month) < (start.year, start.month):
                    continue
                for day in self.days_in(year, month):
                    if (year, month, day) < (start.year, start.month, start.day):
                        continue
                    same_day = (year, month, day) == (start.year, start.month, start.day)
                    for hour in sorted(self.hours):
                        if same_day and hour < start.hour:
                            continue
                        for minute in sorted(self.minutes):
                            if same_day and hour == start.hour and minute < start.minute:
                                continue
                            return datetime(year, month, day, hour, minute, tzinfo=UTC)
        raise ScheduleError()


Schedule = RateSchedule | CronSchedule


def parse_schedule(expression: str) -> Schedule:
    """Parse ``expression`` or raise :class:`ScheduleError` (AWS's ValidationException)."""
    if not isinstance(expression, str) or len(expression) > MAX_LENGTH:
        raise ScheduleError()
    rate = _RATE_RE.match(expression)
    if rate is not None:
        return _parse_rate(int(rate.group(1)), rate.group(2))
    cron = _CRON_RE.match(expression)
    if cron is not None:
        return _parse_cron(cron.group(1))
    raise ScheduleError()


def validate_schedule(expression: str) -> None:
    """Raise :class:`ScheduleError` unless ``expression`` is one AWS accepts."""
    schedule = parse_schedule(expression)
    if isinstance(schedule, CronSchedule):
        schedule.next_fire(datetime(MIN_YEAR, 1, 1, tzinfo=UTC))


def next_fire(expression: str, after: datetime) -> datetime:
    """The next firing of ``expression`` strictly after ``after`` (UTC)."""
    return parse_schedule(expression).next_fire(after)


def _parse_rate(value: int, unit: str) -> RateSchedule:
    if value <= 0:
        raise ScheduleError()
    singular = not unit.endswith("s")
    if (value == 1) != singular:
        raise ScheduleError()
    return RateSchedule(value * _UNIT_SECONDS[unit.rstrip("s")])


def _parse_cron(body: str) -> CronSchedule:
    fields = body.split(" ")
    if len(fields) != 6 or any(not f for f in fields):
        raise ScheduleError()
    minutes, hours, dom_text, months, dow_text, years = fields
    if (dom_text == "?") == (dow_text == "?"):
        raise ScheduleError()
    return CronSchedule(
        minutes=_parse_field(minutes, 0, 59, {}),
        hours=_parse_field(hours, 0, 23, {}),
        months=_parse_field(months, 1, 12, _MONTHS),
        years=_parse_field(years, MIN_YEAR, MAX_YEAR, {}),
        dom=None if dom_text == "?" else _parse_dom(dom_text),
        dow=None if dow_text == "?" else _parse_dow(dow_text),
    )


def _parse_dom(text: str) -> DayOfMonth:
    plain: list[str] = []
    last = last_weekday = False
    nearest: set[int] = set()
    for item in text.split(","):
        if item == "L":
            last = True
        elif item == "LW":
            last_weekday = True
        elif item.endswith("W"):
            nearest.add(_number(item[:-1], 1, 31, {}))
        else:
            plain.append(item)
    days = _parse_field(",".join(plain), 1, 31, {}) if plain else frozenset()
    return DayOfMonth(days, last, last_weekday, frozenset(nearest))


def _parse_dow(text: str) -> DayOfWeek:
    plain: list[str] = []
    last_of: set[int] = set()
    nth: set[tuple[int, int]] = set()
    for item in text.split(","):
        if item == "L":
            last_of.add(7)
        elif item.endswith("L"):
            last_of.add(_number(item[:-1], 1, 7, _WEEKDAYS))
        elif "#" in item:
            day, _, which = item.partition("#")
            nth.add((_number(day, 1, 7, _WEEKDAYS), _number(which, 1, 5, {})))
        else:
            plain.append(item)
    days = _parse_field(",".join(plain), 1, 7, _WEEKDAYS) if plain else frozenset()
    return DayOfWeek(days, frozenset(last_of), frozenset(nth))


def _parse_field(text: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        base, slash, step_text = item.partition("/")
        step = _number(step_text, 1, high, {}) if slash else 1
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, second = base.partition("-")
            start, end = _number(first, low, high, names), _number(second, low, high, names)
        else:
            start = _number(base, low, high, names)
            end = high if slash else start
        values.update(_walk(start, end, step, low, high))
    return frozenset(values)


def _walk(start: int, end: int, step: int, low: int, high: int) -> list[int]:
    span = end - start if end >= start else (high - start) + (end - low + 1)
    return [low + (start - low + k) % (high - low + 1) for k in range(0, span + 1, step)]


def _number(text: str, low: int, high: int, names: dict[str, int]) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not text.isdigit():
        raise ScheduleError()
    value = int(text)
    if not low <= value <= high:
        raise ScheduleError()
    return value


def _nearest_weekday(year: int, month: int, day: int, length: int) -> int:
    """Quartz's ``W``: the weekday closest to ``day`` without leaving the month."""
    weekday = date(year, month, day).weekday()
    if weekday == 5:
        return day - 1 if day > 1 else day + 2
    if weekday == 6:
        return day + 1 if day < length else day - 2
    return day


def _aws_weekday(value: date) -> int:
    return (value.weekday() + 1) % 7 + 1


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
