"""Dispatch throughput: an array of N children running ``true`` on a CE with maxvCpus 2.

Compares SubmitJob-to-parent-SUCCEEDED for the array (each child VCPU 1, so two at a time) with
the time this machine takes to spawn N ``true`` processes with 2 workers, measured in the same
run, and prints the ratio (target <= 1.5x).  Also checks that every child wrote its four events
(RUNNABLE, STARTING, RUNNING, SUCCEEDED) and the parent its two, and reports the server
process's peak RSS (target <= 300 MB) and its CPU time during the array.  ``--sizes`` times
SubmitJob-to-parent-SUCCEEDED for several array sizes; ``--quick`` uses small sizes.

    .venv/bin/python bench/dispatch.py            # N = 10000, sizes 2, 100, 1000, 10000
    .venv/bin/python bench/dispatch.py --quick    # N = 1000, sizes 2, 100
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

SERVE = """
import asyncio, sys, time
from pathlib import Path
from batchbridge.app import Application
from batchbridge.config import Settings
from batchbridge.server import ThreadedServer
data = Path(sys.argv[1])
settings = Settings(host="127.0.0.1", port=0, data_dir=data, access_log=False, agent_idle_seconds=10.0)
app = Application(settings)
server = ThreadedServer(settings, app).start()
print(server.url, flush=True)
while True:
    time.sleep(3600)
"""


def baseline(n: int) -> float:
    """Seconds to spawn ``n`` ``true`` processes, two at a time."""
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda _: subprocess.run(["true"], check=True), range(n)))
    return time.perf_counter() - start


def client(url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "batch",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}),
    )


def run_array(batch: Any, queue: str, definition: str, size: int, timeout: float = 3600) -> tuple[str, float]:
    """Submit an array and poll DescribeJobs until its parent ends; (parent id, seconds).

    The poll interval grows with the elapsed time (2% of it, between 10 and 100 ms), so that
    polling measures short arrays finely without loading the server during long ones.
    """
    start = time.perf_counter()
    job_id = batch.submit_job(
        jobName="bench", jobQueue=queue, jobDefinition=definition, arrayProperties={"size": size}
    )["jobId"]
    while True:
        status = batch.describe_jobs(jobs=[job_id])["jobs"][0]["status"]
        if status in ("SUCCEEDED", "FAILED"):
            break
        if time.perf_counter() - start > timeout:
            raise SystemExit(f"array of {size} did not finish in {timeout} s")
        time.sleep(min(0.1, max(0.01, (time.perf_counter() - start) / 50)))
    elapsed = time.perf_counter() - start
    if status != "SUCCEEDED":
        raise SystemExit(f"array of {size} ended {status}")
    return job_id, elapsed


def cpu_seconds(pid: int, children: bool = False) -> float:
    """CPU time of ``pid`` (user + system); with ``children``, that of its reaped children instead."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    first = 13 if children else 11
    return (int(fields[first]) + int(fields[first + 1])) / 100


def agent_pid(data: Path) -> int:
    return int((data / "agent" / "agent.pid").read_text().strip())


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=None, help="children in the throughput array")
    parser.add_argument("--sizes", default=None, help="comma-separated array sizes to time")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = args.n or (1000 if args.quick else 10_000)
    sizes = [int(s) for s in (args.sizes or ("2,100" if args.quick else "2,100,1000,10000")).split(",") if s]

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        proc = subprocess.Popen([sys.executable, "-c", SERVE, str(data)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        try:
            batch = client(url)
            ce = f"bench-{uuid.uuid4().hex[:6]}"
            batch.create_compute_environment(
                computeEnvironmentName=ce,
                type="MANAGED",
                computeResources={"type": "EC2", "maxvCpus": 2, "subnets": ["s"], "instanceRole": "r"},
            )
            batch.create_job_queue(
                jobQueueName=ce, priority=1, computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}]
            )
            definition = batch.register_job_definition(
                jobDefinitionName=ce,
                type="container",
                containerProperties={
                    "image": "busybox",
                    "command": ["true"],
                    "resourceRequirements": [
                        {"type": "VCPU", "value": "1"},
                        {"type": "MEMORY", "value": "16"},
                    ],
                },
            )["jobDefinitionArn"]
            run_array(batch, ce, definition, 2)
            base = baseline(n)
            agent = agent_pid(data)
            cpu0 = cpu_seconds(proc.pid)
            agent0, kids0 = cpu_seconds(agent), cpu_seconds(agent, children=True)
            parent, took = run_array(batch, ce, definition, n)
            cpu1 = cpu_seconds(proc.pid)
            agent1, kids1 = cpu_seconds(agent), cpu_seconds(agent, children=True)
            print(f"server CPU during the array: {cpu1 - cpu0:.2f} s")
            print(
                f"agent CPU during the array: {agent1 - agent0:.2f} s"
                f" (its {n} children: {kids1 - kids0:.2f} s)"
            )
            print(f"spawn {n} x true with 2 workers: {base:.2f} s")
            print(
                f"array of {n} on maxvCpus 2:       {took:.2f} s  ratio {took / base:.2f}x (target <= 1.5x)"
            )
            timings = {}
            for size in sizes:
                timings[size] = run_array(batch, ce, definition, size)[1]
                print(f"SubmitJob -> parent SUCCEEDED, size {size:>6}: {timings[size]:.2f} s")
            rss = peak_rss_mib(proc.pid)
            print(f"server peak RSS: {rss:.0f} MiB (target <= 300)")
        finally:
            proc.kill()
            proc.wait()
        with sqlite3.connect(data / "batchbridge.sqlite3") as conn:
            rows = conn.execute("SELECT body FROM outbox").fetchall()
        events = [json.loads(b) for (b,) in rows]
        mine = [e for e in events if e["detail"]["jobId"].split(":")[0] == parent]
        ids = {e["id"] for e in events}
        expected = 4 * n + 2
        print(
            f"events for the {n}-array: {len(mine)} (expected {expected});"
            f" ids unique: {len(ids) == len(events)}"
        )
        if len(mine) != expected or len(ids) != len(events):
            raise SystemExit("event count mismatch")


if __name__ == "__main__":
    main()
