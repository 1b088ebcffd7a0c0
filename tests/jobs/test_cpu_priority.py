"""Jobs of the local executor run under SCHED_IDLE by default, under the normal policy on request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from batchbridge.config import load_settings

from .conftest import JobsServer, batch_client, make_definition, make_queue, wait_for

#: Exits with the scheduling policy of the job's process (field 41 of /proc/<pid>/stat), read by a
#: child after the agent has had time to set it: SCHED_OTHER is 0, SCHED_IDLE 5.
REPORT_POLICY = ["sh", "-c", "sleep 0.3; exit $(awk '{print $41}' /proc/self/stat)"]


def _policy_of_a_job(batch: Any) -> int:
    queue, _ = make_queue(batch)
    definition, _ = make_definition(batch, REPORT_POLICY)
    job_id = batch.submit_job(jobName="policy", jobQueue=queue, jobDefinition=definition)["jobId"]
    job = wait_for(batch, job_id)
    return int(job["container"]["exitCode"])


def test_by_default_a_job_and_its_children_run_under_sched_idle(batch: Any) -> None:
    assert _policy_of_a_job(batch) == 5


def test_the_normal_priority_setting_leaves_jobs_under_the_default_policy(tmp_path: Path) -> None:
    server = JobsServer(tmp_path / "data", job_cpu_priority="normal")
    try:
        assert _policy_of_a_job(batch_client(server.url)) == 0
    finally:
        server.stop()


def test_the_setting_comes_from_the_environment_and_rejects_other_values() -> None:
    assert load_settings({}).job_cpu_priority == "idle"
    assert load_settings({"BATCHBRIDGE_JOB_CPU_PRIORITY": " Normal "}).job_cpu_priority == "normal"
    with pytest.raises(
        ValueError, match="BATCHBRIDGE_JOB_CPU_PRIORITY must be one of idle, normal; got 'low'"
    ):
        load_settings({"BATCHBRIDGE_JOB_CPU_PRIORITY": "low"})
