"""Queued invocations (EventBridge's asynchronous path): an environment receives several at once but
runs them one at a time, each with its own timeout, deadline and log frame; the concurrency bound
still counts environments; invocations behind a timeout or a crash run on a fresh environment."""

from __future__ import annotations

import asyncio
import json

import pytest

from batchbridge.errors import ServiceError
from batchbridge.functions import InvocationResult, TooManyRequestsException

from .conftest import Harness

APP = {
    "app.py": """
import os, time

def handler(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("exit"):
        os._exit(3)
    print("run", event["n"])
    return {"n": event["n"], "pid": os.getpid(), "left": context.get_remaining_time_in_millis()}
"""
}


def run_all(
    harness: Harness, runtime_kwargs: dict[str, int], events: list[dict[str, object]], **spec_kw: object
) -> list[InvocationResult]:
    spec = harness.deploy(APP, **spec_kw)
    runtime = harness.make_runtime(**runtime_kwargs)

    async def scenario() -> list[InvocationResult]:
        return list(
            await asyncio.gather(*(runtime.invoke_queued(spec, json.dumps(e).encode()) for e in events))
        )

    try:
        return harness.run(scenario())
    finally:
        harness.run(runtime.close())


def test_queued_invocations_all_run_within_the_concurrency_bound(harness: Harness) -> None:
    results = run_all(harness, {"default_concurrency": 2}, [{"n": n} for n in range(24)])
    payloads = [json.loads(r.payload) for r in results]
    assert [p["n"] for p in payloads] == list(range(24))
    assert all(r.status == "ok" and r.function_error is None for r in results)
    assert len({p["pid"] for p in payloads}) <= 2
    messages = harness.sink.messages()
    assert sorted(m for m in messages if m.startswith("run")) == sorted(f"run {n}\n" for n in range(24))
    assert sum(m.startswith("START RequestId:") for m in messages) == 24
    assert sum(m.startswith("END RequestId:") for m in messages) == 24
    assert sum(m.startswith("REPORT RequestId:") for m in messages) == 24
    assert len({r.request_id for r in results}) == 24


def test_each_queued_invocation_has_its_own_deadline(harness: Harness) -> None:
    events: list[dict[str, object]] = [{"n": 0, "sleep": 0.6}, {"n": 1}]
    results = run_all(harness, {"default_concurrency": 1}, events, timeout_seconds=1.0)
    first, second = (json.loads(r.payload) for r in results)
    assert first["pid"] == second["pid"]
    assert second["left"] > 800
    assert results[1].duration_ms < 500


def test_a_timeout_in_a_batch_does_not_take_the_following_invocations_with_it(harness: Harness) -> None:
    events: list[dict[str, object]] = [{"n": 0}, {"n": 1, "sleep": 5}, {"n": 2}, {"n": 3}]
    results = run_all(harness, {"default_concurrency": 1}, events, timeout_seconds=1.0)
    assert [r.status for r in results] == ["ok", "timeout", "ok", "ok"]
    assert "Task timed out after" in json.loads(results[1].payload)["errorMessage"]
    pids = [json.loads(results[i].payload)["pid"] for i in (0, 2, 3)]
    assert pids[0] != pids[1] == pids[2]
    assert [m for m in harness.sink.messages() if m.startswith("run")] == ["run 0\n", "run 2\n", "run 3\n"]


def test_a_crash_in_a_batch_answers_exit_error_and_the_rest_run(harness: Harness) -> None:
    events: list[dict[str, object]] = [{"n": 0}, {"n": 1, "exit": True}, {"n": 2}]
    results = run_all(harness, {"default_concurrency": 1}, events)
    assert [r.status for r in results] == ["ok", "error", "ok"]
    error = json.loads(results[1].payload)
    assert error["errorType"] == "Runtime.ExitError"
    assert error["errorMessage"].endswith("Runtime exited with error: exit status 3")


def test_reserved_concurrency_zero_throttles_queued_invocations(harness: Harness) -> None:
    spec = harness.deploy(APP, reserved_concurrency=0)
    with pytest.raises(TooManyRequestsException):
        harness.run(harness.runtime.invoke_queued(spec, b'{"n": 1}'))


def test_close_fails_invocations_still_queued(harness: Harness) -> None:
    spec = harness.deploy(APP, timeout_seconds=5.0)
    runtime = harness.make_runtime(default_concurrency=1)

    async def scenario() -> list[object]:
        tasks = [
            asyncio.ensure_future(runtime.invoke_queued(spec, json.dumps({"n": n, "sleep": 0.3}).encode()))
            for n in range(20)
        ]
        await asyncio.sleep(0.8)
        await runtime.close()
        return list(await asyncio.gather(*tasks, return_exceptions=True))

    outcomes = harness.run(scenario())
    failed = [o for o in outcomes if isinstance(o, ServiceError)]
    assert failed and len(failed) < 20
    assert all(isinstance(o, (InvocationResult, ServiceError)) for o in outcomes)


@pytest.mark.parametrize("burst", [16, 64])
def test_a_burst_of_short_invocations_engages_few_environments(harness: Harness, burst: int) -> None:
    spec = harness.deploy(APP)
    runtime = harness.make_runtime(default_concurrency=10)

    async def scenario() -> list[InvocationResult]:
        await runtime.invoke_queued(spec, b'{"n": -1}')
        return list(
            await asyncio.gather(
                *(runtime.invoke_queued(spec, json.dumps({"n": n}).encode()) for n in range(burst))
            )
        )

    try:
        results = harness.run(scenario())
    finally:
        harness.run(runtime.close())
    assert [json.loads(r.payload)["n"] for r in results] == list(range(burst))
    assert len({json.loads(r.payload)["pid"] for r in results}) <= 3


def test_slow_invocations_each_get_a_free_environment(harness: Harness) -> None:
    spec = harness.deploy(APP)
    runtime = harness.make_runtime(default_concurrency=4)

    async def scenario() -> tuple[list[InvocationResult], float]:
        await runtime.invoke_queued(spec, b'{"n": -1, "sleep": 0.05}')
        await asyncio.gather(*(runtime.invoke_queued(spec, b'{"n": -2}') for _ in range(4)))
        await runtime.invoke_queued(spec, b'{"n": -3, "sleep": 0.05}')
        began = asyncio.get_running_loop().time()
        results = await asyncio.gather(
            *(runtime.invoke_queued(spec, json.dumps({"n": n, "sleep": 0.5}).encode()) for n in range(4))
        )
        return list(results), asyncio.get_running_loop().time() - began

    try:
        results, took = harness.run(scenario())
    finally:
        harness.run(runtime.close())
    assert len({json.loads(r.payload)["pid"] for r in results}) == 4
    assert took < 1.5
