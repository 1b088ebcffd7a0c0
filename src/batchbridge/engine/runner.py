"""The job engine: one asyncio task that schedules, launches and records attempts.

``JobEngine(db, settings, executor)``; ``await engine.start()`` connects the executor, reconciles
(see :mod:`batchbridge.engine.reconcile`) and starts the loop; ``await engine.stop()`` ends it and
disconnects the executor, leaving running attempts to the host agent.  ``engine.run()`` is the
same as a coroutine that lives until cancelled, for an application's list of background tasks.

Each pass of the loop is one transaction: the output lines and exits the executor delivered since
the last pass (logs appended to ``/aws/batch/job``, exits turned into transitions), the attempts
that started (STARTING -> RUNNING), stop requests from TerminateJob, then the scheduler.  After the
commit it starts the launches of the newly placed attempts, sends stops, acknowledges the recorded
exits and only then wakes the outbox's consumers, so that the launches and acknowledgements leave
in one write to the executor before the bus takes the loop.  A started attempt's RUNNING move
waits up to ``RUNNING_DELAY`` for another reason to run a pass: a short attempt's exit usually
arrives by then and its RUNNING and terminal moves share that pass (and one row write).  The loop
sleeps until woken (a submission, an executor event, a finished launch) or
``Settings.scheduler_interval`` x 20.  Passes are at least ``PASS_INTERVAL`` apart: a wake-up after
a quiet spell runs a pass at once, while under a stream of exits each pass takes everything that
arrived in the interval, in one transaction.

With an executor that supports start-ahead (:func:`~batchbridge.executors.base.supports_start_ahead`)
the scheduler also places up to :func:`~batchbridge.engine.scheduler.lookahead_vcpus` beyond each
compute environment's capacity (sized by the vCPUs its attempts released per pass lately, see
:func:`release_rate`) and every launch carries the capacity as its gate; the executor starts a
held launch itself when a slot frees, so the next attempt no longer waits for this loop.  Exits
are recorded before starts in a pass, so a successor's RUNNING event follows the SUCCEEDED or
FAILED event of the attempt whose slot it took.  A stop of an attempt whose launch is still under
way is sent at once (after the launch): the executor ends a held launch without running it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from batchbridge.config import Settings
from batchbridge.domain.jobs import Job
from batchbridge.domain.lifecycle import JobStatus
from batchbridge.engine import wakeup
from batchbridge.engine.attempts import (
    LOG_GROUP,
    attempt_id,
    launch_spec,
    mark_running,
    record_exit,
    split_attempt_id,
)
from batchbridge.engine.reconcile import reconcile
from batchbridge.engine.scheduler import (
    Usage,
    advance_submitted,
    lookahead_vcpus,
    place_runnable,
    placement_of,
    release_ready,
)
from batchbridge.engine.transitions import JobWriter, now_ms
from batchbridge.executors.base import (
    CANNOT_START_PREFIX,
    TASK_FAILED_TO_START,
    AttemptExit,
    AttemptInfo,
    Executor,
    OutputLine,
    base_environment,
    supports_start_ahead,
)
from batchbridge.store import jobs as job_store
from batchbridge.store import outbox
from batchbridge.store.db import Database
from batchbridge.store.logs import append_log_events
from batchbridge.store.resolve import list_job_queues_for_scheduling

log = logging.getLogger(__name__)

BATCH = 1000
#: Most PENDING jobs one pass moves to RUNNABLE.  A large array's release is spread over passes so
#: that exits and placements keep flowing meanwhile (a pass of 1,000 releases takes tens of ms,
#: longer than the start-ahead at the executor lasts on short attempts).
RELEASE_BATCH = 150
#: How long a started attempt may wait for its STARTING -> RUNNING pass: an attempt that ends
#: within it has both moves (and its exit) written in one pass instead of two.
RUNNING_DELAY = 0.005
#: Shortest time between the starts of two passes.
PASS_INTERVAL = 0.03
#: Shortest time between two wake-ups of the outbox's consumers (the bus) by the engine.
OUTBOX_NOTIFY_INTERVAL = 0.01


#: Share of the previous per-pass release kept when a pass releases less (see :func:`release_rate`).
RELEASE_DECAY = 0.8


def release_rate(previous: dict[str, float], released: dict[str, float]) -> dict[str, float]:
    """vCPUs released per pass by each compute environment lately: this pass's, or decayed.

    A pass that happened to record few exits (the host agent was busy, the pass came early) must
    not shrink start-ahead at once: that would leave the executor fewer launches, hence fewer
    exits in the next pass, and so on down.  The rate follows a rise at once and falls by
    ``1 - RELEASE_DECAY`` per pass, so after attempts stop being short it returns to the floor
    within a few dozen passes.
    """
    rate = {ce: value * RELEASE_DECAY for ce, value in previous.items() if value * RELEASE_DECAY >= 0.5}
    for ce, value in released.items():
        rate[ce] = max(rate.get(ce, 0.0), value)
    return rate


class JobEngine:
    """Drives jobs through their lifecycle; see the module docstring."""

    def __init__(self, db: Database, settings: Settings, executor: Executor) -> None:
        self.db = db
        self.settings = settings
        self.executor = executor
        self.usage: dict[str, Usage] = {}
        self._lines: list[OutputLine] = []
        self._exits: list[AttemptExit] = []
        self._started: list[AttemptInfo] = []
        self._infos: dict[str, AttemptInfo] = {}
        self._launching: set[str] = set()
        self._deferred_stops: dict[str, str] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._launch_tasks: set[asyncio.Task[None]] = set()
        self._started_wake: asyncio.TimerHandle | None = None
        self._outbox_wake: asyncio.TimerHandle | None = None
        self._outbox_notified = 0.0
        self.passes = 0
        self.start_ahead = supports_start_ahead(executor)
        self._gates: dict[str, float] = {}
        self._released: dict[str, float] = {}
        self._recent: dict[str, float] = {}
        self._placement = placement_of(executor)
        self._base_env = base_environment()
        self._data_dir = Path(settings.data_dir)

    async def start(self) -> None:
        await self.executor.start()
        await reconcile(self)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._consume()), loop.create_task(self._loop())]

    async def stop(self) -> None:
        for timer in (self._started_wake, self._outbox_wake):
            if timer is not None:
                timer.cancel()
        self._started_wake = None
        if self._outbox_wake is not None:
            self._outbox_wake = None
            outbox.notify(self.db)
        for task in [*self._tasks, *self._launch_tasks]:
            task.cancel()
        for task in [*self._tasks, *self._launch_tasks]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        await self.executor.close()

    async def run(self) -> None:
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    # -- loop ------------------------------------------------------------------------------

    async def _consume(self) -> None:
        async for event in self.executor.events():
            if isinstance(event, OutputLine):
                self._lines.append(event)
            else:
                self._exits.append(event)
            wakeup.wake(self.db)

    async def _loop(self) -> None:
        idle = max(self.settings.scheduler_interval * 20, 0.05)
        loop = asyncio.get_running_loop()
        last = -PASS_INTERVAL
        while True:
            await wakeup.wait(self.db, idle)
            pause = last + PASS_INTERVAL - loop.time()
            if pause > 0:
                await asyncio.sleep(pause)
            last = loop.time()
            try:
                busy = await self.tick()
            except Exception:
                log.exception("job engine pass failed")
                busy = False
                await asyncio.sleep(idle)
            if busy:
                wakeup.wake(self.db)

    async def tick(self) -> bool:
        """One pass; ``True`` when it filled a batch and another pass should follow at once."""
        self.passes += 1
        lines, self._lines = self._lines, []
        exits, self._exits = self._exits, []
        started, self._started = self._started, []
        queues = list_job_queues_for_scheduling(self.db, self.settings.memory_mib)
        stops: list[tuple[str, str]] = []
        with self.db.transaction() as conn:
            writer = JobWriter(conn)
            ids = [x.attempt_id for x in lines] + [x.attempt_id for x in exits]
            ids += [x.attempt_id for x in started]
            wanted = {p[0] for p in map(split_attempt_id, ids) if p}
            cache = job_store.get_jobs(conn, sorted(wanted))
            self._store_lines(conn, lines, cache)
            for exit in exits:
                parsed = split_attempt_id(exit.attempt_id)
                job = cache.get(parsed[0]) if parsed else None
                if job is None or parsed is None or job.run.attempt != parsed[1]:
                    continue
                self.apply_exit(writer, job, exit)
            for info in started:
                parsed = split_attempt_id(info.attempt_id)
                job = cache.get(parsed[0]) if parsed else None
                if job is None or parsed is None or job.run.attempt != parsed[1]:
                    continue
                if job.status is JobStatus.STARTING and info.started_at_ms is not None:
                    mark_running(writer, job, info.started_at_ms, info.container_instance_id)
            for job in job_store.stop_requested(conn):
                job_store.request_stop(conn, job.job_id, False)
                if job.status in (JobStatus.STARTING, JobStatus.RUNNING):
                    stops.append((attempt_id(job), job.cancel_reason or "Terminated"))
            n_sub = advance_submitted(conn, writer, BATCH)
            n_ready = release_ready(conn, writer, RELEASE_BATCH)
            lookahead: Callable[[str, float], float] | None = None
            if self.start_ahead:
                self._recent = release_rate(self._recent, self._released)
                self._released = {}
                lookahead = self._lookahead
                for sq in queues:
                    for target in sq.targets:
                        self._gates[target.compute_environment.arn] = target.capacity.vcpus
            placed = place_runnable(conn, writer, queues, self.usage, BATCH, self._placement, lookahead)
            writer.finish()
        loop = asyncio.get_running_loop()
        for job in placed:
            self.start_launch(job)
        for aid, reason in stops:
            if aid in self._launching and not self.start_ahead:
                self._deferred_stops[aid] = reason
            elif aid in self._launching:
                loop.call_soon(self._stop_later, aid, reason)
            else:
                await self.executor.stop(aid, reason)
        for exit in exits:
            await self.executor.acknowledge(exit.attempt_id)
            self._infos.pop(exit.attempt_id, None)
        if writer.events:
            self._notify_outbox(loop)
        return n_sub >= BATCH or n_ready >= RELEASE_BATCH or len(placed) >= BATCH

    def _lookahead(self, ce_arn: str, capacity_vcpus: float) -> float:
        """Start-ahead of one compute environment, from the vCPUs its attempts release per pass."""
        return lookahead_vcpus(capacity_vcpus, self._recent.get(ce_arn, 0.0))

    def apply_exit(self, writer: JobWriter, job: Job, exit: AttemptExit) -> None:
        """Record ``exit`` on ``job`` and give its capacity back if it left STARTING/RUNNING."""
        ce = job.run.compute_environment_arn
        held = job.status in (JobStatus.STARTING, JobStatus.RUNNING)
        if record_exit(writer, job, exit, self._infos.get(exit.attempt_id)) and held and ce:
            self.usage.setdefault(ce, Usage()).add(job, -1)
            self._released[ce] = self._released.get(ce, 0.0) + job.vcpus

    def _store_lines(self, conn: object, lines: list[OutputLine], cache: dict[str, Job]) -> None:
        import sqlite3

        assert isinstance(conn, sqlite3.Connection)
        grouped: dict[str, list[OutputLine]] = {}
        for line in lines:
            grouped.setdefault(line.attempt_id, []).append(line)
        seqs: dict[str, int] = {}
        for aid, items in grouped.items():
            parsed = split_attempt_id(aid)
            job = cache.get(parsed[0]) if parsed else None
            if job is None or parsed is None:
                continue
            stream = self.stream_for(job, parsed[1])
            if stream is None:
                continue
            append_log_events(conn, LOG_GROUP, stream, [(x.timestamp_ms, x.message) for x in items])
            seqs[aid] = max(x.seq for x in items)
        if seqs:
            job_store.record_output_seq(conn, seqs)

    @staticmethod
    def stream_for(job: Job, attempt: int) -> str | None:
        if attempt == job.run.attempt and job.run.task_id:
            return f"{job.definition_name[:200]}/default/{job.run.task_id}"
        if 0 < attempt <= len(job.attempts):
            return job.attempts[attempt - 1].log_stream_name
        return None

    def start_launch(self, job: Job, *, gated: bool = True) -> None:
        """Hand ``job``'s current attempt to the executor on a task of its own.

        With start-ahead, ``gated`` launches carry their compute environment's capacity as gate; a
        launch re-sent after a restart for an attempt the executor already holds is not gated.
        """
        aid = attempt_id(job)
        self._launching.add(aid)
        gate = None
        if self.start_ahead and gated:
            gate = self._gates.get(job.run.compute_environment_arn or "")
        task = asyncio.get_running_loop().create_task(self._launch(job, gate))
        self._launch_tasks.add(task)
        task.add_done_callback(self._launch_tasks.discard)

    def _stop_later(self, aid: str, reason: str) -> None:
        """Send a stop once the launch ahead of it has been handed to the executor."""
        task = asyncio.get_running_loop().create_task(self.executor.stop(aid, reason))
        self._launch_tasks.add(task)
        task.add_done_callback(self._launch_tasks.discard)

    async def _launch(self, job: Job, gate: float | None = None) -> None:
        aid = attempt_id(job)
        try:
            spec = launch_spec(
                job,
                data_dir=self._data_dir,
                images=self.settings.images,
                kill_grace_seconds=self.settings.kill_grace_seconds,
                cpu_priority=self.settings.job_cpu_priority,
                gate_vcpus=gate,
                base_env=self._base_env,
            )
            info = await self.executor.launch(spec)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            stamp = now_ms()
            self._exits.append(
                AttemptExit(aid, None, f"{CANNOT_START_PREFIX}{exc}", TASK_FAILED_TO_START, None, stamp)
            )
        else:
            self._infos[aid] = info
            if info.started_at_ms is not None:
                self._started.append(info)
        finally:
            self._launching.discard(aid)
        reason = self._deferred_stops.pop(aid, None)
        if reason is not None:
            await self.executor.stop(aid, reason)
        if self._exits:
            wakeup.wake(self.db)
        elif self._started_wake is None:
            self._started_wake = asyncio.get_running_loop().call_later(RUNNING_DELAY, self._wake_for_started)

    def _notify_outbox(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wake the outbox's consumers after this pass's launches, at most once per interval.

        Under a stream of short attempts a pass commits every millisecond or two; waking the bus
        for each would make it take the loop (and a transaction) as often.  Events are durable in
        the outbox from their commit; this only decides how soon the bus looks, within
        ``OUTBOX_NOTIFY_INTERVAL``.
        """
        if self._outbox_wake is not None:
            return
        delay = self._outbox_notified + OUTBOX_NOTIFY_INTERVAL - loop.time()
        self._outbox_wake = loop.call_later(max(delay, 0.0), self._wake_outbox)

    def _wake_outbox(self) -> None:
        self._outbox_wake = None
        self._outbox_notified = asyncio.get_running_loop().time()
        outbox.notify(self.db)

    def _wake_for_started(self) -> None:
        self._started_wake = None
        if self._started:
            wakeup.wake(self.db)
