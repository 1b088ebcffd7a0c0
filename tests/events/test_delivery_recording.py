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
