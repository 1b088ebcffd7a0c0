"""Pure domain rules: lifecycle table, retry decisions, Ref:: substitution, event shapes."""

from __future__ import annotations

import pytest

from batchbridge.domain.job_events import job_detail, state_change_event
from batchbridge.domain.job_submit import build_container, check_array_size, check_job_name
from batchbridge.domain.jobs import AttemptRecord, Job, RunState
from batchbridge.domain.lifecycle import IllegalTransition, JobKind, JobStatus, check_transition
from batchbridge.domain.parameters import substitute
from batchbridge.domain.retry import should_retry, validate_retry_strategy
from batchbridge.errors import ClientException

ARN = "arn:aws:batch:us-east-1:123456789012:job/abc"


def test_parent_never_runnable() -> None:
    check_transition(JobKind.ARRAY_PARENT, JobStatus.SUBMITTED, JobStatus.PENDING)
    with pytest.raises(IllegalTransition):
        check_transition(JobKind.ARRAY_PARENT, JobStatus.PENDING, JobStatus.RUNNABLE)
    check_transition(JobKind.SINGLE, JobStatus.RUNNING, JobStatus.RUNNABLE)
    with pytest.raises(IllegalTransition):
        check_transition(JobKind.SINGLE, JobStatus.SUCCEEDED, JobStatus.FAILED)


def test_retry_first_match_wins_and_globs() -> None:
    strategy = validate_retry_strategy(
        {
            "attempts": 3,
            "evaluateOnExit": [
                {"onExitCode": "4*", "action": "retry"},
                {"onReason": "OutOfMemory*", "action": "EXIT"},
                {"onExitCode": "*", "onStatusReason": "Essential*", "action": "EXIT"},
            ],
        }
    )
    kw = {"reason": None, "status_reason": "Essential container in task exited"}
    assert should_retry(strategy, 1, exit_code=42, **kw)
    assert not should_retry(strategy, 1, exit_code=1, **kw)
    assert not should_retry(strategy, 3, exit_code=42, **kw)
    assert should_retry({"attempts": 2}, 1, exit_code=1, **kw)
    assert not should_retry({"attempts": 2}, 1, exit_code=1, retryable=False, **kw)


def test_retry_strategy_validation_names_field() -> None:
    with pytest.raises(ClientException, match="attempts"):
        validate_retry_strategy({"attempts": 11})
    with pytest.raises(ClientException, match="onExitCode"):
        validate_retry_strategy({"attempts": 2, "evaluateOnExit": [{"onExitCode": "x1", "action": "EXIT"}]})


def test_ref_substitution_whole_and_inside() -> None:
    assert substitute(["echo", "Ref::a", "--x=Ref::b"], {"a": "1", "b": "2"}) == ["echo", "1", "--x=2"]
    with pytest.raises(ClientException, match="No parameter found for reference job_id"):
        substitute(["Ref::job_id"], {})


def test_submit_checks() -> None:
    with pytest.raises(ClientException, match="Job name should match valid pattern"):
        check_job_name("bad.name", "rid")
    for size in (1, 10001):
        with pytest.raises(ClientException, match="between 2 and 10000"):
            check_array_size({"size": size}, "rid")
    container = build_container(
        {"image": "x", "command": ["a"], "resourceRequirements": [{"type": "MEMORY", "value": "250"}]},
        {
            "resourceRequirements": [{"type": "VCPU", "value": "2"}],
            "environment": [{"name": "A", "value": "1"}],
        },
        {},
    )
    assert container["resourceRequirements"] == [
        {"value": "250", "type": "MEMORY"},
        {"value": "2", "type": "VCPU"},
    ]


def _job(kind: JobKind, **extra: object) -> Job:
    base: dict[str, object] = {
        "job_id": "abc",
        "job_arn": ARN,
        "name": "print-color",
        "kind": kind,
        "status": JobStatus.SUCCEEDED,
        "queue_arn": "arn:aws:batch:us-east-1:123456789012:job-queue/q",
        "queue_name": "q",
        "definition_arn": "arn:aws:batch:us-east-1:123456789012:job-definition/print-color:1",
        "definition_name": "print-color",
        "created_at": 1735689600500,
        "container": {"image": "busybox", "resourceRequirements": [{"value": "250", "type": "MEMORY"}]},
    }
    base.update(extra)
    return Job(**base)  # type: ignore[arg-type]


def ran_child() -> Job:
    """Child 1 of array ``abc``, which ran once and succeeded."""
    return _job(
        JobKind.ARRAY_CHILD,
        job_id="abc:1",
        job_arn=ARN + ":1",
        parent_id="abc",
        parent_arn=ARN,
        array_index=1,
        started_at=1,
        stopped_at=2,
        status_reason="Essential container in task exited",
        attempts=[AttemptRecord(1, 2, "Essential container in task exited", 0, None, "t", "ci", "s")],
        run=RunState(attempt=1, task_arn="t", container_instance_arn="ci", log_stream_name="s", exit_code=0),
    )


def test_child_event_shape_and_order() -> None:
    child = ran_child()
    event = state_change_event(child, event_id="e", account="123456789012", region="us-east-1", at_ms=0)
    assert list(event) == [
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
    assert event["time"] == "1970-01-01T00:00:00Z"
    detail = event["detail"]
    assert list(detail) == [
        "jobArn", "jobName", "jobId", "jobQueue", "status", "attempts", "statusReason", "createdAt",
        "startedAt", "stoppedAt", "dependsOn", "jobDefinition", "parameters", "container",
        "arrayProperties", "tags", "propagateTags", "platformCapabilities", "eksAttempts",
    ]  # fmt: skip
    assert list(detail["container"]) == [
        "image", "command", "volumes", "environment", "mountPoints", "ulimits", "exitCode",
        "containerInstanceArn", "taskArn", "logStreamName", "networkInterfaces",
        "resourceRequirements", "secrets",
    ]  # fmt: skip
    assert detail["arrayProperties"] == {"statusSummary": {}, "index": 1}
    assert detail["tags"] == {"resourceArn": ARN}
    assert list(detail["attempts"][0]["container"]) == [
        "containerInstanceArn", "taskArn", "exitCode", "logStreamName", "networkInterfaces",
    ]  # fmt: skip


def test_parent_detail_has_summary_and_no_runtime_fields() -> None:
    parent = _job(JobKind.ARRAY_PARENT, array_size=2, run=RunState(task_arn="t"))
    detail = job_detail(parent, {"SUCCEEDED": 2}, for_event=True)
    assert detail["attempts"] == []
    assert "taskArn" not in detail["container"]
    assert list(detail["arrayProperties"]["statusSummary"].items()) == [
        ("STARTING", 0), ("FAILED", 0), ("RUNNING", 0), ("SUCCEEDED", 2),
        ("RUNNABLE", 0), ("SUBMITTED", 0), ("PENDING", 0),
    ]  # fmt: skip
    assert detail["arrayProperties"]["size"] == 2
