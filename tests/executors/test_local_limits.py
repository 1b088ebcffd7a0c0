"""Stop, timeout, memory limit and process-group cleanup, with real process trees."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from batchbridge.executors.base import (
    ESSENTIAL_CONTAINER_EXITED,
    OOM_REASON,
    SIGKILL_EXIT_CODE,
    TIMEOUT_STATUS_REASON,
    OutputLine,
)
from batchbridge.executors.local import LocalExecutor

from .conftest import collect, process_gone, run, spec, started, wait_gone

TRAPS_TERM = 'trap "echo got-term" TERM; echo ready; while true; do sleep 0.05; done'


async def first_line(executor: LocalExecutor, attempt_id: str) -> str:
    async for event in executor.events():
        if isinstance(event, OutputLine) and event.attempt_id == attempt_id:
            return event.message
    raise AssertionError("stream ended")


def test_stop_sends_sigterm_then_sigkill_after_the_grace(data_dir: Path) -> None:
    async def scenario() -> None:
        async with started(data_dir) as executor:
            await executor.launch(spec(data_dir, "trap", ["sh", "-c", TRAPS_TERM], grace=0.6))
            assert await first_line(executor, "trap") == "ready"
            began = time.monotonic()
            await executor.stop("trap", "Terminated by the test")
            lines, exits = await collect(executor, {"trap"})
            elapsed = time.monotonic() - began
            exit = exits["trap"]
            assert "got-term" in [line.message for line in lines["trap"]]
            assert exit.stopped and not exit.timed_out
            assert exit.status_reason == "Terminated by the test"
            assert exit.exit_code == SIGKILL_EXIT_CODE
            assert 0.5 <= elapsed < 5

    run(scenario())


def test_stop_of_a_process_that_obeys_sigterm_ends_at_once_with_143(data_dir: Path) -> None:
    async def scenario() -> None:
        async with started(data_dir) as executor:
            await executor.launch(spec(data_dir, "sleepy", ["sleep", "30"], grace=10))
            began = time.monotonic()
            await executor.stop("sleepy", "User asked")
            _, exits = await collect(executor, {"sleepy"})
            assert time.monotonic() - began < 3
            assert exits["sleepy"].exit_code == 143
            assert exits["sleepy"].status_reason == "User asked"

    run(scenario())


def test_timeout_terminates_the_attempt_with_the_timeout_reason(data_dir: Path) -> None:
    async def scenario() -> None:
        async with started(data_dir) as executor:
            info = await executor.launch(
                spec(data_dir, "slow", ["sh", "-c", TRAPS_TERM], timeout=0.4, grace=0.3)
            )
            lines, exits = await collect(executor, {"slow"})
            exit = exits["slow"]
            assert exit.timed_out and not exit.stopped
            assert exit.status_reason == TIMEOUT_STATUS_REASON
            assert exit.exit_code == SIGKILL_EXIT_CODE
            assert "got-term" in [line.message for line in lines["slow"]]
            assert info.started_at_ms is not None
            assert 650 <= exit.stopped_at_ms - info.started_at_ms < 4000

    run(scenario())


def test_memory_limit_exceeded_kills_the_group_as_out_of_memory(data_dir: Path) -> None:
    hog = "import time\nx = b'x' * (300 << 20)\nprint('allocated', flush=True)\ntime.sleep(30)\n"
    command = ["sh", "-c", f'"{sys.executable}" -c "$HOG"; echo parent-after']

    async def scenario() -> None:
        async with started(data_dir, memory_sample_interval=0.05) as executor:
            await executor.launch(spec(data_dir, "hog", command, env={"HOG": hog}, memory_mib=100))
            await executor.launch(spec(data_dir, "small", ["sleep", "0.5"], memory_mib=100))
            lines, exits = await collect(executor, {"hog", "small"})
            exit = exits["hog"]
            assert exit.oom
            assert exit.reason == OOM_REASON
            assert exit.status_reason == ESSENTIAL_CONTAINER_EXITED
            assert exit.exit_code == SIGKILL_EXIT_CODE
            assert "parent-after" not in [line.message for line in lines["hog"]]
            assert not exits["small"].oom and exits["small"].exit_code == 0

    run(scenario())


def test_background_grandchildren_are_killed_when_the_main_process_exits(data_dir: Path) -> None:
    script = "sleep 60 & echo $!; (sleep 61 >/dev/null 2>&1 &) ; echo started; exit 0"

    async def scenario() -> int:
        async with started(data_dir) as executor:
            await executor.launch(spec(data_dir, "bg", ["sh", "-c", script]))
            began = time.monotonic()
            lines, exits = await collect(executor, {"bg"})
            assert time.monotonic() - began < 1.5
            assert exits["bg"].exit_code == 0
            return int(lines["bg"][0].message)

    background = run(scenario())
    assert wait_gone(background, 3)


def test_stopping_an_attempt_kills_its_whole_process_group(data_dir: Path) -> None:
    script = "sleep 60 & echo $!; wait"

    async def scenario() -> int:
        async with started(data_dir) as executor:
            await executor.launch(spec(data_dir, "tree", ["sh", "-c", script], grace=0.2))
            child = int(await first_line(executor, "tree"))
            assert not process_gone(child)
            await executor.stop("tree", "stop the tree")
            _, exits = await collect(executor, {"tree"})
            assert exits["tree"].stopped
            return child

    assert wait_gone(run(scenario()), 3)
