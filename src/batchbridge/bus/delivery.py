"""Delivering one event to one target: target kinds, invokers, retries and the dead-letter queue.

AWS rules emulated (EventBridge user guide "Event retry policy and using dead-letter queues"):

* A target is addressed by its ARN; the service of the ARN decides how it is called.  Targets that
  act on another service are *invokers* handed to the bus when the app is assembled, keyed by
  :data:`TargetKind`: ``lambda`` (function ARN), ``sqs`` (queue ARN), ``batch`` (job queue ARN),
  ``logs`` (log group ARN) and ``events`` (another event bus).  An invoker is an async callable
  ``(target, payload, event) -> None`` that raises on failure; ``target`` is the target as put
  (``Id``, ``Arn``, ``BatchParameters``, ``SqsParameters``, ...), ``payload`` the bytes the target
  receives after input transformation and ``event`` the original envelope.
* A failed delivery is retried with backoff until the target's ``RetryPolicy`` is exhausted
  (attempts or event age); the event then goes to the target's ``DeadLetterConfig`` queue, or is
  dropped when there is none.  The dead-lettered message body is the original event, with the
  message attributes ``ERROR_CODE``, ``ERROR_MESSAGE``, ``EXHAUSTED_RETRY_CONDITION``,
  ``RETRY_ATTEMPTS``, ``RULE_ARN`` and ``TARGET_ARN``.  The dead-letter message is sent through the
  ``sqs`` invoker with a target ``{"Id": ..., "Arn": <queue ARN>, "MessageAttributes": {...}}`` whose
  attributes are in SQS's ``SendMessage`` shape (``{"DataType": "String", "StringValue": ...}``).
* Ordering key: ``detail.jobId`` for ``aws.batch`` events, else the event id; deliveries with the
  same (rule, target, key) run one after another, so one job's events reach a target in order.

Choice: an error's ``ERROR_CODE`` is the exception's ``code`` attribute when it has one (our
``ServiceError``), else its class name; a target whose ARN names no known kind fails with
``UnsupportedTarget`` and follows the same retry path.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from batchbridge.domain.arns import parse_arn

TargetKind = Literal["lambda", "sqs", "batch", "logs", "events"]
Invoker = Callable[[Mapping[str, Any], bytes, Mapping[str, Any]], Awaitable[None]]
Invokers = Mapping[str, Invoker]


class TargetError(Exception):
    """A delivery failure with an AWS-style code, raised by the bus itself."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@functools.lru_cache(maxsize=1024)
def target_kind(arn: str) -> str | None:
    """The invoker kind an ARN is delivered through, or ``None`` when unknown (cached per ARN)."""
    parsed = parse_arn(arn)
    if parsed is None:
        return None
    if parsed.service == "lambda" and parsed.resource.startswith("function:"):
        return "lambda"
    if parsed.service == "sqs":
        return "sqs"
    if parsed.service == "batch" and parsed.resource.startswith("job-queue/"):
        return "batch"
    if parsed.service == "logs" and parsed.resource.startswith("log-group:"):
        return "logs"
    if parsed.service == "events" and parsed.resource.startswith("event-bus/"):
        return "events"
    return None


def order_key(event: Mapping[str, Any]) -> str:
    """The lane key of an event: the Batch job id for ``aws.batch`` events, else the event id."""
    detail = event.get("detail")
    if event.get("source") == "aws.batch" and isinstance(detail, dict) and detail.get("jobId"):
        return f"job:{detail['jobId']}"
    return f"event:{event.get('id', '')}"


def order_key_of(source: str, job_id: str | None, event_id: str) -> str:
    """:func:`order_key` from the envelope columns an outbox row keeps, without the event."""
    if source == "aws.batch" and job_id:
        return f"job:{job_id}"
    return f"event:{event_id}"


def error_of(exc: BaseException) -> tuple[str, str]:
    """``(code, message)`` for a failed attempt."""
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return (code if isinstance(code, str) and code else type(exc).__name__, str(message))


def dead_letter_target(
    target: Mapping[str, Any],
    rule_arn: str,
    error_code: str,
    error_message: str,
    condition: str,
    attempts: int,
) -> dict[str, Any] | None:
    """The ``sqs`` invoker target that dead-letters a delivery, or ``None`` without a DLQ."""
    dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
    if not dlq:
        return None

    def attr(value: str) -> dict[str, str]:
        return {"DataType": "String", "StringValue": value}

    return {
        "Id": f"dlq-{target.get('Id', '')}",
        "Arn": dlq,
        "MessageAttributes": {
            "ERROR_CODE": attr(error_code),
            "ERROR_MESSAGE": attr(error_message[:1000]),
            "EXHAUSTED_RETRY_CONDITION": attr(condition),
            "RETRY_ATTEMPTS": {"DataType": "Number", "StringValue": str(max(0, attempts - 1))},
            "RULE_ARN": attr(rule_arn),
            "TARGET_ARN": attr(str(target.get("Arn", ""))),
        },
    }


def bus_name_of(arn: str) -> str:
    """The bus name of an ``event-bus/`` ARN."""
    return arn.split(":event-bus/", 1)[1] if ":event-bus/" in arn else arn
