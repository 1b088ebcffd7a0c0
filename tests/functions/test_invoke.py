"""Invocations through real worker processes: results, errors, context, environment, logs."""

from __future__ import annotations

import json
import re

from .conftest import ACCOUNT, REGION, Harness

ECHO = {
    "app.py": """
        def handler(event, context):
            return {"got": event, "n": 1}
    """
}


def test_return_value_is_json_payload(harness: Harness) -> None:
    spec = harness.deploy(ECHO)
    result = harness.run(harness.runtime.invoke(spec, b'{"colour": "red", "index": 3}'))
    assert result.status == "ok"
    assert result.function_error is None
    assert json.loads(result.payload) == {"got": {"colour": "red", "index": 3}, "n": 1}
    assert result.executed_version == "$LATEST"


def test_none_is_null_and_empty_payload_is_empty_event(harness: Harness) -> None:
    spec = harness.deploy(
        {"app.py": "def handler(event, context):\n    assert event == {}\n    return None\n"}
    )
    result = harness.run(harness.runtime.invoke(spec, b""))
    assert (result.status, result.payload) == ("ok", b"null")


def test_module_state_persists_in_a_warm_worker(harness: Harness) -> None:
    spec = harness.deploy(
        {
            "app.py": """
                import os
                CALLS = []
                print("initialising")
                def handler(event, context):
                    CALLS.append(event["i"])
                    return {"calls": CALLS, "pid": os.getpid()}
            """
        }
    )
    results = [harness.run(harness.runtime.invoke(spec, json.dumps({"i": i}).encode())) for i in range(3)]
    payloads = [json.loads(r.payload) for r in results]
    assert [p["calls"] for p in payloads] == [[0], [0, 1], [0, 1, 2]]
    assert len({p["pid"] for p in payloads}) == 1
    assert results[0].init_duration_ms is not None and results[0].init_duration_ms > 0
    assert [r.init_duration_ms for r in results[1:]] == [None, None]
    reports = [m for m in harness.sink.messages() if m.startswith("REPORT")]
    assert len(reports) == 3
    assert "Init Duration" in reports[0]
    assert not any("Init Duration" in r for r in reports[1:])
    assert harness.sink.messages().count("initialising\n") == 1
    assert len({r.log_stream_name for r in results}) == 1


def test_context_attributes(harness: Harness) -> None:
    spec = harness.deploy(
        {
            "app.py": """
                def handler(event, context):
                    return {
                        "function_name": context.function_name,
                        "function_version": context.function_version,
                        "invoked_function_arn": context.invoked_function_arn,
                        "memory_limit_in_mb": context.memory_limit_in_mb,
                        "aws_request_id": context.aws_request_id,
                        "log_group_name": context.log_group_name,
                        "log_stream_name": context.log_stream_name,
                        "remaining": context.get_remaining_time_in_millis(),
                        "identity": [context.identity.cognito_identity_id,
                                     context.identity.cognito_identity_pool_id],
                        "client_context": context.client_context,
                    }
            """
        },
        name="ctx-fn",
        memory_mb=256,
        timeout_seconds=7,
    )
    result = harness.run(harness.runtime.invoke(spec, b"{}", request_id="req-1"))
    got = json.loads(result.payload)
    assert got["function_name"] == "ctx-fn"
    assert got["function_version"] == "$LATEST"
    assert got["invoked_function_arn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:ctx-fn"
    assert got["memory_limit_in_mb"] == "256"
    assert got["aws_request_id"] == "req-1" == result.request_id
    assert got["log_group_name"] == "/aws/lambda/ctx-fn"
    assert got["log_stream_name"] == result.log_stream_name
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", got["log_stream_name"])
    assert 6000 < got["remaining"] <= 7000
    assert got["identity"] == [None, None]
    assert got["client_context"] is None


def test_lambda_environment_variables(harness: Harness) -> None:
    spec = harness.deploy(
        {
            "app.py": """
                import os, sys
                def handler(event, context):
                    names = ["AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",
                             "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_LOG_GROUP_NAME",
                             "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_REGION", "AWS_DEFAULT_REGION",
                             "AWS_EXECUTION_ENV", "LAMBDA_TASK_ROOT", "_HANDLER", "COLOUR",
                             "_BATCHBRIDGE_COMMAND_FD"]
                    return {"env": {n: os.environ.get(n) for n in names}, "cwd": os.getcwd(),
                            "path0": sys.path[0]}
            """
        },
        name="env-fn",
        environment={"COLOUR": "blue", "AWS_REGION": "xx-fake-1"},
    )
    result = harness.run(harness.runtime.invoke(spec, b"{}"))
    got = json.loads(result.payload)
    env = got["env"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "env-fn"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/env-fn"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == result.log_stream_name
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == REGION
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert env["LAMBDA_TASK_ROOT"] == str(spec.code_dir) == got["cwd"] == got["path0"]
    assert env["_HANDLER"] == "app.handler"
    assert env["COLOUR"] == "blue"
    assert env["_BATCHBRIDGE_COMMAND_FD"] is None


def test_handler_in_a_package_module(harness: Harness) -> None:
    spec = harness.deploy(
        {
            "pkg/__init__.py": "",
            "pkg/sub/__init__.py": "",
            "pkg/sub/entry.py": "def main(event, context):\n    return 'deep'\n",
        },
        handler="pkg.sub.entry.main",
    )
    result = harness.run(harness.runtime.invoke(spec, b"{}"))
    assert result.payload == b'"deep"'


def test_logs_are_framed_and_attributed(harness: Harness) -> None:
    spec = harness.deploy(
        {
            "app.py": """
                import logging, os, subprocess, sys
                logger = logging.getLogger()
                logger.setLevel(logging.INFO)
                def handler(event, context):
                    print("to stdout")
                    print("to stderr", file=sys.stderr)
                    logger.info("two\\nlines")
                    logging.getLogger("child").debug("hidden")
                    os.write(1, b"raw fd write\\n")
                    subprocess.run(["echo", "from a subprocess"], check=True)
                    sys.stdout.write("no newline")
                    return "done"
            """
        },
        name="log-fn",
    )
    result = harness.run(harness.runtime.invoke(spec, b"{}", request_id="rid-7", tail=True))
    assert len(harness.sink.calls) == 1
    group, stream, events = harness.sink.calls[0]
    assert group == "/aws/lambda/log-fn"
    assert stream == result.log_stream_name
    messages = [m for _, m in events]
    assert messages[0] == "START RequestId: rid-7 Version: $LATEST\n"
    assert messages[1:4] == ["to stdout\n", "to stderr\n", messages[3]]
    assert re.fullmatch(r"\[INFO\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\trid-7\ttwo\nlines\n", messages[3])
    assert messages[4:7] == ["raw fd write\n", "from a subprocess\n", "no newline"]
    assert messages[7] == "END RequestId: rid-7\n"
    assert re.fullmatch(
        r"REPORT RequestId: rid-7\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\tMemory Size: 128 MB\t"
        r"Max Memory Used: \d+ MB\tInit Duration: \d+\.\d\d ms\n",
        messages[8],
    )
    assert len(messages) == 9
    assert all(isinstance(ts, int) and ts > 1_600_000_000_000 for ts, _ in events)
    assert result.log_tail.startswith("START RequestId: rid-7")
    assert result.log_tail.endswith(messages[8])
    assert "hidden" not in harness.sink.text()


def test_log_tail_keeps_the_last_4kb(harness: Harness) -> None:
    spec = harness.deploy(
        {"app.py": "def handler(e, c):\n    for i in range(500):\n        print('x' * 40, i)\n"}
    )
    result = harness.run(harness.runtime.invoke(spec, b"{}", tail=True))
    assert len(result.log_tail.encode()) == 4096
    assert result.log_tail.rstrip("\n").split("\n")[-1].startswith("REPORT RequestId:")
    untailed = harness.run(harness.runtime.invoke(spec, b"{}"))
    assert untailed.log_tail == ""
