"""Per-attempt overhead of the Ray executor compared with Ray's own round trips, in one run.

Measures, on one Ray cluster (a local one-node cluster started here with the ``ray`` CLI, or the
one given with ``--address``):

1. Ray's task round trip: a trivial remote function, ``await f.remote()``, p50 over ``--tasks``
   sequential calls;
2. Ray's cost of an actor per attempt: create a detached named actor, call one method, end it,
   p50 over ``--attempts`` rounds (what any actor-per-attempt design pays);
3. the executor: ``RayExecutor.launch`` of ``true`` until its exit is delivered (and
   acknowledged), p50 over ``--attempts`` sequential attempts.

Prints the executor's overhead per attempt above (1) and above (2), in milliseconds.

Run: ``.venv/bin/python bench/ray_dispatch.py [--address HOST:PORT] [--tasks 300] [--attempts 20]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from batchbridge.executors.base import AttemptExit, LaunchSpec, base_environment
from batchbridge.executors.ray_executor import RayExecutor

MARKER = "BATCHBRIDGE_RAY_BENCH_CLUSTER"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _marked_pids(marker: str) -> list[int]:
    needle = f"{MARKER}={marker}".encode()
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            with contextlib.suppress(OSError), open(f"/proc/{name}/environ", "rb") as handle:
                if needle in handle.read().split(b"\0"):
                    pids.append(int(name))
    return pids


@contextlib.contextmanager
def local_cluster() -> Iterator[str]:
    """A one-node cluster (2 CPUs) whose processes are all killed, by pid, at the end."""
    ray = str(Path(sys.executable).with_name("ray"))
    temp_dir = tempfile.mkdtemp(prefix="bbbench", dir="/tmp")
    marker = uuid.uuid4().hex
    env = dict(os.environ, **{MARKER: marker})
    port = _free_port()
    command = [ray, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=2"]
    command += ["--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp_dir}"]
    command += ["--object-store-memory=80000000", f"--dashboard-port={_free_port()}"]
    try:
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=120)
        yield f"127.0.0.1:{port}"
    finally:
        for _ in range(3):
            for pid in _marked_pids(marker):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.3)
        shutil.rmtree(temp_dir, ignore_errors=True)


def p50_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def task_round_trip(ray: Any, count: int) -> float:
    @ray.remote(num_cpus=0)
    def nothing() -> int:
        return 1

    await nothing.remote()
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        await nothing.remote()
        samples.append(time.perf_counter() - start)
    return p50_ms(samples)


class Echo:
    async def ping(self) -> int:
        return 1


async def bare_actor_once(ray: Any, actor_class: Any, index: int) -> float:
    start = time.perf_counter()
    name = f"bench-bare-{uuid.uuid4().hex[:8]}-{index}"
    handle = actor_class.options(name=name, namespace="bbbench", lifetime="detached", num_cpus=1).remote()
    await handle.ping.remote()
    ray.kill(handle)
    return time.perf_counter() - start


async def executor_once(executor: RayExecutor, events: Any, data_dir: Path, index: int) -> float:
    spec = LaunchSpec(
        attempt_id=f"bench-{index}",
        command=["true"],
        environment=base_environment(),
        vcpus=1.0,
        memory_mib=None,
        gpus=0,
        workdir=data_dir / "work",
    )
    start = time.perf_counter()
    await executor.launch(spec)
    async for event in events:
        if isinstance(event, AttemptExit):
            break
    elapsed = time.perf_counter() - start
    await executor.acknowledge(spec.attempt_id)
    return elapsed


async def measure(address: str, tasks: int, attempts: int) -> None:
    """Bare actors and executor attempts alternate, so that machine load weighs on both alike."""
    import ray

    ray.init(address=address, namespace="bbbench", log_to_driver=False)
    task_ms = await task_round_trip(ray, tasks)
    actor_class = ray.remote(Echo)
    bare: list[float] = []
    ours: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bbbench-data") as data:
        executor = RayExecutor(address, Path(data), namespace="bbbench")
        await executor.start()
        events = executor.events()
        try:
            for index in range(attempts):
                bare.append(await bare_actor_once(ray, actor_class, index))
                ours.append(await executor_once(executor, events, Path(data), index))
        finally:
            await executor.close()
    actor_ms, attempt_ms = p50_ms(bare), p50_ms(ours)
    print(f"Ray task round trip, p50 of {tasks}:                         {task_ms:8.2f} ms")
    print(f"Ray detached actor create + call + kill, p50 of {attempts}:      {actor_ms:8.2f} ms")
    print(f"RayExecutor launch of `true` -> exit delivered, p50 of {attempts}: {attempt_ms:8.2f} ms")
    print(f"overhead per attempt above the task round trip:         {attempt_ms - task_ms:8.2f} ms")
    print(f"overhead per attempt above a bare actor per attempt:    {attempt_ms - actor_ms:8.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", help="an existing cluster; default: start a local one")
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--attempts", type=int, default=20)
    args = parser.parse_args()
    if args.address:
        asyncio.run(measure(args.address, args.tasks, args.attempts))
        return 0
    with local_cluster() as address:
        asyncio.run(measure(address, args.tasks, args.attempts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
