"""Node loss and server restart on a real cluster: host-lost exits, recovery by actor name."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from ray_support import (
    RayCluster,
    collect,
    connected,
    held_attempts,
    make_spec,
    pid_alive,
    run,
    wait_for,
)

from batchbridge.executors.base import AttemptState, OutputLine, host_lost_reason

pytestmark = [pytest.mark.ray, pytest.mark.slow]

HERE = Path(__file__).resolve().parent


def test_a_node_killed_mid_attempt_fails_it_as_host_lost(ray_cluster: RayCluster, tmp_path: Path) -> None:
    ray_cluster.start_node("127.0.0.4", '--resources={"victim": 1}')
    marker = tmp_path / "child.pid"
    script = f"sleep 300 & echo $! > {marker}; echo up; while true; do sleep 0.1; done"

    async def scenario() -> None:
        async with connected(ray_cluster, tmp_path, resources={"victim": 1}) as executor:
            assert executor.capacity().vcpus == 1, "only the victim node carries the label"
            info = await executor.launch(make_spec(tmp_path, "lost-1", ["sh", "-c", script]))
            assert info.host_id == "127.0.0.4"
            stream = executor.events()
            first = await asyncio.wait_for(anext(stream), 15)
            assert isinstance(first, OutputLine) and first.message == "up"
            child = int(marker.read_text())
            assert info.pid is not None and pid_alive(info.pid) and pid_alive(child)
            os.kill(ray_cluster.raylet_pid("127.0.0.4"), signal.SIGKILL)
            exit = await asyncio.wait_for(anext(stream), 60)
            assert not isinstance(exit, OutputLine)
            assert exit.host_lost and exit.exit_code is None
            assert exit.status_reason == host_lost_reason(info.container_instance_id)
            assert wait_for(lambda: not pid_alive(info.pid or 0) and not pid_alive(child), 15), (
                "the attempt's processes outlived their node"
            )
            await executor.acknowledge("lost-1")
            await executor.refresh_nodes()
            assert executor.capacity().vcpus == 0

    run(scenario())


def test_recover_after_a_server_restart(ray_cluster: RayCluster, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), str(HERE.parent), env.get("PYTHONPATH")) if p)
    command = [
        sys.executable,
        str(HERE / "server_child.py"),
        ray_cluster.address,
        str(data_dir),
        str(tmp_path),
    ]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        assert child.stdout is not None
        report = json.loads(child.stdout.readline())
    finally:
        child.kill()
        child.wait()
    assert report["first"] == [1, "tick1"] and report["quick_exit"] == 0
    stray_pid = report["infos"]["rec-stray"][2]
    assert pid_alive(stray_pid)

    async def scenario() -> None:
        async with connected(ray_cluster, data_dir) as executor:
            known = {"rec-slow": 1, "rec-quick": 0, "rec-gone": 0}
            found = await executor.recover(known)
            assert found["rec-slow"].state is AttemptState.RUNNING
            assert found["rec-quick"].state is AttemptState.EXITED
            quick_exit = found["rec-quick"].exit
            assert quick_exit is not None and quick_exit.exit_code == 0
            assert found["rec-gone"].state is AttemptState.UNKNOWN
            slow_info = found["rec-slow"].info
            assert slow_info is not None
            assert slow_info.container_instance_id == report["infos"]["rec-slow"][1]
            lines, exits = await collect(executor, {"rec-slow", "rec-quick"}, timeout=30)
            assert [(line.seq, line.message) for line in lines["rec-slow"]] == [
                (i, f"tick{i}") for i in range(2, 7)
            ]
            assert exits["rec-slow"].exit_code == 5 and exits["rec-slow"].output_lines == 6
            assert [line.message for line in lines["rec-quick"]] == ["done"]
            assert exits["rec-quick"].exit_code == 0
            assert wait_for(lambda: not pid_alive(stray_pid), 10), "an attempt unknown to the server ran on"
            await asyncio.sleep(0.5)
            held = await held_attempts(executor)
            assert held and set(held.values()) == {None}, f"attempts left on warm actors: {held}"

    run(scenario())
