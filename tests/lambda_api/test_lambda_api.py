"""The Lambda API over real HTTP with boto3 and the ``aws`` CLI (Lambda API reference 2015-03-31).

Covers the function lifecycle, the three invocation types, ``LogType=Tail``, Lambda's error
document and ``X-Amz-Function-Error``, timeouts, the START/END/REPORT lines in the function's log
group, environment variables, resource policies, AWS's error codes and HTTP statuses, and a
handler calling back into the server with boto3 through ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import base64
import io
import json
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from serverkit import unique

ROLE = "arn:aws:iam::123456789012:role/lambda-api"


def zipped(source: str, name: str = "lambda_function.py") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, source)
    return buffer.getvalue()


@pytest.fixture
def lam(boto_client: Callable[..., Any]) -> Any:
    return boto_client("lambda")


@pytest.fixture
def logs(boto_client: Callable[..., Any]) -> Any:
    return boto_client("logs")


def create(lam: Any, source: str, name: str | None = None, **kwargs: Any) -> dict[str, Any]:
    out: dict[str, Any] = lam.create_function(
        FunctionName=name or unique("fn"),
        Runtime=kwargs.pop("Runtime", "python3.11"),
        Role=ROLE,
        Handler=kwargs.pop("Handler", "lambda_function.handler"),
        Code={"ZipFile": zipped(source)},
        **kwargs,
    )
    return out


def invoke(lam: Any, name: str, payload: Any = None, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    out: dict[str, Any] = lam.invoke(FunctionName=name, Payload=json.dumps(payload or {}), **kwargs)
    body = out["Payload"].read()
    return out, json.loads(body) if body else None


def test_create_get_list_update_delete(lam: Any) -> None:
    name = unique("fn")
    created = create(lam, "def handler(e, c):\n    return 1\n", name, Timeout=5, MemorySize=256)
    assert created["FunctionName"] == name
    assert created["FunctionArn"] == f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
    assert created["Runtime"] == "python3.11" and created["Timeout"] == 5 and created["MemorySize"] == 256
    got = lam.get_function(FunctionName=name)
    assert got["Configuration"]["CodeSha256"] == created["CodeSha256"]
    assert name in [
        f["FunctionName"]
        for f in lam.get_paginator("list_functions").paginate().build_full_result()["Functions"]
    ]

    updated = lam.update_function_code(
        FunctionName=name, ZipFile=zipped("def handler(e, c):\n    return 2\n")
    )
    assert updated["CodeSha256"] != created["CodeSha256"]
    assert invoke(lam, name)[1] == 2
    config = lam.update_function_configuration(
        FunctionName=name, Timeout=9, Environment={"Variables": {"COLOUR": "red"}}
    )
    assert config["Timeout"] == 9 and config["Environment"] == {"Variables": {"COLOUR": "red"}}
    assert lam.get_function_configuration(FunctionName=name)["Timeout"] == 9

    lam.delete_function(FunctionName=name)
    with pytest.raises(ClientError) as info:
        lam.get_function(FunctionName=name)
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_invocation_types_and_tail(lam: Any, logs: Any) -> None:
    name = unique("fn")
    create(
        lam,
        "def handler(event, context):\n    print('hello', event['x'])\n"
        "    return {'double': event['x'] * 2}\n",
        name,
    )
    out, result = invoke(lam, name, {"x": 21}, LogType="Tail")
    assert out["StatusCode"] == 200 and result == {"double": 42}
    assert "FunctionError" not in out
    tail = base64.b64decode(out["LogResult"]).decode()
    assert "hello 21" in tail and "START RequestId:" in tail and "REPORT RequestId:" in tail

    out, _ = invoke(lam, name, {"x": 1}, InvocationType="Event")
    assert out["StatusCode"] == 202
    out, _ = invoke(lam, name, {"x": 1}, InvocationType="DryRun")
    assert out["StatusCode"] == 204

    def lines() -> list[str]:
        messages: list[str] = []
        for stream in logs.describe_log_streams(logGroupName=f"/aws/lambda/{name}")["logStreams"]:
            page = logs.get_log_events(
                logGroupName=f"/aws/lambda/{name}", logStreamName=stream["logStreamName"], startFromHead=True
            )
            messages += [e["message"] for e in page["events"]]
        return messages

    deadline = time.monotonic() + 10
    while sum(m.startswith("REPORT RequestId:") for m in lines()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    messages = lines()
    assert sum(m.startswith("START RequestId:") for m in messages) == 2
    assert sum(m.startswith("END RequestId:") for m in messages) == 2
    assert sum(m.startswith("REPORT RequestId:") for m in messages) == 2
    assert any("hello 1" in m for m in messages)


def test_tail_is_the_last_4_kb(lam: Any) -> None:
    name = unique("fn")
    create(
        lam,
        "def handler(event, context):\n    for i in range(400):\n        print('line', i, 'x' * 40)\n",
        name,
    )
    out, _ = invoke(lam, name, LogType="Tail")
    tail = base64.b64decode(out["LogResult"])
    assert len(tail) <= 4096 and len(tail) > 3500
    assert b"line 399" in tail and b"line 0 " not in tail


def test_raised_exception_is_an_unhandled_function_error(lam: Any) -> None:
    name = unique("fn")
    create(lam, "def handler(event, context):\n    raise KeyError('colour')\n", name)
    out, document = invoke(lam, name)
    assert out["StatusCode"] == 200 and out["FunctionError"] == "Unhandled"
    assert document["errorType"] == "KeyError"
    assert document["errorMessage"] == "'colour'"
    assert isinstance(document["stackTrace"], list) and document["stackTrace"]


def test_timeout_answers_task_timed_out(lam: Any) -> None:
    name = unique("fn")
    create(lam, "import time\ndef handler(event, context):\n    time.sleep(10)\n", name, Timeout=1)
    out, document = invoke(lam, name)
    assert out["FunctionError"] == "Unhandled"
    assert "Task timed out after 1.0" in document["errorMessage"]
    assert document["errorMessage"].endswith(" seconds")


def test_environment_variables_reach_the_handler(lam: Any) -> None:
    name = unique("fn")
    create(
        lam,
        "import os\ndef handler(event, context):\n    return [os.environ['COLOUR'], context.function_name]\n",
        name,
        Environment={"Variables": {"COLOUR": "indigo"}},
    )
    assert invoke(lam, name)[1] == ["indigo", name]


def test_permissions_add_get_remove(lam: Any) -> None:
    name = unique("fn")
    arn = create(lam, "def handler(e, c):\n    return None\n", name)["FunctionArn"]
    lam.add_permission(
        FunctionName=name,
        StatementId="events",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn="arn:aws:events:us-east-1:123456789012:rule/r",
    )
    policy = json.loads(lam.get_policy(FunctionName=name)["Policy"])
    (statement,) = policy["Statement"]
    assert statement["Sid"] == "events" and statement["Resource"] == arn
    with pytest.raises(ClientError) as info:
        lam.add_permission(
            FunctionName=name,
            StatementId="events",
            Action="lambda:InvokeFunction",
            Principal="s3.amazonaws.com",
        )
    assert info.value.response["Error"]["Code"] == "ResourceConflictException"
    lam.remove_permission(FunctionName=name, StatementId="events")
    with pytest.raises(ClientError) as info:
        lam.get_policy(FunctionName=name)
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_errors_name_the_problem(lam: Any) -> None:
    with pytest.raises(ClientError) as info:
        lam.invoke(FunctionName=unique("missing"))
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert "Function not found: arn:aws:lambda:us-east-1:123456789012:function:missing-" in str(info.value)

    name = unique("fn")
    create(lam, "def handler(e, c):\n    return None\n", name)
    with pytest.raises(ClientError) as info:
        create(lam, "def handler(e, c):\n    return None\n", name)
    assert info.value.response["Error"]["Code"] == "ResourceConflictException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409

    with pytest.raises(ClientError) as info:
        lam.create_function(
            FunctionName=unique("fn"),
            Runtime="python3.11",
            Role=ROLE,
            Handler="a.b",
            Code={"ZipFile": b"not a zip"},
        )
    assert info.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    with pytest.raises(ClientError) as info:
        create(lam, "exports.handler = async () => 1;\n", Runtime="nodejs20.x")
    assert info.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "runtime" in str(info.value)


def test_handler_calls_back_into_the_server_with_boto3(lam: Any, boto_client: Callable[..., Any]) -> None:
    sqs = boto_client("sqs")
    queue = unique("cb")
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    source = (
        "import boto3\n"
        "def handler(event, context):\n"
        "    sqs = boto3.client('sqs', region_name='us-east-1')\n"
        "    url = sqs.get_queue_url(QueueName=event['queue'])['QueueUrl']\n"
        "    sqs.send_message(QueueUrl=url, MessageBody='from the handler')\n"
        "    return 'sent'\n"
    )
    name = unique("fn")
    create(lam, source, name, Timeout=30)
    out, result = invoke(lam, name, {"queue": queue})
    assert "FunctionError" not in out, result
    assert result == "sent"
    messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"]
    assert [m["Body"] for m in messages] == ["from the handler"]


def test_the_aws_cli_drives_the_lambda_api(aws_cli: Callable[..., Any], tmp_path: Path) -> None:
    name = unique("fn")
    package = tmp_path / "fn.zip"
    package.write_bytes(zipped("def handler(event, context):\n    return {'got': event}\n"))
    created = aws_cli(
        "lambda", "create-function", "--function-name", name, "--runtime", "python3.12", "--role", ROLE,
        "--handler", "lambda_function.handler", "--zip-file", f"fileb://{package}",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert created.json()["FunctionName"] == name
    out = tmp_path / "out.json"
    invoked = aws_cli(
        "lambda", "invoke", "--function-name", name,
        "--payload", '{"a": 1}', "--log-type", "Tail", str(out),
    )  # fmt: skip
    assert invoked.returncode == 0, invoked.stderr
    assert invoked.json()["StatusCode"] == 200
    assert "START RequestId:" in base64.b64decode(invoked.json()["LogResult"]).decode()
    assert json.loads(out.read_text()) == {"got": {"a": 1}}
    listed = aws_cli("lambda", "list-functions")
    assert name in [f["FunctionName"] for f in listed.json()["Functions"]]
    missing = aws_cli("lambda", "get-function", "--function-name", unique("missing"))
    assert missing.returncode != 0 and "ResourceNotFoundException" in missing.stderr
    assert aws_cli("lambda", "delete-function", "--function-name", name).returncode == 0
