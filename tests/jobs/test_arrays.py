"""Array jobs, dependencies and the parent/child events, through boto3 with real processes."""

from __future__ import annotations

import itertools
from typing import Any

from .conftest import JobsServer, make_definition, make_queue, wait_for

ENV_DUMP = (
    'echo "$AWS_BATCH_JOB_ARRAY_INDEX $AWS_BATCH_JOB_ARRAY_SIZE $AWS_BATCH_JOB_ID'
    ' $AWS_BATCH_JQ_NAME $AWS_BATCH_CE_NAME"'
)


def _events_of(server: JobsServer, job_id: str) -> list[dict[str, Any]]:
    return [e for e in server.events() if e["detail"]["jobId"] == job_id]


def test_array_children_env_and_events(batch: Any, jobs_server: JobsServer) -> None:
    queue, ce = make_queue(batch)
    _, def_arn = make_definition(batch, ["sh", "-c", ENV_DUMP + " > $PWD/out.txt"])
    parent_id = batch.submit_job(
        jobName="arr", jobQueue=queue, jobDefinition=def_arn, arrayProperties={"size": 3}
    )["jobId"]
    parent = wait_for(batch, parent_id)
    assert parent["status"] == "SUCCEEDED"
    assert parent["arrayProperties"]["statusSummary"]["SUCCEEDED"] == 3
    for index in range(3):
        child = batch.describe_jobs(jobs=[f"{parent_id}:{index}"])["jobs"][0]
        assert child["status"] == "SUCCEEDED"
        assert child["arrayProperties"] == {"statusSummary": {}, "index": index}
        assert all(not e["name"].startswith("AWS_BATCH") for e in child["container"]["environment"])
        folder = jobs_server.settings.data_dir / "jobs" / f"{parent_id}_{index}" / "attempt-1"
        assert (folder / "out.txt").read_text().split() == [
            str(index),
            "3",
            f"{parent_id}:{index}",
            queue,
            ce,
        ]
    parent_events = _events_of(jobs_server, parent_id)
    assert [e["detail"]["status"] for e in parent_events] == ["PENDING", "SUCCEEDED"]
    final = parent_events[-1]
    assert list(final) == [
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    ]
    assert final["resources"] == [final["detail"]["jobArn"]]
    assert final["detail"]["attempts"] == []
    assert "containerInstanceArn" not in final["detail"]["container"]
    assert list(final["detail"]["arrayProperties"]["statusSummary"].items()) == [
        ("STARTING", 0), ("FAILED", 0), ("RUNNING", 0), ("SUCCEEDED", 3),
        ("RUNNABLE", 0), ("SUBMITTED", 0), ("PENDING", 0),
    ]  # fmt: skip
    child_events = _events_of(jobs_server, f"{parent_id}:1")
    assert [e["detail"]["status"] for e in child_events] == ["RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"]
    last = child_events[-1]["detail"]
    assert last["tags"] == {"resourceArn": final["detail"]["jobArn"]}
    assert last["container"]["containerInstanceArn"].startswith(
        "arn:aws:ecs:us-east-1:123456789012:container-instance/"
    )
    assert last["container"]["resourceRequirements"] == [
        {"value": "64", "type": "MEMORY"},
        {"value": "1", "type": "VCPU"},
    ]
    assert last["eksAttempts"] == []
    ids = [e["id"] for e in jobs_server.events()]
    assert len(ids) == len(set(ids))


def test_array_with_failing_child_fails_with_summary(batch: Any) -> None:
    queue, _ = make_queue(batch)
    _, def_arn = make_definition(batch, ["sh", "-c", 'test "$AWS_BATCH_JOB_ARRAY_INDEX" != 1'])
    parent_id = batch.submit_job(
        jobName="arrf", jobQueue=queue, jobDefinition=def_arn, arrayProperties={"size": 3}
    )["jobId"]
    parent = wait_for(batch, parent_id)
    assert parent["status"] == "FAILED"
    summary = parent["arrayProperties"]["statusSummary"]
    assert (summary["SUCCEEDED"], summary["FAILED"]) == (2, 1)
    child = batch.describe_jobs(jobs=[f"{parent_id}:1"])["jobs"][0]
    assert child["container"]["exitCode"] == 1


def test_sequential_children_run_in_order(batch: Any) -> None:
    queue, _ = make_queue(batch, max_vcpus=4)
    _, def_arn = make_definition(batch, ["sleep", "0.2"])
    parent_id = batch.submit_job(
        jobName="seq",
        jobQueue=queue,
        jobDefinition=def_arn,
        arrayProperties={"size": 3},
        dependsOn=[{"type": "SEQUENTIAL"}],
    )["jobId"]
    assert wait_for(batch, parent_id)["status"] == "SUCCEEDED"
    kids = batch.describe_jobs(jobs=[f"{parent_id}:{i}" for i in range(3)])["jobs"]
    for before, after in itertools.pairwise(kids):
        assert after["startedAt"] >= before["stoppedAt"]


def test_n_to_n_pairs_children(batch: Any) -> None:
    queue, _ = make_queue(batch, max_vcpus=4)
    _, slow = make_definition(batch, ["sh", "-c", "sleep 0.$((3 - AWS_BATCH_JOB_ARRAY_INDEX * 3 / 2))"])
    _, fast = make_definition(batch, ["true"])
    a = batch.submit_job(jobName="a", jobQueue=queue, jobDefinition=slow, arrayProperties={"size": 2})[
        "jobId"
    ]
    b = batch.submit_job(
        jobName="b",
        jobQueue=queue,
        jobDefinition=fast,
        arrayProperties={"size": 2},
        dependsOn=[{"jobId": a, "type": "N_TO_N"}],
    )["jobId"]
    assert wait_for(batch, b)["status"] == "SUCCEEDED"
    for i in range(2):
        a_i, b_i = batch.describe_jobs(jobs=[f"{a}:{i}", f"{b}:{i}"])["jobs"]
        assert b_i["startedAt"] >= a_i["stoppedAt"]


def test_dependency_failure_fails_dependent(batch: Any, jobs_server: JobsServer) -> None:
    queue, _ = make_queue(batch)
    _, bad = make_definition(batch, ["false"])
    _, good = make_definition(batch, ["true"])
    first = batch.submit_job(jobName="first", jobQueue=queue, jobDefinition=bad)["jobId"]
    second = batch.submit_job(
        jobName="second", jobQueue=queue, jobDefinition=good, dependsOn=[{"jobId": first}]
    )["jobId"]
    job = wait_for(batch, second)
    assert job["status"] == "FAILED"
    assert job["statusReason"] == "Dependent Job failed"
    assert job["attempts"] == []
    assert [e["detail"]["status"] for e in _events_of(jobs_server, second)] == ["PENDING", "FAILED"]
