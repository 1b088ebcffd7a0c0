"""Retry policy ranges, exhaustion, and backoff bounds."""

from __future__ import annotations

import random

import pytest

from batchbridge.bus.retry import Backoff, ManualClock, RetryPolicy
from batchbridge.errors import ValidationException


def test_defaults_are_aws_defaults() -> None:
    assert RetryPolicy.from_params(None).to_params() == {
        "MaximumRetryAttempts": 185,
        "MaximumEventAgeInSeconds": 86400,
    }


@pytest.mark.parametrize(
    ("params", "member"),
    [
        ({"MaximumRetryAttempts": 186}, "maximumRetryAttempts"),
        ({"MaximumRetryAttempts": -1}, "maximumRetryAttempts"),
        ({"MaximumEventAgeInSeconds": 59}, "maximumEventAgeInSeconds"),
        ({"MaximumEventAgeInSeconds": 86401}, "maximumEventAgeInSeconds"),
    ],
)
def test_out_of_range_names_member(params: dict[str, int], member: str) -> None:
    with pytest.raises(ValidationException, match=member):
        RetryPolicy.from_params(params)


def test_exhaustion_by_attempts_and_age() -> None:
    policy = RetryPolicy(2, 60)
    assert policy.exhausted(1, 0.0, 1.0) is None
    assert policy.exhausted(3, 0.0, 1.0) == "MaximumRetryAttemptsExhausted"
    assert policy.exhausted(2, 0.0, 60.0) == "MaximumEventAgeExhausted"
    assert RetryPolicy(0, 60).exhausted(1, 0.0, 0.0) == "MaximumRetryAttemptsExhausted"


def test_backoff_grows_and_is_capped() -> None:
    fixed = Backoff(base=1.0, cap=10.0, jitter=False)
    assert [fixed.delay(n) for n in (1, 2, 3, 4, 5, 6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    rng = random.Random(7)
    jittered = Backoff(base=1.0, cap=10.0)
    draws = [jittered.delay(4, rng) for _ in range(200)]
    assert all(0.0 <= d <= 8.0 for d in draws) and len(set(draws)) > 100


def test_manual_clock() -> None:
    clock = ManualClock(100.0)
    clock.advance(2.5)
    assert clock.now() == 102.5
