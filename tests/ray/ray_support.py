"""Helpers for the Ray executor tests: the local test cluster and attempt helpers.

Nodes (all on this machine, each at its own loopback address):

* head, 127.0.0.1, 1 CPU;
* node2, 127.0.0.2, 1 CPU and the custom resource ``node2``;
* gpu node, 127.0.0.3, 1 CPU and 1 logical GPU (resource ``gpunode``).

Every process of the cluster carries the environment variable ``BATCHBRIDGE_RAY_TEST_CLUSTER`` set
to a fresh id; the clean-up kills exactly those processes (by pid), so other Ray clusters on the
machine are never touched.  GCS health checks are shortened so that a killed node is declared dead
within a couple of seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from serverkit import free_port

from batchbridge.executors.base import AttemptExit, LaunchSpec, OutputLine, base_environment
from batchbridge.executors.ray_executor import RayExecutor

T = TypeVar("T")

#: Set to "0" in a driver's environment (never a node's), Ray keeps a 127.0.0.1 bootstrap address
#: as it is instead of rewriting it to the host's outward address, so tests stay on loopback.
LOOPBACK_DRIVER = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"

RAY = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "ray")
MARKER = "BATCHBRIDGE_RAY_TEST_CLUSTER"


def marked_pids(marker: str) -> list[int]:
    """Processes whose environment carries ``MARKER=marker``."""
    needle = f"{MARKER}={marker}".encode()
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as handle:
                if needle in handle.read().split(b"\0"):
                    pids.append(int(name))
        except OSError:
            continue
    return pids


@dataclasses.dataclass
class RayCluster:
    """The running test cluster."""

    address: str
    temp_dir: Path
    marker: str
    env: dict[str, str]

    def start_node(self, ip: str, *extra: str) -> None:
        command = [RAY, "start", "--address", self.address, "--node-ip-address", ip]
        command += node_ports() + list(extra)
        run_ray(command, self.env)

    def raylet_pid(self, ip: str) -> int:
        """The raylet serving the node at ``ip``."""
        for pid in marked_pids(self.marker):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    args = handle.read().split(b"\0")
            except OSError:
                continue
            if args and args[0].endswith(b"/raylet") and f"--node_ip_address={ip}".encode() in args:
                return pid
        raise LookupError(f"no raylet for {ip}")


def node_ports() -> list[str]:
    return [
        "--num-cpus=1",
        "--object-store-memory=80000000",
        "--disable-usage-stats",
        f"--dashboard-agent-listen-port={free_port()}",
        f"--dashboard-agent-grpc-port={free_port()}",
        f"--runtime-env-agent-port={free_port()}",
        f"--metrics-export-port={free_port()}",
    ]


def run_ray(command: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{proc.stdout}\n{proc.stderr}")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def make_spec(
    workdir: Path,
    attempt_id: str,
    command: list[str],
    *,
    env: dict[str, str] | None = None,
    vcpus: float = 1.0,
    memory_mib: int | None = None,
    gpus: int = 0,
    timeout: float | None = None,
    grace: float = 30.0,
) -> LaunchSpec:
    return LaunchSpec(
        attempt_id=attempt_id,
        command=command,
        environment=base_environment() | (env or {}),
        vcpus=vcpus,
        memory_mib=memory_mib,
        gpus=gpus,
        workdir=workdir / attempt_id,
        timeout_seconds=timeout,
        kill_grace_seconds=grace,
    )


@contextlib.asynccontextmanager
async def connected(cluster: RayCluster, data_dir: Path, **options: Any) -> AsyncIterator[RayExecutor]:
    executor = RayExecutor(cluster.address, data_dir, namespace="bbtest", **options)
    await executor.start()
    try:
        yield executor
    finally:
        await executor.close()


async def collect(
    executor: RayExecutor, attempt_ids: set[str], timeout: float = 60.0, ack: bool = True
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
                exits[event.attempt_id] = event
                if ack:
                    await executor.acknowledge(event.attempt_id)
                if attempt_ids <= exits.keys():
                    return

    await asyncio.wait_for(drain(), timeout)
    return lines, exits


async def held_attempts(executor: RayExecutor) -> dict[str, str | None]:
    """Each warm actor of the executor's installation and the attempt it holds (None: idle)."""
    names = await asyncio.to_thread(executor._named_actors)
    held: dict[str, str | None] = {}
    for name in names:
        handle = await asyncio.to_thread(executor._get_actor, name)
        if handle is not None:
            described = await handle.describe.remote()
            held[name] = described["attempt_id"]
    return held


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return False
    return data[data.rindex(b")") + 2 : data.rindex(b")") + 3] != b"Z"


def wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())
