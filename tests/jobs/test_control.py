"""Retries, timeouts, cancel, terminate, ListJobs and bad input, through boto3."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .conftest import make_definition, make_queue, wait_for


def test_retry_with_evaluate_on_exit(batch: Any) -> None:
    queue, _ = make_queue(batch)
    _, def_arn = make_definition(batch, ["sh", "-c", "exit $((AWS_BATCH_JOB_ATTEMPT < 3 ? 3 : 0))"])
    retried = batch.submit_job(
        jobName="r", jobQueue=queue, jobDefinition=def_arn,
        retryStrategy={"attempts": 3, "evaluateOnExit": [{"onExitCode": "3", "action": "RETRY"}]},
    )["jobId"]  # fmt: skip
    stopped = batch.submit_job(
        jobName="x", jobQueue=queue, jobDefinition=def_arn,
        retryStrategy={"attempts": 3, "evaluateOnExit": [{"onExitCode": "3*", "action": "EXIT"}]},
    )["jobId"]  # fmt: skip
    job = wait_for(batch, retried)
    assert job["status"] == "SUCCEEDED"
    assert [a["container"]["exitCode"] for a in job["attempts"]] == [3, 3, 0]
    assert len({a["container"]["taskArn"] for a in job["attempts"]}) == 3
    job = wait_for(batch, stopped)
    assert job["status"] == "FAILED"
    assert len(job["attempts"]) == 1


def test_timeout_is_not_retried(batch: Any) -> None:
    queue, _ = make_queue(batch)
    _, def_arn = make_definition(batch, ["sleep", "30"])
    job_id = batch.submit_job(
        jobName="t", jobQueue=queue, jobDefinition=def_arn, timeout={"attemptDurationSeconds": 1},
        retryStrategy={"attempts": 3},
    )["jobId"]  # fmt: skip
    job = wait_for(batch, job_id, timeout=20)
    assert job["status"] == "FAILED"
    assert job["statusReason"] == "Job attempt duration exceeded timeout"
    assert len(job["attempts"]) == 1


def test_terminate_running_job(batch: Any) -> None:
    queue, _ = make_queue(batch)
    _, def_arn = make_definition(batch, ["sleep", "30"])
    job_id = batch.submit_job(
        jobName="k", jobQueue=queue, jobDefinition=def_arn, retryStrategy={"attempts": 2}
    )["jobId"]
    wait_for(batch, job_id, ("RUNNING",))
    assert batch.list_jobs(jobQueue=queue)["jobSummaryList"][0]["jobId"] == job_id
    batch.terminate_job(jobId=job_id, reason="stop it")
    job = wait_for(batch, job_id, timeout=15)
    assert job["status"] == "FAILED"
    assert job["statusReason"] == "stop it"
    assert job["isTerminated"] is True
    assert len(job["attempts"]) == 1


def test_cancel_runnable_job_that_cannot_fit(batch: Any) -> None:
    queue, _ = make_queue(batch, max_vcpus=1)
    _, def_arn = make_definition(
        batch, ["true"], containerProperties={"resourceRequirements": [{"type": "VCPU", "value": "4"}]}
    )
    job_id = batch.submit_job(jobName="big", jobQueue=queue, jobDefinition=def_arn)["jobId"]
    job = wait_for(batch, job_id, ("RUNNABLE",))
    time.sleep(0.3)
    job = batch.describe_jobs(jobs=[job_id])["jobs"][0]
    assert job["statusReason"].startswith("MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT")
    batch.cancel_job(jobId=job_id, reason="no room")
    job = wait_for(batch, job_id)
    assert (job["status"], job["statusReason"], job["isCancelled"]) == ("FAILED", "no room", True)


def test_list_jobs_filters_and_pages(batch: Any) -> None:
    queue, _ = make_queue(batch, ce_state="DISABLED")
    _, def_arn = make_definition(batch, ["true"])
    ids = [
        batch.submit_job(jobName=f"lj{i}", jobQueue=queue, jobDefinition=def_arn)["jobId"] for i in range(3)
    ]
    for job_id in ids:
        wait_for(batch, job_id, ("RUNNABLE",))
    page = batch.list_jobs(jobQueue=queue, jobStatus="RUNNABLE", maxResults=2)
    assert [s["jobId"] for s in page["jobSummaryList"]] == ids[:2]
    rest = batch.list_jobs(jobQueue=queue, jobStatus="RUNNABLE", nextToken=page["nextToken"])
    assert [s["jobId"] for s in rest["jobSummaryList"]] == ids[2:]
    named = batch.list_jobs(jobQueue=queue, filters=[{"name": "JOB_NAME", "values": ["LJ1"]}])
    assert [s["jobId"] for s in named["jobSummaryList"]] == [ids[1]]
    assert batch.list_jobs(jobQueue=queue)["jobSummaryList"] == []
    for job_id in ids:
        batch.cancel_job(jobId=job_id, reason="done")


def _error(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    assert info.value.response["Error"]["Code"] == "ClientException"
    return str(info.value.response["Error"]["Message"])


def test_bad_input_answers_client_exception(batch: Any) -> None:
    queue, _ = make_queue(batch)
    name, def_arn = make_definition(batch, ["echo", "Ref::missing"])
    _, ok = make_definition(batch, ["true"])
    for size in (1, 10001):
        msg = _error(
            batch.submit_job, jobName="a", jobQueue=queue, jobDefinition=ok, arrayProperties={"size": size}
        )
        assert "arrayProperties.size must be between 2 and 10000" in msg
    assert (
        _error(batch.submit_job, jobName="a", jobQueue="nope-q", jobDefinition=ok)
        == "JobQueue nope-q not found."
    )
    msg = _error(batch.submit_job, jobName="a", jobQueue=queue, jobDefinition="nope-def")
    assert msg == "JobDefinition name nope-def does not exist or is not in ACTIVE status"
    msg = _error(batch.submit_job, jobName="bad.name", jobQueue=queue, jobDefinition=ok)
    assert msg.startswith(
        "Error executing request, Exception : Job name should match valid pattern, RequestId: "
    )
    msg = _error(batch.submit_job, jobName="a", jobQueue=queue, jobDefinition=def_arn)
    assert msg == "Unable to substitute value. No parameter found for reference missing"
    msg = _error(batch.describe_jobs, jobs=[str(i) for i in range(101)])
    assert "Maximum number of jobs supported is  100" in msg
    assert "reason" in _error(batch.cancel_job, jobId="x", reason="")
    msg = _error(
        batch.submit_job, jobName="a", jobQueue=queue, jobDefinition=ok,
        containerOverrides={"environment": [{"name": "AWS_BATCH_X", "value": "1"}]},
    )  # fmt: skip
    assert "AWS_BATCH" in msg
    assert "timeout" in _error(
        batch.submit_job, jobName="a", jobQueue=queue, jobDefinition=ok, timeout={"attemptDurationSeconds": 0}
    )
    job_id = batch.submit_job(jobName="a", jobQueue=queue, jobDefinition=name, parameters={"missing": "v"})[
        "jobId"
    ]
    assert batch.describe_jobs(jobs=[job_id])["jobs"][0]["container"]["command"] == ["echo", "v"]
