"""The stored text of job events is exactly the JSON of the event dict, for every shape of job."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from batchbridge.domain.event_text import encode_state_change
from batchbridge.domain.job_events import state_change_event
from batchbridge.domain.jobs import AttemptRecord, Job, RunState
from batchbridge.domain.lifecycle import JobKind, JobStatus
from batchbridge.store.outbox import encode_event

from .test_domain import ARN, _job, ran_child

TEXT = st.text(min_size=0, max_size=12)
MAYBE_TEXT = st.none() | TEXT
MAYBE_MS = st.none() | st.integers(min_value=0, max_value=2**45)


def _same(job: Job, summary: dict[str, int] | None = None) -> None:
    args: dict[str, Any] = {"event_id": "e-1", "account": "123456789012", "region": "us-east-1"}
    args["at_ms"] = 1735689601234
    expected = encode_event(state_change_event(job, summary=summary, **args))
    assert encode_state_change(job, summary=summary, **args) == expected
    assert json.loads(expected)["detail"]["status"] == job.status.value


def test_a_child_that_ran_and_its_parent() -> None:
    _same(ran_child())
    parent = _job(JobKind.ARRAY_PARENT, array_size=2, run=RunState(task_arn="t"))
    _same(parent, {"SUCCEEDED": 2})
    _same(parent, None)


def test_children_sharing_submission_objects_keep_their_own_fields() -> None:
    container = {
        "image": "busybox",
        "command": ["echo", "Ref::x"],
        "environment": [{"name": "A", "value": "é"}],
    }
    first = _job(JobKind.ARRAY_CHILD, job_id="abc:0", array_index=0, parent_arn=ARN, container=container)
    second = _job(JobKind.ARRAY_CHILD, job_id="abc:1", array_index=1, parent_arn=ARN, container=container)
    _same(first)
    _same(second)
    container["command"] = ["changed"]
    third = _job(
        JobKind.ARRAY_CHILD, job_id="abc:2", array_index=2, parent_arn=ARN, container=dict(container)
    )
    _same(third)


CONTAINER_KEYS = st.sampled_from(
    ["image", "vcpus", "memory", "command", "environment", "user", "privileged", "instanceType",
     "resourceRequirements", "secrets", "linuxParameters", "logConfiguration", "jobRoleArn"]
)  # fmt: skip
VALUES = st.none() | st.booleans() | st.integers(-5, 5000) | TEXT | st.lists(TEXT, max_size=3)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(list(JobKind)),
    status=st.sampled_from(list(JobStatus)),
    reason=MAYBE_TEXT,
    started=MAYBE_MS,
    stopped=MAYBE_MS,
    container=st.dictionaries(CONTAINER_KEYS, VALUES, max_size=6),
    parameters=st.dictionaries(TEXT, TEXT, max_size=3),
    depends=st.lists(st.fixed_dictionaries({"jobId": TEXT}), max_size=2),
    retry=st.none() | st.fixed_dictionaries({"attempts": st.integers(1, 10)}),
    timeout=st.none() | st.fixed_dictionaries({"attemptDurationSeconds": st.integers(60, 600)}),
    propagate=st.booleans(),
    caps=st.lists(st.sampled_from(["EC2", "FARGATE"]), max_size=1),
    attempts=st.integers(0, 2),
    run=st.fixed_dictionaries(
        {
            "exit_code": st.none() | st.integers(0, 255),
            "reason": MAYBE_TEXT,
            "container_instance_arn": MAYBE_TEXT,
            "task_arn": MAYBE_TEXT,
            "log_stream_name": MAYBE_TEXT,
        }
    ),
    flags=st.tuples(st.booleans(), st.booleans()),
    summary=st.none() | st.dictionaries(st.sampled_from([s.value for s in JobStatus]), st.integers(0, 9)),
)
def test_every_shape_encodes_as_the_event_dict(
    kind: JobKind,
    status: JobStatus,
    reason: str | None,
    started: int | None,
    stopped: int | None,
    container: dict[str, Any],
    parameters: dict[str, str],
    depends: list[dict[str, str]],
    retry: dict[str, Any] | None,
    timeout: dict[str, int] | None,
    propagate: bool,
    caps: list[str],
    attempts: int,
    run: dict[str, Any],
    flags: tuple[bool, bool],
    summary: dict[str, int] | None,
) -> None:
    record = AttemptRecord(1, 2, "Essential container in task exited", 1, "r", "t", "ci", "s")
    job = _job(
        kind,
        status=status,
        status_reason=reason,
        started_at=started,
        stopped_at=stopped,
        container=container,
        parameters=parameters,
        depends_on=depends,
        retry_strategy=retry,
        timeout=timeout,
        propagate_tags=propagate,
        platform_capabilities=caps,
        attempts=[dataclasses.replace(record, exit_code=i) for i in range(attempts)],
        run=RunState(attempt=1, **run),
        is_cancelled=flags[0],
        is_terminated=flags[1],
        array_size=3 if kind is JobKind.ARRAY_PARENT else None,
        array_index=2 if kind is JobKind.ARRAY_CHILD else None,
        parent_arn=ARN if kind is JobKind.ARRAY_CHILD else None,
    )
    _same(job, summary)
