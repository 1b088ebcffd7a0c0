"""Crash safety: the server dies with SIGKILL, the agent dies, exits wait for acknowledgement."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from batchbridge.executors.base import AttemptState, host_lost_reason
from batchbridge.executors.local import LocalExecutor

from .conftest import agent_pid, collect, kill_agent, process_gone, run, spec, started, wait_gone

CHILD = Path(__file__).with_name("server_child.py")


def read_until(proc: subprocess.Popen[str], done: Any, timeout: float = 15.0) -> list[dict[str, Any]]:
    """Read the child's JSON events until ``done(events)`` holds."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while not done(events):
        assert time.monotonic() < deadline, f"child events so far: {events}"
        line = proc.stdout.readline()
        assert line, f"child ended early: {events}"
        events.append(json.loads(line))
    return events


def lines_of(events: list[dict[str, Any]], attempt_id: str) -> list[dict[str, Any]]:
    return [e["line"] for e in events if "line" in e and e["line"]["attempt_id"] == attempt_id]


def test_server_killed_with_sigkill_then_a_new_server_recovers_running_and_finished(data_dir: Path) -> None:
    running_script = "echo a1; sleep 2.5; echo a2; exit 4"
    finishing_script = "echo b1; sleep 0.3; echo b2; echo b3 >&2; exit 0"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(data_dir), f"A={running_script}", f"B={finishing_script}"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        before = read_until(proc, lambda ev: bool(lines_of(ev, "A")) and bool(lines_of(ev, "B")))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    pids = {e["launched"]: e["pid"] for e in before if "launched" in e}
    seen = {a: [line["seq"] for line in lines_of(before, a)] for a in ("A", "B")}
    assert seen == {"A": [1], "B": [1]}
    first_agent = agent_pid(data_dir)
    time.sleep(0.8)
    assert not process_gone(pids["A"]), "the running attempt died with the server"

    async def scenario() -> None:
        async with started(data_dir) as executor:
            assert executor.agent_pid == first_agent
            states = await executor.recover({"A": 1, "B": 1})
            assert states["A"].state is AttemptState.RUNNING
            assert states["B"].state is AttemptState.EXITED
            exit_b = states["B"].exit
            assert exit_b is not None and exit_b.exit_code == 0 and exit_b.output_lines == 3
            info_a = states["A"].info
            assert info_a is not None and info_a.pid == pids["A"]
            lines, exits = await collect(executor, {"A", "B"})
            assert [(line.seq, line.stream, line.message) for line in lines["B"]] == [
                (2, "stdout", "b2"),
                (3, "stderr", "b3"),
            ]
            assert [(line.seq, line.message) for line in lines["A"]] == [(2, "a2")]
            assert exits["A"].exit_code == 4 and exits["B"] == exit_b

        async with started(data_dir) as again:
            states = await again.recover({"A": 2, "B": 3})
            assert {a: s.state for a, s in states.items()} == {
                "A": AttemptState.UNKNOWN,
                "B": AttemptState.UNKNOWN,
            }

    run(scenario())


def test_an_unacknowledged_exit_is_delivered_again_after_reconnect(data_dir: Path) -> None:
    async def scenario() -> None:
        async with started(data_dir) as executor:
            await executor.launch(spec(data_dir, "x", ["sh", "-c", "echo one; echo two; exit 3"]))
            lines, exits = await collect(executor, {"x"}, ack=False)
            assert [line.seq for line in lines["x"]] == [1, 2]
        async with started(data_dir) as executor:
            states = await executor.recover({"x": 1})
            assert states["x"].state is AttemptState.EXITED
            again_lines, again_exits = await collect(executor, {"x"})
            assert [line.message for line in again_lines["x"]] == ["two"]
            assert again_exits["x"] == exits["x"]
        async with started(data_dir) as executor:
            states = await executor.recover({"x": 2})
            assert states["x"].state is AttemptState.UNKNOWN

    run(scenario())


def test_attempts_the_server_does_not_know_are_stopped_on_recover(data_dir: Path) -> None:
    async def scenario() -> int | None:
        async with started(data_dir) as executor:
            info = await executor.launch(spec(data_dir, "stray", ["sleep", "60"]))
        async with started(data_dir) as executor:
            assert await executor.recover({}) == {}
            return info.pid

    pid = run(scenario())
    assert pid is not None and wait_gone(pid, 3)


def test_agent_killed_while_the_server_is_away_makes_recover_report_unknown(data_dir: Path) -> None:
    async def launch_and_leave() -> int | None:
        async with started(data_dir) as executor:
            info = await executor.launch(spec(data_dir, "orphan", ["sleep", "60"]))
            return info.pid

    pid = run(launch_and_leave())
    assert pid is not None
    kill_agent(data_dir)
    assert not process_gone(pid)

    async def recover() -> None:
        async with started(data_dir) as executor:
            states = await executor.recover({"orphan": 0})
            assert states["orphan"].state is AttemptState.UNKNOWN
            assert states["orphan"].exit is None

    run(recover())
    assert wait_gone(pid, 3), "the new agent must kill the orphaned attempt's group"


def test_agent_killed_while_connected_reports_host_lost_and_a_new_agent_takes_over(data_dir: Path) -> None:
    async def scenario() -> int | None:
        async with started(data_dir) as executor:
            info = await executor.launch(spec(data_dir, "lost", ["sleep", "60"]))
            kill_agent(data_dir)
            _, exits = await collect(executor, {"lost"})
            exit = exits["lost"]
            assert exit.host_lost and exit.exit_code is None
            assert exit.status_reason == host_lost_reason(executor.host_id)
            assert exit.status_reason.startswith("Host EC2 (instance ")
            assert exit.status_reason.endswith(") terminated.")
            await executor.launch(spec(data_dir, "after", ["true"]))
            _, later = await collect(executor, {"after"})
            assert later["after"].exit_code == 0
            return info.pid

    pid = run(scenario())
    assert pid is not None and wait_gone(pid, 3)


def test_the_agent_exits_by_itself_when_idle_and_unconnected(data_dir: Path) -> None:
    async def scenario() -> int | None:
        executor = LocalExecutor(data_dir, agent_idle_timeout=0.3)
        await executor.start()
        await executor.launch(spec(data_dir, "brief", ["true"]))
        await collect(executor, {"brief"})
        await executor.close()
        return executor.agent_pid

    pid = run(scenario())
    assert pid is not None and wait_gone(pid, 5)


def test_launching_an_attempt_id_again_starts_nothing_new(data_dir: Path) -> None:
    async def scenario() -> None:
        async with started(data_dir) as executor:
            launch = spec(data_dir, "once", ["sh", "-c", "echo run; sleep 0.3"])
            first = await executor.launch(launch)
            second = await executor.launch(launch)
            assert second.pid == first.pid and second.started_at_ms == first.started_at_ms
            lines, exits = await collect(executor, {"once"}, ack=False)
            assert [line.message for line in lines["once"]] == ["run"]
            third = await executor.launch(launch)
            assert third.pid is None and third.started_at_ms == first.started_at_ms
            _, again = await collect(executor, {"once"})
            assert again["once"] == exits["once"]
            await executor.stop("no-such-attempt", "ignored")

    run(scenario())
