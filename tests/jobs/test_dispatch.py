"""Dispatch under a stream of short attempts: capacity refilled, every event, nothing over capacity."""

from __future__ import annotations

import time
from typing import Any

from batchbridge.engine.scheduler import MAX_LOOKAHEAD_VCPUS

from .conftest import JobsServer, make_definition, make_queue, wait_for


def test_a_short_array_on_two_vcpus_writes_every_event_in_order(batch: Any, jobs_server: JobsServer) -> None:
    queue, _ = make_queue(batch, max_vcpus=2)
    _, def_arn = make_definition(batch, ["true"])
    size = 40
    parent = batch.submit_job(
        jobName="burst", jobQueue=queue, jobDefinition=def_arn, arrayProperties={"size": size}
    )["jobId"]
    assert wait_for(batch, parent, timeout=60)["status"] == "SUCCEEDED"
    events = [e for e in jobs_server.events() if e["detail"]["jobId"].split(":")[0] == parent]
    by_job: dict[str, list[str]] = {}
    for event in events:
        by_job.setdefault(event["detail"]["jobId"], []).append(event["detail"]["status"])
    assert by_job.pop(parent) == ["PENDING", "SUCCEEDED"]
    assert len(by_job) == size
    assert all(s == ["RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"] for s in by_job.values())
    placed = running = 0
    peak_placed = peak_running = 0
    for event in events:
        status = event["detail"]["status"]
        if event["detail"]["jobId"] == parent:
            continue
        if status == "STARTING":
            placed += 1
        elif status == "RUNNING":
            running += 1
        elif status in ("SUCCEEDED", "FAILED"):
            placed -= 1
            running -= 1
        peak_placed = max(peak_placed, placed)
        peak_running = max(peak_running, running)
    assert peak_running <= 2, "maxvCpus bounds what runs"
    assert peak_placed <= 2 + MAX_LOOKAHEAD_VCPUS, "start-ahead takes at most the lookahead beyond capacity"
    summary = events[-1]["detail"]["arrayProperties"]["statusSummary"]
    assert summary["SUCCEEDED"] == size and sum(summary.values()) == size


def test_a_long_attempt_shows_running_long_before_it_ends(batch: Any) -> None:
    queue, _ = make_queue(batch)
    _, def_arn = make_definition(batch, ["sleep", "3"])
    job_id = batch.submit_job(jobName="long", jobQueue=queue, jobDefinition=def_arn)["jobId"]
    began = time.monotonic()
    running = wait_for(batch, job_id, statuses=("RUNNING", "SUCCEEDED", "FAILED"))
    assert running["status"] == "RUNNING"
    assert time.monotonic() - began < 2.5
    assert "startedAt" in running and "logStreamName" in running["container"]
    assert wait_for(batch, job_id)["status"] == "SUCCEEDED"
