"""Spawning on a thread: the agent's loop stays free, and a stop that comes first is not lost."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import time
from pathlib import Path

from batchbridge.executors.base import AttemptExit
from batchbridge.executors.process import AttemptProcess
from batchbridge.executors.protocol import AgentPaths

from .conftest import run, spec


def _attempt(data_dir: Path, attempt_id: str, command: list[str], exits: list[AttemptExit]) -> AttemptProcess:
    paths = AgentPaths.for_data_dir(data_dir)
    paths.attempts.mkdir(parents=True, exist_ok=True)
    journal = os.open(paths.launches, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    return AttemptProcess(
        spec(data_dir, attempt_id, command, grace=0.2),
        journal,
        paths.attempt_files(attempt_id),
        asyncio.get_running_loop(),
        lambda _a, _r: None,
        lambda _a, exit: exits.append(exit),
    )


def test_a_stop_sent_while_the_process_is_being_spawned_applies_once_it_runs(data_dir: Path) -> None:
    gate = threading.Event()

    async def scenario() -> tuple[AttemptExit, float, bool]:
        exits: list[AttemptExit] = []
        spawned: list[AttemptProcess] = []
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(gate.wait, 10)
            attempt = _attempt(data_dir, "s1.1", ["sleep", "30"], exits)
            attempt.spawn_in(pool, spawned.append)
            assert attempt.spawning and attempt.pid is None
            attempt.stop("Terminated by the test")
            began = time.monotonic()
            gate.set()
            while not exits:
                await asyncio.sleep(0.01)
            workdir_made = attempt.spec.workdir.is_dir()
        assert spawned == [attempt]
        return exits[0], time.monotonic() - began, workdir_made

    exit, took, workdir_made = run(scenario())
    assert exit.stopped
    assert exit.status_reason == "Terminated by the test"
    assert exit.exit_code == 128 + 15
    assert exit.started_at_ms is not None
    assert workdir_made
    assert took < 10


def test_a_command_that_cannot_start_on_a_thread_ends_as_task_failed_to_start(data_dir: Path) -> None:
    async def scenario() -> tuple[AttemptExit, AttemptProcess]:
        exits: list[AttemptExit] = []
        spawned: list[AttemptProcess] = []
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            attempt = _attempt(data_dir, "s2.1", ["/nonexistent/program"], exits)
            attempt.spawn_in(pool, spawned.append)
            while not exits:
                await asyncio.sleep(0.01)
        assert spawned == [attempt]
        return exits[0], attempt

    exit, attempt = run(scenario())
    assert attempt.pid is None
    assert exit.status_reason == "Task failed to start"
    assert exit.reason is not None and exit.reason.startswith("CannotStartContainerError: ")
    assert 'exec: "/nonexistent/program"' in exit.reason


def test_the_loop_keeps_running_while_a_spawn_is_under_way(data_dir: Path) -> None:
    gate = threading.Event()

    async def scenario() -> int:
        exits: list[AttemptExit] = []
        ticks = 0
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(gate.wait, 10)
            attempt = _attempt(data_dir, "s3.1", ["true"], exits)
            attempt.spawn_in(pool, lambda _a: None)
            for _ in range(5):
                await asyncio.sleep(0.01)
                ticks += 1
            assert attempt.spawning and not exits
            gate.set()
            while not exits:
                await asyncio.sleep(0.01)
        assert exits[0].exit_code == 0
        return ticks

    assert run(scenario()) == 5
