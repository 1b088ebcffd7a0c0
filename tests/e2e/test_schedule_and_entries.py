"""Schedules driven by the dispatcher's clock, and PutEvents' per-entry errors, over the wire.

AWS rules emulated: a ``rate(1 minute)`` rule puts a ``Scheduled Event`` (source ``aws.events``,
``resources`` the rule ARN, ``detail`` ``{}``) on the default bus once a minute; ``PutEvents``
fails bad entries one by one with ``ErrorCode``/``ErrorMessage`` and records the good ones.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from serverkit import unique

from batchbridge.bus.retry import ManualClock

from .conftest import E2EServer, bodies, drain_queue


@pytest.fixture
def clocked(tmp_path: Path) -> Iterator[tuple[E2EServer, ManualClock]]:
    running = E2EServer(tmp_path / "data")
    assert running.app.parts is not None
    clock = ManualClock(time.time())
    running.app.parts.eventbridge.dispatcher.clock = clock
    yield running, clock
    running.stop()


def test_rate_schedule_fires_once_per_period_of_the_dispatcher_clock(
    clocked: tuple[E2EServer, ManualClock],
) -> None:
    server, clock = clocked
    assert server.app.parts is not None
    dispatcher = server.app.parts.eventbridge.dispatcher
    sqs, events = server.client("sqs"), server.client("events")
    url = sqs.create_queue(QueueName=unique("ticks"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule_arn = events.put_rule(Name="every-minute", ScheduleExpression="rate(1 minute)")["RuleArn"]
    events.put_targets(Rule="every-minute", Targets=[{"Id": "q", "Arn": arn}])

    assert drain_queue(sqs, url, settle=0.3) == []
    clock.advance(61)
    dispatcher.wake()
    (tick,) = bodies(drain_queue(sqs, url, settle=0.3, expect=1))
    assert tick["source"] == "aws.events" and tick["detail-type"] == "Scheduled Event"
    assert tick["resources"] == [rule_arn] and tick["detail"] == {}

    clock.advance(60)
    dispatcher.wake()
    assert len(drain_queue(sqs, url, settle=0.3, expect=1)) == 1

    events.disable_rule(Name="every-minute")
    clock.advance(120)
    dispatcher.wake()
    assert drain_queue(sqs, url, settle=0.3) == []


def test_put_events_fails_bad_entries_one_by_one(e2e_server: E2EServer) -> None:
    events, sqs = e2e_server.client("events"), e2e_server.client("sqs")
    source = unique("e2e.entries")
    url = sqs.create_queue(QueueName=unique("entries"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule_name = unique("r")
    events.put_rule(Name=rule_name, EventPattern=json.dumps({"source": [source]}))
    events.put_targets(Rule=rule_name, Targets=[{"Id": "q", "Arn": arn}])

    out = events.put_events(
        Entries=[
            {"Source": source, "DetailType": "ok", "Detail": '{"n": 1}'},
            {"Source": source, "DetailType": "bad", "Detail": "not json"},
            {"DetailType": "no source", "Detail": "{}"},
            {"Source": "aws.batch", "DetailType": "reserved", "Detail": "{}"},
            {"Source": source, "DetailType": "nobus", "Detail": "{}", "EventBusName": "missing-bus"},
        ]
    )
    assert out["FailedEntryCount"] == 4
    first, *failed = out["Entries"]
    assert "EventId" in first and "ErrorCode" not in first
    assert [e["ErrorCode"] for e in failed] == [
        "MalformedDetail",
        "InvalidArgument",
        "NotAuthorizedForSourceException",
        "ResourceNotFoundException",
    ]
    assert (
        failed[1]["ErrorMessage"] == "Parameter Source is not valid. Reason: Source is a required argument."
    )
    received = bodies(drain_queue(sqs, url, expect=1))
    assert [b["id"] for b in received] == [first["EventId"]]
