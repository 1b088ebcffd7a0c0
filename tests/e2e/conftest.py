"""End-to-end fixtures: a whole batchbridge server that runs the print-color image, and helpers.

``e2e_server`` (module-scoped) is the complete assembly (job engine, local executor, Lambda
runtime, EventBridge dispatcher) in a thread on a loopback port, with the image of the article
(``print-color``) bound to ``examples/print-color/print-color.sh`` and fast job timings.  Tests
drive it with real boto3 clients (``clients``) and the real ``aws`` CLI (``aws_cli`` from the root
conftest, given ``endpoint=e2e_server.url``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serverkit import (
    FAST_JOBS,
    create_compute_environment,
    create_job_queue,
    loopback_settings,
    make_client,
    register_definition,
    wait_for,
)

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
        **FAST_JOBS,
        "images": {
            PRINT_COLOR_IMAGE: ("sh", str(EXAMPLES / "print-color.sh")),
            "print-color": ("sh", str(EXAMPLES / "print-color.sh")),
        },
    }
    values.update(overrides)
    return loopback_settings(data_dir, **values)


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


def make_queue(batch: Any, max_vcpus: int = 4) -> str:
    """A compute environment and a job queue on it; returns the queue ARN."""
    return create_job_queue(batch, create_compute_environment(batch, max_vcpus=max_vcpus))[1]


def register_command(batch: Any, command: list[str], name: str | None = None) -> str:
    """A job definition whose container runs ``command`` on this host; returns its ARN."""
    return register_definition(batch, command, name=name)[1]


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
