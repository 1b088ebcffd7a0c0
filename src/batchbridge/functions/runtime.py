"""The function runtime: warm worker pools, concurrency, timeouts and invocation results.

Emulates Lambda's execution model for Python functions:

* each function has its own execution environments (worker processes), started on demand and kept
  warm for reuse; one invocation at a time per environment; a cold start reports ``Init Duration``;
* concurrency per function is bounded by its reserved concurrency, or ``default_concurrency``; an
  invocation beyond the bound waits for a slot (Lambda's asynchronous-invocation behaviour), or with
  ``wait_for_slot=False`` is throttled with ``TooManyRequestsException`` as a synchronous ``Invoke``
  is; reserved concurrency 0 throttles every invocation;
* a timeout kills the environment and answers ``{"errorMessage": "<time> <id> Task timed out after
  3.00 seconds"}`` with ``FunctionError: Unhandled``; the seconds are the elapsed time, as AWS prints;
* an environment that exits answers ``{"errorType": "Runtime.ExitError", "errorMessage": "RequestId:
  <id> Error: Runtime exited with error: exit status 1"}``; a failed init answers the init error
  document (``requestId`` empty, as AWS's runtime reports init errors); the environment is replaced
  either way on the next invocation;
* a response over 6 MB answers ``Function.ResponseSizeTooLarge`` (``Response payload size exceeded
  maximum allowed payload size (6291556 bytes).``), as a synchronous invocation does;
* environments idle for ``idle_seconds`` (Lambda reclaims idle ones after minutes; 10 by default
  here) are retired, as are those of a function after :meth:`FunctionRuntime.evict` or once a newer
  configuration (another :attr:`FunctionSpec.fingerprint`) has been invoked.

Queued invocations (:meth:`FunctionRuntime.invoke_queued`, used for EventBridge deliveries, which
AWS invokes asynchronously through Lambda's internal queue) wait in the function's queue; each
environment that becomes free takes the oldest ones and receives them in one write on its command
pipe.  While the function's invocations are short (the last one took under ``SHORT_INVOCATION_MS``)
an environment takes up to ``QUEUE_BATCH`` of them and another environment is engaged only for
what the engaged ones do not take; otherwise each takes one, so a slow handler never holds back the
invocations queued behind it while an environment is free.  It still runs them one at a
time, in order: each invocation's timeout, deadline, duration and START/END/REPORT lines start when
the previous one ends.  Concurrency still counts environments.  Choice: when an environment dies or
times out, the invocations it had not reached go back to the front of the queue and run on another
environment; one that had started in the instant between a timeout and the kill runs again
(at-least-once, as EventBridge's own delivery).

Log events reach the log sink per stream, in order.  An invocation made with ``defer_logs=True``
(EventBridge deliveries) leaves its events in a buffer written at most ``log_flush_seconds`` later,
together with those of the other invocations that ended meanwhile (one sink call per stream rather
than one per invocation); any other invocation writes the buffer before it returns, so a caller of
``Invoke`` reads its logs at once.  CloudWatch Logs itself shows Lambda's lines seconds later.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import functools
import json
import logging
import os
import random
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from batchbridge.domain.arns import new_uuid
from batchbridge.errors import ServiceError
from batchbridge.functions import logs, results
from batchbridge.functions.errors import TooManyRequestsException
from batchbridge.functions.logs import LogEvent, LogSink
from batchbridge.functions.process import PhaseOutcome, WorkerProcess
from batchbridge.functions.results import InvocationResult
from batchbridge.functions.spec import FunctionSpec

_log = logging.getLogger(__name__)
INIT_TIMEOUT_SECONDS = 10.0
#: Most invocations one environment receives in one write (queued invocations only).  At 32 short
#: invocations (each under ``SHORT_INVOCATION_MS``) the last one waits well under a second, and a
#: burst of deliveries engages a few environments instead of every one the concurrency allows.
QUEUE_BATCH = 32
#: Invocations shorter than this (milliseconds) let an environment take a batch of queued ones.
SHORT_INVOCATION_MS = 10.0
#: How long deferred log events may wait before they are written.
LOG_FLUSH_SECONDS = 0.05
#: A buffer holding this many events is written at once.
LOG_BUFFER_EVENTS = 5000


_IDS = random.Random(os.urandom(32))


def request_id() -> str:
    """A fresh request id in Lambda's form (a version 4 UUID), drawn without a system call."""
    value = _IDS.getrandbits(128) & ~(0xF000 << 64) & ~(0xC000 << 48) | (0x4000 << 64) | (0x8000 << 48)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


@functools.lru_cache(maxsize=256)
def _queued_header_prefix(arn: str, timeout_ms: int) -> bytes:
    """The encoded control header of a queued invocation up to its request id, which follows as
    a plain string (hex digits and dashes) and closes the object with ``"}``."""
    head = {
        "type": "invoke",
        "timeoutMs": timeout_ms,
        "functionArn": arn,
        "clientContext": None,
        "identity": None,
    }
    return json.dumps(head, separators=(",", ":")).encode()[:-1] + b',"requestId":"'


@dataclasses.dataclass
class _Queued:
    """An invocation waiting in its function's queue, and where its result goes."""

    spec: FunctionSpec
    payload: bytes
    request_id: str
    result: asyncio.Future[InvocationResult]


@dataclasses.dataclass
class _Pool:
    queue: collections.deque[_Queued] = dataclasses.field(default_factory=collections.deque)
    starting: int = 0
    batch: int = 1
    idle: list[WorkerProcess] = dataclasses.field(default_factory=list)
    workers: set[WorkerProcess] = dataclasses.field(default_factory=set)
    busy: int = 0
    generation: int = 0
    fingerprint: str = ""
    slots: asyncio.Condition = dataclasses.field(default_factory=asyncio.Condition)


class FunctionRuntime:
    """Runs functions in warm worker processes; log events go to ``log_sink(group, stream, events)``.

    ``base_dir`` holds the extracted packages (:attr:`code_root`) and each worker's ``TMPDIR``.
    ``log_batch`` (for example ``Database.transaction``) wraps the sink calls of one buffered write,
    so that the streams written together share one transaction.  ``base_environment`` is given to
    every worker under the function's own variables (for example ``AWS_ENDPOINT_URL`` and
    credentials so that handlers reach this server with boto3).
    """

    def __init__(
        self,
        base_dir: Path,
        log_sink: LogSink,
        *,
        default_concurrency: int = 10,
        idle_seconds: float = 600.0,
        base_environment: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        log_flush_seconds: float = LOG_FLUSH_SECONDS,
        log_batch: Callable[[], contextlib.AbstractContextManager[object]] | None = None,
    ) -> None:
        self.base_dir = Path(base_dir)
        self._sink = log_sink
        self._default_concurrency = default_concurrency
        self._idle_seconds = idle_seconds
        self._base_environment = dict(base_environment or {})
        self._clock = clock
        self._pools: dict[str, _Pool] = {}
        self._reaper: asyncio.Task[None] | None = None
        self._closed = False
        self._log_flush_seconds = log_flush_seconds
        self._log_batch = log_batch or contextlib.nullcontext
        self._log_buffer: dict[tuple[str, str], list[LogEvent]] = {}
        self._log_buffered = 0
        self._log_timer: asyncio.TimerHandle | None = None
        self._servers: set[asyncio.Task[None]] = set()

    def set_base_environment(self, values: Mapping[str, str]) -> None:
        """Add ``values`` to the environment of workers started from now on."""
        self._base_environment.update(values)

    @property
    def code_root(self) -> Path:
        """Where :meth:`FunctionCode.from_zip` should extract packages for this runtime."""
        return self.base_dir / "code"

    def worker_pids(self, name: str | None = None) -> list[int]:
        """Process ids of the live workers (of one function, or all)."""
        pools = [self._pools[name]] if name is not None and name in self._pools else []
        if name is None:
            pools = list(self._pools.values())
        return sorted(w.pid for pool in pools for w in pool.workers if w.alive)

    async def invoke(
        self,
        spec: FunctionSpec,
        payload: bytes,
        *,
        request_id: str | None = None,
        tail: bool = False,
        invoked_arn: str | None = None,
        client_context: dict[str, Any] | None = None,
        identity: dict[str, Any] | None = None,
        wait_for_slot: bool = True,
        defer_logs: bool = False,
    ) -> InvocationResult:
        """Run ``spec``'s handler once with ``payload`` (JSON bytes) and return its result.

        ``tail`` only decides whether :attr:`InvocationResult.log_tail` is filled; ``defer_logs``
        lets the invocation's log events wait for the next buffered write (module docstring).
        """
        try:
            return await self._invoke(
                spec, payload, request_id, tail, invoked_arn, client_context, identity, wait_for_slot
            )
        finally:
            if defer_logs:
                self._schedule_log_flush()
            else:
                self.flush_logs()

    async def _invoke(
        self,
        spec: FunctionSpec,
        payload: bytes,
        request_id: str | None,
        tail: bool,
        invoked_arn: str | None,
        client_context: dict[str, Any] | None,
        identity: dict[str, Any] | None,
        wait_for_slot: bool,
    ) -> InvocationResult:
        self._check_open()
        self._ensure_reaper()
        request_id = request_id or new_uuid()
        pool = self._pools.setdefault(spec.name, _Pool())
        pool.fingerprint = spec.fingerprint
        await self._acquire(pool, spec, wait_for_slot)
        try:
            self._check_open()
            worker, init = await self._take_worker(pool, spec)
            if init is not None and init.kind != "ok":
                result = self._init_failed(spec, worker, init, request_id, tail)
                await self._retire(pool, worker)
                return result
            result, healthy = await self._run(
                spec, worker, init, payload, request_id, tail, invoked_arn, client_context, identity
            )
            current = worker.fingerprint == pool.fingerprint and worker.generation == pool.generation
            if healthy and current and not self._closed:
                pool.idle.append(worker)
            else:
                await self._retire(pool, worker)
            return result
        finally:
            async with pool.slots:
                pool.busy -= 1
                pool.slots.notify()
            self._pump(pool)

    async def invoke_queued(self, spec: FunctionSpec, payload: bytes) -> InvocationResult:
        """Run ``spec``'s handler once with ``payload`` through the function's queue.

        The result is the same as :meth:`invoke`'s; log events are deferred (``defer_logs``).
        """
        self._check_open()
        self._ensure_reaper()
        pool = self._pools.setdefault(spec.name, _Pool())
        pool.fingerprint = spec.fingerprint
        self._limit(pool, spec)
        item = _Queued(spec, payload, request_id(), asyncio.get_running_loop().create_future())
        pool.queue.append(item)
        self._pump(pool)
        try:
            return await item.result
        finally:
            self._schedule_log_flush()

    def _limit(self, pool: _Pool, spec: FunctionSpec) -> int:
        limit = (
            spec.reserved_concurrency if spec.reserved_concurrency is not None else self._default_concurrency
        )
        if limit <= 0:
            reason = "ReservedFunctionConcurrentInvocationLimitExceeded"
            raise TooManyRequestsException("Rate Exceeded.", reason=reason)
        return limit

    def _pump(self, pool: _Pool) -> None:
        """Give queued invocations free environments: one server task per slot, only for queued
        invocations that the servers already starting will not take."""
        while pool.queue and pool.starting * pool.batch < len(pool.queue):
            spec = pool.queue[0].spec
            limit = (
                spec.reserved_concurrency
                if spec.reserved_concurrency is not None
                else self._default_concurrency
            )
            if pool.busy >= limit:
                return
            pool.busy += 1
            pool.starting += 1
            task = asyncio.get_running_loop().create_task(self._serve_queue(pool))
            self._servers.add(task)
            task.add_done_callback(self._servers.discard)

    def _take_batch(self, pool: _Pool) -> list[_Queued]:
        """The oldest queued invocations of one configuration: this server's share, at most
        ``pool.batch``."""
        share = -(-len(pool.queue) // (pool.starting + 1))
        first = pool.queue.popleft()
        batch = [first]
        while pool.queue and len(batch) < min(pool.batch, share):
            if pool.queue[0].spec.fingerprint != first.spec.fingerprint:
                break
            batch.append(pool.queue.popleft())
        return batch

    async def _serve_queue(self, pool: _Pool) -> None:
        starting = True
        try:
            while pool.queue:
                if starting:
                    pool.starting -= 1
                    starting = False
                batch = self._take_batch(pool)
                try:
                    self._check_open()
                    await self._run_batch(pool, batch)
                except Exception as exc:
                    for item in batch:
                        if not item.result.done():
                            item.result.set_exception(exc)
        finally:
            if starting:
                pool.starting -= 1
            async with pool.slots:
                pool.busy -= 1
                pool.slots.notify()
            if self._closed:
                while pool.queue:
                    item = pool.queue.popleft()
                    if not item.result.done():
                        item.result.set_exception(
                            ServiceError(
                                "The function runtime is shut down.", code="ServiceException", status=500
                            )
                        )
            else:
                self._pump(pool)

    async def _run_batch(self, pool: _Pool, batch: list[_Queued]) -> None:
        """Send ``batch`` to one environment in one write, then collect its results in order."""
        spec = batch[0].spec
        worker, init = await self._take_worker(pool, spec)
        if init is not None and init.kind != "ok":
            batch[0].result.set_result(self._init_failed(spec, worker, init, batch[0].request_id, False))
            await self._retire(pool, worker)
            pool.queue.extendleft(reversed(batch[1:]))
            return
        prefix = _queued_header_prefix(spec.arn, int(spec.timeout_seconds * 1000))
        worker.send_encoded([(prefix + item.request_id.encode() + b'"}', item.payload) for item in batch])
        healthy = True
        for index, item in enumerate(batch):
            started_at = self._clock()
            began = time.monotonic()
            outcome = await worker.next_result(spec.timeout_seconds)
            result, healthy = self._complete(
                spec, worker, init if index == 0 else None, outcome, item.request_id, False, started_at, began
            )
            pool.batch = QUEUE_BATCH if result.duration_ms < SHORT_INVOCATION_MS else 1
            if not item.result.done():
                item.result.set_result(result)
            if not healthy:
                pool.queue.extendleft(reversed(batch[index + 1 :]))
                break
        current = worker.fingerprint == pool.fingerprint and worker.generation == pool.generation
        if healthy and current and not self._closed:
            pool.idle.append(worker)
        else:
            await self._retire(pool, worker)

    async def evict(self, name: str) -> None:
        """Retire the function's workers: idle ones now, busy ones when their invocation ends."""
        pool = self._pools.get(name)
        if pool is None:
            return
        pool.generation += 1
        idle, pool.idle = pool.idle, []
        await asyncio.gather(*(self._retire(pool, worker) for worker in idle))

    def flush_logs(self) -> None:
        """Write every buffered log event now: one sink call per stream, events in order."""
        if self._log_timer is not None:
            self._log_timer.cancel()
            self._log_timer = None
        buffered, self._log_buffer, self._log_buffered = self._log_buffer, {}, 0
        if not buffered:
            return
        try:
            with self._log_batch():
                for (group, stream), events in buffered.items():
                    try:
                        self._sink(group, stream, events)
                    except Exception:
                        _log.exception("log sink failed for %s %s", group, stream)
        except Exception:
            _log.exception("log batch failed")

    def _schedule_log_flush(self) -> None:
        if not self._log_buffer:
            return
        if self._closed or self._log_flush_seconds <= 0 or self._log_buffered >= LOG_BUFFER_EVENTS:
            self.flush_logs()
        elif self._log_timer is None:
            self._log_timer = asyncio.get_running_loop().call_later(self._log_flush_seconds, self.flush_logs)

    async def close(self) -> None:
        """Stop every worker (busy ones included) and the idle reaper; no worker outlives this."""
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for pool in self._pools.values():
            pool.idle = []
            await asyncio.gather(*(self._retire(pool, worker) for worker in list(pool.workers)))
        self.flush_logs()

    async def _acquire(self, pool: _Pool, spec: FunctionSpec, wait: bool) -> None:
        limit = (
            spec.reserved_concurrency if spec.reserved_concurrency is not None else self._default_concurrency
        )
        reason = (
            "ReservedFunctionConcurrentInvocationLimitExceeded"
            if spec.reserved_concurrency is not None
            else "ConcurrentInvocationLimitExceeded"
        )
        if limit <= 0 or (not wait and pool.busy >= limit):
            raise TooManyRequestsException("Rate Exceeded.", reason=reason)
        async with pool.slots:
            await pool.slots.wait_for(lambda: pool.busy < limit)
            pool.busy += 1

    async def _take_worker(
        self, pool: _Pool, spec: FunctionSpec
    ) -> tuple[WorkerProcess, PhaseOutcome | None]:
        """A warm worker of the current configuration, or a new one with its init outcome."""
        while pool.idle:
            worker = pool.idle.pop()
            if (
                worker.alive
                and worker.fingerprint == spec.fingerprint
                and worker.generation == pool.generation
            ):
                return worker, None
            await self._retire(pool, worker)
        started = time.monotonic()
        stream = logs.new_stream_name(spec.version, self._clock())
        try:
            worker = await WorkerProcess.start(
                spec,
                stream,
                base_environment=self._base_environment,
                tmp_dir=self.base_dir / "tmp" / stream.rsplit("]", 1)[-1],
                clock=self._clock,
            )
        except OSError as exc:
            raise ServiceError(
                f"Lambda was unable to start an execution environment for {spec.name}: {exc}",
                code="ServiceException",
                status=500,
            ) from None
        worker.generation = pool.generation
        pool.workers.add(worker)
        if self._closed:
            await self._retire(pool, worker)
            self._check_open()
        init = await worker.wait_ready(max(INIT_TIMEOUT_SECONDS, spec.timeout_seconds))
        worker.init_ms = (time.monotonic() - started) * 1000.0
        return worker, init

    async def _run(
        self,
        spec: FunctionSpec,
        worker: WorkerProcess,
        init: PhaseOutcome | None,
        payload: bytes,
        request_id: str,
        tail: bool,
        invoked_arn: str | None,
        client_context: dict[str, Any] | None,
        identity: dict[str, Any] | None,
    ) -> tuple[InvocationResult, bool]:
        started_at = self._clock()
        header = self._header(spec, request_id, invoked_arn, client_context, identity)
        began = time.monotonic()
        outcome = await worker.invoke(header, payload, spec.timeout_seconds)
        return self._complete(spec, worker, init, outcome, request_id, tail, started_at, began)

    @staticmethod
    def _header(
        spec: FunctionSpec,
        request_id: str,
        invoked_arn: str | None = None,
        client_context: dict[str, Any] | None = None,
        identity: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The invocation's control header; the worker starts the deadline when it starts the run."""
        return {
            "type": "invoke",
            "requestId": request_id,
            "timeoutMs": int(spec.timeout_seconds * 1000),
            "functionArn": invoked_arn or spec.arn,
            "clientContext": client_context,
            "identity": identity,
        }

    def _complete(
        self,
        spec: FunctionSpec,
        worker: WorkerProcess,
        init: PhaseOutcome | None,
        outcome: PhaseOutcome,
        request_id: str,
        tail: bool,
        started_at: float,
        began: float,
    ) -> tuple[InvocationResult, bool]:
        """Build the result of an ended invocation and emit its log events; whether the environment
        may serve another."""
        duration_ms = (time.monotonic() - began) * 1000.0
        result, events, healthy = results.completed(
            spec, worker, init, outcome, request_id, tail, started_at, duration_ms, self._clock()
        )
        self._emit(spec, worker.stream_name, events)
        return result, healthy

    def _init_failed(
        self, spec: FunctionSpec, worker: WorkerProcess, init: PhaseOutcome, request_id: str, tail: bool
    ) -> InvocationResult:
        result, events = results.init_failed(spec, worker, init, request_id, tail, self._clock())
        self._emit(spec, worker.stream_name, events)
        return result

    def _check_open(self) -> None:
        if self._closed:
            raise ServiceError("The function runtime is shut down.", code="ServiceException", status=500)

    def _emit(self, spec: FunctionSpec, stream: str, events: list[LogEvent]) -> None:
        """Buffer an invocation's events; :meth:`invoke` decides when the buffer is written."""
        self._log_buffer.setdefault((spec.log_group_name, stream), []).extend(events)
        self._log_buffered += len(events)

    async def _retire(self, pool: _Pool, worker: WorkerProcess) -> None:
        with contextlib.suppress(ValueError):
            pool.idle.remove(worker)
        pool.workers.discard(worker)
        await worker.kill()
        shutil.rmtree(worker.tmp_dir, ignore_errors=True)

    def _ensure_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap_idle())

    async def _reap_idle(self) -> None:
        interval = min(max(self._idle_seconds / 4, 0.05), 30.0)
        while True:
            await asyncio.sleep(interval)
            cutoff = time.monotonic() - self._idle_seconds
            for pool in list(self._pools.values()):
                stale = [w for w in pool.idle if w.last_used < cutoff or not w.alive]
                pool.idle = [w for w in pool.idle if w not in stale]
                await asyncio.gather(*(self._retire(pool, worker) for worker in stale))
