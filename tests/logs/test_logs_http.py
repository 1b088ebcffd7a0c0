"""CloudWatch Logs through real HTTP: boto3 and the ``aws`` CLI against the in-process server."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from batchbridge.services.logs import LogsService


@pytest.fixture
def logs_client(server: Any, boto_client: Callable[..., Any]) -> Any:
    if "logs" not in server.app.services:
        server.app.register_service("logs", LogsService(server.app.db, server.settings))
    return boto_client("logs")


def _group(client: Any, stream: str = "s") -> str:
    name = f"/test/{uuid.uuid4().hex[:12]}"
    client.create_log_group(logGroupName=name)
    client.create_log_stream(logGroupName=name, logStreamName=stream)
    return name


def _put(client: Any, group: str, messages: list[str], stream: str = "s") -> dict[str, Any]:
    now = int(time.time() * 1000)
    events = [{"timestamp": now + i, "message": m} for i, m in enumerate(messages)]
    result: dict[str, Any] = client.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
    return result


def test_put_and_page_forward_and_backward(logs_client: Any) -> None:
    group = _group(logs_client)
    out = _put(logs_client, group, [f"line {i}" for i in range(7)])
    assert out["nextSequenceToken"]
    tail = logs_client.get_log_events(logGroupName=group, logStreamName="s", limit=3)
    assert [e["message"] for e in tail["events"]] == ["line 4", "line 5", "line 6"]
    back = logs_client.get_log_events(
        logGroupName=group, logStreamName="s", limit=3, nextToken=tail["nextBackwardToken"]
    )
    assert [e["message"] for e in back["events"]] == ["line 1", "line 2", "line 3"]
    head = logs_client.get_log_events(logGroupName=group, logStreamName="s", limit=3, startFromHead=True)
    assert [e["message"] for e in head["events"]] == ["line 0", "line 1", "line 2"]
    end = logs_client.get_log_events(
        logGroupName=group, logStreamName="s", nextToken=tail["nextForwardToken"]
    )
    assert end["events"] == [] and end["nextForwardToken"] == tail["nextForwardToken"]


def test_errors_reach_boto3_with_aws_codes(logs_client: Any) -> None:
    group = _group(logs_client)
    with pytest.raises(logs_client.exceptions.ResourceAlreadyExistsException):
        logs_client.create_log_group(logGroupName=group)
    with pytest.raises(logs_client.exceptions.ResourceNotFoundException) as missing:
        logs_client.get_log_events(logGroupName=group, logStreamName="absent")
    assert missing.value.response["Error"]["Message"] == "The specified log stream does not exist."
    with pytest.raises(ClientError) as bad:
        logs_client.put_log_events(
            logGroupName=group,
            logStreamName="s",
            logEvents=[{"timestamp": 2_000_000_000_000, "message": "b"}, {"timestamp": 1, "message": "a"}],
        )
    assert bad.value.response["Error"]["Code"] == "InvalidParameterException"


def test_filter_log_events_with_paginator(logs_client: Any) -> None:
    group = _group(logs_client, stream="job-1")
    logs_client.create_log_stream(logGroupName=group, logStreamName="job-2")
    _put(logs_client, group, ["ERROR a", "INFO b", "ERROR c"], stream="job-1")
    _put(logs_client, group, ["ERROR d", "WARN e"], stream="job-2")
    pages = logs_client.get_paginator("filter_log_events").paginate(
        logGroupName=group, filterPattern="ERROR", PaginationConfig={"PageSize": 1}
    )
    messages = [e["message"] for page in pages for e in page["events"]]
    assert messages == ["ERROR a", "ERROR c", "ERROR d"]
    with pytest.raises(ClientError) as bad:
        logs_client.filter_log_events(logGroupName=group, filterPattern='{ $.level = "x" }')
    assert bad.value.response["Error"]["Code"] == "InvalidParameterException"


def test_describe_with_paginators(logs_client: Any) -> None:
    group = _group(logs_client)
    for i in range(4):
        logs_client.create_log_stream(logGroupName=group, logStreamName=f"extra-{i}")
    pages = logs_client.get_paginator("describe_log_streams").paginate(
        logGroupName=group, PaginationConfig={"PageSize": 2}
    )
    names = [s["logStreamName"] for page in pages for s in page["logStreams"]]
    assert names == ["extra-0", "extra-1", "extra-2", "extra-3", "s"]
    groups = logs_client.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert [g["logGroupName"] for g in groups] == [group]


def test_aws_cli_get_log_events(logs_client: Any, aws_cli: Callable[..., Any]) -> None:
    group = _group(logs_client)
    _put(logs_client, group, ["from the cli"])
    result = aws_cli("logs", "get-log-events", "--log-group-name", group, "--log-stream-name", "s")
    assert result.returncode == 0, result.stderr
    out = result.json()
    assert [e["message"] for e in out["events"]] == ["from the cli"]
    assert out["nextForwardToken"].startswith("f/")
