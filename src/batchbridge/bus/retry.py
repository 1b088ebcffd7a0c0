"""Target retry policy, exponential backoff with jitter, and the clock deliveries are timed by.

AWS rules emulated (EventBridge ``RetryPolicy`` API reference and user guide "Event retry policy"):

* ``MaximumRetryAttempts`` 0..185, default 185; ``MaximumEventAgeInSeconds`` 60..86400, default
  86400 (24 hours).  A value out of range answers a ValidationException naming the member.
* A failed delivery is retried with exponential backoff and jitter until either limit is reached;
  then the event goes to the target's dead-letter queue, or is dropped when there is none.

AWS does not publish its backoff constants; the choice here is "full jitter" (a uniform draw
between zero and ``min(cap, base * 2**(attempt-1))``), base 1 s and cap 5 minutes by default, with
both adjustable so a test can drive retries in milliseconds.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Mapping
from typing import Any, Protocol

from batchbridge.errors import ValidationException

DEFAULT_MAX_RETRY_ATTEMPTS = 185
DEFAULT_MAX_EVENT_AGE_SECONDS = 86400
MIN_EVENT_AGE_SECONDS = 60


class Clock(Protocol):
    """Wall-clock seconds since the epoch; tests hand in a clock they move by hand."""

    def now(self) -> float: ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told: ``advance(seconds)`` or ``set(epoch)``."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    def set(self, epoch: float) -> None:
        self._now = epoch


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """A target's ``RetryPolicy`` with AWS's defaults."""

    maximum_retry_attempts: int = DEFAULT_MAX_RETRY_ATTEMPTS
    maximum_event_age_seconds: int = DEFAULT_MAX_EVENT_AGE_SECONDS

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> RetryPolicy:
        """Build from the API shape, refusing values outside AWS's ranges."""
        if not params:
            return cls()
        attempts = params.get("MaximumRetryAttempts", DEFAULT_MAX_RETRY_ATTEMPTS)
        age = params.get("MaximumEventAgeInSeconds", DEFAULT_MAX_EVENT_AGE_SECONDS)
        if not isinstance(attempts, int) or not 0 <= attempts <= DEFAULT_MAX_RETRY_ATTEMPTS:
            raise ValidationException(
                f"1 validation error detected: Value '{attempts}' at 'retryPolicy.maximumRetryAttempts' "
                "failed to satisfy constraint: Member must have value between 0 and 185"
            )
        if not isinstance(age, int) or not MIN_EVENT_AGE_SECONDS <= age <= DEFAULT_MAX_EVENT_AGE_SECONDS:
            raise ValidationException(
                f"1 validation error detected: Value '{age}' at 'retryPolicy.maximumEventAgeInSeconds' "
                "failed to satisfy constraint: Member must have value between 60 and 86400"
            )
        return cls(attempts, age)

    def to_params(self) -> dict[str, int]:
        return {
            "MaximumRetryAttempts": self.maximum_retry_attempts,
            "MaximumEventAgeInSeconds": self.maximum_event_age_seconds,
        }

    def exhausted(self, attempts_made: int, first_seen: float, now: float) -> str | None:
        """Why no further attempt is allowed, as AWS names it, or ``None`` when one is.

        ``attempts_made`` counts every attempt so far, the first one included.
        """
        if attempts_made > self.maximum_retry_attempts:
            return "MaximumRetryAttemptsExhausted"
        if now - first_seen >= self.maximum_event_age_seconds:
            return "MaximumEventAgeExhausted"
        return None


@dataclasses.dataclass(frozen=True)
class Backoff:
    """Full-jitter exponential backoff: a uniform draw in ``[0, min(cap, base * 2**(n-1))]``."""

    base: float = 1.0
    cap: float = 300.0
    jitter: bool = True

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = float(min(self.cap, self.base * (2.0 ** max(0, attempt - 1))))
        if not self.jitter:
            return ceiling
        draw: float = (rng or random.Random()).uniform(0.0, ceiling)
        return draw
