"""The agent's start-ahead gate: held launches start as room frees, within the gate's capacity."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from batchbridge.executors.base import (
    TASK_FAILED_TO_START,
    AttemptExit,
    AttemptState,
    LaunchSpec,
    supports_start_ahead,
)
from batchbridge.executors.local import LocalExecutor

from .conftest import collect, run, spec, started


def gated(data_dir: Path, attempt_id: str, script: str, capacity: float, ce: str = "ce-a") -> LaunchSpec:
    base = spec(data_dir, attempt_id, ["sh", "-c", script])
    return dataclasses.replace(base, compute_environment=ce, gate_vcpus=capacity)


def peak_overlap(exits: list[AttemptExit]) -> int:
    """Most attempts whose [started, stopped) intervals overlap at any instant."""
    marks: list[tuple[int, int]] = []
    for exit in exits:
        assert exit.started_at_ms is not None
        marks += [(exit.started_at_ms, 1), (exit.stopped_at_ms, -1)]
    level = peak = 0
    for _, step in sorted(marks, key=lambda m: (m[0], m[1])):
        level += step
        peak = max(peak, level)
    return peak


def test_local_executor_declares_start_ahead(data_dir: Path) -> None:
    assert supports_start_ahead(LocalExecutor(data_dir))
    assert not supports_start_ahead(object())


def test_gate_never_runs_more_than_its_capacity_and_keeps_fifo_order(data_dir: Path) -> None:
    names = [f"g{i}" for i in range(6)]

    async def scenario() -> tuple[list[int | None], dict[str, AttemptExit]]:
        async with started(data_dir) as executor:
            launches = [
                asyncio.create_task(executor.launch(gated(data_dir, name, "sleep 0.25", 2))) for name in names
            ]
            _, exits = await collect(executor, set(names), timeout=30)
            infos = await asyncio.gather(*launches)
            return [info.started_at_ms for info in infos], exits

    starts, exits = run(scenario())
    assert all(exit.exit_code == 0 for exit in exits.values())
    assert peak_overlap(list(exits.values())) == 2
    assert starts == [exits[name].started_at_ms for name in names]
    waves = [[exits[name].started_at_ms or 0 for name in names[i : i + 2]] for i in (0, 2, 4)]
    assert max(waves[0]) < min(waves[1]) and max(waves[1]) < min(waves[2]), (
        "held launches start in the order they were sent, two at a time"
    )
    for later in names[2:]:
        started_at = exits[later].started_at_ms or 0
        assert started_at - min(e.stopped_at_ms for e in exits.values()) >= 0
        assert any(0 <= started_at - e.stopped_at_ms < 150 for e in exits.values()), (
            "a held launch starts as soon as a slot frees"
        )


def test_gates_of_different_compute_environments_do_not_share_capacity(data_dir: Path) -> None:
    async def scenario() -> dict[str, AttemptExit]:
        async with started(data_dir) as executor:
            a = asyncio.create_task(executor.launch(gated(data_dir, "a", "sleep 0.4", 1, "ce-a")))
            b = asyncio.create_task(executor.launch(gated(data_dir, "b", "sleep 0.4", 1, "ce-b")))
            await asyncio.gather(a, b)
            return (await collect(executor, {"a", "b"}))[1]

    exits = run(scenario())
    assert peak_overlap(list(exits.values())) == 2


def test_a_held_launch_stopped_before_it_runs_never_runs(data_dir: Path) -> None:
    marker = data_dir / "ran"

    async def scenario() -> tuple[dict[str, AttemptExit], int | None]:
        async with started(data_dir) as executor:
            first = await executor.launch(gated(data_dir, "first", "sleep 0.6", 1))
            assert first.started_at_ms is not None
            held = asyncio.create_task(executor.launch(gated(data_dir, "held", f"touch {marker}", 1)))
            await asyncio.sleep(0.1)
            assert not held.done(), "the launch is held while the gate is full"
            await executor.stop("held", "Terminated by the test")
            info = await asyncio.wait_for(held, 5)
            _, exits = await collect(executor, {"first", "held"})
            return exits, info.started_at_ms

    exits, held_started = run(scenario())
    assert held_started is None
    held = exits["held"]
    assert held.stopped and held.started_at_ms is None and held.exit_code is None
    assert held.status_reason == "Terminated by the test"
    assert exits["first"].exit_code == 0
    assert held.stopped_at_ms < exits["first"].stopped_at_ms, "the stop did not wait for a free slot"
    assert not marker.exists()
    assert not (data_dir / "work" / "held").exists()


def test_a_held_launch_is_recovered_by_a_new_server_and_runs_exactly_once(data_dir: Path) -> None:
    log = data_dir / "runs.log"

    async def first_server() -> None:
        executor = LocalExecutor(data_dir)
        await executor.start()
        await executor.launch(gated(data_dir, "long", "sleep 0.8", 1))
        held = asyncio.create_task(executor.launch(gated(data_dir, "held", f"echo run >> {log}", 1)))
        await asyncio.sleep(0.1)
        assert not held.done()
        await executor.close()
        await asyncio.gather(held, return_exceptions=True)

    async def second_server() -> tuple[AttemptState, int | None, int | None, dict[str, AttemptExit]]:
        async with started(data_dir) as executor:
            states = await executor.recover({"long": 0, "held": 0})
            found = states["held"]
            assert found.info is not None
            relaunched = await asyncio.wait_for(executor.launch(gated(data_dir, "held", "false", 1)), 10)
            _, exits = await collect(executor, {"long", "held"})
            return found.state, found.info.started_at_ms, relaunched.started_at_ms, exits

    run(first_server())
    state, recovered_start, started_at, exits = run(second_server())
    assert state is AttemptState.RUNNING and recovered_start is None
    assert started_at is not None and started_at >= exits["long"].stopped_at_ms
    assert exits["held"].exit_code == 0, "the held spec ran, not the re-sent one"
    assert log.read_text() == "run\n"


def test_a_held_launch_the_new_server_does_not_know_is_dropped_unrun(data_dir: Path) -> None:
    marker = data_dir / "ran"

    async def first_server() -> None:
        executor = LocalExecutor(data_dir)
        await executor.start()
        await executor.launch(gated(data_dir, "long", "sleep 0.5", 1))
        held = asyncio.create_task(executor.launch(gated(data_dir, "held", f"touch {marker}", 1)))
        await asyncio.sleep(0.1)
        await executor.close()
        await asyncio.gather(held, return_exceptions=True)

    async def second_server() -> dict[str, AttemptExit]:
        async with started(data_dir) as executor:
            states = await executor.recover({"long": 0})
            assert "held" not in states
            exits = (await collect(executor, {"long"}))[1]
            await asyncio.sleep(0.3)
            return exits

    run(first_server())
    exits = run(second_server())
    assert exits["long"].exit_code == 0
    assert not marker.exists()


def test_a_held_launch_that_cannot_start_is_answered_then_fails_to_start(data_dir: Path) -> None:
    async def scenario() -> tuple[list[int | None], dict[str, AttemptExit]]:
        async with started(data_dir) as executor:
            first = gated(data_dir, "first", "sleep 0.2", 1)
            broken = dataclasses.replace(first, attempt_id="broken", command=["/nonexistent/program"])
            after = gated(data_dir, "after", "true", 1)
            launches = [asyncio.create_task(executor.launch(s)) for s in (first, broken, after)]
            _, exits = await collect(executor, {"first", "broken", "after"}, timeout=30)
            infos = await asyncio.gather(*launches)
            return [info.started_at_ms for info in infos], exits

    starts, exits = run(scenario())
    assert starts[1] is None
    assert exits["broken"].exit_code is None
    assert exits["broken"].status_reason == TASK_FAILED_TO_START
    assert exits["broken"].stopped_at_ms >= exits["first"].stopped_at_ms
    assert exits["first"].exit_code == 0 and exits["after"].exit_code == 0
    assert (exits["after"].started_at_ms or 0) >= exits["first"].stopped_at_ms, (
        "the failed start gave its slot back to the next held launch"
    )
