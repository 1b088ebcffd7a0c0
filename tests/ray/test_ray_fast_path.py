"""The warm fast path: an attempt that ends at once is launched and delivered in one actor call."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from ray_support import RayCluster, collect, connected, make_spec, run

from batchbridge.executors.base import ESSENTIAL_CONTAINER_EXITED, AttemptExit, OutputLine

pytestmark = pytest.mark.ray


def test_a_short_attempt_brings_its_output_and_exit_back_with_the_launch(
    ray_cluster: RayCluster, tmp_path: Path
) -> None:
    script = "echo one; echo two >&2; sleep 0.3; echo three; exit 4"

    async def scenario() -> None:
        async with connected(ray_cluster, tmp_path, settle_seconds=5.0) as executor:
            started = time.monotonic()
            info = await executor.launch(make_spec(tmp_path, "fast-1", ["sh", "-c", script]))
            assert time.monotonic() - started >= 0.3, "the launch did not wait for the exit"
            assert info.pid is not None and info.started_at_ms is not None
            assert "fast-1" not in executor._followers, "a follower polls an attempt already delivered"
            lines, exits = await collect(executor, {"fast-1"}, timeout=5)
            assert [(line.seq, line.stream, line.message) for line in lines["fast-1"]] == [
                (1, "stdout", "one"),
                (2, "stderr", "two"),
                (3, "stdout", "three"),
            ]
            exit = exits["fast-1"]
            assert exit.exit_code == 4 and exit.status_reason == ESSENTIAL_CONTAINER_EXITED
            assert exit.output_lines == 3 and exit.started_at_ms == info.started_at_ms

    run(scenario())


def test_a_longer_attempt_is_launched_without_waiting_for_its_exit(
    ray_cluster: RayCluster, tmp_path: Path
) -> None:
    script = "echo early; sleep 1.5; echo late"

    async def scenario() -> None:
        async with connected(ray_cluster, tmp_path, settle_seconds=0.05) as executor:
            stream = executor.events()
            await executor.launch(make_spec(tmp_path, "warm-up", ["true"]))
            first = await asyncio.wait_for(anext(stream), 10)
            assert isinstance(first, AttemptExit) and first.exit_code == 0
            await executor.acknowledge("warm-up")
            started = time.monotonic()
            await executor.launch(make_spec(tmp_path, "slow-1", ["sh", "-c", script]))
            assert time.monotonic() - started < 1.0, "the launch waited for a long attempt"
            early = await asyncio.wait_for(anext(stream), 10)
            assert isinstance(early, OutputLine) and early.message == "early"
            assert time.monotonic() - started < 1.2, "the first line waited for the end"
            lines, exits = await collect(executor, {"slow-1"}, timeout=10)
            assert [line.message for line in lines["slow-1"]] == ["late"]
            assert exits["slow-1"].exit_code == 0 and exits["slow-1"].output_lines == 2

    run(scenario())


def test_without_settling_every_attempt_is_followed_by_polls(ray_cluster: RayCluster, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with connected(ray_cluster, tmp_path, settle_seconds=0.0) as executor:
            ids = [f"plain-{i}" for i in range(3)]
            for aid in ids:
                await executor.launch(make_spec(tmp_path, aid, ["sh", "-c", f"echo {aid}; exit 2"]))
                lines, exits = await collect(executor, {aid}, timeout=10)
                assert [line.message for line in lines[aid]] == [aid]
                assert exits[aid].exit_code == 2 and exits[aid].output_lines == 1

    run(scenario())
