"""The node guard with real processes, the node resource model, and idempotent launches."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from ray_support import RayCluster, collect, connected, make_spec, pid_alive, run, wait_for

from batchbridge.executors.protocol import process_started_at_ms
from batchbridge.executors.ray_cluster import NodeResources, alive_nodes, fits_any_node, total_capacity
from batchbridge.executors.ray_guard import ACTOR_SUFFIX, LAUNCH_SUFFIX, scan

pytestmark = pytest.mark.ray


def _group(command: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sh", "-c", command], start_new_session=True)


def _records(root: Path, key: str, actor_pid: int, group: subprocess.Popen[bytes]) -> None:
    folder = root / "attempts"
    folder.mkdir(parents=True, exist_ok=True)
    actor = {"pid": actor_pid, "started_at_ms": process_started_at_ms(actor_pid)}
    (folder / f"{key}{ACTOR_SUFFIX}").write_text(json.dumps(actor))
    launch = {"attempt_id": key, "pid": group.pid, "started_at_ms": process_started_at_ms(group.pid)}
    (folder / f"{key}{LAUNCH_SUFFIX}").write_text(json.dumps(launch) + "\n")


def test_guard_kills_the_group_of_a_dead_actor_and_spares_a_live_one(tmp_path: Path) -> None:
    owner = subprocess.Popen(["sleep", "30"])
    orphan = _group("sleep 30 & wait")
    kept = _group("sleep 30 & wait")
    try:
        time.sleep(0.2)
        dead_owner = subprocess.Popen(["true"])
        dead_owner.wait()
        _records(tmp_path, "dead", owner.pid, orphan)
        actor_record = tmp_path / "attempts" / f"dead{ACTOR_SUFFIX}"
        record = json.loads(actor_record.read_text())
        record["pid"] = dead_owner.pid
        actor_record.write_text(json.dumps(record))
        _records(tmp_path, "live", owner.pid, kept)
        assert scan(tmp_path) == 1
        assert wait_for(lambda: orphan.poll() is not None, 5), "the dead actor's group still runs"
        assert kept.poll() is None, "a live actor's group was killed"
        assert sorted(os.listdir(tmp_path / "attempts")) == [f"live{ACTOR_SUFFIX}", f"live{LAUNCH_SUFFIX}"]
    finally:
        for proc in (owner, orphan, kept):
            proc.kill()
            proc.wait()


def test_guard_kills_a_group_whose_leader_already_exited(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    leader = _group(f"sleep 30 & echo $! > {marker}; exit 0")
    leader.wait()
    child = int(marker.read_text())
    dead_owner = subprocess.Popen(["true"])
    dead_owner.wait()
    folder = tmp_path / "attempts"
    folder.mkdir()
    (folder / f"k{ACTOR_SUFFIX}").write_text(json.dumps({"pid": dead_owner.pid, "started_at_ms": 1}))
    launch = {"attempt_id": "k", "pid": leader.pid, "started_at_ms": 1}
    (folder / f"k{LAUNCH_SUFFIX}").write_text(json.dumps(launch) + "\n")
    assert pid_alive(child)
    assert scan(tmp_path) == 0
    assert wait_for(lambda: not pid_alive(child), 5), "the group outlived its leader and its actor"
    assert os.listdir(folder) == []


def test_node_model_capacity_and_fit() -> None:
    raw = [
        {
            "NodeID": "a",
            "NodeManagerAddress": "10.0.0.1",
            "Alive": True,
            "Resources": {"CPU": 4.0, "memory": 8 * 2**30},
        },
        {
            "NodeID": "b",
            "NodeManagerAddress": "10.0.0.2",
            "Alive": True,
            "Resources": {"CPU": 2.0, "GPU": 1.0, "memory": 4 * 2**30, "gpu-pool": 1.0, "node:10.0.0.2": 1.0},
        },
        {"NodeID": "c", "NodeManagerAddress": "10.0.0.3", "Alive": False, "Resources": {"CPU": 64.0}},
    ]
    nodes = alive_nodes(raw)
    assert [n.node_id for n in nodes] == ["a", "b"]
    assert nodes[1] == NodeResources("b", "10.0.0.2", 2.0, 4 * 2**30, 1.0, {"gpu-pool": 1.0})
    assert total_capacity(nodes, {}).vcpus == 6 and total_capacity(nodes, {}).memory_mib == 12 * 1024
    assert total_capacity(nodes, {"gpu-pool": 1}).vcpus == 2
    assert fits_any_node(nodes, 4, 8192, 0, {})
    assert not fits_any_node(nodes, 5, None, 0, {}), "6 vCPUs in total, but at most 4 on one node"
    assert not fits_any_node(nodes, 3, None, 1, {}), "the GPU node has 2 vCPUs"
    assert fits_any_node(nodes, 2, 4096, 1, {"gpu-pool": 1})
    assert not fits_any_node(nodes, 1, None, 0, {"other": 1})


def test_launching_an_attempt_twice_starts_it_once(ray_cluster: RayCluster, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with connected(ray_cluster, tmp_path) as executor:
            spec = make_spec(tmp_path, "twice-1", ["sh", "-c", "sleep 0.5; echo once"])
            first = await executor.launch(spec)
            second = await executor.launch(spec)
            assert (second.pid, second.container_instance_id) == (first.pid, first.container_instance_id)
            lines, exits = await collect(executor, {"twice-1"})
            assert [line.message for line in lines["twice-1"]] == ["once"]
            assert exits["twice-1"].exit_code == 0

    run(scenario())


def test_an_unreachable_cluster_is_a_clear_client_error() -> None:
    from serverkit import free_port

    from batchbridge.errors import ClientException
    from batchbridge.executors.ray_cluster import check_reachable

    port = free_port()
    with pytest.raises(ClientException) as caught:
        check_reachable(f"127.0.0.1:{port}", timeout=2)
    assert str(caught.value) == f"Cannot connect to the Ray cluster at 127.0.0.1:{port}: Connection refused"
