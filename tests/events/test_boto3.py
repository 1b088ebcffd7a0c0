"""EventBridge through real boto3 and the aws CLI against an in-process server on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from batchbridge.services.events import EventBridge, build_eventbridge

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:notify"


@dataclass
class Wired:
    server: Any
    bridge: EventBridge
    received: list[dict[str, Any]]
    arrived: threading.Event


@pytest.fixture
def wired(start_server: Callable[..., Any]) -> Iterator[Wired]:
    server = start_server()
    received: list[dict[str, Any]] = []
    arrived = threading.Event()

    async def handler(target: Mapping[str, Any], payload: bytes, event: Mapping[str, Any]) -> None:
        received.append(json.loads(payload))
        arrived.set()

    bridge = build_eventbridge(server.app.db, {"lambda": handler})
    server.app.register_service("events", bridge.service)
    server.threaded.call(bridge.dispatcher.start())
    yield Wired(server, bridge, received, arrived)
    server.threaded.call(bridge.dispatcher.stop())


def test_rule_target_and_put_events_round_trip(wired: Wired, boto_client: Callable[..., Any]) -> None:
    events = boto_client("events", endpoint=wired.server.url)
    pattern = {"source": ["shop.orders"], "detail": {"total": [{"numeric": [">", 100]}]}}
    arn = events.put_rule(Name="big-orders", EventPattern=json.dumps(pattern))["RuleArn"]
    assert arn == "arn:aws:events:us-east-1:123456789012:rule/big-orders"
    events.put_targets(Rule="big-orders", Targets=[{"Id": "fn", "Arn": LAMBDA}])
    assert events.list_targets_by_rule(Rule="big-orders")["Targets"] == [{"Id": "fn", "Arn": LAMBDA}]
    started = time.perf_counter()
    out = events.put_events(
        Entries=[
            {"Source": "shop.orders", "DetailType": "Order", "Detail": json.dumps({"total": 150})},
            {"Source": "shop.orders", "DetailType": "Order", "Detail": json.dumps({"total": 5})},
        ]
    )
    assert out["FailedEntryCount"] == 0 and len(out["Entries"]) == 2
    assert wired.arrived.wait(5.0)
    elapsed = time.perf_counter() - started
    time.sleep(0.1)
    assert [e["detail"] for e in wired.received] == [{"total": 150}]
    assert wired.received[0]["id"] == out["Entries"][0]["EventId"]
    assert elapsed < 1.0


def test_errors_over_the_wire(wired: Wired, boto_client: Callable[..., Any]) -> None:
    events = boto_client("events", endpoint=wired.server.url)
    with pytest.raises(ClientError) as info:
        events.describe_rule(Name="missing-rule")
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert info.value.response["Error"]["Message"] == "Rule missing-rule does not exist on EventBus default."
    with pytest.raises(ClientError) as info:
        events.put_rule(Name="bad", EventPattern='{"source": "aws.batch"}')
    assert info.value.response["Error"]["Code"] == "InvalidEventPatternException"
    with pytest.raises(ClientError) as info:
        events.put_rule(Name="bad", ScheduleExpression="rate(1 minutes)")
    assert info.value.response["Error"]["Message"] == "Parameter ScheduleExpression is not valid."
    events.put_rule(Name="has-target", EventPattern='{"source": ["x"]}')
    events.put_targets(Rule="has-target", Targets=[{"Id": "fn", "Arn": LAMBDA}])
    with pytest.raises(ClientError) as info:
        events.delete_rule(Name="has-target")
    assert info.value.response["Error"]["Message"] == "Rule can't be deleted since it has targets."


def test_paginator_and_cli(
    wired: Wired, boto_client: Callable[..., Any], aws_cli: Callable[..., Any]
) -> None:
    events = boto_client("events", endpoint=wired.server.url)
    for i in range(7):
        events.put_rule(Name=f"page-{i}", EventPattern='{"source": ["x"]}')
    pages = list(
        events.get_paginator("list_rules").paginate(NamePrefix="page-", PaginationConfig={"PageSize": 3})
    )
    assert [len(p["Rules"]) for p in pages] == [3, 3, 1]
    result = aws_cli("events", "describe-rule", "--name", "page-3", endpoint=wired.server.url)
    assert result.returncode == 0, result.stderr
    assert result.json()["Arn"].endswith(":rule/page-3")
