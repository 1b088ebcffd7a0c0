"""What the end-to-end benchmarks share: a server in its own process, clients, resources, arrays.

* :func:`start_server` runs a batchbridge server on a loopback port in a subprocess, with the
  given :class:`~batchbridge.config.Settings` fields, and returns it with its URL;
* :func:`client` is a boto3 client for it that never retries;
* :func:`make_queue` creates a compute environment of 2 vCPUs (``maxvCpus``) and a queue on it,
  :func:`make_definition` a definition asking 1 vCPU and 16 MiB that runs ``command``;
* :func:`run_array` submits an array and times it to its parent's end;
* :func:`cpu_seconds` and :func:`status_mib` read a process's CPU time and memory from /proc.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SERVE = """
import json, sys, time
from pathlib import Path
from batchbridge.app import Application
from batchbridge.config import Settings
from batchbridge.server import ThreadedServer
settings = Settings(
    host="127.0.0.1", port=0, data_dir=Path(sys.argv[1]), access_log=False, **json.loads(sys.argv[2])
)
server = ThreadedServer(settings, Application(settings)).start()
print(server.url, flush=True)
while True:
    time.sleep(3600)
"""


def start_server(data: Path | str, **settings: Any) -> tuple[subprocess.Popen[str], str]:
    """A server on ``data`` with these Settings fields, in a subprocess; (process, URL)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(data), json.dumps(settings)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def client(service: str, url: str) -> Any:
    """A boto3 client for ``service`` at ``url`` that never retries."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}),
    )


def make_queue(batch: Any, name: str) -> str:
    """A compute environment of 2 vCPUs and a job queue on it, both named ``name``; the queue's name."""
    batch.create_compute_environment(
        computeEnvironmentName=name,
        type="MANAGED",
        computeResources={"type": "EC2", "maxvCpus": 2, "subnets": ["s"], "instanceRole": "r"},
    )
    batch.create_job_queue(
        jobQueueName=name, priority=1, computeEnvironmentOrder=[{"order": 1, "computeEnvironment": name}]
    )
    return name


def make_definition(batch: Any, name: str, command: Sequence[str] = ("true",)) -> str:
    """A job definition running ``command`` with 1 vCPU and 16 MiB; its ARN."""
    return str(
        batch.register_job_definition(
            jobDefinitionName=name,
            type="container",
            containerProperties={
                "image": "busybox",
                "command": list(command),
                "resourceRequirements": [
                    {"type": "VCPU", "value": "1"},
                    {"type": "MEMORY", "value": "16"},
                ],
            },
        )["jobDefinitionArn"]
    )


def run_array(batch: Any, queue: str, definition: str, size: int, timeout: float = 3600) -> tuple[str, float]:
    """Submit an array and wait for its parent to end; (parent id, seconds from SubmitJob to its end).

    The end is the parent's ``stoppedAt`` (the server's clock, on this machine), so the polling
    that notices it may be sparse without blurring the figure: every 10% of the elapsed time,
    between 10 and 250 ms, which keeps the client's own CPU out of a long run.
    """
    start = time.time()
    job_id = batch.submit_job(
        jobName="bench", jobQueue=queue, jobDefinition=definition, arrayProperties={"size": size}
    )["jobId"]
    while True:
        job = batch.describe_jobs(jobs=[job_id])["jobs"][0]
        if job["status"] in ("SUCCEEDED", "FAILED"):
            break
        if time.time() - start > timeout:
            raise SystemExit(f"array of {size} did not finish in {timeout} s")
        time.sleep(min(0.25, max(0.01, (time.time() - start) / 10)))
    if job["status"] != "SUCCEEDED":
        raise SystemExit(f"array of {size} on {queue} ended {job['status']}")
    return job_id, job["stoppedAt"] / 1000 - start


def cpu_seconds(pid: int, children: bool = False) -> float:
    """CPU time of ``pid`` (user + system); with ``children``, that of its reaped children instead."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    first = 13 if children else 11
    return (int(fields[first]) + int(fields[first + 1])) / 100


def status_mib(pid: int, field: str) -> float:
    """A memory figure of ``/proc/<pid>/status`` in MiB: ``VmHWM`` (peak RSS), ``VmRSS``, ..."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")
