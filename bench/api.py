"""Latency of the wire layer: batchbridge against moto_server, through the same boto3 code.

Runs ``python -m batchbridge server`` and ``python -m moto.server`` as subprocesses on free
loopback ports, creates one compute environment and one job queue on each, then times
``DescribeJobQueues`` and ``RegisterJobDefinition`` (a few hundred calls each after warm-up)
and prints p50/p99 per server and the ratio.  Target: batchbridge's p50 at most half of moto's.

Usage: ``.venv/bin/python bench/api.py [--calls N] [--warmup N]``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import boto3
from botocore.config import Config

ROLE = "arn:aws:iam::123456789012:role/batch"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(url)


@contextlib.contextmanager
def running(command: list[str], probe: str) -> Iterator[None]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHBRIDGE_")}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_ready(probe, process)
        yield
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def client(endpoint: str, service: str = "batch") -> Any:
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )


def setup(batch: Any) -> None:
    batch.create_compute_environment(
        computeEnvironmentName="bench-ce", type="UNMANAGED", state="ENABLED", serviceRole=ROLE
    )
    for _ in range(100):
        described = batch.describe_compute_environments(computeEnvironments=["bench-ce"])
        if described["computeEnvironments"][0].get("status") == "VALID":
            break
        time.sleep(0.05)
    batch.create_job_queue(
        jobQueueName="bench-queue",
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "bench-ce"}],
    )


def measure(call: Callable[[], Any], calls: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000.0)
    return samples


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def run_suite(endpoint: str, calls: int, warmup: int, needs_role: bool) -> dict[str, list[float]]:
    batch = client(endpoint)
    if needs_role:
        client(endpoint, "iam").create_role(RoleName="batch", AssumeRolePolicyDocument="{}")
    setup(batch)
    container = {
        "image": "busybox",
        "command": ["echo", "hi"],
        "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "250"}],
    }
    return {
        "DescribeJobQueues": measure(lambda: batch.describe_job_queues(), calls, warmup),
        "RegisterJobDefinition": measure(
            lambda: batch.register_job_definition(
                jobDefinitionName="bench-def", type="container", containerProperties=container
            ),
            calls,
            warmup,
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args(argv)
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        ours = [
            sys.executable,
            "-m",
            "batchbridge",
            "server",
            "--port",
            str(port),
            "--data-dir",
            data_dir,
            "--no-access-log",
        ]
        with running(ours, f"http://127.0.0.1:{port}/health"):
            results["batchbridge"] = run_suite(f"http://127.0.0.1:{port}", args.calls, args.warmup, False)
    port = free_port()
    moto = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with running(moto, f"http://127.0.0.1:{port}/moto-api/"):
        results["moto"] = run_suite(f"http://127.0.0.1:{port}", args.calls, args.warmup, True)
    print(f"{args.calls} calls each after {args.warmup} warm-up calls, boto3 over loopback (ms)")
    print(f"{'operation':<24}{'server':<13}{'p50':>8}{'p99':>8}{'mean':>8}")
    ok = True
    for operation in ("DescribeJobQueues", "RegisterJobDefinition"):
        for name in ("batchbridge", "moto"):
            samples = results[name][operation]
            p50, p99 = percentile(samples, 0.5), percentile(samples, 0.99)
            print(f"{operation:<24}{name:<13}{p50:>8.2f}{p99:>8.2f}{statistics.fmean(samples):>8.2f}")
        ratio = percentile(results["batchbridge"][operation], 0.5) / percentile(
            results["moto"][operation], 0.5
        )
        ok = ok and ratio <= 0.5
        print(f"{operation:<24}{'ratio p50':<13}{ratio:>8.2f}  (target <= 0.50)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
