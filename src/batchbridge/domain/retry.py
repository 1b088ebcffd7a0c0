"""Retry decisions: ``retryStrategy.attempts`` and ``evaluateOnExit`` (AWS "Automated job retries").

* ``attempts`` (1..10) is how many times a job may run; an attempt counts once it reached RUNNING.
* ``evaluateOnExit`` (at most 5 entries) is read in list order and the first matching entry wins.
  An entry matches when **all** of its given conditions hold: ``onExitCode`` against the decimal
  exit code, ``onReason`` against the container ``reason``, ``onStatusReason`` against the attempt's
  ``statusReason``.  Patterns may end with ``*`` (prefix match); otherwise they match exactly.
  AWS documents the patterns as case-sensitive text of letters, digits, spaces and punctuation.
* No entry matches (or no ``evaluateOnExit``) ⇒ retry while attempts remain.
* Timeouts, cancel and terminate are never retried.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from typing import Any

from batchbridge.errors import ClientException


class Action(enum.StrEnum):
    RETRY = "RETRY"
    EXIT = "EXIT"


_EXIT_CODE = re.compile(r"^[0-9]*\*?$")
_TEXT = re.compile(r"^[A-Za-z0-9 .:\-_*()/,;'\"#@!?=+\[\]{}<>|&%$~^`\\]*$")


def glob_match(pattern: str, value: str | None) -> bool:
    """AWS's glob: a trailing ``*`` matches any suffix; nothing else is special."""
    if value is None:
        value = ""
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    return value == pattern


def entry_matches(
    entry: Mapping[str, Any], exit_code: int | None, reason: str | None, status_reason: str | None
) -> bool:
    """Whether every condition given in ``entry`` holds for this attempt."""
    code_pattern = entry.get("onExitCode")
    if code_pattern is not None and (exit_code is None or not glob_match(str(code_pattern), str(exit_code))):
        return False
    reason_pattern = entry.get("onReason")
    if reason_pattern is not None and not glob_match(str(reason_pattern), reason):
        return False
    status_pattern = entry.get("onStatusReason")
    return status_pattern is None or glob_match(str(status_pattern), status_reason)


def should_retry(
    retry_strategy: Mapping[str, Any] | None,
    attempts_made: int,
    *,
    exit_code: int | None,
    reason: str | None,
    status_reason: str | None,
    retryable: bool = True,
) -> bool:
    """Whether a failed attempt sends the job back to RUNNABLE.

    ``retryable`` is ``False`` for timeouts, cancel and terminate, which AWS never retries.
    """
    if not retryable or retry_strategy is None:
        return False
    attempts = int(retry_strategy.get("attempts") or 1)
    if attempts_made >= attempts:
        return False
    entries: Sequence[Mapping[str, Any]] = retry_strategy.get("evaluateOnExit") or []
    for entry in entries:
        if entry_matches(entry, exit_code, reason, status_reason):
            return str(entry.get("action", "")).upper() == Action.RETRY
    return True


def validate_retry_strategy(strategy: Mapping[str, Any]) -> dict[str, Any]:
    """Check a submitted ``retryStrategy`` and return it normalised (actions upper-cased)."""
    entries = list(strategy.get("evaluateOnExit") or [])
    attempts = strategy.get("attempts")
    if attempts is None:
        if entries:
            raise ClientException(
                "Error executing request, Exception : RetryAttempts must be provided with retry strategy"
            )
        raise ClientException("retryStrategy.attempts must be provided with retry strategy")
    if not isinstance(attempts, int) or not 1 <= attempts <= 10:
        raise ClientException("retryStrategy.attempts must be between 1 and 10")
    if len(entries) > 5:
        raise ClientException("retryStrategy.evaluateOnExit can have at most 5 entries")
    normalised: list[dict[str, str]] = []
    for position, entry in enumerate(entries):
        where = f"retryStrategy.evaluateOnExit[{position}]"
        action = str(entry.get("action", "")).upper()
        if action not in (Action.RETRY, Action.EXIT):
            raise ClientException(f"{where}.action must be RETRY or EXIT")
        out: dict[str, str] = {}
        for key in ("onStatusReason", "onReason", "onExitCode"):
            value = entry.get(key)
            if value is None:
                continue
            text = str(value)
            if len(text) > 512:
                raise ClientException(f"{where}.{key} must be at most 512 characters")
            if key == "onExitCode" and not _EXIT_CODE.match(text):
                raise ClientException(f"{where}.onExitCode must contain only digits and may end with *")
            if key != "onExitCode" and not _TEXT.match(text):
                raise ClientException(f"{where}.{key} contains characters that are not allowed")
            out[key] = text
        out["action"] = action
        normalised.append(out)
    return {"attempts": attempts, "evaluateOnExit": normalised}
