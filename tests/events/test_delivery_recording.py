"""Successful deliveries are recorded together, once per dispatcher pass.

At-least-once (EventBridge user guide): a delivery that succeeded but was not yet recorded when the
process died is attempted again after the restart; it is never lost.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from batchbridge.bus.dispatcher import Dispatcher
from batchbridge.bus.rules import RuleRegistry
from batchbridge.services.context import RequestContext
from batchbridge.services.events import EventsService
from batchbridge.store import deliveries as ds
from batchbridge.store.db import Database

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:handler"


class Counter:
    def __init__(self) -> None:
        self.ids: list[str] = []

    async def __call__(self, target: Mapping[str, Any], payload: bytes, event: Mapping[str, Any]) -> None:
        self.ids.append(str(event["id"]))


def setup(db: Database) -> tuple[EventsService, RuleRegistry]:
    registry = RuleRegistry()
    events = EventsService(db, registry)
    ctx = RequestContext("123456789012", "us-east-1", "r")
    events.PutRule(ctx, {"Name": "r", "EventPattern": json.dumps({"source": ["my.app"]})})
    events.PutTargets(ctx, {"Rule": "r", "Targets": [{"Id": "t", "Arn": LAMBDA}]})
    entries = [{"Source": "my.app", "DetailType": "t", "Detail": json.dumps({"n": i})} for i in range(10)]
    events.PutEvents(ctx, {"Entries": entries})
    return events, registry


def statuses(db: Database) -> list[str]:
    with db.read() as conn:
        return sorted(d.status for d in ds.list_deliveries(conn))


async def test_successes_are_recorded_in_one_transaction_per_pass(db: Database) -> None:
    _, registry = setup(db)
    target = Counter()
    dispatcher = Dispatcher(db, registry, {"lambda": target})
    commits: list[str] = []
    db._conn.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    dispatcher.step()
    await asyncio.gather(*list(dispatcher._tasks))
    before = len(commits)
    assert statuses(db) == ["in-flight"] * 10
    assert dispatcher.record_delivered() == 10
    assert len(commits) == before + 1
    assert statuses(db) == ["delivered"] * 10
    assert len(set(target.ids)) == 10
    db._conn.set_trace_callback(None)


async def test_unrecorded_success_is_attempted_again_after_a_restart(db_path: Path) -> None:
    db = Database.open(db_path)
    _, registry = setup(db)
    first = Counter()
    dispatcher = Dispatcher(db, registry, {"lambda": first})
    dispatcher.step()
    await asyncio.gather(*list(dispatcher._tasks))
    db.close()  # the process dies before the next pass records the successes

    db = Database.open(db_path)
    again = Counter()
    restarted = Dispatcher(db, registry, {"lambda": again})
    assert restarted.recover() == 10
    await restarted.drain()
    assert sorted(again.ids) == sorted(first.ids)
    assert statuses(db) == ["delivered"] * 10
    db.close()


class Slow(Counter):
    """Attempts that end one after another, about half a millisecond apart."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def __call__(self, target: Mapping[str, Any], payload: bytes, event: Mapping[str, Any]) -> None:
        self.calls += 1
        await asyncio.sleep(0.0005 * (self.calls % 100))
        self.ids.append(str(event["id"]))


async def test_a_backlog_costs_one_pass_per_refill_not_one_per_delivery(db: Database) -> None:
    registry = RuleRegistry()
    events = EventsService(db, registry)
    ctx = RequestContext("123456789012", "us-east-1", "r")
    events.PutRule(ctx, {"Name": "r", "EventPattern": json.dumps({"source": ["my.app"]})})
    events.PutTargets(ctx, {"Rule": "r", "Targets": [{"Id": "t", "Arn": LAMBDA}]})
    for chunk in range(20):
        entries = [
            {"Source": "my.app", "DetailType": "t", "Detail": json.dumps({"n": chunk * 10 + i})}
            for i in range(10)
        ]
        events.PutEvents(ctx, {"Entries": entries})
    target = Slow()
    dispatcher = Dispatcher(db, registry, {"lambda": target}, batch_size=100)
    passes = 0
    step = dispatcher.step

    def counting_step() -> float | None:
        nonlocal passes
        passes += 1
        return step()

    dispatcher.step = counting_step  # type: ignore[method-assign]
    await dispatcher.start()
    for _ in range(500):
        if len(target.ids) == 200 and statuses(db) == ["delivered"] * 200:
            break
        await asyncio.sleep(0.01)
    await dispatcher.stop()
    assert sorted(statuses(db)) == ["delivered"] * 200
    assert len(set(target.ids)) == 200
    assert passes < 40, passes


class Gate(Counter):
    """Attempts that wait until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.open = asyncio.Event()

    async def __call__(self, target: Mapping[str, Any], payload: bytes, event: Mapping[str, Any]) -> None:
        await self.open.wait()
        self.ids.append(str(event["id"]))


async def test_a_full_dispatcher_claims_nothing_more(db: Database) -> None:
    _, registry = setup(db)
    target = Gate()
    dispatcher = Dispatcher(db, registry, {"lambda": target}, batch_size=4)
    dispatcher.step()
    await asyncio.sleep(0)
    assert statuses(db) == ["in-flight"] * 4 + ["pending"] * 6
    assert dispatcher.step() is None
    assert len(dispatcher._tasks) == 4
    assert sorted(statuses(db)) == ["in-flight"] * 4 + ["pending"] * 6
    target.open.set()
    await dispatcher.drain()
    assert statuses(db) == ["delivered"] * 10
    assert len(set(target.ids)) == 10
