"""The warm invoke round trip, measured over a few hundred invocations of a trivial handler.

Run ``.venv/bin/pytest tests/functions/test_latency.py -q -s`` to see the figures.
"""

from __future__ import annotations

import json
import statistics
import time

from batchbridge.functions import FunctionRuntime

from .conftest import Harness

ROUNDS = 300


def test_warm_invoke_round_trip(harness: Harness) -> None:
    spec = harness.deploy({"app.py": "def handler(event, context):\n    return event\n"})

    async def measure() -> list[float]:
        await harness.runtime.invoke(spec, b"{}")
        samples = []
        for i in range(ROUNDS):
            started = time.perf_counter()
            result = await harness.runtime.invoke(spec, json.dumps({"i": i}).encode())
            samples.append((time.perf_counter() - started) * 1000.0)
            assert result.payload == json.dumps({"i": i}).encode()
        return samples

    samples = sorted(harness.run(measure()))
    p50 = statistics.median(samples)
    p95 = samples[int(len(samples) * 0.95)]
    worst = samples[-1]
    print(f"\nwarm invoke round trip over {ROUNDS}: p50 {p50:.2f} ms, p95 {p95:.2f} ms, max {worst:.2f} ms")
    assert len(harness.runtime.worker_pids(spec.name)) == 1
    assert p50 < 25.0


def test_extra_environment_and_a_failing_sink(harness: Harness) -> None:
    harness.run(harness.runtime.close())

    def broken_sink(group: str, stream: str, events: list[tuple[int, str]]) -> None:
        raise OSError("disk full")

    harness.runtime = FunctionRuntime(
        harness.tmp_path / "rt2", broken_sink, base_environment={"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}
    )
    spec = harness.deploy(
        {"app.py": "import os\ndef handler(e, c):\n    return os.environ['AWS_ENDPOINT_URL']\n"}
    )
    result = harness.run(harness.runtime.invoke(spec, b"{}"))
    assert (result.status, result.payload) == ("ok", b'"http://127.0.0.1:4566"')
