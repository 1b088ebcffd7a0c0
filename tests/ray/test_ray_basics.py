"""The Ray executor on a real local cluster: placement, output, exit codes, capacity."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from ray_support import RayCluster, collect, connected, make_spec, run

from batchbridge.executors.base import ESSENTIAL_CONTAINER_EXITED, TASK_FAILED_TO_START, Executor, OutputLine
from batchbridge.executors.ray_executor import RayExecutor

pytestmark = pytest.mark.ray


def test_output_lines_arrive_in_order_while_running_then_the_exit(
    ray_cluster: RayCluster, tmp_path: Path
) -> None:
    script = "for i in 1 2 3; do echo line$i; done; echo err >&2; sleep 1.5; echo late; exit 3"

    async def scenario() -> None:
        async with connected(ray_cluster, tmp_path) as executor:
            assert isinstance(executor, Executor)
            info = await executor.launch(make_spec(tmp_path, "out-1", ["sh", "-c", script]))
            assert info.started_at_ms is not None and info.pid is not None
            assert info.host_id in {n.ip for n in executor.nodes}
            assert info.container_instance_id in {n.node_id for n in executor.nodes}
            stream = executor.events()
            early: list[OutputLine] = []
            while len(early) < 4:
                event = await asyncio.wait_for(anext(stream), 10)
                assert isinstance(event, OutputLine), "no exit before the running lines"
                early.append(event)
            seen_at = time.monotonic()
            late = await asyncio.wait_for(anext(stream), 10)
            exit = await asyncio.wait_for(anext(stream), 10)
            assert time.monotonic() - seen_at > 0.8, "the first lines came before the sleep ended"
            assert [(e.seq, e.message) for e in early if e.stream == "stdout"] == [
                (1, "line1"),
                (2, "line2"),
                (3, "line3"),
            ]
            assert [(e.stream, e.message) for e in early if e.stream == "stderr"] == [("stderr", "err")]
            assert isinstance(late, OutputLine) and (late.seq, late.message) == (5, "late")
            assert not isinstance(exit, OutputLine)
            assert exit.exit_code == 3 and exit.status_reason == ESSENTIAL_CONTAINER_EXITED
            assert exit.output_lines == 5 and not exit.host_lost
            await executor.acknowledge("out-1")

    run(scenario())


def test_environment_workdir_and_exit_codes(ray_cluster: RayCluster, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with connected(ray_cluster, tmp_path) as executor:
            ok = make_spec(tmp_path, "env-ok", ["sh", "-c", 'echo "$COLOR"; pwd'], env={"COLOR": "red"})
            bad = make_spec(tmp_path, "env-bad", ["sh", "-c", "exit 7"])
            missing = make_spec(tmp_path, "env-missing", ["/no/such/program"])
            infos = await asyncio.gather(*(executor.launch(s) for s in (ok, bad, missing)))
            assert infos[2].started_at_ms is None
            lines, exits = await collect(executor, {"env-ok", "env-bad", "env-missing"})
            assert [line.message for line in lines["env-ok"]] == ["red", str(tmp_path / "env-ok")]
            assert exits["env-ok"].exit_code == 0
            assert exits["env-bad"].exit_code == 7
            assert exits["env-missing"].exit_code is None
            assert exits["env-missing"].status_reason == TASK_FAILED_TO_START
            assert (exits["env-missing"].reason or "").startswith("CannotStartContainerError: ")

    run(scenario())


def test_attempts_spread_over_the_nodes(ray_cluster: RayCluster, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with connected(ray_cluster, tmp_path) as executor:
            ids = [f"spread-{i}" for i in range(4)]
            specs = [
                make_spec(tmp_path, a, ["sh", "-c", "sleep 0.5; hostname -I >/dev/null; echo ok"])
                for a in ids
            ]
            collector = asyncio.create_task(collect(executor, set(ids)))
            infos = await asyncio.wait_for(asyncio.gather(*(executor.launch(s) for s in specs)), 60)
            lines, exits = await collector
            nodes = {info.container_instance_id for info in infos}
            assert len(nodes) >= 2, f"all attempts ran on one node: {infos}"
            assert "127.0.0.2" in {info.host_id for info in infos} or len(nodes) == 3
            assert all(exits[a].exit_code == 0 for a in ids)
            assert all([line.message for line in lines[a]] == ["ok"] for a in ids)

    run(scenario())


def test_gpu_attempt_receives_its_device(ray_cluster: RayCluster, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with connected(ray_cluster, tmp_path) as executor:
            command = ["sh", "-c", 'echo "gpu=${CUDA_VISIBLE_DEVICES-unset}"']
            info = await executor.launch(make_spec(tmp_path, "gpu-1", command, gpus=1))
            lines, exits = await collect(executor, {"gpu-1"})
            assert info.host_id == "127.0.0.3"
            assert [line.message for line in lines["gpu-1"]] == ["gpu=0"]
            assert exits["gpu-1"].exit_code == 0

    run(scenario())


def test_capacity_and_fits_any_node(ray_cluster: RayCluster, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with connected(ray_cluster, tmp_path) as executor:
            capacity = executor.capacity()
            assert capacity.vcpus >= 3 and capacity.gpus >= 1 and capacity.memory_mib > 100
            assert executor.fits_any_node(1, 250, 0)
            assert executor.fits_any_node(1, 250, 1)
            assert not executor.fits_any_node(2, 250, 0), "no node has 2 CPUs"
            assert not executor.fits_any_node(1, 250, 2), "no node has 2 GPUs"
            assert not executor.fits_any_node(1, 10**9, 0), "no node has a petabyte"
        async with connected(ray_cluster, tmp_path, resources={"node2": 1}) as labelled:
            assert labelled.capacity().vcpus == 1 and labelled.capacity().gpus == 0
            assert not labelled.fits_any_node(1, 250, 1)

    run(scenario())


def test_missing_ray_is_a_client_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import sys

    from batchbridge.errors import ClientException

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ClientException) as caught:
        RayExecutor("127.0.0.1:1", tmp_path, compute_environment="big-ce")
    assert str(caught.value) == (
        "Compute environment big-ce is bound to a Ray cluster but Ray is not installed: "
        "pip install 'batchbridge[ray]'"
    )
