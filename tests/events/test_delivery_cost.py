"""The cheap delivery path keeps its guarantees: claims in order with their events, lanes respected,
stored bytes sent as they are, the pending index used, in-flight claims surviving a restart."""

from __future__ import annotations

import asyncio
import json
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
    """A target that keeps the payloads it receives, and never reads the event."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    async def __call__(self, target: Mapping[str, Any], payload: bytes, event: Mapping[str, Any]) -> None:
        self.payloads.append(payload)


def setup_rule(db: Database, registry: RuleRegistry, ctx: RequestContext, **target: Any) -> EventsService:
    events = EventsService(db, registry)
    events.PutRule(ctx, {"Name": "r", "EventPattern": json.dumps({"source": ["my.app"]})})
    events.PutTargets(ctx, {"Rule": "r", "Targets": [{"Id": "t", "Arn": LAMBDA, **target}]})
    return events


def put_all(events: EventsService, ctx: RequestContext, details: list[dict[str, Any]]) -> None:
    entries = [{"Source": "my.app", "DetailType": "t", "Detail": json.dumps(d)} for d in details]
    events.PutEvents(ctx, {"Entries": entries})


def matched(db: Database, registry: RuleRegistry) -> Dispatcher:
    dispatcher = Dispatcher(db, registry, {"lambda": Capture()})
    dispatcher.ingest_outbox()
    while dispatcher.match_events():
        pass
    return dispatcher


def test_claim_due_returns_the_oldest_with_their_events_and_marks_them_in_flight(
    db: Database, registry: RuleRegistry, ctx: RequestContext
) -> None:
    events = setup_rule(db, registry, ctx)
    put_all(events, ctx, [{"n": n} for n in range(5)])
    matched(db, registry)
    with db.transaction() as conn:
        claimed = ds.claim_due(conn, time.time() + 1, 3)
    assert [json.loads(e.body)["detail"]["n"] for _, e in claimed] == [0, 1, 2]
    assert [e.event["detail"]["n"] for _, e in claimed] == [0, 1, 2]
    assert all(item.event_seq == event.seq for item, event in claimed)
    with db.read() as conn:
        statuses = [(d.status, d.attempts) for d in ds.list_deliveries(conn)]
    assert statuses == [(ds.IN_FLIGHT, 1)] * 3 + [(ds.PENDING, 0)] * 2


def test_claim_skips_a_lane_with_an_earlier_open_delivery(
    db: Database, registry: RuleRegistry, ctx: RequestContext
) -> None:
    batch_event = {"Source": "aws.batch", "DetailType": "Batch Job State Change"}
    registry_events = EventsService(db, registry)
    registry_events.PutRule(ctx, {"Name": "b", "EventPattern": json.dumps({"source": ["aws.batch"]})})
    registry_events.PutTargets(ctx, {"Rule": "b", "Targets": [{"Id": "t", "Arn": LAMBDA}]})
    dispatcher = Dispatcher(db, registry, {"lambda": Capture()})
    now = time.time()
    with db.transaction() as conn:
        for n, job in enumerate(["a", "a", "b"]):
            body = {"id": f"e{n}", "source": batch_event["Source"], "detail": {"jobId": job, "n": n}}
            ds.append_bus_event(conn, "default", body, now)
    while dispatcher.match_events():
        pass
    with db.transaction() as conn:
        first = ds.claim_due(conn, now + 1, 10)
    assert [e.event["detail"]["n"] for _, e in first] == [0, 2]
    with db.transaction() as conn:
        assert ds.claim_due(conn, now + 1, 10) == []
        ds.finish_delivered(conn, [first[0][0].seq], now)
        second = ds.claim_due(conn, now + 1, 10)
    assert [e.event["detail"]["n"] for _, e in second] == [1]


def test_due_query_reads_the_pending_index_without_sorting(db: Database) -> None:
    with db.read() as conn:
        plan = " ".join(str(tuple(r)) for r in conn.execute("EXPLAIN QUERY PLAN " + ds._DUE, (0.0, 10)))
    assert "event_deliveries_pending" in plan
    assert "TEMP B-TREE" not in plan


async def test_target_without_transformation_receives_the_stored_bytes_in_utf8(
    db: Database, registry: RuleRegistry, ctx: RequestContext
) -> None:
    events = setup_rule(db, registry, ctx)
    put_all(events, ctx, [{"colour": "rouge \u00e9carlate \u2603"}])
    capture = Capture()
    await Dispatcher(db, registry, {"lambda": capture}).drain()
    (payload,) = capture.payloads
    assert "\u2603".encode() in payload
    with db.read() as conn:
        (stored,) = conn.execute("SELECT body FROM bus_events").fetchall()
    assert payload == stored[0].encode()
    assert json.loads(payload)["detail"] == {"colour": "rouge \u00e9carlate \u2603"}


async def test_input_path_target_still_renders(
    db: Database, registry: RuleRegistry, ctx: RequestContext
) -> None:
    events = setup_rule(db, registry, ctx, InputPath="$.detail")
    put_all(events, ctx, [{"n": 7}])
    capture = Capture()
    await Dispatcher(db, registry, {"lambda": capture}).drain()
    assert capture.payloads == [b'{"n":7}']


async def test_successes_recorded_together_and_claims_survive_restart(
    db_path: Path, ctx: RequestContext
) -> None:
    db = Database.open(db_path)
    registry = RuleRegistry()
    events = setup_rule(db, registry, ctx)
    put_all(events, ctx, [{"n": n} for n in range(4)])
    matched(db, registry)
    with db.transaction() as conn:
        ds.claim_due(conn, time.time() + 1, 4)
    db.close()

    reopened = Database.open(db_path)
    try:
        capture = Capture()
        dispatcher = build_eventbridge(reopened, {"lambda": capture}).dispatcher
        assert dispatcher.recover() == 4
        await dispatcher.drain()
        assert sorted(json.loads(p)["detail"]["n"] for p in capture.payloads) == [0, 1, 2, 3]
        with reopened.read() as conn:
            assert {d.status for d in ds.list_deliveries(conn)} == {ds.DELIVERED}
    finally:
        reopened.close()


def test_outbox_events_are_matched_in_the_transaction_that_ingests_them(
    db: Database, registry: RuleRegistry, ctx: RequestContext
) -> None:
    events = EventsService(db, registry)
    events.PutRule(ctx, {"Name": "b", "EventPattern": json.dumps({"source": ["aws.batch"]})})
    events.PutTargets(ctx, {"Rule": "b", "Targets": [{"Id": "t", "Arn": LAMBDA}]})
    batch_events = [
        {
            "id": f"e{n}",
            "source": "aws.batch",
            "detail-type": "Batch Job State Change",
            "detail": {"jobId": "j"},
        }
        for n in range(3)
    ]
    with db.transaction() as conn:
        outbox.append_events(conn, batch_events)
    dispatcher = Dispatcher(db, registry, {"lambda": Capture()})
    assert dispatcher.ingest_outbox() == 3
    with db.read() as conn:
        assert ds.unmatched_events(conn, 10) == []
        deliveries = ds.list_deliveries(conn)
    assert [d.order_key for d in deliveries] == ["job:j"] * 3
    assert dispatcher.match_events() == 0
    assert outbox.Outbox(db).read() == []


def test_append_matched_events_returns_the_seq_of_each_row(db: Database) -> None:
    now = time.time()
    with db.transaction() as conn:
        ds.append_bus_event(conn, "default", {"id": "before"}, now)
        seqs = ds.append_matched_events(conn, "default", [{"id": f"m{n}"} for n in range(3)], now)
        assert ds.append_matched_events(conn, "default", [], now) == []
        rows = {
            seq: (event_id, matched)
            for seq, event_id, matched in conn.execute("SELECT seq, event_id, matched_at FROM bus_events")
        }
    assert [rows[s][0] for s in seqs] == ["m0", "m1", "m2"]
    assert all(rows[s][1] == now for s in seqs)
    with db.read() as conn:
        assert [e.event_id for e in ds.unmatched_events(conn, 10)] == ["before"]


def test_next_due_time_reads_the_pending_index(db: Database) -> None:
    with db.read() as conn:
        plan = " ".join(
            str(tuple(r))
            for r in conn.execute(
                "EXPLAIN QUERY PLAN SELECT MIN(next_attempt_at) FROM event_deliveries "
                "WHERE status = 'pending'"
            )
        )
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "event_deliveries_due_at" in plan
    assert "event_deliveries_due" not in names


async def test_a_pass_with_every_step_busy_commits_once(
    db: Database, registry: RuleRegistry, ctx: RequestContext
) -> None:
    events = EventsService(db, registry)
    events.PutRule(ctx, {"Name": "b", "EventPattern": json.dumps({"source": ["aws.batch", "my.app"]})})
    events.PutTargets(ctx, {"Rule": "b", "Targets": [{"Id": "t", "Arn": LAMBDA}]})
    capture = Capture()
    dispatcher = Dispatcher(db, registry, {"lambda": capture})
    with db.transaction() as conn:
        outbox.append_events(
            conn, [{"id": "o1", "source": "aws.batch", "detail-type": "t", "detail": {"jobId": "j1"}}]
        )
    put_all(events, ctx, [{"n": 1}])
    statements: list[str] = []
    with db.read() as conn:
        conn.set_trace_callback(statements.append)
    try:
        dispatcher.step()
        await asyncio.gather(*dispatcher._tasks)
        with db.transaction() as conn:
            outbox.append_events(
                conn, [{"id": "o2", "source": "aws.batch", "detail-type": "t", "detail": {"jobId": "j2"}}]
            )
        statements.clear()
        dispatcher.step()
        await asyncio.gather(*dispatcher._tasks)
    finally:
        with db.read() as conn:
            conn.set_trace_callback(None)
    assert sum(s.strip().upper() == "COMMIT" for s in statements) == 1
    assert len(capture.payloads) == 3
    with db.read() as conn:
        statuses = [d.status for d in ds.list_deliveries(conn)]
    assert statuses == [ds.DELIVERED, ds.DELIVERED, ds.IN_FLIGHT]
