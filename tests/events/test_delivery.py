"""Delivery: matching, transforms, retries, dead-letter queue, restart, per-job order, schedules."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from batchbridge.bus.dispatcher import Dispatcher
from batchbridge.bus.retry import Backoff, ManualClock
from batchbridge.bus.rules import RuleRegistry
from batchbridge.errors import ServiceError
from batchbridge.services.context import RequestContext
from batchbridge.services.events import EventsService, build_eventbridge
from batchbridge.store import deliveries as ds
from batchbridge.store import outbox
from batchbridge.store.db import Database

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:handler"
DLQ = "arn:aws:sqs:us-east-1:123456789012:dlq"
PATTERN = json.dumps({"source": ["my.app"]})
FAST = Backoff(base=0.001, cap=0.002, jitter=False)


class Recorder:
    """A target of the test: records what it receives and fails its first ``failures`` calls."""

    def __init__(self, failures: int = 0, delay: float = 0.0) -> None:
        self.calls: list[tuple[dict[str, Any], bytes, dict[str, Any]]] = []
        self.failures = failures
        self.delay = delay
        self.attempts = 0
        self.received = asyncio.Event()

    async def __call__(self, target: Mapping[str, Any], payload: bytes, event: Mapping[str, Any]) -> None:
        self.attempts += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.attempts <= self.failures:
            raise ServiceError("function crashed", code="Lambda.Unhandled")
        self.calls.append((dict(target), payload, dict(event)))
        self.received.set()


def put(events: EventsService, ctx: RequestContext, detail: dict[str, Any] | None = None) -> str:
    out = events.PutEvents(
        ctx, {"Entries": [{"Source": "my.app", "DetailType": "t", "Detail": json.dumps(detail or {})}]}
    )
    event_id: str = out["Entries"][0]["EventId"]
    return event_id


def rule_with_target(events: EventsService, ctx: RequestContext, **target: Any) -> None:
    events.PutRule(ctx, {"Name": "r", "EventPattern": PATTERN})
    events.PutTargets(ctx, {"Rule": "r", "Targets": [{"Id": "t", "Arn": LAMBDA, **target}]})


async def test_put_event_reaches_target_within_milliseconds(
    db: Database, registry: RuleRegistry, ctx: RequestContext
) -> None:
    fn = Recorder()
    dispatcher = Dispatcher(db, registry, {"lambda": fn})
    events = EventsService(db, registry, on_events=dispatcher.wake)
    rule_with_target(events, ctx)
    await dispatcher.start()
    try:
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        event_id = put(events, ctx, {"n": 1})
        await asyncio.wait_for(fn.received.wait(), 2.0)
        latency = time.perf_counter() - started
    finally:
        await dispatcher.stop()
    assert latency < 0.1, f"delivery took {latency * 1000:.1f} ms"
    _target, payload, event = fn.calls[0]
    assert json.loads(payload) == event and event["id"] == event_id and event["detail"] == {"n": 1}
    with db.read() as conn:
        assert [d.status for d in ds.list_deliveries(conn)] == [ds.DELIVERED]


async def test_disabled_and_unmatched_rules_get_nothing(
    db: Database, registry: RuleRegistry, events: EventsService, ctx: RequestContext
) -> None:
    fn = Recorder()
    dispatcher = Dispatcher(db, registry, {"lambda": fn})
    rule_with_target(events, ctx)
    events.DisableRule(ctx, {"Name": "r"})
    put(events, ctx)
    events.PutEvents(ctx, {"Entries": [{"Source": "other.app", "DetailType": "t", "Detail": "{}"}]})
    await dispatcher.drain()
    assert fn.calls == []
    events.EnableRule(ctx, {"Name": "r"})
    put(events, ctx)
    await dispatcher.drain()
    assert len(fn.calls) == 1


async def test_input_transformer_applied(
    db: Database, registry: RuleRegistry, events: EventsService, ctx: RequestContext
) -> None:
    fn = Recorder()
    transformer = {
        "InputPathsMap": {"n": "$.detail.n"},
        "InputTemplate": '{"value": <n>, "rule": "<aws.events.rule-name>"}',
    }
    rule_with_target(events, ctx, InputTransformer=transformer)
    put(events, ctx, {"n": 42})
    await Dispatcher(db, registry, {"lambda": fn}).drain()
    assert json.loads(fn.calls[0][1]) == {"value": 42, "rule": "r"}


async def test_retry_then_success(
    db: Database, registry: RuleRegistry, events: EventsService, ctx: RequestContext
) -> None:
    fn = Recorder(failures=2)
    rule_with_target(events, ctx)
    put(events, ctx)
    dispatcher = Dispatcher(db, registry, {"lambda": fn}, backoff=FAST)
    for _ in range(50):
        await dispatcher.drain()
        if fn.calls:
            break
        await asyncio.sleep(0.003)
    assert fn.attempts == 3 and len(fn.calls) == 1
    with db.read() as conn:
        (row,) = ds.list_deliveries(conn)
    assert (row.status, row.attempts, row.last_error_code) == (ds.DELIVERED, 3, "Lambda.Unhandled")


async def test_exhausted_retries_go_to_dead_letter_queue(
    db: Database, registry: RuleRegistry, events: EventsService, ctx: RequestContext
) -> None:
    fn = Recorder(failures=100)
    dlq = Recorder()
    rule_with_target(
        events,
        ctx,
        RetryPolicy={"MaximumRetryAttempts": 1, "MaximumEventAgeInSeconds": 60},
        DeadLetterConfig={"Arn": DLQ},
    )
    event_id = put(events, ctx)
    dispatcher = Dispatcher(db, registry, {"lambda": fn, "sqs": dlq}, backoff=FAST)
    for _ in range(50):
        await dispatcher.drain()
        if dlq.calls:
            break
        await asyncio.sleep(0.003)
    assert fn.attempts == 2
    target, body, _ = dlq.calls[0]
    assert target["Arn"] == DLQ and json.loads(body)["id"] == event_id
    attrs = {k: v["StringValue"] for k, v in target["MessageAttributes"].items()}
    assert attrs == {
        "ERROR_CODE": "Lambda.Unhandled",
        "ERROR_MESSAGE": "function crashed",
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttemptsExhausted",
        "RETRY_ATTEMPTS": "1",
        "RULE_ARN": "arn:aws:events:us-east-1:123456789012:rule/r",
        "TARGET_ARN": LAMBDA,
    }
    with db.read() as conn:
        assert [d.status for d in ds.list_deliveries(conn)] == [ds.DEAD_LETTERED]


async def test_exhausted_without_dead_letter_queue_is_dropped(
    db: Database, registry: RuleRegistry, events: EventsService, ctx: RequestContext
) -> None:
    fn = Recorder(failures=100)
    rule_with_target(events, ctx, RetryPolicy={"MaximumRetryAttempts": 0})
    put(events, ctx)
    await Dispatcher(db, registry, {"lambda": fn}, backoff=FAST).drain()
    with db.read() as conn:
        (row,) = ds.list_deliveries(conn)
    assert (row.status, row.attempts, fn.attempts) == (ds.DROPPED, 1, 1)


async def test_pending_and_in_flight_deliveries_survive_restart(db_path: Path, ctx: RequestContext) -> None:
    db = Database.open(db_path)
    registry = RuleRegistry()
    events = EventsService(db, registry)
    rule_with_target(events, ctx)
    ids = [put(events, ctx, {"n": n}) for n in range(3)]
    first = Dispatcher(db, registry, {"lambda": Recorder()})
    first.ingest_outbox()
    first.match_events()
    with db.transaction() as conn:
        claimed = ds.due_deliveries(conn, time.time() + 1, 1)
        assert ds.mark_in_flight(conn, claimed[0].seq, time.time())
    db.close()

    reopened = Database.open(db_path)
    try:
        fn = Recorder()
        bridge = build_eventbridge(reopened, {"lambda": fn})
        dispatcher = bridge.dispatcher
        assert dispatcher.recover() == 1
        await dispatcher.drain()
        assert [e["id"] for _, _, e in fn.calls] == ids
        put(bridge.service, ctx)
        await dispatcher.drain()
        assert len(fn.calls) == 4
    finally:
        reopened.close()


async def test_batch_outbox_events_keep_per_job_order(
    db: Database, registry: RuleRegistry, events: EventsService, ctx: RequestContext
) -> None:
    events.PutRule(ctx, {"Name": "batch", "EventPattern": json.dumps({"source": ["aws.batch"]})})
    events.PutTargets(ctx, {"Rule": "batch", "Targets": [{"Id": "t", "Arn": LAMBDA}]})
    seen: list[tuple[str, str]] = []

    async def slow_first(target: Mapping[str, Any], payload: bytes, event: Mapping[str, Any]) -> None:
        detail = event["detail"]
        await asyncio.sleep(0.03 if detail["status"] == "RUNNABLE" else 0.0)
        seen.append((detail["jobId"], detail["status"]))

    statuses = ["RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"]
    batch_events = [
        {
            "version": "0",
            "id": f"{job}-{status}",
            "detail-type": "Batch Job State Change",
            "source": "aws.batch",
            "account": "123456789012",
            "time": "2024-01-01T00:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": {"jobId": job, "status": status},
        }
        for status in statuses
        for job in ("job-a", "job-b")
    ]
    with db.transaction() as conn:
        outbox.append_events(conn, batch_events)
    dispatcher = Dispatcher(db, registry, {"lambda": slow_first})
    await dispatcher.start()
    try:
        outbox.notify(db)
        for _ in range(200):
            if len(seen) == 8:
                break
            await asyncio.sleep(0.01)
    finally:
        await dispatcher.stop()
    for job in ("job-a", "job-b"):
        assert [s for j, s in seen if j == job] == statuses
    assert outbox.Outbox(db).read() == []


async def test_schedule_rule_fires_scheduled_event(
    db: Database, registry: RuleRegistry, ctx: RequestContext
) -> None:
    clock = ManualClock(1_700_000_000.0)
    events = EventsService(db, registry, clock=clock.now)
    arn = events.PutRule(ctx, {"Name": "tick", "ScheduleExpression": "rate(1 minute)"})["RuleArn"]
    events.PutTargets(ctx, {"Rule": "tick", "Targets": [{"Id": "t", "Arn": LAMBDA}]})
    fn = Recorder()
    dispatcher = Dispatcher(db, registry, {"lambda": fn}, clock=clock)
    await dispatcher.drain()
    assert fn.calls == []
    clock.advance(60)
    await dispatcher.drain()
    clock.advance(30)
    await dispatcher.drain()
    assert len(fn.calls) == 1
    event = fn.calls[0][2]
    assert (event["source"], event["detail-type"], event["resources"], event["detail"]) == (
        "aws.events",
        "Scheduled Event",
        [arn],
        {},
    )
    assert event["time"] == "2023-11-14T22:14:20Z"
    clock.advance(30)
    await dispatcher.drain()
    assert len(fn.calls) == 2
