"""What an AWS Batch job is: the record every layer shares.

A :class:`Job` holds what DescribeJobs and the ``Batch Job State Change`` event show (id, name,
queue and definition ARNs, status, reason, timestamps in epoch milliseconds, attempts, dependsOn,
parameters, the container view, retry strategy, timeout, tags, array properties, cancel/terminate
flags) plus the run state the scheduler needs (resource demand, placement, the current attempt's
run-time container fields).

The container view is fixed at submission: the job definition's ``containerProperties`` with the
submit-time ``containerOverrides`` applied (``command`` replaced, ``environment`` merged by name,
``resourceRequirements`` replaced per type) and ``Ref::`` placeholders substituted.  Run-time fields
(``containerInstanceArn``, ``taskArn``, ``logStreamName``, ``exitCode``, ``reason``) are kept apart
on :class:`RunState` and merged in by the event builder in the model's member order.

Timestamps are integers in epoch milliseconds, as the Batch wire format carries them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from batchbridge.domain.lifecycle import JobKind, JobStatus


@dataclasses.dataclass
class AttemptRecord:
    """One finished attempt, shown in ``attempts[]`` (model shape ``AttemptDetail``)."""

    started_at: int | None
    stopped_at: int
    status_reason: str
    exit_code: int | None = None
    reason: str | None = None
    task_arn: str | None = None
    container_instance_arn: str | None = None
    log_stream_name: str | None = None

    def to_aws(self) -> dict[str, Any]:
        """``AttemptDetail`` with ``AttemptContainerDetail`` in the model's member order."""
        container: dict[str, Any] = {}
        if self.container_instance_arn is not None:
            container["containerInstanceArn"] = self.container_instance_arn
        if self.task_arn is not None:
            container["taskArn"] = self.task_arn
        if self.exit_code is not None:
            container["exitCode"] = self.exit_code
        if self.reason is not None:
            container["reason"] = self.reason
        if self.log_stream_name is not None:
            container["logStreamName"] = self.log_stream_name
        container["networkInterfaces"] = []
        out: dict[str, Any] = {"container": container}
        if self.started_at is not None:
            out["startedAt"] = self.started_at
        out["stoppedAt"] = self.stopped_at
        out["statusReason"] = self.status_reason
        return out


@dataclasses.dataclass
class RunState:
    """The current attempt's placement and run-time container fields."""

    attempt: int = 0
    compute_environment_arn: str | None = None
    compute_environment_name: str | None = None
    task_id: str | None = None
    task_arn: str | None = None
    container_instance_arn: str | None = None
    log_stream_name: str | None = None
    exit_code: int | None = None
    reason: str | None = None
    attempt_started_at: int | None = None
    seq: int = 0


@dataclasses.dataclass
class Job:
    """One AWS Batch job: a single job, an array parent or an array child."""

    job_id: str
    job_arn: str
    name: str
    kind: JobKind
    status: JobStatus
    queue_arn: str
    queue_name: str
    definition_arn: str
    definition_name: str
    created_at: int
    container: dict[str, Any]
    parameters: dict[str, str] = dataclasses.field(default_factory=dict)
    depends_on: list[dict[str, str]] = dataclasses.field(default_factory=list)
    retry_strategy: dict[str, Any] | None = None
    timeout: dict[str, int] | None = None
    tags: dict[str, str] = dataclasses.field(default_factory=dict)
    propagate_tags: bool = False
    platform_capabilities: list[str] = dataclasses.field(default_factory=list)
    status_reason: str | None = None
    started_at: int | None = None
    stopped_at: int | None = None
    attempts: list[AttemptRecord] = dataclasses.field(default_factory=list)
    parent_id: str | None = None
    parent_arn: str | None = None
    array_size: int | None = None
    array_index: int | None = None
    sequential: bool = False
    is_cancelled: bool = False
    is_terminated: bool = False
    cancel_reason: str | None = None
    vcpus: float = 1.0
    memory_mib: int = 0
    gpus: int = 0
    run: RunState = dataclasses.field(default_factory=RunState)

    @property
    def max_attempts(self) -> int:
        """``retryStrategy.attempts``, 1 (no retry) when unset."""
        if self.retry_strategy and self.retry_strategy.get("attempts"):
            return int(self.retry_strategy["attempts"])
        return 1

    @property
    def timeout_seconds(self) -> int | None:
        if self.timeout and self.timeout.get("attemptDurationSeconds"):
            return int(self.timeout["attemptDurationSeconds"])
        return None

    @property
    def resource_arn_for_events(self) -> str:
        """``detail.tags.resourceArn``: the job's ARN, the parent's for an array child."""
        return self.parent_arn if self.parent_arn is not None else self.job_arn

    def to_doc(self) -> dict[str, Any]:
        """A JSON-ready dict that :meth:`from_doc` turns back into the same job.

        Written out field by field (``dataclasses.asdict`` deep-copies every value and is the
        dearest step of a transition); nested containers are shared with the job, so the result is
        meant to be serialised at once, not kept.
        """
        return {
            "job_id": self.job_id,
            "job_arn": self.job_arn,
            "name": self.name,
            "kind": self.kind.value,
            "status": self.status.value,
            "queue_arn": self.queue_arn,
            "queue_name": self.queue_name,
            "definition_arn": self.definition_arn,
            "definition_name": self.definition_name,
            "created_at": self.created_at,
            "container": self.container,
            "parameters": self.parameters,
            "depends_on": self.depends_on,
            "retry_strategy": self.retry_strategy,
            "timeout": self.timeout,
            "tags": self.tags,
            "propagate_tags": self.propagate_tags,
            "platform_capabilities": self.platform_capabilities,
            "status_reason": self.status_reason,
            "started_at": self.started_at,
            "stopped_at": self.stopped_at,
            "attempts": [a.__dict__ for a in self.attempts],
            "parent_id": self.parent_id,
            "parent_arn": self.parent_arn,
            "array_size": self.array_size,
            "array_index": self.array_index,
            "sequential": self.sequential,
            "is_cancelled": self.is_cancelled,
            "is_terminated": self.is_terminated,
            "cancel_reason": self.cancel_reason,
            "vcpus": self.vcpus,
            "memory_mib": self.memory_mib,
            "gpus": self.gpus,
            "run": self.run.__dict__,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Job:
        values = dict(doc)
        values["kind"] = _KINDS[values["kind"]]
        values["status"] = _STATUSES[values["status"]]
        values["attempts"] = [AttemptRecord(**a) for a in values.get("attempts", [])]
        values["run"] = RunState(**values.get("run", {}))
        return cls(**values)


_KINDS: dict[str, JobKind] = {kind.value: kind for kind in JobKind}
_STATUSES: dict[str, JobStatus] = {status.value: status for status in JobStatus}


def resource_demand(container: dict[str, Any]) -> tuple[float, int, int]:
    """(vCPUs, MiB, GPUs) a job asks for: ``resourceRequirements`` first, legacy ``vcpus``/``memory``.

    AWS reads VCPU as a (possibly fractional, Fargate) number and MEMORY in MiB; a job that names
    neither gets the legacy fields or 1 vCPU and no memory reservation.
    """
    vcpus: float | None = None
    memory: int | None = None
    gpus = 0
    for req in container.get("resourceRequirements") or []:
        kind = str(req.get("type", "")).upper()
        value = str(req.get("value", "0"))
        try:
            if kind == "VCPU":
                vcpus = float(value)
            elif kind == "MEMORY":
                memory = int(float(value))
            elif kind == "GPU":
                gpus = int(float(value))
        except ValueError:
            continue
    if vcpus is None:
        vcpus = float(container.get("vcpus") or 1)
    if memory is None:
        memory = int(container.get("memory") or 0)
    return vcpus, memory, gpus


def child_job_id(parent_id: str, index: int) -> str:
    """An array child's id, ``<parent id>:<index>``."""
    return f"{parent_id}:{index}"


def split_child_id(job_id: str) -> tuple[str, int] | None:
    """``(parent id, index)`` for a child id, ``None`` for any other id."""
    base, sep, tail = job_id.rpartition(":")
    if not sep or not tail.isdigit():
        return None
    return base, int(tail)
