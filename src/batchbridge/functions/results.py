"""The result of one invocation and its START/END/REPORT log events, as Lambda reports them.

* A handler that raised answers ``FunctionError: Unhandled`` with the runtime's error document.
* A timeout answers ``{"errorMessage": "<time> <id> Task timed out after 3.00 seconds"}`` with the
  elapsed seconds, and the same line follows the REPORT line in the log.
* A response over 6 MB answers ``Function.ResponseSizeTooLarge``.
* An environment that exits answers ``Runtime.ExitError`` (``Runtime exited with error: exit status
  N``); an init that fails answers the init error document, with ``Init Duration`` in REPORT.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Literal

from batchbridge.functions import logs
from batchbridge.functions.logs import LogEvent
from batchbridge.functions.process import PhaseOutcome, WorkerProcess
from batchbridge.functions.spec import FunctionSpec

MAX_RESPONSE_BYTES = 6291556


@dataclasses.dataclass(frozen=True)
class InvocationResult:
    """What an invocation produced, in the terms of Lambda's Invoke response and REPORT line."""

    status: Literal["ok", "error", "timeout"]
    payload: bytes
    function_error: str | None
    log_tail: str
    duration_ms: float
    billed_ms: int
    max_memory_mb: int
    init_duration_ms: float | None
    log_stream_name: str
    request_id: str
    executed_version: str


def completed(
    spec: FunctionSpec,
    worker: WorkerProcess,
    init: PhaseOutcome | None,
    outcome: PhaseOutcome,
    request_id: str,
    tail: bool,
    started_at: float,
    duration_ms: float,
    now: float,
) -> tuple[InvocationResult, list[LogEvent], bool]:
    """An invocation that ended with ``outcome``: its result, its log events (the init phase's
    first on a cold start) and whether the environment may serve another."""
    events: list[LogEvent] = list(init.events) if init is not None else []
    events.append((int(started_at * 1000), logs.start_line(request_id, spec.version)))
    events.extend(outcome.events)
    status: Literal["ok", "error", "timeout"] = "ok"
    function_error: str | None = None
    body = outcome.payload
    after_report: list[LogEvent] = []
    if outcome.kind == "error":
        status, function_error = "error", "Unhandled"
    elif outcome.kind == "timeout":
        status, function_error = "timeout", "Unhandled"
        message = logs.timeout_message(now, request_id, duration_ms / 1000.0)
        body = json.dumps({"errorMessage": message}).encode()
        after_report.append((int(now * 1000), message + "\n"))
    elif len(body) > MAX_RESPONSE_BYTES:
        status, function_error = "error", "Unhandled"
        body = json.dumps(
            {
                "errorMessage": "Response payload size exceeded maximum allowed payload size "
                f"({MAX_RESPONSE_BYTES} bytes).",
                "errorType": "Function.ResponseSizeTooLarge",
            }
        ).encode()
    elif outcome.kind == "exit":
        status, function_error = "error", "Unhandled"
        message = f"RequestId: {request_id} Error: Runtime exited with error: {outcome.exit_detail}"
        body = json.dumps({"errorType": "Runtime.ExitError", "errorMessage": message}).encode()
        events.append((int(now * 1000), f"{message}\nRuntime.ExitError\n"))
    max_mb = _megabytes(outcome.max_rss_kb)
    init_ms = worker.init_ms if init is not None else None
    events.append((int(now * 1000), logs.end_line(request_id)))
    events.append(
        (int(now * 1000), logs.report_line(request_id, duration_ms, spec.memory_mb, max_mb, init_ms))
    )
    events.extend(after_report)
    result = InvocationResult(
        status=status,
        payload=body,
        function_error=function_error,
        log_tail=logs.tail(events) if tail else "",
        duration_ms=round(duration_ms, 2),
        billed_ms=logs.billed_ms(duration_ms),
        max_memory_mb=max_mb,
        init_duration_ms=round(init_ms, 2) if init_ms is not None else None,
        log_stream_name=worker.stream_name,
        request_id=request_id,
        executed_version=spec.version,
    )
    return result, events, outcome.kind in ("ok", "error") and worker.alive


def init_failed(
    spec: FunctionSpec, worker: WorkerProcess, init: PhaseOutcome, request_id: str, tail: bool, now: float
) -> tuple[InvocationResult, list[LogEvent]]:
    """An invocation whose environment failed its init: Lambda's init error as the result."""
    init_ms = worker.init_ms or 0.0
    if init.kind == "error":
        body = init.payload
    elif init.kind == "timeout":
        body = json.dumps({"errorMessage": logs.timeout_message(now, request_id, init_ms / 1000.0)}).encode()
    else:
        message = f"RequestId: {request_id} Error: Runtime exited with error: {init.exit_detail}"
        body = json.dumps({"errorType": "Runtime.ExitError", "errorMessage": message}).encode()
    stamp = int(now * 1000)
    max_mb = _megabytes(init.max_rss_kb)
    events = [
        *init.events,
        (stamp, logs.start_line(request_id, spec.version)),
        (stamp, logs.end_line(request_id)),
        (stamp, logs.report_line(request_id, 0.0, spec.memory_mb, max_mb, init_ms)),
    ]
    result = InvocationResult(
        status="timeout" if init.kind == "timeout" else "error",
        payload=body,
        function_error="Unhandled",
        log_tail=logs.tail(events) if tail else "",
        duration_ms=0.0,
        billed_ms=0,
        max_memory_mb=max_mb,
        init_duration_ms=round(init_ms, 2),
        log_stream_name=worker.stream_name,
        request_id=request_id,
        executed_version=spec.version,
    )
    return result, events


def _megabytes(kilobytes: int) -> int:
    return max(1, -(-kilobytes // 1024))
