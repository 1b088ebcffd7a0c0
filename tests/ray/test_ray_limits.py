"""Limits enforced on the node as locally: timeout, MEMORY (OOM kill) and stop of a running attempt."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from ray_support import RayCluster, collect, connected, make_spec, pid_alive, run, wait_for

from batchbridge.executors.base import (
    ESSENTIAL_CONTAINER_EXITED,
    OOM_REASON,
    SIGKILL_EXIT_CODE,
    TIMEOUT_STATUS_REASON,
    OutputLine,
)

pytestmark = pytest.mark.ray

TRAP = "trap 'echo term; exit 143' TERM; echo ready; while true; do sleep 0.1; done"


def test_timeout_sends_sigterm_then_reports_the_timeout(ray_cluster: RayCluster, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with connected(ray_cluster, tmp_path) as executor:
            spec = make_spec(tmp_path, "to-1", ["sh", "-c", TRAP], timeout=1.0, grace=5.0)
            await executor.launch(spec)
            lines, exits = await collect(executor, {"to-1"})
            exit = exits["to-1"]
            assert exit.timed_out and exit.status_reason == TIMEOUT_STATUS_REASON
            assert exit.exit_code == 143
            assert [line.message for line in lines["to-1"] if line.stream == "stdout"] == ["ready", "term"]

    run(scenario())


def test_timeout_escalates_to_sigkill_after_the_grace(ray_cluster: RayCluster, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with connected(ray_cluster, tmp_path) as executor:
            stubborn = "trap '' TERM; echo ready; while true; do sleep 0.1; done"
            spec = make_spec(tmp_path, "to-2", ["sh", "-c", stubborn], timeout=0.5, grace=0.5)
            await executor.launch(spec)
            _, exits = await collect(executor, {"to-2"})
            assert exits["to-2"].timed_out and exits["to-2"].exit_code == SIGKILL_EXIT_CODE

    run(scenario())


def test_memory_limit_kills_the_group_as_out_of_memory(ray_cluster: RayCluster, tmp_path: Path) -> None:
    hog = "import time; b = bytearray(200 * 2**20); print('allocated', flush=True); time.sleep(30)"

    async def scenario() -> None:
        async with connected(ray_cluster, tmp_path) as executor:
            spec = make_spec(tmp_path, "oom-1", [sys.executable, "-c", hog], memory_mib=64)
            await executor.launch(spec)
            _, exits = await collect(executor, {"oom-1"}, timeout=30)
            exit = exits["oom-1"]
            assert exit.oom and exit.reason == OOM_REASON
            assert exit.exit_code == SIGKILL_EXIT_CODE
            assert exit.status_reason == ESSENTIAL_CONTAINER_EXITED

    run(scenario())


def test_stop_ends_the_remote_group_with_the_callers_reason(ray_cluster: RayCluster, tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    script = f"sleep 300 & echo $! > {marker}; {TRAP}"

    async def scenario() -> None:
        async with connected(ray_cluster, tmp_path) as executor:
            info = await executor.launch(make_spec(tmp_path, "stop-1", ["sh", "-c", script], grace=2.0))
            stream = executor.events()
            first = await asyncio.wait_for(anext(stream), 15)
            assert isinstance(first, OutputLine) and first.message == "ready"
            child = int(marker.read_text())
            assert info.pid is not None and pid_alive(info.pid) and pid_alive(child)
            await executor.stop("stop-1", "Terminated by the test")
            events = []
            async for event in stream:
                events.append(event)
                if not isinstance(event, OutputLine):
                    break
            exit = events[-1]
            assert not isinstance(exit, OutputLine)
            assert exit.stopped and exit.status_reason == "Terminated by the test"
            assert exit.exit_code == 143
            assert not pid_alive(info.pid)
            assert wait_for(lambda: not pid_alive(child), 5), "the background child outlived the attempt"
            await executor.acknowledge("stop-1")

    run(scenario())
