"""Worker lifecycle: concurrency slots, throttling, updates, eviction, idle retirement, shutdown."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from batchbridge.functions import FunctionSpec, InvocationResult, TooManyRequestsException

from .conftest import Harness, is_running

SLEEPER = {
    "app.py": """
        import os, time
        def handler(event, context):
            start = time.time()
            print("begin", event["i"])
            time.sleep(event.get("sleep", 0.4))
            print("finish", event["i"])
            return {"pid": os.getpid(), "start": start, "end": time.time(), "i": event["i"]}
    """
}


def _gather(harness: Harness, spec: FunctionSpec, count: int, sleep: float) -> list[InvocationResult]:
    async def go() -> list[InvocationResult]:
        calls = [
            harness.runtime.invoke(spec, json.dumps({"i": i, "sleep": sleep}).encode(), request_id=f"r{i}")
            for i in range(count)
        ]
        return list(await asyncio.gather(*calls))

    return harness.run(go())


def test_reserved_concurrency_bounds_parallel_workers(harness: Harness) -> None:
    spec = harness.deploy(SLEEPER, reserved_concurrency=2)
    results = _gather(harness, spec, 3, 0.5)
    bodies = [json.loads(r.payload) for r in results]
    assert all(r.status == "ok" for r in results)
    assert len({b["pid"] for b in bodies}) == 2
    intervals = sorted((b["start"], b["end"]) for b in bodies)
    overlapping = max(sum(1 for s, e in intervals if s < t < e) for t, _ in intervals)
    assert overlapping <= 2
    assert intervals[2][0] >= min(intervals[0][1], intervals[1][1]) - 0.05
    for result in results:
        group_events = [
            m
            for _, stream, events in harness.sink.calls
            for _, m in events
            if f"RequestId: {result.request_id}" in m
        ]
        assert len(group_events) == 3
    for _, _, events in harness.sink.calls:
        messages = [m for _, m in events]
        index = json.loads(
            next(r.payload for r in results if f"START RequestId: {r.request_id} " in messages[0])
        )["i"]
        assert f"begin {index}\n" in messages and f"finish {index}\n" in messages
        assert not any(m.startswith(("begin", "finish")) and not m.endswith(f" {index}\n") for m in messages)


def test_default_concurrency_allows_parallel_invocations(harness: Harness) -> None:
    spec = harness.deploy(SLEEPER)
    started = time.monotonic()
    results = _gather(harness, spec, 3, 0.6)
    assert len({json.loads(r.payload)["pid"] for r in results}) == 3
    assert time.monotonic() - started < 3 * 0.6 + 2.0


def test_throttle_instead_of_waiting(harness: Harness) -> None:
    spec = harness.deploy(SLEEPER, reserved_concurrency=1)

    async def go() -> tuple[InvocationResult, BaseException | InvocationResult]:
        first = asyncio.ensure_future(harness.runtime.invoke(spec, b'{"i": 0, "sleep": 0.5}'))
        await asyncio.sleep(0.05)
        try:
            second: BaseException | InvocationResult = await harness.runtime.invoke(
                spec, b'{"i": 1}', wait_for_slot=False
            )
        except TooManyRequestsException as exc:
            second = exc
        return await first, second

    first, second = harness.run(go())
    assert first.status == "ok"
    assert isinstance(second, TooManyRequestsException)
    assert (second.code, second.status, second.message) == ("TooManyRequestsException", 429, "Rate Exceeded.")
    assert second.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"


def test_reserved_concurrency_zero_throttles(harness: Harness) -> None:
    spec = harness.deploy(SLEEPER, reserved_concurrency=0)
    with pytest.raises(TooManyRequestsException):
        harness.run(harness.runtime.invoke(spec, b'{"i": 0}'))


def test_update_uses_new_code_on_next_invocation(harness: Harness) -> None:
    v1 = harness.deploy({"app.py": "import os\ndef handler(e, c):\n    return ['v1', os.getpid()]\n"})
    v2 = harness.deploy({"app.py": "import os\ndef handler(e, c):\n    return ['v2', os.getpid()]\n"})
    assert v1.code_dir != v2.code_dir

    async def go() -> tuple[InvocationResult, InvocationResult, InvocationResult]:
        slow = harness.deploy(
            {
                "app.py": "import os, time\n"
                "def handler(e, c):\n    time.sleep(0.5)\n    return ['v1-slow', os.getpid()]\n"
            }
        )
        in_flight = asyncio.ensure_future(harness.runtime.invoke(slow, b"{}"))
        await asyncio.sleep(0.2)
        new = await harness.runtime.invoke(v2, b"{}")
        return await in_flight, new, await harness.runtime.invoke(v2, b"{}")

    first = json.loads(harness.run(harness.runtime.invoke(v1, b"{}")).payload)
    assert first[0] == "v1"
    old_flight, new, again = harness.run(go())
    assert json.loads(old_flight.payload)[0] == "v1-slow"
    assert json.loads(new.payload)[0] == "v2" and json.loads(again.payload)[0] == "v2"
    assert not is_running(first[1])
    assert len(harness.runtime.worker_pids(v2.name)) == 1


def test_evict_retires_workers(harness: Harness) -> None:
    spec = harness.deploy({"app.py": "import os\ndef handler(e, c):\n    return os.getpid()\n"})
    pid = json.loads(harness.run(harness.runtime.invoke(spec, b"{}")).payload)
    assert harness.runtime.worker_pids(spec.name) == [pid]
    harness.run(harness.runtime.evict(spec.name))
    assert harness.runtime.worker_pids(spec.name) == []
    assert not is_running(pid)
    result = harness.run(harness.runtime.invoke(spec, b"{}"))
    assert json.loads(result.payload) != pid and result.init_duration_ms is not None


def test_idle_workers_are_retired(harness: Harness) -> None:
    harness.run(harness.runtime.close())
    harness.runtime = harness.make_runtime(idle_seconds=0.3)
    spec = harness.deploy({"app.py": "import os\ndef handler(e, c):\n    return os.getpid()\n"})
    pid = json.loads(harness.run(harness.runtime.invoke(spec, b"{}")).payload)
    harness.run(asyncio.sleep(0.8))
    assert not is_running(pid)
    assert harness.runtime.worker_pids() == []


def test_close_leaves_no_process_behind(harness: Harness) -> None:
    spec = harness.deploy(
        {
            "app.py": """
                import os, subprocess, time
                def handler(event, context):
                    child = subprocess.Popen(["sleep", "60"])
                    print("child", child.pid)
                    if event.get("hang"):
                        time.sleep(30)
                    return [os.getpid(), child.pid]
            """
        },
        timeout_seconds=60,
    )
    other = harness.deploy(
        {"app.py": "import os\ndef handler(e, c):\n    return [os.getpid()]\n"}, name="other"
    )

    async def go() -> tuple[list[int], InvocationResult]:
        pids = json.loads((await harness.runtime.invoke(spec, b"{}")).payload)
        pids += json.loads((await harness.runtime.invoke(other, b"{}")).payload)
        hanging = asyncio.ensure_future(harness.runtime.invoke(spec, b'{"hang": true}'))
        await asyncio.sleep(0.5)
        pids += harness.runtime.worker_pids()
        await harness.runtime.close()
        return pids, await hanging

    pids, hanging = harness.run(go())
    children = [int(m.split()[1]) for m in harness.sink.messages() if m.startswith("child ")]
    assert len(children) == 2
    pids += children
    assert len(set(pids)) == 4
    assert not [pid for pid in pids if is_running(pid)]
    assert hanging.status == "error"
    assert harness.runtime.worker_pids() == []
