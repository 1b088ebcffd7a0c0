"""Fixtures for the ``batchbridge`` command's tests: the real command run as a subprocess.

``run_cli(*args, endpoint=URL, timeout=60) -> Done``
    Runs ``python -m batchbridge *args --endpoint URL`` (no ``--endpoint`` when ``endpoint`` is
    ``None``) with a wide, colourless terminal (``COLUMNS=200``, ``NO_COLOR=1``) and returns
    ``returncode``, ``stdout``, ``stderr``.
``batch_queue``
    A fresh compute environment (256 vCPUs) and job queue on the session ``server``; returns
    the queue name.  Job definitions with a plain ``command`` run it as is on this host.
``print_color``
    Module-scoped: its own server whose image map makes ``print-color`` stand for
    ``sh examples/print-color/print-color.sh``, the article's resources created from the
    example files, rules ``every-success`` and ``parent-only`` from the two rule files, and one
    SUCCEEDED array of 7.  Attributes: ``url``, ``parent`` (the array's job id), ``client()``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from serverkit import create_compute_environment, create_job_queue, register_definition, unique

from batchbridge.testing import BatchBridge

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "print-color"


@dataclass
class Done:
    """Outcome of one ``batchbridge`` run."""

    returncode: int
    stdout: str
    stderr: str


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BATCHBRIDGE_", "AWS_"))}
    env.update(
        {"COLUMNS": "200", "NO_COLOR": "1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    )
    env.pop("FORCE_COLOR", None)
    env.update(extra)
    return env


def run_batchbridge(*args: str, endpoint: str | None, timeout: float = 60, **env: str) -> Done:
    command = [sys.executable, "-m", "batchbridge", *args]
    if endpoint is not None:
        command += ["--endpoint", endpoint]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=cli_env(**env))
    return Done(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def run_cli() -> Callable[..., Done]:
    return run_batchbridge


@pytest.fixture
def batch_queue(boto_client: Callable[..., Any]) -> str:
    batch = boto_client("batch")
    name = create_compute_environment(batch, unique("cli"), max_vcpus=256)
    return create_job_queue(batch, name, name)[0]


def register(batch: Any, command: list[str]) -> str:
    """A job definition running ``command``; returns its name."""
    return register_definition(
        batch, command, name=unique("cli-def"), requirements=(("VCPU", "1"), ("MEMORY", "16"))
    )[0]


@dataclass
class PrintColor:
    bridge: BatchBridge
    parent: str

    @property
    def url(self) -> str:
        return self.bridge.endpoint_url

    def client(self, service: str) -> Any:
        return self.bridge.client(service)

    def child_event(self, index: int) -> dict[str, Any]:
        """The SUCCEEDED event of child ``index``, from ``GET /_batchbridge/jobs/{id}/events``."""
        url = f"{self.url}/_batchbridge/jobs/{self.parent}:{index}/events"
        with urllib.request.urlopen(url, timeout=10) as response:
            events = json.loads(response.read())["events"]
        [event] = [e for e in events if e["detail"]["status"] == "SUCCEEDED"]
        return dict(event)


@pytest.fixture(scope="module")
def print_color(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrintColor]:
    images = {"print-color": ("sh", str(EXAMPLES / "print-color.sh"))}
    with BatchBridge(tmp_path_factory.mktemp("print-color"), images=images) as bridge:
        batch = bridge.client("batch")
        events = bridge.client("events")
        for create, name in (
            (batch.create_compute_environment, "compute-environment.json"),
            (batch.create_job_queue, "job-queue.json"),
            (batch.register_job_definition, "job-definition.json"),
        ):
            create(**json.loads((EXAMPLES / name).read_text()))
        for rule, name in (
            ("every-success", "rule-every-success.json"),
            ("parent-only", "rule-parent-only.json"),
        ):
            events.put_rule(Name=rule, EventPattern=(EXAMPLES / name).read_text())
        parent = batch.submit_job(**json.loads((EXAMPLES / "print-color-job.json").read_text()))["jobId"]
        assert bridge.wait_for_job(parent)["status"] == "SUCCEEDED"
        yield PrintColor(bridge, parent)
