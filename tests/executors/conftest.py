"""Helpers for the executor tests: real agents in temporary data folders, real processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from batchbridge.executors.base import AttemptExit, LaunchSpec, OutputLine, base_environment
from batchbridge.executors.local import LocalExecutor, stop_agent
from batchbridge.executors.protocol import AgentPaths

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A data folder whose agent (if any) is shut down, with its attempts, after the test."""
    folder = tmp_path / "data"
    folder.mkdir()
    yield folder
    run(stop_agent(folder))


def spec(
    data_dir: Path,
    attempt_id: str,
    command: list[str],
    *,
    env: dict[str, str] | None = None,
    memory_mib: int | None = None,
    timeout: float | None = None,
    grace: float = 30.0,
    cpu_priority: str = "normal",
) -> LaunchSpec:
    return LaunchSpec(
        attempt_id=attempt_id,
        command=command,
        environment=base_environment() | (env or {}),
        vcpus=1.0,
        memory_mib=memory_mib,
        gpus=0,
        workdir=data_dir / "work" / attempt_id,
        timeout_seconds=timeout,
        kill_grace_seconds=grace,
        cpu_priority=cpu_priority,
    )


@contextlib.asynccontextmanager
async def started(data_dir: Path, **options: Any) -> AsyncIterator[LocalExecutor]:
    executor = LocalExecutor(data_dir, **options)
    await executor.start()
    try:
        yield executor
    finally:
        await executor.close()


async def collect(
    executor: LocalExecutor, attempt_ids: set[str], timeout: float = 20.0, ack: bool = True
) -> tuple[dict[str, list[OutputLine]], dict[str, AttemptExit]]:
    """Read events until every attempt in ``attempt_ids`` has exited (acknowledging the exits)."""
    lines: dict[str, list[OutputLine]] = {a: [] for a in attempt_ids}
    exits: dict[str, AttemptExit] = {}
    stream = executor.events()

    async def drain() -> None:
        async for event in stream:
            if isinstance(event, OutputLine):
                lines.setdefault(event.attempt_id, []).append(event)
            else:
                assert event.attempt_id not in exits, f"second exit for {event.attempt_id}"
                exits[event.attempt_id] = event
                if ack:
                    await executor.acknowledge(event.attempt_id)
                if attempt_ids <= set(exits):
                    return

    try:
        await asyncio.wait_for(drain(), timeout)
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    return lines, exits


def agent_pid(data_dir: Path) -> int:
    return int(AgentPaths.for_data_dir(data_dir).pidfile.read_text().strip())


def process_gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (absent, or a zombie waiting for its parent)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return True
    return data[data.rindex(b")") + 2 :].split()[0] in (b"Z", b"X")


def wait_gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process_gone(pid):
            return True
        time.sleep(0.02)
    return process_gone(pid)


def kill_agent(data_dir: Path) -> int:
    """SIGKILL the agent this test started (through its executor) and wait until it is gone."""
    pid = agent_pid(data_dir)
    os.kill(pid, signal.SIGKILL)
    assert wait_gone(pid)
    return pid
