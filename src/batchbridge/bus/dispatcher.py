"""The delivery loop: drain new events, fire schedules, match, write deliveries, attempt them.

AWS behaviour emulated: EventBridge delivers at least once, retries failed targets within their
retry policy and dead-letters or drops what cannot be delivered; AWS Batch events are "durable"
deliveries.  Here each step is a transaction in the store, so a crash at any point loses nothing:

1. Batch's new outbox rows are matched against the ``default`` bus's rules; the matched ones are
   recorded on the bus's event log with their deliveries and the outbox's consumer cursor moves
   past all of them, in one transaction.  An event that matches no rule leaves no row behind, and
   with no enabled pattern rule on the bus the events are not read at all (only the cursor moves).
   The outbox's wake-ups start a pass only while the bus has such a rule; when it gets its first
   one, the cursor first passes every event written before (none of them could match anything).
2. Enabled schedule rules that are due append a ``Scheduled Event`` addressed to that rule alone
   and move their next firing time, in one transaction.
3. Other unmatched events (``PutEvents``, another bus) are matched against the enabled rules of
   their bus (:class:`RuleRegistry`); one delivery per (event, rule, target) is written in the
   transaction that marks the event matched.
4. Due deliveries are claimed (``in-flight``) and attempted concurrently, except that a lane
   (rule, target, ordering key) runs one delivery at a time, oldest first.  Success marks it
   ``delivered``; failure reschedules it with backoff or ends it dead-lettered / dropped.
   Successes are recorded together at the start of the next pass (one transaction for all the
   attempts that ended meanwhile), before any further delivery of the same lane is claimed.  An
   ending attempt starts a pass only once few attempts remain under way (``refill_at``), and then
   within ``REFILL_SECONDS`` rather than at once, so a backlog costs one pass per refill and a
   stream of short attempts one pass per interval instead of one per delivery; new events still
   wake the loop at once.
   At most ``batch_size`` attempts are under way; a full dispatcher claims nothing more (and does
   not look for due deliveries) until attempts end.

Steps 1-4 of one pass share one write transaction (each step a savepoint inside it), so a pass
costs one commit however many steps have work; attempts start once the claim is committed.  A pass
claims the deliveries already due first; the fresh deliveries of step 1 that head their lane are
then written ``in-flight`` directly, within the room left, as a claim in the same transaction
would mark them.

At start-up in-flight deliveries return to pending (they may have been attempted: at-least-once;
this includes a success not yet recorded when the process died, a window of one pass).
The loop sleeps until the next due time, and is woken at once by :meth:`Dispatcher.wake` (called
by ``PutEvents`` and by the outbox's listener), so a fresh event reaches its target within
milliseconds instead of a polling period.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import sqlite3
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from batchbridge.bus import delivery as dl
from batchbridge.bus.entries import format_time, scheduled_event
from batchbridge.bus.retry import Backoff, Clock, RetryPolicy, SystemClock
from batchbridge.bus.rules import RuleRegistry
from batchbridge.bus.schedule import RateSchedule, ScheduleError, parse_schedule
from batchbridge.bus.transform import RuleInfo, receives_whole_event, render_input
from batchbridge.store import deliveries as ds
from batchbridge.store import events as es
from batchbridge.store import outbox as ob
from batchbridge.store.db import Database
from batchbridge.store.outbox import Outbox

log = logging.getLogger(__name__)

DEFAULT_BUS = "default"
#: Longest sleep without a wake-up, so rows written by another process are still found.
IDLE_POLL_SECONDS = 1.0
#: Longest wait between an attempt's end and the pass that records it and refills the dispatcher.
REFILL_SECONDS = 0.01


def next_schedule_time(expression: str, previous: float | None, now: float) -> float | None:
    """When a schedule rule fires next, after ``now`` (and one period after ``previous`` for rates)."""
    try:
        schedule = parse_schedule(expression)
    except ScheduleError:
        return None
    if isinstance(schedule, RateSchedule):
        base = previous if previous is not None else now
        following = base + schedule.seconds
        return following if following > now else now + schedule.seconds
    try:
        return schedule.next_fire(datetime.fromtimestamp(now, UTC)).timestamp()
    except ScheduleError:
        return None


class Dispatcher:
    """See the module docstring.  ``invokers`` maps target kinds to async callables."""

    def __init__(
        self,
        db: Database,
        registry: RuleRegistry,
        invokers: Mapping[str, dl.Invoker],
        *,
        clock: Clock | None = None,
        backoff: Backoff | None = None,
        batch_size: int = 200,
        concurrency: int = 64,
        rng: random.Random | None = None,
        ingest_batch: int = 1000,
    ) -> None:
        self.db = db
        self.registry = registry
        self.invokers: dict[str, dl.Invoker] = dict(invokers)
        self.invokers.setdefault("events", self._to_bus)
        self.clock = clock or SystemClock()
        self.backoff = backoff or Backoff()
        self.batch_size = batch_size
        #: Most outbox events one pass takes when a rule may match them.
        self.ingest_batch = max(1, ingest_batch)
        self._backlog = False
        self._refill: asyncio.TimerHandle | None = None
        #: An ending attempt wakes the loop only when this few or fewer attempts remain under way.
        self.refill_at = max(1, batch_size // 4)
        self.outbox = Outbox(db)
        self._rng = rng or random.Random()
        self._semaphore = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: asyncio.Task[None] | None = None
        self._stopping = False
        self._delivered: list[int] = []
        self.outbox.add_listener(self._outbox_written)
        registry.on_activation(self._bus_activated)

    def wake(self) -> None:
        """Make the loop run a pass now; safe from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    def _wake_soon(self) -> None:
        """Run a pass within ``REFILL_SECONDS`` (on the loop's thread): the attempts ending until
        then share it, so a stream of short attempts costs a pass per interval, not per attempt."""
        loop = self._loop
        if self._refill is None and loop is not None and not loop.is_closed():
            self._refill = loop.call_later(REFILL_SECONDS, self._refill_due)

    def _refill_due(self) -> None:
        self._refill = None
        self.wake()

    def _outbox_written(self) -> None:
        """New outbox events: a pass now only when a rule of the default bus may match them; else
        they are passed over by the next pass that runs anyway (at most ``IDLE_POLL_SECONDS``)."""
        if self.registry.has_rules(DEFAULT_BUS):
            self.wake()

    def _bus_activated(self, bus: str) -> None:
        """The default bus gets its first enabled pattern rule: the outbox events not yet taken
        were written while no rule could match them, so the cursor passes them now (the new rule
        sees only events put after it exists, as on AWS)."""
        if bus != DEFAULT_BUS:
            return
        with self.db.transaction() as conn:
            ob.advance(conn, ob.last_position(conn))

    def recover(self) -> int:
        """Return in-flight deliveries to pending (after a restart); how many there were."""
        with self.db.transaction() as conn:
            return ds.reset_in_flight(conn, self.clock.now())

    async def start(self) -> None:
        """Recover, then run the loop as a task of the current event loop."""
        self._loop = asyncio.get_running_loop()
        self.recover()
        self._stopping = False
        self._runner = asyncio.create_task(self._run(), name="eventbridge-dispatcher")

    async def run(self) -> None:
        """Run until cancelled: the form ``Application.add_background_task`` takes."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Stop the loop and wait for attempts under way."""
        self._stopping = True
        if self._refill is not None:
            self._refill.cancel()
            self._refill = None
        self._wake.set()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self.record_delivered()

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                next_at = self.step()
            except Exception:
                log.exception("event dispatch pass failed")
                next_at = None
            timeout = IDLE_POLL_SECONDS
            if next_at is not None:
                timeout = min(timeout, max(0.0, next_at - self.clock.now()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def step(self) -> float | None:
        """One pass: ingest, fire, match, start due attempts; the next time work falls due."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        if self._refill is not None:
            self._refill.cancel()
            self._refill = None
        done, self._delivered = self._delivered, []
        self._backlog = False
        try:
            with self.db.transaction() as conn:
                if done:
                    ds.finish_delivered(conn, done, self.clock.now())
                started = self._claim(conn)
                started += self._ingest_outbox(self.batch_size - len(self._tasks) - len(started))[1]
                fresh = self.fire_schedules()
                while self.match_events():
                    fresh += 1
                if fresh:
                    started += self._claim(conn, len(started))
        except BaseException:
            self._delivered[:0] = done
            raise
        self._launch(started)
        if self._backlog:
            return self.clock.now()
        with self.db.read() as conn:
            due = ds.next_due_time(conn) if len(self._tasks) < self.batch_size else None
            times = [t for t in (due, es.next_schedule_time(conn)) if t is not None]
        return min(times) if times else None

    async def drain(self, timeout: float = 10.0) -> None:
        """Run passes until nothing is due now and no attempt is under way (tests, shutdown)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            next_at = self.step()
            if self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
                continue
            if next_at is None or next_at > self.clock.now():
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("deliveries still due after drain timeout")
            await asyncio.sleep(0)

    def ingest_outbox(self) -> int:
        """Take Batch's new outbox events onto the default bus; how many outbox positions it passed.

        Their deliveries are left ``pending`` for the next claim (see :meth:`_ingest_outbox`).
        """
        return self._ingest_outbox(0)[0]

    def _ingest_outbox(self, claim: int) -> tuple[int, list[tuple[ds.Delivery, ds.BusEvent]]]:
        """Take Batch's new outbox events onto the default bus: how many outbox positions it
        passed, and the deliveries claimed as they were written (up to ``claim``), with their events.

        With no enabled pattern rule on the default bus the events are not even read (the cursor
        moves to the last position).  When every rule tests only envelope members the outbox keeps
        in columns (``source``, ``detail-type``), events are matched on those and never parsed; else
        each is parsed once.  Only the matched ones are recorded on the bus's event log, by
        reference to their outbox row, with their deliveries.  AWS's rule for a rule put later
        holds either way: it sees only events put after it exists.  Up to ``ingest_batch`` events
        per pass; a longer backlog makes the pass ask for another at once (:attr:`_backlog`).
        """
        now = self.clock.now()
        with self.db.transaction() as conn:
            after = ob.consumed_up_to(conn)
            if not self.registry.has_rules(DEFAULT_BUS):
                last = ob.last_position(conn)
                if last > after:
                    ob.advance(conn, last)
                return max(0, last - after), []
            rows = ob.pending_rows(conn, after, self.ingest_batch)
            if not rows:
                return 0, []
            self._backlog = len(rows) >= self.ingest_batch
            envelope_only = self.registry.reads_only_envelope(DEFAULT_BUS)
            targets_of: dict[int, tuple[es.RuleRecord | None, list[es.TargetRecord]]] = {}
            matched: list[tuple[ob.PendingRow, str, list[int]]] = []
            for row in rows:
                if envelope_only:
                    event: dict[str, Any] = {"source": row.source, "detail-type": row.detail_type}
                    key = dl.order_key_of(row.source, row.job_id, row.event_id)
                else:
                    event = json.loads(row.body)
                    key = dl.order_key(event)
                rule_ids = self.registry.match(DEFAULT_BUS, event)
                if rule_ids:
                    matched.append((row, key, rule_ids))
            started: list[tuple[ds.Delivery, ds.BusEvent]] = []
            if matched:
                seqs = ds.append_outbox_events(
                    conn, DEFAULT_BUS, [(row.event_id, row.position) for row, _, _ in matched], now
                )
                new: list[ds.NewDelivery] = []
                bodies: dict[int, ob.PendingRow] = {}
                for seq, (row, key, rule_ids) in zip(seqs, matched, strict=True):
                    new.extend(self._deliveries(conn, seq, key, rule_ids, targets_of))
                    bodies[seq] = row
                for item in ds.insert_deliveries(conn, new, now, claim=max(0, claim)):
                    row = bodies[item.event_seq]
                    started.append(
                        (item, ds.BusEvent(item.event_seq, row.event_id, DEFAULT_BUS, None, row.body, now))
                    )
            ob.advance(conn, rows[-1].position)
        return rows[-1].position - after, started

    def _deliveries(
        self,
        conn: sqlite3.Connection,
        seq: int,
        key: str,
        rule_ids: list[int],
        targets_of: dict[int, tuple[es.RuleRecord | None, list[es.TargetRecord]]],
    ) -> list[ds.NewDelivery]:
        """One delivery per target of each enabled rule of ``rule_ids`` (rules read once per pass),
        in the ordering lane ``key``."""
        new: list[ds.NewDelivery] = []
        for rule_id in rule_ids:
            if rule_id not in targets_of:
                rule = es.get_rule_by_id(conn, rule_id)
                targets_of[rule_id] = (rule, es.list_targets(conn, rule_id) if rule else [])
            rule, targets = targets_of[rule_id]
            if rule is None or not rule.enabled:
                continue
            new.extend(
                ds.NewDelivery(seq, rule.id, rule.arn, rule.name, t.target_id, t.body, key) for t in targets
            )
        return new

    def record_delivered(self) -> int:
        """Mark the deliveries that succeeded since the last pass ``delivered``, in one transaction."""
        done, self._delivered = self._delivered, []
        if done:
            now = self.clock.now()
            try:
                with self.db.transaction() as conn:
                    ds.finish_delivered(conn, done, now)
            except BaseException:
                self._delivered[:0] = done
                raise
        return len(done)

    def fire_schedules(self) -> int:
        """Append a ``Scheduled Event`` for every due schedule rule and move its next firing."""
        now = self.clock.now()
        with self.db.read() as conn:
            next_at = es.next_schedule_time(conn)
        if next_at is None or next_at > now:
            return 0
        with self.db.transaction() as conn:
            due = es.due_schedules(conn, now)
            for rule in due:
                assert rule.schedule is not None
                fired_at = rule.next_fire_at or now
                event = scheduled_event(
                    rule.arn, _account(rule.arn), _region(rule.arn), datetime.fromtimestamp(fired_at, UTC)
                )
                ds.append_bus_event(conn, rule.bus, event, now, rule_id=rule.id)
                es.set_next_fire(conn, rule.id, next_schedule_time(rule.schedule, rule.next_fire_at, now))
        return len(due)

    def match_events(self) -> int:
        """Match a batch of new events and write their deliveries; how many events were taken."""
        now = self.clock.now()
        with self.db.read() as conn:
            if not ds.unmatched_events(conn, 1):
                return 0
        with self.db.transaction() as conn:
            events = ds.unmatched_events(conn, self.batch_size)
            targets_of: dict[int, tuple[es.RuleRecord | None, list[es.TargetRecord]]] = {}
            new: list[ds.NewDelivery] = []
            for item in events:
                rule_ids = (
                    [item.rule_id] if item.rule_id is not None else self.registry.match(item.bus, item.event)
                )
                if rule_ids:
                    key = dl.order_key(item.event)
                    new.extend(self._deliveries(conn, item.seq, key, rule_ids, targets_of))
            ds.insert_deliveries(conn, new, now)
            ds.mark_matched(conn, [e.seq for e in events], now)
        return len(events)

    def start_due(self) -> int:
        """Claim due deliveries, up to ``batch_size`` under way, and start their attempts as tasks."""
        with self.db.transaction() as conn:
            started = self._claim(conn)
        return self._launch(started)

    def _claim(self, conn: sqlite3.Connection, taken: int = 0) -> list[tuple[ds.Delivery, ds.BusEvent]]:
        room = self.batch_size - len(self._tasks) - taken
        return ds.claim_due(conn, self.clock.now(), room) if room > 0 else []

    def _launch(self, started: list[tuple[ds.Delivery, ds.BusEvent]]) -> int:
        """Start the attempts of claimed deliveries (after the claim is committed)."""
        loop = asyncio.get_running_loop()
        for item, event in started:
            task = loop.create_task(self._attempt(item, event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(started)

    async def _attempt(self, item: ds.Delivery, event: ds.BusEvent) -> None:
        attempts = item.attempts + 1
        async with self._semaphore:
            try:
                kind = dl.target_kind(str(item.target.get("Arn", "")))
                invoker = self.invokers.get(kind or "")
                if invoker is None:
                    raise dl.TargetError(
                        "UnsupportedTarget", f"No invoker for target {item.target.get('Arn')}"
                    )
                if receives_whole_event(item.target):
                    payload = event.body.encode()
                else:
                    payload = render_input(
                        item.target,
                        event.event,
                        RuleInfo(item.rule_arn, item.rule_name),
                        format_time(datetime.fromtimestamp(event.ingested_at, UTC)),
                    )
                await invoker(item.target, payload, LazyEvent(event))
            except Exception as exc:
                await self._failed(item, event, attempts, *dl.error_of(exc))
            else:
                self._delivered.append(item.seq)
        if len(self._tasks) <= self.refill_at:
            self._wake_soon()

    async def _failed(
        self, item: ds.Delivery, event: ds.BusEvent, attempts: int, code: str, message: str
    ) -> None:
        now = self.clock.now()
        policy = RetryPolicy.from_params(item.target.get("RetryPolicy"))
        condition = policy.exhausted(attempts, item.first_seen, now)
        if condition is None:
            retry_at = now + self.backoff.delay(attempts, self._rng)
            with self.db.transaction() as conn:
                ds.reschedule(conn, item.seq, retry_at, now, code, message)
            return
        dlq = dl.dead_letter_target(item.target, item.rule_arn, code, message, condition, attempts)
        status = ds.DROPPED
        if dlq is not None and "sqs" in self.invokers:
            body = _json(event.event)
            try:
                await self.invokers["sqs"](dlq, body, event.event)
                status = ds.DEAD_LETTERED
            except Exception as dlq_exc:
                dlq_code, dlq_message = dl.error_of(dlq_exc)
                log.warning("dead-letter queue %s refused an event: %s %s", dlq["Arn"], dlq_code, dlq_message)
        with self.db.transaction() as conn:
            ds.finish(conn, item.seq, status, self.clock.now(), code, message)

    async def _to_bus(self, target: Mapping[str, Any], payload: bytes, event: Mapping[str, Any]) -> None:
        """The built-in ``events`` invoker: put the event on another bus of this server."""
        name = dl.bus_name_of(str(target.get("Arn", "")))
        with self.db.transaction() as conn:
            if es.get_bus(conn, name) is None and name != DEFAULT_BUS:
                raise dl.TargetError("ResourceNotFoundException", f"Event bus {name} does not exist.")
            ds.append_bus_event(conn, name, dict(event), self.clock.now())
        self.wake()


class LazyEvent(Mapping[str, Any]):
    """The event handed to an invoker, parsed from its stored JSON only when an invoker reads it."""

    __slots__ = ("_source",)

    def __init__(self, source: ds.BusEvent) -> None:
        self._source = source

    def __getitem__(self, key: str) -> Any:
        return self._source.event[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._source.event)

    def __len__(self) -> int:
        return len(self._source.event)


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _account(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 else ""


def _region(arn: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 else ""
