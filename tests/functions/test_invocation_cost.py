"""Cheap invocations keep Lambda's behaviour: deferred logs still arrive framed and in order,
``Invoke`` sees its logs at once, the spec cache follows every update, workers run as batch tasks."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from batchbridge.config import Settings
from batchbridge.functions import FunctionRuntime
from batchbridge.services.context import RequestContext
from batchbridge.services.functions import LambdaService
from batchbridge.store.db import Database

from .conftest import Harness

APP = {
    "app.py": "def handler(event, context):\n    print('saw', event.get('n'))\n    return event.get('n')\n"
}


def test_deferred_logs_wait_then_arrive_in_one_call_per_stream(harness: Harness) -> None:
    spec = harness.deploy(APP)
    runtime = harness.make_runtime(log_flush_seconds=0.2)

    async def scenario() -> tuple[int, int]:
        for n in range(3):
            await runtime.invoke(spec, f'{{"n": {n}}}'.encode(), defer_logs=True)
        before = len(harness.sink.calls)
        await asyncio.sleep(0.4)
        return before, len(harness.sink.calls)

    try:
        before, after = harness.run(scenario())
    finally:
        harness.run(runtime.close())
    assert (before, after) == (0, 1)
    messages = harness.sink.messages()
    assert [m for m in messages if m.startswith("saw")] == ["saw 0\n", "saw 1\n", "saw 2\n"]
    starts = [i for i, m in enumerate(messages) if m.startswith("START")]
    reports = [i for i, m in enumerate(messages) if m.startswith("REPORT")]
    assert len(starts) == len(reports) == 3
    assert all(s < r for s, r in zip(starts, reports, strict=True))


def test_an_undeferred_invocation_writes_the_buffer_before_returning(harness: Harness) -> None:
    spec = harness.deploy(APP)
    runtime = harness.make_runtime(log_flush_seconds=30.0)

    async def scenario() -> int:
        await runtime.invoke(spec, b'{"n": 1}', defer_logs=True)
        await runtime.invoke(spec, b'{"n": 2}')
        return len(harness.sink.calls)

    try:
        calls = harness.run(scenario())
    finally:
        harness.run(runtime.close())
    assert calls == 1
    assert [m for m in harness.sink.messages() if m.startswith("saw")] == ["saw 1\n", "saw 2\n"]


def test_close_writes_deferred_logs(harness: Harness) -> None:
    spec = harness.deploy(APP)
    runtime = harness.make_runtime(log_flush_seconds=30.0)
    harness.run(runtime.invoke(spec, b'{"n": 5}', defer_logs=True))
    assert harness.sink.calls == []
    harness.run(runtime.close())
    assert "saw 5\n" in harness.sink.messages()


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policy")
def test_workers_run_as_batch_tasks(harness: Harness) -> None:
    spec = harness.deploy(APP)
    harness.run(harness.runtime.invoke(spec, b"{}"))
    (pid,) = harness.runtime.worker_pids(spec.name)
    assert os.sched_getscheduler(pid) == os.SCHED_BATCH


def package(source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


def test_event_invocations_follow_every_update_of_the_function(tmp_path: Path) -> None:
    db = Database.open(tmp_path / "db.sqlite3")
    runtime = FunctionRuntime(tmp_path / "lambda", lambda group, stream, events: None)
    service = LambdaService(db, Settings(data_dir=tmp_path), runtime)
    ctx = RequestContext("123456789012", "us-east-1", "r")
    loop = asyncio.new_event_loop()
    source = "import os\ndef handler(event, context):\n    return os.environ.get('COLOUR')\n"
    arn = service.CreateFunction(
        ctx,
        {
            "FunctionName": "fn",
            "Runtime": "python3.11",
            "Role": "arn:aws:iam::123456789012:role/r",
            "Handler": "app.handler",
            "Code": {"ZipFile": package(source)},
            "Environment": {"Variables": {"COLOUR": "red"}},
        },
    )["FunctionArn"]
    try:
        first = loop.run_until_complete(service.invoke_function(arn, b"{}")).payload
        loop.run_until_complete(
            service.UpdateFunctionConfiguration(
                ctx, {"FunctionName": "fn", "Environment": {"Variables": {"COLOUR": "blue"}}}
            )
        )
        second = loop.run_until_complete(service.invoke_function(arn, b"{}")).payload
        new_code = "def handler(event, context):\n    return 'new code'\n"
        loop.run_until_complete(
            service.UpdateFunctionCode(ctx, {"FunctionName": "fn", "ZipFile": package(new_code)})
        )
        third = loop.run_until_complete(service.invoke_function(arn, b"{}")).payload
        loop.run_until_complete(
            service.PutFunctionConcurrency(ctx, {"FunctionName": "fn", "ReservedConcurrentExecutions": 0})
        )
        throttled = None
        try:
            loop.run_until_complete(service.invoke_function(arn, b"{}"))
        except Exception as exc:
            throttled = getattr(exc, "code", type(exc).__name__)
        loop.run_until_complete(service.DeleteFunction(ctx, {"FunctionName": "fn"}))
        missing = None
        try:
            loop.run_until_complete(service.invoke_function(arn, b"{}"))
        except Exception as exc:
            missing = getattr(exc, "code", type(exc).__name__)
    finally:
        loop.run_until_complete(service.close())
        loop.close()
        db.close()
    assert (first, second, third) == (b'"red"', b'"blue"', b'"new code"')
    assert throttled == "TooManyRequestsException"
    assert missing == "ResourceNotFoundException"


def test_one_buffered_write_runs_inside_one_log_batch(harness: Harness) -> None:
    spec = harness.deploy(APP)
    batches: list[int] = []

    @contextlib.contextmanager
    def batch() -> Iterator[None]:
        before = len(harness.sink.calls)
        yield
        batches.append(len(harness.sink.calls) - before)

    runtime = harness.make_runtime(log_flush_seconds=30.0, default_concurrency=2, log_batch=batch)

    async def scenario() -> None:
        await asyncio.gather(*(runtime.invoke_queued(spec, f'{{"n": {n}}}'.encode()) for n in range(6)))
        runtime.flush_logs()

    try:
        harness.run(scenario())
    finally:
        harness.run(runtime.close())
    streams = {stream for _, stream, _ in harness.sink.calls}
    assert batches == [len(streams)]
    assert sorted(m for m in harness.sink.messages() if m.startswith("saw")) == [
        f"saw {n}\n" for n in range(6)
    ]
