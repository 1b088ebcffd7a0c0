"""``batchbridge wait``: a live progress bar for arrays, exit 0 on SUCCEEDED and 1 on FAILED."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from serverkit import create_compute_environment, create_job_queue

from .conftest import Done, cli_env, register

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_in_terminal(args: list[str], timeout: float = 120) -> tuple[int, str]:
    """Run ``python -m batchbridge *args`` with stdout and stderr on a pseudo-terminal."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "batchbridge", *args],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env=cli_env(TERM="xterm-256color"),
        close_fds=True,
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    data = os.read(leader, 65536)
                except OSError:
                    break
                if not data:
                    break
                chunks.append(data)
            elif process.poll() is not None:
                break
        returncode = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(leader)
    return returncode, b"".join(chunks).decode(errors="replace")


def renders(output: str, size: int) -> list[int]:
    """The completed counts of successive progress-bar renders, in order."""
    counts: list[int] = []
    for frame in re.split(r"[\r\n]", ANSI.sub("", output)):
        match = re.search(rf"(\d+)/{size}\b", frame)
        if match:
            counts.append(int(match.group(1)))
    return counts


@pytest.mark.slow
def test_wait_shows_a_moving_progress_bar_for_1000_children(
    server: Any, boto_client: Callable[..., Any], batch_queue: str
) -> None:
    batch = boto_client("batch")
    definition = register(batch, ["true"])
    job = batch.submit_job(
        jobName="thousand", jobQueue=batch_queue, jobDefinition=definition, arrayProperties={"size": 1000}
    )
    returncode, output = run_in_terminal(
        ["wait", job["jobId"], "--interval", "0.1", "--endpoint", server.url]
    )
    assert returncode == 0, output
    counts = renders(output, 1000)
    distinct = sorted(set(counts))
    assert len(distinct) >= 3, f"expected several renders with increasing counts, got {distinct}"
    assert counts == sorted(counts), "the completed count must never go back"
    assert counts[-1] == 1000
    text = ANSI.sub("", output)
    assert "SUCCEEDED 1000" in text
    assert re.search(r"\d+(\.\d)?/s", text), "the rate column shows children per second"
    assert "ETA" in text
    assert f"{job['jobId']} SUCCEEDED" in text


def test_wait_exits_1_when_a_child_fails(
    server: Any, boto_client: Callable[..., Any], batch_queue: str, run_cli: Callable[..., Done]
) -> None:
    batch = boto_client("batch")
    definition = register(batch, ["sh", "-c", 'test "$AWS_BATCH_JOB_ARRAY_INDEX" != 1'])
    job = batch.submit_job(
        jobName="one-fails", jobQueue=batch_queue, jobDefinition=definition, arrayProperties={"size": 3}
    )
    done = run_cli("wait", job["jobId"], "--json", endpoint=server.url)
    assert done.returncode == 1, done.stderr
    final = json.loads(done.stdout)
    assert final["jobId"] == job["jobId"]
    assert final["status"] == "FAILED"
    assert final["arrayProperties"]["statusSummary"]["FAILED"] == 1
    assert final["arrayProperties"]["statusSummary"]["SUCCEEDED"] == 2
    assert f"{job['jobId']} FAILED" in done.stderr


def test_wait_for_a_single_job_prints_the_final_job_as_json(
    server: Any, boto_client: Callable[..., Any], batch_queue: str, run_cli: Callable[..., Done]
) -> None:
    batch = boto_client("batch")
    definition = register(batch, ["sh", "-c", "sleep 0.5"])
    job = batch.submit_job(jobName="single", jobQueue=batch_queue, jobDefinition=definition)
    done = run_cli("wait", job["jobId"], "--json", endpoint=server.url)
    assert done.returncode == 0, done.stderr
    final = json.loads(done.stdout)
    assert final["status"] == "SUCCEEDED"
    assert final["container"]["exitCode"] == 0
    assert "single" in done.stderr


def test_wait_for_an_unknown_job_says_so(server: Any, run_cli: Callable[..., Done]) -> None:
    done = run_cli("wait", "no-such-job", endpoint=server.url)
    assert done.returncode == 2
    assert "job no-such-job not found" in done.stderr
    assert "Traceback" not in done.stderr


def test_wait_gives_up_after_its_timeout(
    start_server: Callable[..., Any], boto_client: Callable[..., Any], run_cli: Callable[..., Done]
) -> None:
    own = start_server(kill_grace_seconds=0.5)
    batch = boto_client("batch", endpoint=own.url)
    create_job_queue(batch, create_compute_environment(batch, "ce", max_vcpus=2), "q")
    definition = register(batch, ["sleep", "30"])
    job = batch.submit_job(jobName="slow", jobQueue="q", jobDefinition=definition)
    try:
        done = run_cli("wait", job["jobId"], "--timeout", "1", endpoint=own.url)
        assert done.returncode == 3
        assert "gave up after 1 s" in done.stderr
    finally:
        batch.terminate_job(jobId=job["jobId"], reason="test over")
