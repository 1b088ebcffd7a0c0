"""A real local Ray cluster for the Ray executor tests, started once per session with the ``ray`` CLI.

See :mod:`ray_support` for the nodes; the clean-up kills exactly this cluster's processes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from ray_support import (
    LOOPBACK_DRIVER,
    MARKER,
    RAY,
    RayCluster,
    free_port,
    marked_pids,
    node_ports,
    run_ray,
)

# Drivers in this process, and the servers it starts, reach the cluster on loopback only.
os.environ[LOOPBACK_DRIVER] = "0"


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    temp_dir = Path(tempfile.mkdtemp(prefix="bbray", dir="/tmp"))
    marker = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if k != LOOPBACK_DRIVER}
    env[MARKER] = marker
    env["RAY_health_check_period_ms"] = "300"
    env["RAY_health_check_timeout_ms"] = "500"
    env["RAY_health_check_failure_threshold"] = "3"
    env["RAY_health_check_initial_delay_ms"] = "0"
    port = free_port()
    cluster = RayCluster(f"127.0.0.1:{port}", temp_dir, marker, env)
    try:
        head = [RAY, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1"]
        head += ["--include-dashboard=false", f"--temp-dir={temp_dir}"]
        head += [f"--dashboard-port={free_port()}"]
        run_ray(head + node_ports(), env)
        cluster.start_node("127.0.0.2", '--resources={"node2": 1}')
        cluster.start_node("127.0.0.3", "--num-gpus=1", '--resources={"gpunode": 1}')
        yield cluster
    finally:
        for _ in range(3):
            pids = marked_pids(marker)
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.3)
        shutil.rmtree(temp_dir, ignore_errors=True)
