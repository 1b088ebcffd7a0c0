"""Ingesting Batch's outbox: a consumer cursor instead of per-row marks, and only matched events
copied onto the bus's event log."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from batchbridge.bus.dispatcher import Dispatcher
from batchbridge.bus.rules import RuleRegistry
from batchbridge.services.context import RequestContext
from batchbridge.services.events import EventsService, build_eventbridge
from batchbridge.store import deliveries as ds
from batchbridge.store import outbox
from batchbridge.store.db import Database

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:handler"


class Capture:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def __call__(self, target: Mapping[str, Any], payload: bytes, event: Mapping[str, Any]) -> None:
        self.events.append(json.loads(payload))


def batch_event(n: int, status: str = "RUNNABLE", job: str = "job-a") -> dict[str, Any]:
    return {
        "version": "0",
        "id": f"e{n}",
        "detail-type": "Batch Job State Change",
        "source": "aws.batch",
        "detail": {"jobId": job, "status": status, "n": n},
    }


def write(db: Database, events: list[dict[str, Any]]) -> None:
    with db.transaction() as conn:
        outbox.append_events(conn, events)


def put_rule(db: Database, registry: RuleRegistry, ctx: RequestContext, pattern: dict[str, Any]) -> None:
    service = EventsService(db, registry)
    service.PutRule(ctx, {"Name": "r", "EventPattern": json.dumps(pattern)})
    service.PutTargets(ctx, {"Rule": "r", "Targets": [{"Id": "t", "Arn": LAMBDA}]})


def bus_log(db: Database) -> list[str]:
    with db.read() as conn:
        return [row[0] for row in conn.execute("SELECT event_id FROM bus_events ORDER BY seq")]


def cursor(db: Database) -> int:
    with db.read() as conn:
        return outbox.consumed_up_to(conn)


def test_with_no_rule_the_events_are_consumed_without_a_copy(db: Database, registry: RuleRegistry) -> None:
    write(db, [batch_event(n) for n in range(5)])
    dispatcher = Dispatcher(db, registry, {"lambda": Capture()})
    assert dispatcher.ingest_outbox() == 5
    assert bus_log(db) == []
    assert outbox.Outbox(db).read() == []
    assert all(item.consumed for item in outbox.Outbox(db).read_all())
    assert dispatcher.ingest_outbox() == 0
    write(db, [batch_event(5)])
    assert [item.event_id for item in outbox.Outbox(db).read()] == ["e5"]
    assert dispatcher.ingest_outbox() == 1
    with db.read() as conn:
        assert cursor(db) == outbox.last_position(conn)


def test_only_matched_events_reach_the_bus_log_and_the_cursor_passes_all(
    db: Database, registry: RuleRegistry, ctx: RequestContext
) -> None:
    put_rule(db, registry, ctx, {"source": ["aws.batch"], "detail": {"status": ["SUCCEEDED"]}})
    statuses = ["RUNNABLE", "SUCCEEDED", "RUNNING", "SUCCEEDED", "FAILED"]
    write(db, [batch_event(n, s, job=f"job-{n}") for n, s in enumerate(statuses)])
    dispatcher = Dispatcher(db, registry, {"lambda": Capture()})
    assert dispatcher.ingest_outbox() == 5
    assert bus_log(db) == ["e1", "e3"]
    with db.read() as conn:
        deliveries = ds.list_deliveries(conn)
        assert [ds.get_event(conn, d.event_seq).event_id for d in deliveries] == ["e1", "e3"]  # type: ignore[union-attr]
    assert [d.order_key for d in deliveries] == ["job:job-1", "job:job-3"]
    assert outbox.Outbox(db).read() == []


async def test_a_rule_put_later_sees_only_the_events_after_it(
    db: Database, registry: RuleRegistry, ctx: RequestContext
) -> None:
    capture = Capture()
    dispatcher = Dispatcher(db, registry, {"lambda": capture})
    write(db, [batch_event(n) for n in range(3)])
    await dispatcher.drain()
    put_rule(db, registry, ctx, {"source": ["aws.batch"]})
    write(db, [batch_event(n) for n in range(3, 6)])
    await dispatcher.drain()
    assert [e["id"] for e in capture.events] == ["e3", "e4", "e5"]


async def test_a_backlog_is_taken_in_batches_each_asking_for_the_next_pass(
    db: Database, registry: RuleRegistry, ctx: RequestContext
) -> None:
    put_rule(db, registry, ctx, {"source": ["aws.batch"]})
    write(db, [batch_event(n) for n in range(7)])
    capture = Capture()
    dispatcher = Dispatcher(db, registry, {"lambda": capture}, ingest_batch=3)
    assert dispatcher.ingest_outbox() == 3
    assert bus_log(db) == ["e0", "e1", "e2"]
    next_at = dispatcher.step()
    assert next_at is not None and next_at <= time.time()
    await dispatcher.drain()
    assert [e["id"] for e in capture.events] == [f"e{n}" for n in range(7)]
    assert outbox.Outbox(db).read() == []


def test_the_cursor_never_moves_back(db: Database) -> None:
    write(db, [batch_event(n) for n in range(4)])
    with db.transaction() as conn:
        outbox.advance(conn, 3)
        outbox.advance(conn, 1)
    assert cursor(db) == 3
    outbox.Outbox(db).mark_consumed([2, 4])
    assert cursor(db) == 4
    outbox.Outbox(db).mark_consumed([])
    assert cursor(db) == 4


def _old_database(path: Path, consumed: list[bool]) -> None:
    """A database as the first two outbox migrations left it, with per-row consumption marks."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(
            "CREATE TABLE schema_migrations (id TEXT PRIMARY KEY, module TEXT NOT NULL, applied_at TEXT)"
        )
        for migration_id, script in outbox.MIGRATIONS[:2]:
            conn.executescript(script)
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?, 'batchbridge.store.outbox', 'then')",
                (migration_id,),
            )
        for n, done in enumerate(consumed):
            conn.execute(
                "INSERT INTO outbox(event_id, source, detail_type, body, created_at, consumed_at) "
                "VALUES (?, 'aws.batch', 'Batch Job State Change', ?, 0, ?)",
                (f"e{n}", json.dumps(batch_event(n)), 1 if done else None),
            )
    finally:
        conn.close()


def test_migration_starts_the_cursor_after_the_consumed_events(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    _old_database(path, [True, True, True, False, False])
    with Database.open(path) as db:
        assert cursor(db) == 3
        assert [item.event_id for item in outbox.Outbox(db).read()] == ["e3", "e4"]
        with db.read() as conn:
            indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "outbox_unconsumed" not in indexes


def test_migration_of_a_fully_consumed_or_empty_outbox(tmp_path: Path) -> None:
    full, empty = tmp_path / "full.sqlite3", tmp_path / "empty.sqlite3"
    _old_database(full, [True, True])
    _old_database(empty, [])
    with Database.open(full) as db:
        assert cursor(db) == 2
        assert outbox.Outbox(db).read() == []
    with Database.open(empty) as db:
        assert cursor(db) == 0
        write(db, [batch_event(0)])
        assert [item.event_id for item in outbox.Outbox(db).read()] == ["e0"]


async def test_first_rule_passes_over_events_written_before_it_without_a_pass_between(
    db: Database, registry: RuleRegistry, ctx: RequestContext
) -> None:
    capture = Capture()
    dispatcher = Dispatcher(db, registry, {"lambda": capture})
    write(db, [batch_event(n) for n in range(3)])
    put_rule(db, registry, ctx, {"source": ["aws.batch"]})
    with db.read() as conn:
        assert cursor(db) == outbox.last_position(conn)
    write(db, [batch_event(3)])
    await dispatcher.drain()
    assert [e["id"] for e in capture.events] == ["e3"]


async def test_replacing_the_only_rule_keeps_the_events_waiting_for_it(
    db: Database, registry: RuleRegistry, ctx: RequestContext
) -> None:
    capture = Capture()
    dispatcher = Dispatcher(db, registry, {"lambda": capture})
    put_rule(db, registry, ctx, {"source": ["aws.batch"]})
    write(db, [batch_event(n) for n in range(3)])
    put_rule(db, registry, ctx, {"source": ["aws.batch"], "detail-type": ["Batch Job State Change"]})
    await dispatcher.drain()
    assert [e["id"] for e in capture.events] == ["e0", "e1", "e2"]


async def test_outbox_wakes_start_a_pass_only_while_a_rule_may_match(
    db: Database, registry: RuleRegistry, ctx: RequestContext
) -> None:
    capture = Capture()
    dispatcher = Dispatcher(db, registry, {"lambda": capture})
    await dispatcher.start()
    try:
        await asyncio.sleep(0.05)
        write(db, [batch_event(0)])
        outbox.notify(db)
        await asyncio.sleep(0.1)
        assert [item.event_id for item in outbox.Outbox(db).read()] == ["e0"]
        put_rule(db, registry, ctx, {"source": ["aws.batch"]})
        write(db, [batch_event(1)])
        outbox.notify(db)
        for _ in range(100):
            if capture.events:
                break
            await asyncio.sleep(0.01)
        assert [e["id"] for e in capture.events] == ["e1"]
    finally:
        await dispatcher.stop()


def test_rules_on_envelope_members_match_outbox_rows_without_parsing_them(
    db: Database, registry: RuleRegistry, ctx: RequestContext
) -> None:
    put_rule(db, registry, ctx, {"source": ["aws.batch"], "detail-type": ["Batch Job State Change"]})
    assert registry.reads_only_envelope("default")
    with db.transaction() as conn:
        outbox.append_encoded(
            conn,
            [
                ("u1", "aws.batch", "Batch Job State Change", "not json", "job-u"),
                ("u2", "aws.other", "Batch Job State Change", "not json", "job-v"),
                ("u3", "aws.batch", "Batch Job State Change", "not json", None),
            ],
        )
    Dispatcher(db, registry, {"lambda": Capture()}).ingest_outbox()
    assert bus_log(db) == ["u1", "u3"]
    with db.read() as conn:
        assert [d.order_key for d in ds.list_deliveries(conn)] == ["job:job-u", "event:u3"]


def test_a_rule_on_the_detail_makes_the_dispatcher_parse_events(
    db: Database, registry: RuleRegistry, ctx: RequestContext
) -> None:
    put_rule(db, registry, ctx, {"source": ["aws.batch"], "detail": {"status": ["SUCCEEDED"]}})
    assert not registry.reads_only_envelope("default")
    put_rule(db, registry, ctx, {"$or": [{"source": ["aws.batch"]}, {"detail-type": ["x"]}]})
    assert not registry.reads_only_envelope("default")
    put_rule(db, registry, ctx, {"source": ["aws.batch"]})
    assert registry.reads_only_envelope("default")


async def test_outbox_events_are_recorded_by_reference_and_delivered_as_stored(
    db: Database, registry: RuleRegistry, ctx: RequestContext
) -> None:
    put_rule(db, registry, ctx, {"source": ["aws.batch"]})
    event = batch_event(0, "SUCCEEDED")
    event["detail"]["colour"] = "rouge \u00e9carlate \u2603"
    write(db, [event])
    received: list[bytes] = []

    async def target(target: Mapping[str, Any], payload: bytes, whole: Mapping[str, Any]) -> None:
        received.append(payload)
        assert whole["id"] == "e0"

    dispatcher = Dispatcher(db, registry, {"lambda": target})
    dispatcher.ingest_outbox()
    with db.read() as conn:
        (row,) = conn.execute("SELECT seq, body, outbox_position FROM bus_events").fetchall()
        assert row["body"] == ""
        assert row["outbox_position"] == outbox.last_position(conn)
        stored = ds.get_event(conn, row["seq"])
    assert stored is not None and stored.event == event
    await dispatcher.drain()
    assert received == [outbox.encode_event(event).encode()]
    assert "\u2603".encode() in received[0]


class Gate:
    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.ids: list[str] = []

    async def __call__(self, target: Mapping[str, Any], payload: bytes, event: Mapping[str, Any]) -> None:
        await self.open.wait()
        self.ids.append(json.loads(payload)["id"])


async def test_a_pass_claims_fresh_deliveries_as_it_writes_them_within_its_room(
    db: Database, registry: RuleRegistry, ctx: RequestContext
) -> None:
    put_rule(db, registry, ctx, {"source": ["aws.batch"]})
    write(db, [batch_event(n, job=f"job-{n}") for n in range(5)] + [batch_event(5, job="job-0")])
    target = Gate()
    dispatcher = Dispatcher(db, registry, {"lambda": target}, batch_size=3)
    statements: list[str] = []
    with db.read() as conn:
        conn.set_trace_callback(statements.append)
    try:
        dispatcher.step()
    finally:
        with db.read() as conn:
            conn.set_trace_callback(None)
    assert not any("SET status = 'in-flight'" in s for s in statements)
    with db.read() as conn:
        rows = [(d.order_key, d.status, d.attempts) for d in ds.list_deliveries(conn)]
    assert rows == [
        ("job:job-0", ds.IN_FLIGHT, 1),
        ("job:job-1", ds.IN_FLIGHT, 1),
        ("job:job-2", ds.IN_FLIGHT, 1),
        ("job:job-3", ds.PENDING, 0),
        ("job:job-4", ds.PENDING, 0),
        ("job:job-0", ds.WAITING, 0),
    ]
    assert len(dispatcher._tasks) == 3
    target.open.set()
    await dispatcher.drain()
    assert sorted(target.ids) == [f"e{n}" for n in range(6)]
    assert target.ids.index("e0") < target.ids.index("e5")
    with db.read() as conn:
        assert {d.status for d in ds.list_deliveries(conn)} == {ds.DELIVERED}


async def test_deliveries_claimed_as_written_return_to_pending_after_a_restart(
    db_path: Path, ctx: RequestContext
) -> None:
    db = Database.open(db_path)
    registry = RuleRegistry()
    put_rule(db, registry, ctx, {"source": ["aws.batch"]})
    write(db, [batch_event(n, job=f"job-{n}") for n in range(3)])
    dispatcher = Dispatcher(db, registry, {"lambda": Gate()})
    dispatcher.step()
    with db.read() as conn:
        assert [d.status for d in ds.list_deliveries(conn)] == [ds.IN_FLIGHT] * 3
    for task in dispatcher._tasks:
        task.cancel()
    db.close()
    reopened = Database.open(db_path)
    try:
        capture = Capture()
        again = build_eventbridge(reopened, {"lambda": capture}).dispatcher
        assert again.recover() == 3
        await again.drain()
        assert [e["id"] for e in capture.events] == ["e0", "e1", "e2"]
    finally:
        reopened.close()
