"""Helpers shared by the suite's fixtures and tests: free ports, health waits, boto3 clients.

A plain module (not a conftest) so that any test package can import it unambiguously.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from typing import Any

import boto3
from botocore.config import Config

REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
