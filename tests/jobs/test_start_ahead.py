"""Start-ahead through the whole server: STARTING beyond capacity, RUNNING within it, crash-safe."""

from __future__ import annotations

import collections
import json
import os
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from .conftest import JobsServer, batch_client, make_definition, make_queue, wait_for
from .test_crash import _start, restart_and_finish

ORDER = ["RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"]


def intervals(log: Path) -> dict[str, tuple[int, int]]:
    """Each job's (start, end) in nanoseconds, as its own process wrote them."""
    seen: dict[str, dict[str, int]] = collections.defaultdict(dict)
    for line in log.read_text().split("\n"):
        if line:
            job, mark, stamp = line.split()
            assert mark not in seen[job], f"{job} ran twice"
            seen[job][mark] = int(stamp)
    return {job: (marks["start"], marks["end"]) for job, marks in seen.items()}


def peak(spans: list[tuple[int, int]]) -> int:
    marks = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda m: (m[0], m[1]))
    level = top = 0
    for _, step in marks:
        level += step
        top = max(top, level)
    return top


def recording(log: Path, seconds: float) -> list[str]:
    script = (
        f'echo "$AWS_BATCH_JOB_ID start $(date +%s%N)" >> {log}; sleep {seconds};'
        f' echo "$AWS_BATCH_JOB_ID end $(date +%s%N)" >> {log}'
    )
    return ["sh", "-c", script]


def test_jobs_wait_in_starting_beyond_capacity_while_running_stays_within_it(
    batch: Any, jobs_server: JobsServer, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    queue, _ = make_queue(batch, max_vcpus=2)
    _, def_arn = make_definition(batch, recording(log, 0.3))
    parent = batch.submit_job(
        jobName="ahead", jobQueue=queue, jobDefinition=def_arn, arrayProperties={"size": 8}
    )["jobId"]
    wait_for(batch, f"{parent}:0", ("RUNNING", "SUCCEEDED"))
    wait_for(batch, f"{parent}:3", ("STARTING", "RUNNING", "SUCCEEDED"))
    statuses = [j["status"] for j in batch.describe_jobs(jobs=[f"{parent}:{i}" for i in range(8)])["jobs"]]
    assert statuses.count("RUNNING") <= 2
    assert statuses.count("STARTING") + statuses.count("RUNNING") <= 4
    assert wait_for(batch, parent, timeout=60)["status"] == "SUCCEEDED"
    spans = intervals(log)
    assert len(spans) == 8
    assert peak(list(spans.values())) <= 2, "no more than maxvCpus processes ran at once"
    events = [e for e in jobs_server.events() if e["detail"]["jobId"].split(":")[0] == parent]
    by_job: dict[str, list[str]] = collections.defaultdict(list)
    for event in events:
        by_job[event["detail"]["jobId"]].append(event["detail"]["status"])
    assert by_job.pop(parent) == ["PENDING", "SUCCEEDED"]
    assert all(s == ORDER for s in by_job.values())


def test_terminating_a_job_held_in_starting_fails_it_without_running_it(
    batch: Any, jobs_server: JobsServer, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    queue, _ = make_queue(batch, max_vcpus=1)
    _, def_arn = make_definition(batch, recording(log, 0.8))
    first = batch.submit_job(jobName="first", jobQueue=queue, jobDefinition=def_arn)["jobId"]
    wait_for(batch, first, ("RUNNING", "SUCCEEDED"))
    held = batch.submit_job(jobName="held", jobQueue=queue, jobDefinition=def_arn)["jobId"]
    assert wait_for(batch, held, ("STARTING", "RUNNING", "SUCCEEDED"))["status"] == "STARTING"
    batch.terminate_job(jobId=held, reason="not needed")
    ended = wait_for(batch, held)
    assert ended["status"] == "FAILED" and ended["statusReason"] == "not needed"
    assert "startedAt" not in ended
    assert wait_for(batch, first)["status"] == "SUCCEEDED"
    assert set(intervals(log)) == {first}
    statuses = [e["detail"]["status"] for e in jobs_server.events() if e["detail"]["jobId"] == held]
    assert statuses == ["RUNNABLE", "STARTING", "FAILED"]


@pytest.mark.slow
def test_held_launches_survive_a_server_sigkill_and_run_exactly_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    log = tmp_path / "runs.log"
    proc, url = _start(data)
    try:
        batch = batch_client(url)
        queue, _ = make_queue(batch, max_vcpus=1)
        _, def_arn = make_definition(batch, recording(log, 0.7))
        parent = batch.submit_job(
            jobName="crash", jobQueue=queue, jobDefinition=def_arn, arrayProperties={"size": 4}
        )["jobId"]
        wait_for(batch, f"{parent}:0", ("RUNNING", "SUCCEEDED"))
        held = wait_for(batch, f"{parent}:1", ("STARTING", "RUNNING", "SUCCEEDED"))
        assert held["status"] == "STARTING"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    restart_and_finish(data, parent, 4)
    spans = intervals(log)
    assert sorted(spans) == sorted(f"{parent}:{i}" for i in range(4)), "every child ran exactly once"
    assert peak(list(spans.values())) == 1
    with sqlite3.connect(data / "batchbridge.sqlite3") as conn:
        bodies = [json.loads(b) for (b,) in conn.execute("SELECT body FROM outbox ORDER BY position")]
    by_job: dict[str, list[str]] = collections.defaultdict(list)
    for body in bodies:
        by_job[body["detail"]["jobId"]].append(body["detail"]["status"])
    for i in range(4):
        assert by_job[f"{parent}:{i}"] == ORDER
