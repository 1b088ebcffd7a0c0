"""Launching is cheap: a thousand short attempts at close to the machine's own spawn rate."""

from __future__ import annotations

import asyncio
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .conftest import collect, run, spec, started

COUNT = 1000


def plain_spawn_seconds(count: int) -> float:
    """``subprocess.run(["true"])`` ``count`` times on two threads: the machine's spawn rate."""
    began = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: subprocess.run(["true"]).returncode, range(count)))
    assert results == [0] * count
    return time.perf_counter() - began


@pytest.mark.slow
def test_a_thousand_true_attempts_complete_and_the_rate_is_reported(data_dir: Path) -> None:
    specs = [spec(data_dir, f"t{i}", ["true"]) for i in range(COUNT)]

    async def scenario() -> float:
        async with started(data_dir) as executor:
            began = time.perf_counter()
            infos = await asyncio.gather(*(executor.launch(s) for s in specs))
            assert all(info.started_at_ms is not None for info in infos)
            _, exits = await collect(executor, {s.attempt_id for s in specs}, timeout=120)
            elapsed = time.perf_counter() - began
            assert len(exits) == COUNT
            assert all(exit.exit_code == 0 for exit in exits.values())
            return elapsed

    executor_seconds = run(scenario())
    plain_seconds = plain_spawn_seconds(COUNT)
    print(
        f"\n{COUNT} x true: local executor {executor_seconds:.2f}s ({COUNT / executor_seconds:.0f}/s), "
        f"subprocess.run on 2 threads {plain_seconds:.2f}s ({COUNT / plain_seconds:.0f}/s), "
        f"ratio {executor_seconds / plain_seconds:.2f}"
    )
