"""Schedule expressions: AWS's rate and cron syntax, next firing times in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from batchbridge.bus.schedule import (
    INVALID_MESSAGE,
    RateSchedule,
    ScheduleError,
    next_fire,
    parse_schedule,
    validate_schedule,
)
from batchbridge.errors import ValidationException


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(1 hour)", 3600), ("rate(2 days)", 172800)],
)
def test_rate_accepted(expression: str, seconds: int) -> None:
    assert parse_schedule(expression) == RateSchedule(seconds)
    assert next_fire(expression, at(2024, 1, 1)) == at(2024, 1, 1) + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 minutes)",
        "rate(3 minute)",
        "rate(0 minutes)",
        "rate(-1 minutes)",
        "rate(5 seconds)",
        "rate(5minutes)",
        "cron(0 12 * * *)",
        "cron(*/60 * * * ? *)",
        "cron(7 20 * * 1-7 *)",
        "cron(0 12 ? * ? *)",
        "cron(0 24 * * ? *)",
        "cron(0 0 32 * ? *)",
        "cron(0 0 ? * 8 *)",
        "cron(0 0 ? FOO * ? *)",
        "cron(0 0 1 * ? 1969)",
        "cron(0 0 ? * 6#6 *)",
        "cron(0, 9-18, ?, *, MON-FRI, *)",
        "at(2024-01-01T00:00:00)",
        "",
    ],
)
def test_invalid_expressions_answer_aws_text(expression: str) -> None:
    with pytest.raises(ValidationException) as info:
        validate_schedule(expression)
    assert info.value.message == INVALID_MESSAGE == "Parameter ScheduleExpression is not valid."
    assert info.value.code == "ValidationException"
    assert isinstance(info.value, ScheduleError)


def test_cron_every_ten_minutes_weekdays() -> None:
    expr = "cron(0/10 * ? * MON-FRI *)"
    assert next_fire(expr, at(2024, 1, 5, 23, 55)) == at(2024, 1, 8, 0, 0)  # Fri -> Mon
    assert next_fire(expr, at(2024, 1, 8, 0, 0)) == at(2024, 1, 8, 0, 10)


def test_cron_fixed_time_daily_is_strictly_after() -> None:
    expr = "cron(15 10 * * ? *)"
    assert next_fire(expr, at(2024, 3, 1, 10, 14, 59)) == at(2024, 3, 1, 10, 15)
    assert next_fire(expr, at(2024, 3, 1, 10, 15)) == at(2024, 3, 2, 10, 15)


def test_cron_last_day_of_month_and_leap_year() -> None:
    expr = "cron(0 0 L * ? *)"
    assert next_fire(expr, at(2024, 2, 1)) == at(2024, 2, 29)
    assert next_fire(expr, at(2023, 2, 1)) == at(2023, 2, 28)


def test_cron_nearest_weekday() -> None:
    # 2024-06-01 is a Saturday: 1W is Monday the 3rd (cannot leave the month).
    assert next_fire("cron(0 9 1W * ? *)", at(2024, 5, 31)) == at(2024, 6, 3, 9, 0)
    # 2024-09-15 is a Sunday: 15W is Monday the 16th.
    assert next_fire("cron(0 9 15W * ? *)", at(2024, 9, 1)) == at(2024, 9, 16, 9, 0)
    # LW: last weekday of 2024-08 (31st is a Saturday) is Friday the 30th.
    assert next_fire("cron(0 0 LW * ? *)", at(2024, 8, 1)) == at(2024, 8, 30)


def test_cron_nth_and_last_weekday() -> None:
    # third Friday of March 2024 is the 15th.
    assert next_fire("cron(0 12 ? * 6#3 *)", at(2024, 3, 1)) == at(2024, 3, 15, 12, 0)
    assert next_fire("cron(0 12 ? * FRI#3 *)", at(2024, 3, 1)) == at(2024, 3, 15, 12, 0)
    # last Thursday (5L) of February 2024 is the 29th.
    assert next_fire("cron(0 12 ? * 5L *)", at(2024, 2, 1)) == at(2024, 2, 29, 12, 0)


def test_cron_month_names_and_lists() -> None:
    expr = "cron(30 6 1 JAN,JUL ? *)"
    assert next_fire(expr, at(2024, 1, 1, 7)) == at(2024, 7, 1, 6, 30)
    assert next_fire(expr, at(2024, 7, 1, 7)) == at(2025, 1, 1, 6, 30)


def test_cron_year_field_limits_firing() -> None:
    expr = "cron(0 0 1 1 ? 2030-2031)"
    assert next_fire(expr, at(2024, 6, 1)) == at(2030, 1, 1)
    assert next_fire(expr, at(2030, 1, 1)) == at(2031, 1, 1)
    with pytest.raises(ScheduleError):
        next_fire(expr, at(2031, 1, 1, 0, 0))


def test_cron_wrapping_weekday_range() -> None:
    expr = "cron(0 8 ? * FRI-MON *)"
    # 2024-01-02 is a Tuesday -> next is Friday the 5th.
    assert next_fire(expr, at(2024, 1, 2)) == at(2024, 1, 5, 8, 0)
    assert next_fire(expr, at(2024, 1, 7, 9)) == at(2024, 1, 8, 8, 0)  # Sun after 8 -> Mon


def test_naive_datetimes_are_read_as_utc() -> None:
    assert next_fire("cron(0 0 * * ? *)", datetime(2024, 1, 1, 12)) == at(2024, 1, 2)
