"""A real server with the job engine and the local executor running, and helpers to drive it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
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
)

from batchbridge.app import Application
from batchbridge.server import ThreadedServer
from batchbridge.store.outbox import Outbox

TERMINAL = ("SUCCEEDED", "FAILED")


class JobsServer:
    def __init__(self, data_dir: Path, **overrides: Any) -> None:
        self.settings = loopback_settings(data_dir, **{**FAST_JOBS, **overrides})
        self.app = Application(self.settings)
        assert self.app.parts is not None
        self.executor = self.app.parts.executor
        self.engine = self.app.parts.engine
        self.threaded = ThreadedServer(self.settings, self.app).start()

    @property
    def url(self) -> str:
        return self.threaded.url

    def events(self) -> list[dict[str, Any]]:
        return [e.event for e in Outbox(self.app.db).read_all(limit=1_000_000)]

    def stop(self) -> None:
        self.threaded.stop()


@pytest.fixture(scope="module")
def jobs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobsServer]:
    running = JobsServer(tmp_path_factory.mktemp("jobs"))
    yield running
    running.stop()


def batch_client(url: str) -> Any:
    """A boto3 Batch client for the server at ``url`` that never retries."""
    from botocore.config import Config

    return make_client("batch", url, config=Config(retries={"max_attempts": 0}))


@pytest.fixture(scope="module")
def batch(jobs_server: JobsServer) -> Any:
    return batch_client(jobs_server.url)


def make_queue(batch: Any, max_vcpus: int = 4, ce_state: str = "ENABLED") -> tuple[str, str]:
    """A compute environment and a queue on it; returns (queue name, CE name)."""
    ce = create_compute_environment(batch, max_vcpus=max_vcpus, state=ce_state)
    return create_job_queue(batch, ce)[0], ce


def make_definition(batch: Any, command: list[str], **extra: Any) -> tuple[str, str]:
    """Register a container definition (MEMORY 64, VCPU 1); returns (name, ARN)."""
    return register_definition(batch, command, requirements=(("MEMORY", "64"), ("VCPU", "1")), **extra)


def wait_for(
    batch: Any, job_id: str, statuses: tuple[str, ...] = TERMINAL, timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        jobs = batch.describe_jobs(jobs=[job_id])["jobs"]
        if jobs and jobs[0]["status"] in statuses:
            return dict(jobs[0])
        if time.monotonic() > deadline:
            raise AssertionError(
                f"job {job_id} not in {statuses}: {jobs[0]['status'] if jobs else 'missing'}"
            )
        time.sleep(0.05)


Waiter = Callable[..., dict[str, Any]]
