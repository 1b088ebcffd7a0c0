"""Handler failures answered as AWS answers them: error documents, timeouts, crashes, init errors."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from batchbridge.errors import ServiceError

from .conftest import Harness, is_running

ECHO_APP = {"app.py": "def handler(e, c):\n    return e\n"}


def test_exception_gives_unhandled_and_aws_error_document(harness: Harness) -> None:
    spec = harness.deploy(
        {
            "app.py": """
                def helper():
                    raise KeyError("colour")
                def handler(event, context):
                    helper()
            """
        }
    )
    result = harness.run(harness.runtime.invoke(spec, b"{}", request_id="r-err"))
    assert (result.status, result.function_error) == ("error", "Unhandled")
    document = json.loads(result.payload)
    assert list(document) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert document["errorMessage"] == "'colour'"
    assert document["errorType"] == "KeyError"
    assert document["requestId"] == "r-err"
    assert len(document["stackTrace"]) == 2
    assert (
        document["stackTrace"][0].startswith('  File "')
        and "in handler\n    helper()\n" in document["stackTrace"][0]
    )
    assert "worker.py" not in "".join(document["stackTrace"])
    error_events = [m for m in harness.sink.messages() if m.startswith("[ERROR]")]
    assert error_events and error_events[0].startswith(
        "[ERROR] KeyError: 'colour'\nTraceback (most recent call last):\n"
    )
    again = harness.run(harness.runtime.invoke(spec, b"{}"))
    assert again.status == "error" and again.init_duration_ms is None


def test_import_error(harness: Harness) -> None:
    spec = harness.deploy({"app.py": "def handler(e, c):\n    return 1\n"}, handler="missing.handler")
    result = harness.run(harness.runtime.invoke(spec, b"{}"))
    assert (result.status, result.function_error) == ("error", "Unhandled")
    assert json.loads(result.payload) == {
        "errorMessage": "Unable to import module 'missing': No module named 'missing'",
        "errorType": "Runtime.ImportModuleError",
        "requestId": "",
        "stackTrace": [],
    }
    text = harness.sink.text()
    assert "[ERROR] Runtime.ImportModuleError: Unable to import module 'missing'" in text
    assert "Init Duration" in text
    assert harness.runtime.worker_pids(spec.name) == []


def test_missing_handler_function(harness: Harness) -> None:
    spec = harness.deploy({"app.py": "def other(e, c):\n    return 1\n"})
    result = harness.run(harness.runtime.invoke(spec, b"{}"))
    document = json.loads(result.payload)
    assert document["errorType"] == "Runtime.HandlerNotFound"
    assert document["errorMessage"] == "Handler 'handler' missing on module 'app'"


def test_module_level_exception_keeps_its_type(harness: Harness) -> None:
    spec = harness.deploy({"app.py": "raise RuntimeError('no config')\n"})
    result = harness.run(harness.runtime.invoke(spec, b"{}"))
    document = json.loads(result.payload)
    assert (document["errorType"], document["errorMessage"]) == ("RuntimeError", "no config")


def test_unserialisable_return_value(harness: Harness) -> None:
    spec = harness.deploy({"app.py": "def handler(e, c):\n    return {'s': {1, 2}}\n"})
    result = harness.run(harness.runtime.invoke(spec, b"{}", request_id="r-m"))
    assert json.loads(result.payload) == {
        "errorMessage": "Unable to marshal response: Object of type set is not JSON serializable",
        "errorType": "Runtime.MarshalError",
        "requestId": "r-m",
        "stackTrace": [],
    }
    assert result.function_error == "Unhandled"


def test_timeout_kills_the_worker_and_its_children(harness: Harness) -> None:
    spec = harness.deploy(
        {
            "app.py": """
                import subprocess, time
                def handler(event, context):
                    if event.get("hang"):
                        child = subprocess.Popen(["sleep", "60"])
                        print("child", child.pid)
                        time.sleep(30)
                    return "quick"
            """
        },
        timeout_seconds=1,
    )
    first = harness.run(harness.runtime.invoke(spec, b"{}"))
    [old_pid] = harness.runtime.worker_pids(spec.name)
    result = harness.run(harness.runtime.invoke(spec, b'{"hang": true}', request_id="r-slow"))
    assert (result.status, result.function_error) == ("timeout", "Unhandled")
    message = json.loads(result.payload)["errorMessage"]
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z r-slow Task timed out after 1\.\d\d seconds", message
    )
    assert 1000 <= result.duration_ms < 3000
    messages = harness.sink.messages()
    assert messages[-1] == message + "\n"
    assert messages[-2].startswith("REPORT RequestId: r-slow")
    assert messages[-3] == "END RequestId: r-slow\n"
    child_pid = int(next(m for m in messages if m.startswith("child ")).split()[1])
    assert not is_running(old_pid)
    assert not is_running(child_pid)
    after = harness.run(harness.runtime.invoke(spec, b"{}"))
    assert after.status == "ok" and after.payload == b'"quick"'
    assert after.init_duration_ms is not None
    assert harness.runtime.worker_pids(spec.name) != [old_pid]
    assert first.log_stream_name != after.log_stream_name


def test_crash_gives_exit_error_and_a_new_worker(harness: Harness) -> None:
    spec = harness.deploy(
        {
            "app.py": """
                import ctypes, os
                def handler(event, context):
                    print("about to go")
                    if event.get("exit"):
                        os._exit(3)
                    if event.get("segv"):
                        ctypes.string_at(0)
                    return os.getpid()
            """
        }
    )
    first_pid = json.loads(harness.run(harness.runtime.invoke(spec, b"{}")).payload)
    crashed = harness.run(harness.runtime.invoke(spec, b'{"exit": true}', request_id="r-x"))
    assert (crashed.status, crashed.function_error) == ("error", "Unhandled")
    assert json.loads(crashed.payload) == {
        "errorType": "Runtime.ExitError",
        "errorMessage": "RequestId: r-x Error: Runtime exited with error: exit status 3",
    }
    crash_log = [message for _, message in harness.sink.calls[-1][2]]
    assert "about to go\n" in crash_log
    assert crash_log[-3:-1] == [
        "RequestId: r-x Error: Runtime exited with error: exit status 3\nRuntime.ExitError\n",
        "END RequestId: r-x\n",
    ]
    second_pid = json.loads(harness.run(harness.runtime.invoke(spec, b"{}")).payload)
    assert second_pid != first_pid
    segv = harness.run(harness.runtime.invoke(spec, b'{"segv": true}', request_id="r-s"))
    assert json.loads(segv.payload)["errorMessage"] == (
        "RequestId: r-s Error: Runtime exited with error: signal: segmentation fault"
    )
    assert harness.run(harness.runtime.invoke(spec, b"{}")).status == "ok"


def test_invalid_json_payload(harness: Harness) -> None:
    spec = harness.deploy({"app.py": "def handler(e, c):\n    return 1\n"})
    result = harness.run(harness.runtime.invoke(spec, b"{not json"))
    document = json.loads(result.payload)
    assert document["errorType"] == "Runtime.UnmarshalError"
    assert document["errorMessage"].startswith("Unable to unmarshal input: ")


def test_response_over_6_mb(harness: Harness) -> None:
    spec = harness.deploy({"app.py": "def handler(e, c):\n    return 'x' * (6 * 1024 * 1024 + 200)\n"})
    result = harness.run(harness.runtime.invoke(spec, b"{}"))
    assert (result.status, result.function_error) == ("error", "Unhandled")
    assert json.loads(result.payload) == {
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }


def test_missing_code_folder_is_a_service_error(harness: Harness) -> None:
    spec = dataclasses.replace(harness.deploy(ECHO_APP), code_dir=harness.tmp_path / "gone")
    with pytest.raises(ServiceError) as caught:
        harness.run(harness.runtime.invoke(spec, b"{}"))
    assert caught.value.code == "ServiceException" and "fn" in caught.value.message


def test_invoke_after_close_is_refused(harness: Harness) -> None:
    spec = harness.deploy(ECHO_APP)
    harness.run(harness.runtime.close())
    with pytest.raises(ServiceError) as caught:
        harness.run(harness.runtime.invoke(spec, b"{}"))
    assert caught.value.message == "The function runtime is shut down."
    assert harness.runtime.worker_pids() == []
