"""``Batch Job State Change`` events and the JobDetail they carry, in AWS's exact shape.

AWS Batch sends one event per status change of an existing job, never for the initial submission
(User Guide, "Job state change events").  The envelope keys come in the order ``version, id,
detail-type, source, account, time, region, resources, detail``; ``time`` has second precision in
UTC; ``resources`` holds the job's own ARN (the child's ARN for an array child).

``detail`` is the JobDetail of DescribeJobs, with members in the service model's order and only
those present at that state:

* ``attempts`` one entry per finished attempt; ``startedAt`` from RUNNING, ``stoppedAt`` at the end;
* ``container`` is the static view (lists the definition left out shown as ``[]``) plus, only on
  a job that ran, ``containerInstanceArn``/``taskArn`` after placement, ``logStreamName`` from
  RUNNING and ``exitCode``/``reason`` once the attempt ended;
* ``arrayProperties`` is ``{"statusSummary": {7 keys}, "size": N}`` on a parent and
  ``{"statusSummary": {}, "index": i}`` on a child;
* ``tags`` is ``{"resourceArn": <job ARN, the parent's for a child>}`` in events (the quirk every
  real capture shows); DescribeJobs shows the job's own tags instead, when it has any;
* ``eksAttempts`` is ``[]``; ``isCancelled``/``isTerminated`` appear only when true (an open point
  of the spec, settled this way).

One builder, :func:`job_detail`, serves both events and DescribeJobs so that they always agree.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from batchbridge.domain.jobs import Job
from batchbridge.domain.lifecycle import SUMMARY_ORDER, JobKind, JobStatus

DETAIL_TYPE = "Batch Job State Change"
SOURCE = "aws.batch"

#: ContainerDetail members in the model's order.
CONTAINER_ORDER: tuple[str, ...] = (
    "image",
    "vcpus",
    "memory",
    "command",
    "jobRoleArn",
    "executionRoleArn",
    "volumes",
    "environment",
    "mountPoints",
    "readonlyRootFilesystem",
    "ulimits",
    "privileged",
    "user",
    "exitCode",
    "reason",
    "containerInstanceArn",
    "taskArn",
    "logStreamName",
    "instanceType",
    "networkInterfaces",
    "resourceRequirements",
    "linuxParameters",
    "logConfiguration",
    "secrets",
    "networkConfiguration",
    "fargatePlatformConfiguration",
    "ephemeralStorage",
    "runtimePlatform",
    "repositoryCredentials",
    "enableExecuteCommand",
)

#: Lists AWS echoes as ``[]`` when the definition leaves them out.
ALWAYS_LISTS: tuple[str, ...] = (
    "command",
    "volumes",
    "environment",
    "mountPoints",
    "ulimits",
    "networkInterfaces",
    "secrets",
)

RUNTIME_FIELDS: frozenset[str] = frozenset(
    {"exitCode", "reason", "containerInstanceArn", "taskArn", "logStreamName"}
)


def empty_summary() -> dict[str, int]:
    return {status.value: 0 for status in SUMMARY_ORDER}


def ordered_summary(counts: Mapping[str, int]) -> dict[str, int]:
    """All seven ``statusSummary`` keys in AWS's order: STARTING, FAILED, RUNNING, SUCCEEDED, ..."""
    return {status.value: int(counts.get(status.value, 0)) for status in SUMMARY_ORDER}


def container_view(job: Job) -> dict[str, Any]:
    """The job's ``container``: static part plus the run-time fields present at this state."""
    runtime: dict[str, Any] = {}
    if job.kind is not JobKind.ARRAY_PARENT:
        run = job.run
        if run.exit_code is not None:
            runtime["exitCode"] = run.exit_code
        if run.reason is not None:
            runtime["reason"] = run.reason
        if run.container_instance_arn is not None:
            runtime["containerInstanceArn"] = run.container_instance_arn
        if run.task_arn is not None:
            runtime["taskArn"] = run.task_arn
        if run.log_stream_name is not None:
            runtime["logStreamName"] = run.log_stream_name
    out: dict[str, Any] = {}
    for key in CONTAINER_ORDER:
        if key in RUNTIME_FIELDS:
            if key in runtime:
                out[key] = runtime[key]
            continue
        if key in job.container and job.container[key] is not None:
            out[key] = job.container[key]
        elif key in ALWAYS_LISTS:
            out[key] = []
    return out


def array_properties(job: Job, summary: Mapping[str, int] | None) -> dict[str, Any] | None:
    if job.kind is JobKind.ARRAY_PARENT:
        return {"statusSummary": ordered_summary(summary or {}), "size": job.array_size}
    if job.kind is JobKind.ARRAY_CHILD:
        return {"statusSummary": {}, "index": job.array_index}
    return None


def job_detail(job: Job, summary: Mapping[str, int] | None = None, *, for_event: bool) -> dict[str, Any]:
    """JobDetail in the model's member order; ``summary`` is a parent's children count by status."""
    detail: dict[str, Any] = {
        "jobArn": job.job_arn,
        "jobName": job.name,
        "jobId": job.job_id,
        "jobQueue": job.queue_arn,
        "status": job.status.value,
        "attempts": [] if job.kind is JobKind.ARRAY_PARENT else [a.to_aws() for a in job.attempts],
    }
    if job.status_reason is not None:
        detail["statusReason"] = job.status_reason
    detail["createdAt"] = job.created_at
    if job.retry_strategy is not None:
        detail["retryStrategy"] = {
            "attempts": job.max_attempts,
            "evaluateOnExit": list(job.retry_strategy.get("evaluateOnExit") or []),
        }
    if job.started_at is not None:
        detail["startedAt"] = job.started_at
    if job.stopped_at is not None:
        detail["stoppedAt"] = job.stopped_at
    detail["dependsOn"] = [dict(d) for d in job.depends_on]
    detail["jobDefinition"] = job.definition_arn
    detail["parameters"] = dict(job.parameters)
    detail["container"] = container_view(job)
    props = array_properties(job, summary)
    if props is not None:
        detail["arrayProperties"] = props
    if job.timeout is not None:
        detail["timeout"] = dict(job.timeout)
    if for_event:
        detail["tags"] = {"resourceArn": job.resource_arn_for_events}
    elif job.tags:
        detail["tags"] = dict(job.tags)
    detail["propagateTags"] = job.propagate_tags
    detail["platformCapabilities"] = list(job.platform_capabilities)
    detail["eksAttempts"] = []
    if job.is_cancelled:
        detail["isCancelled"] = True
    if job.is_terminated:
        detail["isTerminated"] = True
    return detail


_LAST_TIME: list[tuple[int, str]] = [(-1, "")]


def event_time(epoch_ms: int) -> str:
    """``YYYY-MM-DDThh:mm:ssZ``: EventBridge's second-precision UTC timestamp.

    Events come in bursts within the same second, so the last second's text is reused.
    """
    second = epoch_ms // 1000
    last = _LAST_TIME[0]
    if last[0] == second:
        return last[1]
    moment = datetime.datetime.fromtimestamp(second, tz=datetime.UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    _LAST_TIME[0] = (second, text)
    return text


def state_change_event(
    job: Job,
    *,
    event_id: str,
    account: str,
    region: str,
    at_ms: int,
    summary: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The ``Batch Job State Change`` event for ``job`` as it is now."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": account,
        "time": event_time(at_ms),
        "region": region,
        "resources": [job.job_arn],
        "detail": job_detail(job, summary, for_event=True),
    }


def job_summary(job: Job, summary: Mapping[str, int] | None = None) -> dict[str, Any]:
    """ListJobs' ``JobSummary`` in the model's member order."""
    out: dict[str, Any] = {
        "jobArn": job.job_arn,
        "jobId": job.job_id,
        "jobName": job.name,
        "createdAt": job.created_at,
        "status": job.status.value,
    }
    if job.status_reason is not None:
        out["statusReason"] = job.status_reason
    if job.started_at is not None:
        out["startedAt"] = job.started_at
    if job.stopped_at is not None:
        out["stoppedAt"] = job.stopped_at
    if job.kind is not JobKind.ARRAY_PARENT and job.run.exit_code is not None:
        container: dict[str, Any] = {"exitCode": job.run.exit_code}
        if job.run.reason is not None:
            container["reason"] = job.run.reason
        out["container"] = container
    if job.kind is JobKind.ARRAY_PARENT:
        props: dict[str, Any] = {"size": job.array_size}
        if summary is not None:
            props["statusSummary"] = ordered_summary(summary)
        out["arrayProperties"] = props
    elif job.kind is JobKind.ARRAY_CHILD:
        out["arrayProperties"] = {"index": job.array_index}
    out["jobDefinition"] = job.definition_arn
    if job.is_cancelled:
        out["isCancelled"] = True
    if job.is_terminated:
        out["isTerminated"] = True
    return out


def final_status_of_array(counts: Mapping[str, int], size: int) -> JobStatus | None:
    """The parent's terminal status once every child is terminal: SUCCEEDED iff all succeeded."""
    succeeded = int(counts.get(JobStatus.SUCCEEDED.value, 0))
    failed = int(counts.get(JobStatus.FAILED.value, 0))
    if succeeded + failed < size:
        return None
    return JobStatus.SUCCEEDED if failed == 0 else JobStatus.FAILED
