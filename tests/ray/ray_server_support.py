"""A whole batchbridge server whose Ray-bound compute environments run on the test cluster.

``RayServer`` is the complete assembly (job engine, routing executor, Lambda runtime, EventBridge
dispatcher) in a thread on a loopback port, with fast job timings, the print-color image mapped to
``examples/print-color/print-color.sh`` and the compute environments named in :data:`RAY_CES`
bound to the cluster (``Settings.ray_bindings``); every other compute environment is local.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import serverkit
from serverkit import (
    FAST_JOBS,
    create_compute_environment,
    create_job_queue,
    loopback_settings,
    make_client,
    register_definition,
    unique,
)

from batchbridge.app import Application
from batchbridge.executors.ray_executor import RayExecutor
from batchbridge.executors.routing import RoutingExecutor
from batchbridge.server import ThreadedServer

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "print-color"
PRINT_COLOR_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/print-color"
ROLE = "arn:aws:iam::123456789012:role/ray-e2e"
RAY_CES = ("ray-main", "ray-big", "ray-gpu", "ray-victim", "ray-stop", "print-color-computing")
TERMINAL = ("SUCCEEDED", "FAILED")


class RayServer:
    """A started in-process server with boto3 clients bound to it."""

    def __init__(self, data_dir: Path, address: str) -> None:
        self.settings = loopback_settings(
            data_dir,
            **FAST_JOBS,
            images={PRINT_COLOR_IMAGE: ("sh", str(EXAMPLES / "print-color.sh"))},
            ray_bindings=dict.fromkeys(RAY_CES, address),
        )
        self.app = Application(self.settings)
        self.threaded = ThreadedServer(self.settings, self.app).start()
        self._clients: dict[str, Any] = {}

    @property
    def url(self) -> str:
        return self.threaded.url

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = make_client(service, self.url)
        return self._clients[service]

    @property
    def ray(self) -> RayExecutor:
        """The server's Ray executor (shared by every bound compute environment)."""
        assert self.app.parts is not None
        router = self.app.parts.executor
        assert isinstance(router, RoutingExecutor)
        executor = router.bound("ray-main")
        assert isinstance(executor, RayExecutor), router.error_for("ray-main")
        return executor

    def stop(self) -> None:
        self.threaded.stop()


def make_queue(batch: Any, ce: str, max_vcpus: int = 4) -> str:
    """The compute environment ``ce`` (created if new) and a job queue on it; returns the queue ARN."""
    existing = batch.describe_compute_environments(computeEnvironments=[ce])["computeEnvironments"]
    if not existing:
        create_compute_environment(batch, ce, max_vcpus)
    return create_job_queue(batch, ce)[1]


def register(batch: Any, command: list[str], vcpus: int = 1, memory: int = 64, gpus: int = 0) -> str:
    requirements = [("VCPU", str(vcpus)), ("MEMORY", str(memory))]
    if gpus:
        requirements.append(("GPU", str(gpus)))
    return register_definition(batch, command, requirements=requirements)[1]


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, interval: float = 0.1) -> Any:
    """:func:`serverkit.wait_for` with the longer defaults a Ray cluster needs."""
    return serverkit.wait_for(predicate, timeout, interval)


def describe(batch: Any, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = batch.describe_jobs(jobs=[job_id])["jobs"][0]
    return job


def wait_job(batch: Any, job_id: str, timeout: float = 90.0) -> dict[str, Any]:
    found: dict[str, Any] = wait_for(
        lambda: (lambda j: j if j["status"] in TERMINAL else None)(describe(batch, job_id)), timeout
    )
    return found


def children(batch: Any, parent_id: str, size: int) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = batch.describe_jobs(jobs=[f"{parent_id}:{i}" for i in range(size)])["jobs"]
    return sorted(jobs, key=lambda j: j["arrayProperties"]["index"])


def stream_messages(logs: Any, group: str, stream: str | None = None) -> list[str]:
    try:
        streams = (
            [stream]
            if stream
            else [s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"]]
        )
    except logs.exceptions.ResourceNotFoundException:
        return []
    messages: list[str] = []
    for name in streams:
        page = logs.get_log_events(logGroupName=group, logStreamName=name, startFromHead=True)
        messages.extend(event["message"] for event in page["events"])
    return messages


def handler_prints(messages: list[str]) -> list[str]:
    frames = ("START RequestId:", "END RequestId:", "REPORT RequestId:", "INIT_START")
    return [m.strip() for m in messages if m.strip() and not m.startswith(frames)]


def sqs_queue(server: RayServer) -> tuple[str, str]:
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return str(url), str(arn)


def drain(sqs: Any, url: str, settle: float = 2.0, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Receive (and delete) messages until none arrive for ``settle`` seconds."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        if messages:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= settle:
            break
        time.sleep(0.1)
    return found
