"""Cost of running attempts on Ray, compared with Ray's own round trip and with the local executor.

Two measurements, each in one run on one local cluster started here with the ``ray`` CLI (every
process of it killed by pid at the end), or on the cluster given with ``--address``:

1. Per attempt (default): Ray's task round trip (a trivial remote function, ``await f.remote()``)
   and ``RayExecutor.launch`` of ``true`` until its exit is delivered, alternating one of each so
   that machine load weighs on both alike; p50 of each and the executor's overhead above the round
   trip (target: at most 3 ms).  The first attempt, which places the warm actor, is reported
   apart.  ``--bare N`` also times N detached actors created, called once and killed (what an
   actor per attempt would cost).

2. Arrays (``--arrays 1000,10000``): a whole server (subprocess) with two compute environments,
   ``bench-local`` (this machine) and ``bench-ray`` (``--ray`` bound to a 2-node cluster, head
   127.0.0.1 and a second node at 127.0.0.2, 1 CPU each), both ``maxvCpus`` 2 and a job of VCPU 1,
   so two children run at a time on either.  For each size: SubmitJob to parent SUCCEEDED of an
   array of ``true`` on each, the per-child time and the per-child overhead of Ray over local, and
   the server's peak RSS at the end.

Run::

    .venv/bin/python bench/ray_dispatch.py [--tasks 300] [--attempts 40] [--bare 5]
    .venv/bin/python bench/ray_dispatch.py --arrays 1000,10000
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

from benchkit import client, make_definition, make_queue, run_array, start_server, status_mib

from batchbridge.executors.base import AttemptExit, LaunchSpec, base_environment
from batchbridge.executors.ray_executor import RayExecutor

MARKER = "BATCHBRIDGE_RAY_BENCH_CLUSTER"
#: Set to "0" in the driver's environment (never a node's), Ray keeps the 127.0.0.1 bootstrap
#: address instead of rewriting it to the host's outward address: the benchmark stays on loopback.
LOOPBACK_DRIVER = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
os.environ[LOOPBACK_DRIVER] = "0"


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


def _node_flags() -> list[str]:
    return [
        "--object-store-memory=80000000",
        "--disable-usage-stats",
        f"--dashboard-agent-listen-port={_free_port()}",
        f"--dashboard-agent-grpc-port={_free_port()}",
        f"--runtime-env-agent-port={_free_port()}",
        f"--metrics-export-port={_free_port()}",
    ]


@contextlib.contextmanager
def local_cluster(head_cpus: int = 2, second_node: bool = False) -> Iterator[str]:
    """A local cluster (optionally with a 1-CPU node at 127.0.0.2), killed by pid at the end."""
    ray = str(Path(sys.executable).with_name("ray"))
    temp_dir = tempfile.mkdtemp(prefix="bbbench", dir="/tmp")
    marker = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if k != LOOPBACK_DRIVER}
    env[MARKER] = marker
    port = _free_port()
    command = [ray, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1"]
    command += [f"--num-cpus={head_cpus}", "--include-dashboard=false", f"--temp-dir={temp_dir}"]
    command += [f"--dashboard-port={_free_port()}", *_node_flags()]
    try:
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=120)
        if second_node:
            node = [ray, "start", "--address", f"127.0.0.1:{port}", "--node-ip-address", "127.0.0.2"]
            node += ["--num-cpus=1", *_node_flags()]
            subprocess.run(node, env=env, check=True, capture_output=True, timeout=120)
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


# -- 1. per attempt ------------------------------------------------------------------------


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


async def measure(address: str, tasks: int, attempts: int, bare_count: int) -> None:
    import ray

    ray.init(address=address, namespace="bbbench", log_to_driver=False)

    @ray.remote(num_cpus=0)
    def nothing() -> int:
        return 1

    await nothing.remote()
    round_trips: list[float] = []
    ours: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bbbench-data") as data:
        executor = RayExecutor(address, Path(data), namespace="bbbench")
        await executor.start()
        events = executor.events()
        try:
            cold = await executor_once(executor, events, Path(data), 0)
            for index in range(max(tasks, attempts)):
                start = time.perf_counter()
                await nothing.remote()
                round_trips.append(time.perf_counter() - start)
                if index < attempts:
                    ours.append(await executor_once(executor, events, Path(data), index + 1))
        finally:
            await executor.close()
    task_ms, attempt_ms = p50_ms(round_trips), p50_ms(ours)
    print(f"Ray task round trip, p50 of {len(round_trips)}:                        {task_ms:8.2f} ms")
    print(f"first attempt (places the warm actor):                      {cold * 1000:8.2f} ms")
    print(f"RayExecutor launch of `true` -> exit delivered, p50 of {attempts}:  {attempt_ms:8.2f} ms")
    print(f"overhead per attempt above the task round trip (target <= 3): {attempt_ms - task_ms:6.2f} ms")
    if bare_count:
        actor_class = ray.remote(Echo)
        bare = [await bare_actor_once(ray, actor_class, i) for i in range(bare_count)]
        print(
            f"for comparison, an actor per attempt (create+call+kill), p50 of {bare_count}:"
            f" {p50_ms(bare):8.2f} ms"
        )


# -- 2. arrays through a whole server ------------------------------------------------------


def arrays(address: str, sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory(prefix="bbbench-server") as tmp:
        proc, url = start_server(tmp, agent_idle_seconds=30.0, ray_bindings={"bench-ray": address})
        try:
            batch = client("batch", url)
            local, remote = make_queue(batch, "bench-local"), make_queue(batch, "bench-ray")
            definition = make_definition(batch, "bench")
            run_array(batch, local, definition, 4)
            run_array(batch, remote, definition, 4)
            header = (
                "children",
                "local s",
                "ray s",
                "local ms/child",
                "ray ms/child",
                "ray overhead ms/child",
            )
            print(" ".join(f"{h:>{w}}" for h, w in zip(header, (9, 9, 9, 15, 13, 22), strict=True)))
            for size in sizes:
                took_local = run_array(batch, local, definition, size)[1]
                took_ray = run_array(batch, remote, definition, size)[1]
                per_local, per_ray = took_local / size * 1000, took_ray / size * 1000
                print(
                    f"{size:>9} {took_local:>9.2f} {took_ray:>9.2f} {per_local:>15.2f} {per_ray:>13.2f}"
                    f" {per_ray - per_local:>22.2f}"
                )
            print(
                f"server RSS now {status_mib(proc.pid, 'VmRSS'):.0f} MiB,"
                f" peak {status_mib(proc.pid, 'VmHWM'):.0f} MiB"
            )
        finally:
            proc.kill()
            proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", help="an existing cluster; default: start a local one")
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--attempts", type=int, default=40)
    parser.add_argument("--bare", type=int, default=0, help="also time N actors created per attempt")
    parser.add_argument("--arrays", help="comma-separated array sizes to run through a whole server")
    args = parser.parse_args()
    if args.arrays:
        sizes = [int(s) for s in args.arrays.split(",") if s]
        if args.address:
            arrays(args.address, sizes)
        else:
            with local_cluster(head_cpus=1, second_node=True) as address:
                arrays(address, sizes)
        return 0
    if args.address:
        asyncio.run(measure(args.address, args.tasks, args.attempts, args.bare))
        return 0
    with local_cluster() as address:
        asyncio.run(measure(address, args.tasks, args.attempts, args.bare))
    return 0


if __name__ == "__main__":
    sys.exit(main())
