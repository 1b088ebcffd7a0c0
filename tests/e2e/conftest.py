"""End-to-end fixtures: a whole batchbridge server that runs the print-color image, and helpers.

``e2e_server`` (module-scoped) is the complete assembly (job engine, local executor, Lambda
runtime, EventBridge dispatcher) in a thread on a loopback port, with the image of the article
(``print-color``) bound to ``examples/print-color/print-color.sh`` and fast job timings.  Tests
drive it with real boto3 clients (``clients``) and the real ``aws`` CLI (``aws_cli`` from the root
conftest, given ``endpoint=e2e_server.url``).
"""

from __future__ import annotations

import io
import json
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from batchbridge.app import Application
from batchbridge.config import Settings
from batchbridge.server import ThreadedServer

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "print-color"
PRINT_COLOR_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/print-color"
ROLE = "arn:aws:iam::123456789012:role/e2e"
TERMINAL = ("SUCCEEDED", "FAILED")


def e2e_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "data_dir": data_dir,
        "access_log": False,
        "min_timeout_seconds": 1,
        "kill_grace_seconds": 0.5,
        "scheduler_interval": 0.02,
        "agent_idle_seconds": 5.0,
        "images": {
            PRINT_COLOR_IMAGE: ("sh", str(EXAMPLES / "print-color.sh")),
            "print-color": ("sh", str(EXAMPLES / "print-color.sh")),
        },
    }
    values.update(overrides)
    return Settings(**values)


class E2EServer:
    """A started in-process server with the whole assembly and boto3 clients bound to it."""

    def __init__(self, data_dir: Path, **overrides: Any) -> None:
        self.settings = e2e_settings(data_dir, **overrides)
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

    def stop(self) -> None:
        self.threaded.stop()


@pytest.fixture(scope="module")
def e2e_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EServer]:
    running = E2EServer(tmp_path_factory.mktemp("e2e"))
    yield running
    running.stop()


def make_client(service: str, endpoint: str) -> Any:
    """A boto3 client with dummy credentials and no client-side retries."""
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def zip_source(source: str, name: str = "lambda_function.py") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, source)
    return buffer.getvalue()


def make_queue(batch: Any, max_vcpus: int = 4) -> str:
    """A compute environment and a job queue on it; returns the queue ARN."""
    ce = unique("ce")
    batch.create_compute_environment(
        computeEnvironmentName=ce,
        type="MANAGED",
        computeResources={
            "type": "EC2",
            "minvCpus": 0,
            "maxvCpus": max_vcpus,
            "instanceTypes": ["optimal"],
            "subnets": ["subnet-0"],
            "securityGroupIds": ["sg-0"],
            "instanceRole": "ecsInstanceRole",
        },
    )
    queue = batch.create_job_queue(
        jobQueueName=unique("q"), priority=1, computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}]
    )
    return str(queue["jobQueueArn"])


def register_command(batch: Any, command: list[str], name: str | None = None) -> str:
    """A job definition whose container runs ``command`` on this host; returns its ARN."""
    out = batch.register_job_definition(
        jobDefinitionName=name or unique("def"),
        type="container",
        containerProperties={
            "image": "busybox",
            "command": command,
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "64"}],
        },
    )
    return str(out["jobDefinitionArn"])


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns a true value; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(interval)


def wait_job(batch: Any, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job: dict[str, Any] = batch.describe_jobs(jobs=[job_id])["jobs"][0]
        return job if job["status"] in TERMINAL else None

    result: dict[str, Any] = wait_for(done, timeout, 0.1)
    return result


def group_messages(logs: Any, group: str) -> list[str]:
    """Every message of every stream of ``group`` (empty when the group does not exist)."""
    try:
        streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    messages: list[str] = []
    for stream in streams:
        page = logs.get_log_events(
            logGroupName=group, logStreamName=stream["logStreamName"], startFromHead=True
        )
        messages.extend(event["message"] for event in page["events"])
    return messages


def handler_prints(messages: list[str]) -> list[str]:
    """The handler's own lines, without Lambda's START/END/REPORT/INIT frames."""
    frames = ("START RequestId:", "END RequestId:", "REPORT RequestId:", "INIT_START")
    return [m.strip() for m in messages if m.strip() and not m.startswith(frames)]


def drain_queue(
    sqs: Any, url: str, settle: float = 0.5, timeout: float = 30.0, expect: int = 0
) -> list[dict[str, Any]]:
    """Receive (and delete) messages until at least ``expect`` came and none arrive for ``settle`` s."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        out = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        )
        messages = out.get("Messages", [])
        for message in messages:
            found.append(message)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        if messages:
            quiet_since = time.monotonic()
        elif len(found) >= expect and time.monotonic() - quiet_since >= settle:
            break
        else:
            time.sleep(0.05)
    return found


def bodies(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [json.loads(m["Body"]) for m in messages]
