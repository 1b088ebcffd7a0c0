"""Regression tests for the faults the generated input found, each through the real server."""

from __future__ import annotations

import json

import pytest

from .checks import problems
from .conftest import WatchedServer
from .wire import WireRequest, send


def json_request(target: str, document: object, version: str = "1.1") -> WireRequest:
    headers = {"X-Amz-Target": target, "Content-Type": f"application/x-amz-json-{version}"}
    return WireRequest("POST", "/", headers, json.dumps(document).encode())


def test_deeply_nested_body_is_a_client_error(watched_server: WatchedServer) -> None:
    body = b'{"a": ' * 5000
    answer = send(
        watched_server.port,
        WireRequest("POST", "/v1/describejobqueues", {"Content-Type": "application/json"}, body),
    )
    assert answer.status == 400
    assert answer.json()["__type"] == "ClientException"
    assert "nests too deeply" in answer.json()["message"]
    assert watched_server.catcher.take() == []


@pytest.mark.parametrize(
    ("target", "document", "field", "code"),
    [
        (
            "Logs_20140328.GetLogEvents",
            {"logGroupName": "/g", "logStreamName": "s", "startTime": 2**70},
            "startTime",
            "InvalidParameterException",
        ),
        (
            "Logs_20140328.GetLogEvents",
            {"logGroupName": "/g", "logStreamName": "s", "endTime": -(2**64)},
            "endTime",
            "InvalidParameterException",
        ),
        ("AWSEvents.ListRules", {"Limit": 2**31}, "limit", "ValidationException"),
    ],
)
def test_integers_wider_than_the_java_type_name_the_field(
    watched_server: WatchedServer, target: str, document: object, field: str, code: str
) -> None:
    answer = send(watched_server.port, json_request(target, document))
    assert answer.status == 400, answer.body
    message = answer.json()["message"]
    assert answer.json()["__type"] == code
    assert f"at '{field}' failed to satisfy constraint: Member must be an integer between" in message
    assert watched_server.catcher.take() == []


def test_lambda_concurrency_beyond_a_java_int(watched_server: WatchedServer) -> None:
    body = json.dumps({"ReservedConcurrentExecutions": 2**70}).encode()
    request = WireRequest(
        "PUT", "/2017-10-31/functions/any-function/concurrency", {"Content-Type": "application/json"}, body
    )
    answer = send(watched_server.port, request)
    assert answer.status == 400
    assert answer.headers["x-amzn-errortype"] == "ValidationException"
    assert "'reservedConcurrentExecutions'" in answer.json()["message"]
    assert problems(None, answer, "rest-json") == []
    assert watched_server.catcher.take() == []
