"""Jobs through boto3 against a real server, with real processes."""

from __future__ import annotations

from typing import Any

from .conftest import JobsServer, make_definition, make_queue, wait_for


def test_single_job_runs_and_emits_each_transition(batch: Any, jobs_server: JobsServer) -> None:
    queue, _ = make_queue(batch)
    _, def_arn = make_definition(batch, ["sh", "-c", "echo hello-$AWS_BATCH_JOB_ATTEMPT"])
    job_id = batch.submit_job(jobName="one", jobQueue=queue, jobDefinition=def_arn)["jobId"]
    job = wait_for(batch, job_id)
    assert job["status"] == "SUCCEEDED", job
    assert job["statusReason"] == "Essential container in task exited"
    assert job["container"]["exitCode"] == 0
    assert job["container"]["logStreamName"].startswith(def_arn.split("/")[-1].split(":")[0] + "/default/")
    assert len(job["attempts"]) == 1
    mine = [e for e in jobs_server.events() if e["detail"]["jobId"] == job_id]
    assert [e["detail"]["status"] for e in mine] == ["RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"]
    assert "taskArn" in mine[1]["detail"]["container"]
    assert "logStreamName" in mine[2]["detail"]["container"]
