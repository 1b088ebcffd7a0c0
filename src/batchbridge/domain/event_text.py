"""``Batch Job State Change`` events written straight to their stored JSON text.

The outbox keeps each event as compact UTF-8 JSON (``separators=(",", ":")``, no ``\\u`` escapes).
:func:`encode_state_change` produces exactly the text that encoding
:func:`~batchbridge.domain.job_events.state_change_event` would, member for member and byte for
byte, without building the event as a dict first: a transition of an array child is the hot path
of a large array, and most of its event is the same for every child.

Most of JobDetail is fixed at submission (the queue, the definition, ``parameters``,
``dependsOn``, ``retryStrategy``, ``timeout``, ``propagateTags``, ``platformCapabilities`` and the
static members of ``container``).  Their encoded text is kept per submission, keyed by the
identity of the job's submission-time objects, which every child of an array loaded from the store
shares; only the changing members (status, reasons, times, attempts, the run-time container
fields, array properties, flags) are encoded per event.  :mod:`batchbridge.domain.job_events`
stays the one definition of the shape; this module follows its member order and is checked
against it by the tests.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from json.encoder import encode_basestring
from typing import Any

from batchbridge.domain.job_events import (
    ALWAYS_LISTS,
    CONTAINER_ORDER,
    DETAIL_TYPE,
    RUNTIME_FIELDS,
    SOURCE,
    event_time,
    ordered_summary,
)
from batchbridge.domain.jobs import Job
from batchbridge.domain.lifecycle import JobKind

_CACHE_SIZE = 256
_RUNTIME_AT = CONTAINER_ORDER.index("exitCode")


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _number(value: Any) -> str:
    return str(value) if type(value) is int else _dump(value)


class _Static:
    """The encoded submission-time fragments of one job's event, and the objects they came from."""

    __slots__ = ("after_created", "container_head", "container_tail", "owners", "tail", "tail_key")

    def __init__(self, job: Job, owners: tuple[object, ...]) -> None:
        #: Held so that the ids in this entry's key stay those of these very objects.
        self.owners = owners
        retry = ""
        if job.retry_strategy is not None:
            retry = ',"retryStrategy":' + _dump(
                {
                    "attempts": job.max_attempts,
                    "evaluateOnExit": list(job.retry_strategy.get("evaluateOnExit") or []),
                }
            )
        self.after_created = retry
        head: list[str] = []
        tail: list[str] = []
        container = job.container
        for position, key in enumerate(CONTAINER_ORDER):
            if key in RUNTIME_FIELDS:
                continue
            if key in container and container[key] is not None:
                item = f'"{key}":' + _dump(container[key])
            elif key in ALWAYS_LISTS:
                item = f'"{key}":[]'
            else:
                continue
            (head if position < _RUNTIME_AT else tail).append(item)
        self.container_head = ",".join(head)
        self.container_tail = ",".join(tail)
        # dependsOn .. "container":{ : the members between the times and the container.
        self.tail_key = (
            ',"dependsOn":'
            + _dump([dict(d) for d in job.depends_on])
            + ',"jobDefinition":'
            + encode_basestring(job.definition_arn)
            + ',"parameters":'
            + _dump(dict(job.parameters))
            + ',"container":{'
        )
        timeout = ',"timeout":' + _dump(dict(job.timeout)) if job.timeout is not None else ""
        self.tail = (
            timeout,
            ',"propagateTags":'
            + _dump(job.propagate_tags)
            + ',"platformCapabilities":'
            + _dump(list(job.platform_capabilities))
            + ',"eksAttempts":[]',
        )


def _owners(job: Job) -> tuple[object, ...]:
    """The submission-time objects of ``job`` the fragments are made from."""
    return (
        job.container,
        job.parameters,
        job.depends_on,
        job.retry_strategy,
        job.timeout,
        job.platform_capabilities,
    )


_STATICS: dict[tuple[object, ...], _Static] = {}
_LOCK = threading.Lock()


def _static(job: Job) -> _Static:
    """The cached fragments of ``job``'s submission-time members.

    The key is the identity of the submission-time objects (every child of an array loaded from
    the store shares them) with the definition and ``propagateTags``; an entry holds its objects,
    so an id in a key cannot be reused by another object while the entry exists.
    """
    owners = _owners(job)
    key = (*map(id, owners), job.definition_arn, job.propagate_tags)
    found = _STATICS.get(key)
    if found is not None:
        return found
    made = _Static(job, owners)
    with _LOCK:
        if len(_STATICS) >= _CACHE_SIZE:
            _STATICS.pop(next(iter(_STATICS)))
        _STATICS[key] = made
    return made


def _runtime(job: Job) -> str:
    if job.kind is JobKind.ARRAY_PARENT:
        return ""
    run = job.run
    items: list[str] = []
    if run.exit_code is not None:
        items.append('"exitCode":' + _number(run.exit_code))
    if run.reason is not None:
        items.append('"reason":' + encode_basestring(run.reason))
    if run.container_instance_arn is not None:
        items.append('"containerInstanceArn":' + encode_basestring(run.container_instance_arn))
    if run.task_arn is not None:
        items.append('"taskArn":' + encode_basestring(run.task_arn))
    if run.log_stream_name is not None:
        items.append('"logStreamName":' + encode_basestring(run.log_stream_name))
    return ",".join(items)


def encode_state_change(
    job: Job,
    *,
    event_id: str,
    account: str,
    region: str,
    at_ms: int,
    summary: Mapping[str, int] | None = None,
) -> str:
    """The stored text of ``state_change_event(job, ...)`` with the same arguments."""
    static = _static(job)
    arn = encode_basestring(job.job_arn)
    if job.kind is JobKind.ARRAY_PARENT:
        attempts = "[]"
    elif job.attempts:
        attempts = _dump([a.to_aws() for a in job.attempts])
    else:
        attempts = "[]"
    parts = [
        '{"version":"0","id":',
        encode_basestring(event_id),
        f',"detail-type":"{DETAIL_TYPE}","source":"{SOURCE}","account":',
        encode_basestring(account),
        ',"time":"',
        event_time(at_ms),
        '","region":',
        encode_basestring(region),
        ',"resources":[',
        arn,
        '],"detail":{"jobArn":',
        arn,
        ',"jobName":',
        encode_basestring(job.name),
        ',"jobId":',
        encode_basestring(job.job_id),
        ',"jobQueue":',
        encode_basestring(job.queue_arn),
        ',"status":"',
        job.status.value,
        '","attempts":',
        attempts,
    ]
    if job.status_reason is not None:
        parts += [',"statusReason":', encode_basestring(job.status_reason)]
    parts += [',"createdAt":', _number(job.created_at), static.after_created]
    if job.started_at is not None:
        parts += [',"startedAt":', _number(job.started_at)]
    if job.stopped_at is not None:
        parts += [',"stoppedAt":', _number(job.stopped_at)]
    parts.append(static.tail_key)
    container = [p for p in (static.container_head, _runtime(job), static.container_tail) if p]
    parts += [",".join(container), "}"]
    if job.kind is JobKind.ARRAY_PARENT:
        parts += [
            ',"arrayProperties":{"statusSummary":',
            _dump(ordered_summary(summary or {})),
            ',"size":',
            _dump(job.array_size),
            "}",
        ]
    elif job.kind is JobKind.ARRAY_CHILD:
        parts += [',"arrayProperties":{"statusSummary":{},"index":', _dump(job.array_index), "}"]
    parts += [
        static.tail[0],
        ',"tags":{"resourceArn":',
        encode_basestring(job.resource_arn_for_events),
        "}",
        static.tail[1],
    ]
    if job.is_cancelled:
        parts.append(',"isCancelled":true')
    if job.is_terminated:
        parts.append(',"isTerminated":true')
    parts.append("}}")
    return "".join(parts)
