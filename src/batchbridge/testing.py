"""Test your own AWS Batch + EventBridge + Lambda code against a real batchbridge server.

Like moto, but the jobs really run and the events really fire.  Use the context manager::

    from batchbridge.testing import BatchBridge

    with BatchBridge() as bb:
        batch = bb.client("batch")
        ...                      # your code, given bb.endpoint_url or these clients
        job = bb.wait_for_job(job_id)

or the pytest fixture ``batchbridge`` (a pytest plugin installed with the package, see
:mod:`batchbridge.pytest_plugin`)::

    def test_my_pipeline(batchbridge):
        batch = batchbridge.client("batch")

Each server gets its own temporary data folder and a free loopback port.  ``mode="thread"`` (the
default) runs it inside the test process, ``mode="subprocess"`` as ``python -m batchbridge
server``; both speak the same AWS wire protocols.  Settings are keyword arguments
(``images={"my-image": ("python", "job.py")}``, ``min_timeout_seconds=1`` ...); see
:class:`batchbridge.config.Settings`.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import boto3
from botocore.config import Config

from batchbridge.config import Settings

TERMINAL = ("SUCCEEDED", "FAILED")


class BatchBridge:
    """A batchbridge server for the life of a ``with`` block (or between ``start`` and ``stop``)."""

    def __init__(
        self,
        data_dir: Path | str | None = None,
        *,
        mode: Literal["thread", "subprocess"] = "thread",
        region: str = "us-east-1",
        **settings: Any,
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="batchbridge-")
            data_dir = self._tmp.name
        self.data_dir = Path(data_dir)
        self.mode = mode
        self.region = region
        self.settings = Settings(
            host="127.0.0.1", port=0, data_dir=self.data_dir, region=region, access_log=False, **settings
        )
        self._threaded: Any = None
        self._process: subprocess.Popen[str] | None = None
        self.endpoint_url = ""

    def start(self) -> BatchBridge:
        """Start the server; ``endpoint_url`` is set when this returns."""
        if self.mode == "thread":
            from batchbridge.server import ThreadedServer

            self._threaded = ThreadedServer(self.settings).start()
            self.endpoint_url = self._threaded.url
        else:
            self._start_subprocess()
        return self

    def _start_subprocess(self) -> None:
        args = [
            sys.executable,
            "-m",
            "batchbridge",
            "server",
            "--port",
            "0",
            "--data-dir",
            str(self.data_dir),
        ]
        args += ["--region", self.region, "--no-access-log"]
        env = dict(os.environ)
        if self.settings.images:
            env["BATCHBRIDGE_IMAGES"] = ";".join(
                f"{image}={shlex.join(command)}" for image, command in self.settings.images.items()
            )
        env["BATCHBRIDGE_MIN_TIMEOUT_SECONDS"] = str(self.settings.min_timeout_seconds)
        env["BATCHBRIDGE_KILL_GRACE_SECONDS"] = str(self.settings.kill_grace_seconds)
        env["BATCHBRIDGE_JOB_CPU_PRIORITY"] = self.settings.job_cpu_priority
        self._process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        marker = "listening on "
        if marker not in line:
            self._process.kill()
            raise RuntimeError(f"batchbridge server did not start: {line!r}")
        self.endpoint_url = line.split(marker, 1)[1].split()[0]
        threading.Thread(target=_drain, args=(self._process.stdout,), daemon=True).start()

    def stop(self) -> None:
        """Stop the server (SIGTERM for a subprocess) and remove its temporary data folder."""
        if self._threaded is not None:
            self._threaded.stop()
            self._threaded = None
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> BatchBridge:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client for ``service`` bound to this server (dummy credentials)."""
        options: dict[str, Any] = {
            "endpoint_url": self.endpoint_url,
            "region_name": self.region,
            "aws_access_key_id": "test",
            "aws_secret_access_key": "test",
            "config": Config(retries={"max_attempts": 2, "mode": "standard"}),
        }
        options.update(kwargs)
        return boto3.client(service, **options)

    def wait_for_job(self, job_id: str, timeout: float = 60.0, interval: float = 0.05) -> dict[str, Any]:
        """Poll DescribeJobs until ``job_id`` is SUCCEEDED or FAILED; return its detail."""
        batch = self.client("batch")
        deadline = time.monotonic() + timeout
        while True:
            jobs = batch.describe_jobs(jobs=[job_id])["jobs"]
            if jobs and jobs[0]["status"] in TERMINAL:
                return dict(jobs[0])
            if time.monotonic() > deadline:
                status = jobs[0]["status"] if jobs else "unknown"
                raise TimeoutError(f"job {job_id} still {status} after {timeout:g} s")
            time.sleep(interval)

    def log_messages(self, group: str, stream: str | None = None) -> list[str]:
        """Every message of ``group`` (one stream, or all of them in creation order)."""
        logs = self.client("logs")
        try:
            if stream is None:
                streams = [
                    s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"]
                ]
            else:
                streams = [stream]
        except logs.exceptions.ResourceNotFoundException:
            return []
        messages: list[str] = []
        for name in streams:
            kwargs: dict[str, Any] = {"logGroupName": group, "logStreamName": name, "startFromHead": True}
            while True:
                page = logs.get_log_events(**kwargs)
                messages.extend(event["message"] for event in page["events"])
                if not page["events"] or page["nextForwardToken"] == kwargs.get("nextToken"):
                    break
                kwargs = {"logGroupName": group, "logStreamName": name, "nextToken": page["nextForwardToken"]}
        return messages


def _drain(stream: Any) -> None:
    """Read a server subprocess's stdout to its end, so a full pipe never blocks the server."""
    for _ in stream:
        pass
