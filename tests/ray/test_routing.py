"""RoutingExecutor over real executors: two local host agents stand for "here" and "elsewhere".

No Ray needed: the routing rules (launch by compute environment, merged events, stop and
acknowledge by attempt, recover split between bound executors and the default, a bound
environment that cannot start) hold for any executor.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from ray_support import make_spec, run

from batchbridge.errors import ClientException
from batchbridge.executors.base import AttemptExit, AttemptState, Executor, LaunchSpec, OutputLine
from batchbridge.executors.local import LocalExecutor, stop_agent
from batchbridge.executors.routing import RoutingExecutor


def _spec(tmp_path: Path, attempt_id: str, command: str, ce: str) -> LaunchSpec:
    spec = make_spec(tmp_path / "work", attempt_id, ["sh", "-c", command])
    return dataclasses.replace(spec, compute_environment=ce)


async def _exits(
    router: RoutingExecutor, wanted: set[str]
) -> tuple[dict[str, list[str]], dict[str, AttemptExit]]:
    lines: dict[str, list[str]] = {}
    exits: dict[str, AttemptExit] = {}
    stream = router.events()
    while not wanted <= exits.keys():
        event = await asyncio.wait_for(anext(stream), 20)
        if isinstance(event, OutputLine):
            lines.setdefault(event.attempt_id, []).append(event.message)
        else:
            exits[event.attempt_id] = event
            await router.acknowledge(event.attempt_id)
    return lines, exits


@pytest.fixture
def folders(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    here, there = tmp_path / "here", tmp_path / "there"
    yield here, there
    run(stop_agent(here))
    run(stop_agent(there))


def test_attempts_go_to_the_executor_bound_to_their_compute_environment(
    tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    here, there = folders

    async def scenario() -> None:
        remote = LocalExecutor(there)
        router = RoutingExecutor(LocalExecutor(here), {"far-ce": lambda: remote})
        assert isinstance(router, Executor)
        await router.start()
        try:
            near = await router.launch(_spec(tmp_path, "near-1", "echo near", "near-ce"))
            far = await router.launch(_spec(tmp_path, "far-1", "echo far; exit 4", "far-ce"))
            assert far.container_instance_id == remote.container_instance_id
            assert near.container_instance_id == router.container_instance_id
            assert near.container_instance_id != far.container_instance_id
            lines, exits = await _exits(router, {"near-1", "far-1"})
            assert lines == {"near-1": ["near"], "far-1": ["far"]}
            assert (exits["near-1"].exit_code, exits["far-1"].exit_code) == (0, 4)
            assert router.compute_environments == ["far-ce"]
        finally:
            await router.close()

    run(scenario())


def test_stop_follows_the_attempt_and_recover_splits_by_owner(
    tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    here, there = folders
    sleeper = "echo up; exec sleep 30"

    async def first_server() -> None:
        router = RoutingExecutor(LocalExecutor(here), {"far-ce": lambda: LocalExecutor(there)})
        await router.start()
        await router.launch(_spec(tmp_path, "far-run", sleeper, "far-ce"))
        await router.launch(_spec(tmp_path, "near-run", sleeper, ""))
        await router.close()

    async def second_server() -> None:
        remote = LocalExecutor(there)
        router = RoutingExecutor(LocalExecutor(here), {"far-ce": lambda: remote})
        await router.start()
        try:
            found = await router.recover({"far-run": 0, "near-run": 0, "gone-run": 0})
            assert found["far-run"].state is AttemptState.RUNNING
            assert found["near-run"].state is AttemptState.RUNNING
            assert found["gone-run"].state is AttemptState.UNKNOWN
            far_info = found["far-run"].info
            assert far_info is not None and far_info.container_instance_id == remote.container_instance_id
            await router.stop("far-run", "stopped far")
            await router.stop("near-run", "stopped near")
            _, exits = await _exits(router, {"far-run", "near-run"})
            assert exits["far-run"].stopped and exits["far-run"].status_reason == "stopped far"
            assert exits["near-run"].stopped and exits["near-run"].status_reason == "stopped near"
        finally:
            await router.close()

    run(first_server())
    run(second_server())


def test_a_bound_environment_that_cannot_start_fails_its_launches_only(
    tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    here, _ = folders

    def broken() -> Executor:
        raise ClientException("Cannot connect to the Ray cluster at 127.0.0.1:9: Connection refused")

    async def scenario() -> None:
        router = RoutingExecutor(LocalExecutor(here), {"ray-ce": broken})
        await router.start()
        try:
            error = router.error_for("ray-ce")
            assert error is not None and "127.0.0.1:9" in str(error)
            with pytest.raises(ClientException, match=r"Cannot connect to the Ray cluster at 127\.0\.0\.1:9"):
                await router.launch(_spec(tmp_path, "ray-1", "true", "ray-ce"))
            await router.launch(_spec(tmp_path, "local-1", "true", "other-ce"))
            _, exits = await _exits(router, {"local-1"})
            assert exits["local-1"].exit_code == 0
        finally:
            await router.close()

    run(scenario())


def test_capacity_and_fit_of_an_environment_without_a_cluster_are_its_own(
    tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    here, there = folders

    async def scenario() -> None:
        router = RoutingExecutor(LocalExecutor(here), {"far-ce": lambda: LocalExecutor(there)})
        await router.start()
        try:
            for ce in ("far-ce", "near-ce"):
                cap = router.capacity_for(ce, 8.0, 1024, 1)
                assert (cap.vcpus, cap.memory_mib, cap.gpus) == (8.0, 1024, 1)
                assert router.fits(ce, 64.0, 10**9, 8)
        finally:
            await router.close()

    run(scenario())
