"""Helpers shared by the suite's fixtures and tests: free ports, health waits, boto3 clients,
unique names, Lambda packages, polling, and the Batch resources most tests start from.

A plain module (not a conftest) so that any test package can import it unambiguously.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from batchbridge.config import Settings

REGION = "us-east-1"

#: Settings that make jobs quick to test: 1 s minimum timeout, short kill grace, frequent passes.
FAST_JOBS: dict[str, Any] = {
    "min_timeout_seconds": 1,
    "kill_grace_seconds": 0.5,
    "scheduler_interval": 0.02,
    "agent_idle_seconds": 5.0,
}


def loopback_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings of an in-process test server: loopback, any free port, no access log."""
    values: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "data_dir": data_dir, "access_log": False}
    values.update(overrides)
    return Settings(**values)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(data_dir: Path, port: int, *flags: str) -> tuple[list[str], dict[str, str]]:
    """A ``batchbridge server`` subprocess on ``port`` and ``data_dir``: (command, environment).

    The environment is this one without ``BATCHBRIDGE_*`` variables, so the runner's own settings
    never reach the server under test.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHBRIDGE_")}
    command = [
        sys.executable,
        "-m",
        "batchbridge",
        "server",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
    ]
    return [*command, *flags], env


def wait_healthy(url: str, process: subprocess.Popen[str] | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"server exited with {process.returncode}: {process.stderr.read() if process.stderr else ''}"
            )
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"server at {url} did not become healthy")


def make_client(service: str, endpoint: str, **kwargs: Any) -> Any:
    config = kwargs.pop("config", None) or Config(retries={"max_attempts": 1, "mode": "standard"})
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint,
        region_name=kwargs.pop("region_name", REGION),
        aws_access_key_id=kwargs.pop("aws_access_key_id", "test"),
        aws_secret_access_key=kwargs.pop("aws_secret_access_key", "test"),
        config=config,
        **kwargs,
    )


def unique(prefix: str) -> str:
    """``prefix`` with a random suffix: a resource name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def zip_source(source: str, name: str = "lambda_function.py") -> bytes:
    """A Lambda deployment package holding ``source`` as ``name``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, source)
    return buffer.getvalue()


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns a true value, which is returned; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(interval)


def create_compute_environment(
    batch: Any, name: str | None = None, max_vcpus: int = 4, state: str = "ENABLED"
) -> str:
    """A MANAGED EC2 compute environment of ``max_vcpus``; its name (``name`` or a new one)."""
    name = name or unique("ce")
    batch.create_compute_environment(
        computeEnvironmentName=name,
        type="MANAGED",
        state=state,
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
    return name


def create_job_queue(batch: Any, compute_environment: str, name: str | None = None) -> tuple[str, str]:
    """A job queue over one compute environment; (its name, its ARN)."""
    name = name or unique("q")
    queue = batch.create_job_queue(
        jobQueueName=name,
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": compute_environment}],
    )
    return name, str(queue["jobQueueArn"])


def register_definition(
    batch: Any,
    command: list[str],
    *,
    name: str | None = None,
    requirements: Sequence[tuple[str, str]] = (("VCPU", "1"), ("MEMORY", "64")),
    **extra: Any,
) -> tuple[str, str]:
    """A container job definition running ``command`` with ``requirements`` in that order.

    ``containerProperties`` in ``extra`` are merged over the defaults; other ``extra`` members go
    to RegisterJobDefinition.  Returns (name, ARN).
    """
    name = name or unique("def")
    props: dict[str, Any] = {
        "image": "busybox",
        "command": command,
        "resourceRequirements": [{"type": kind, "value": value} for kind, value in requirements],
    }
    props.update(extra.pop("containerProperties", {}))
    out = batch.register_job_definition(
        jobDefinitionName=name, type="container", containerProperties=props, **extra
    )
    return name, str(out["jobDefinitionArn"])
