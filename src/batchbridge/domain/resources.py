"""Compute environments, job queues and job definitions as AWS Batch describes them.

Each record keeps the resource's AWS-shaped detail (the member names of ``ComputeEnvironmentDetail``,
``JobQueueDetail`` and ``JobDefinition`` in botocore's Batch model, in model order) without its
tags, which live beside it and are merged in by :func:`describe`.  The typed properties are what
the scheduler and the job engine read.

Emulation choices (spec §2):

* resources are created straight into ``status VALID`` with AWS's healthy reasons
  (``ComputeEnvironment Healthy``, ``JobQueue Healthy``); there is no CREATING/DELETING phase;
* every compute environment, MANAGED (EC2, SPOT, FARGATE, FARGATE_SPOT) or UNMANAGED, runs jobs on
  this machine; :func:`capacity` says how much of it each one offers;
* ``ecsClusterArn`` takes the newer AWS cluster name ``AWSBatch-<name>-<uuid>``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any, NamedTuple

from batchbridge.domain.arns import make_arn

CE_HEALTHY = "ComputeEnvironment Healthy"
QUEUE_HEALTHY = "JobQueue Healthy"
GPU_TAG = "batchbridge:gpus"
FARGATE_TYPES = frozenset({"FARGATE", "FARGATE_SPOT"})

#: ``containerProperties`` list members AWS echoes as ``[]`` when the definition omitted them.
CONTAINER_LIST_MEMBERS = (
    "command",
    "volumes",
    "environment",
    "mountPoints",
    "ulimits",
    "resourceRequirements",
    "secrets",
)


@dataclasses.dataclass(frozen=True)
class _StatefulResource:
    """A compute environment or job queue: AWS-shaped ``detail`` with an ENABLED/DISABLED state."""

    arn: str
    name: str
    detail: Mapping[str, Any]
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)
    seq: int = 0

    @property
    def state(self) -> str:
        return str(self.detail.get("state", "ENABLED"))

    @property
    def enabled(self) -> bool:
        return self.state == "ENABLED"


@dataclasses.dataclass(frozen=True)
class ComputeEnvironment(_StatefulResource):
    """One compute environment; ``detail`` is its ``ComputeEnvironmentDetail`` minus ``tags``."""

    @property
    def type(self) -> str:
        """``MANAGED`` or ``UNMANAGED``."""
        return str(self.detail["type"])

    @property
    def provisioning(self) -> str:
        """``EC2``, ``SPOT``, ``FARGATE``, ``FARGATE_SPOT`` for MANAGED; ``UNMANAGED`` otherwise."""
        resources = self.detail.get("computeResources") or {}
        return str(resources.get("type", "UNMANAGED")) if self.type == "MANAGED" else "UNMANAGED"

    @property
    def is_fargate(self) -> bool:
        return self.provisioning in FARGATE_TYPES


@dataclasses.dataclass(frozen=True)
class JobQueue(_StatefulResource):
    """One job queue; ``detail`` is its ``JobQueueDetail`` minus ``tags`` (CE order holds ARNs)."""

    @property
    def priority(self) -> int:
        return int(self.detail["priority"])

    @property
    def compute_environment_arns(self) -> list[str]:
        """Compute environment ARNs in ascending ``order`` (the order the scheduler tries them)."""
        entries = sorted(self.detail.get("computeEnvironmentOrder") or [], key=lambda e: int(e["order"]))
        return [str(e["computeEnvironment"]) for e in entries]


@dataclasses.dataclass(frozen=True)
class JobDefinition:
    """One revision of a job definition; ``detail`` is its ``JobDefinition`` shape minus ``tags``."""

    arn: str
    name: str
    revision: int
    detail: Mapping[str, Any]
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)
    seq: int = 0

    @property
    def status(self) -> str:
        return str(self.detail.get("status", "ACTIVE"))

    @property
    def active(self) -> bool:
        return self.status == "ACTIVE"

    @property
    def type(self) -> str:
        return str(self.detail["type"])

    @property
    def container_properties(self) -> dict[str, Any]:
        """``containerProperties`` with AWS's empty lists filled in (``{}`` if there are none)."""
        props = self.detail.get("containerProperties")
        return container_properties_view(props) if isinstance(props, Mapping) else {}

    @property
    def parameters(self) -> dict[str, str]:
        return dict(self.detail.get("parameters") or {})

    @property
    def retry_strategy(self) -> dict[str, Any] | None:
        value = self.detail.get("retryStrategy")
        return dict(value) if isinstance(value, Mapping) else None

    @property
    def timeout(self) -> dict[str, Any] | None:
        value = self.detail.get("timeout")
        return dict(value) if isinstance(value, Mapping) else None

    @property
    def platform_capabilities(self) -> list[str]:
        return list(self.detail.get("platformCapabilities") or [])

    @property
    def propagate_tags(self) -> bool:
        return bool(self.detail.get("propagateTags", False))


class Capacity(NamedTuple):
    """What one compute environment can run at once on this machine."""

    vcpus: float
    memory_mib: int
    gpus: int


def machine_memory_mib() -> int:
    """Physical memory of this machine in MiB (0 when the platform does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024))
    except (ValueError, OSError, AttributeError):
        return 0


def capacity(ce: ComputeEnvironment, memory_mib: int = 0) -> Capacity:
    """vCPUs, memory and GPUs the scheduler may hand out in ``ce``.

    vCPUs: ``computeResources.maxvCpus`` for MANAGED; ``unmanagedvCpus`` for UNMANAGED, defaulting
    to this machine's CPU count (AWS uses unmanagedvCpus only for fair-share reservations; we
    read it as the environment's size).  Memory: ``memory_mib`` (``Settings.memory_mib``) when set,
    else the machine's memory.  GPUs: the ``batchbridge:gpus`` tag, else 0.
    """
    if ce.type == "MANAGED":
        vcpus = float((ce.detail.get("computeResources") or {}).get("maxvCpus", 0))
    else:
        given = ce.detail.get("unmanagedvCpus")
        vcpus = float(given) if isinstance(given, int) and given > 0 else float(os.cpu_count() or 1)
    memory = memory_mib if memory_mib > 0 else machine_memory_mib()
    try:
        gpus = max(0, int(ce.tags.get(GPU_TAG, "0")))
    except ValueError:
        gpus = 0
    return Capacity(vcpus, memory, gpus)


def ecs_cluster_arn(region: str, account: str, name: str, ce_uuid: str) -> str:
    """The ECS cluster AWS Batch creates for a compute environment (``AWSBatch-<name>-<uuid>``)."""
    return make_arn("ecs", region, account, f"cluster/AWSBatch-{name}-{ce_uuid}")


def container_properties_view(props: Mapping[str, Any]) -> dict[str, Any]:
    """``containerProperties`` as AWS describes it: omitted list members come back as ``[]``.

    Keys keep the model's member order, with the echoed empty lists in their model positions.
    """
    order = (
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
        "privileged",
        "ulimits",
        "user",
        "instanceType",
        "resourceRequirements",
        "linuxParameters",
        "logConfiguration",
        "secrets",
        "networkConfiguration",
        "fargatePlatformConfiguration",
        "enableExecuteCommand",
        "ephemeralStorage",
        "runtimePlatform",
        "repositoryCredentials",
    )
    view: dict[str, Any] = {}
    for key in order:
        if key in props:
            view[key] = props[key]
        elif key in CONTAINER_LIST_MEMBERS:
            view[key] = []
    for key, value in props.items():
        view.setdefault(key, value)
    return view


CE_DETAIL_ORDER = (
    "computeEnvironmentName",
    "computeEnvironmentArn",
    "unmanagedvCpus",
    "ecsClusterArn",
    "tags",
    "type",
    "state",
    "status",
    "statusReason",
    "computeResources",
    "serviceRole",
    "updatePolicy",
    "eksConfiguration",
    "containerOrchestrationType",
    "uuid",
    "context",
    "ecsSettings",
)
QUEUE_DETAIL_ORDER = (
    "jobQueueName",
    "jobQueueArn",
    "state",
    "schedulingPolicyArn",
    "status",
    "statusReason",
    "priority",
    "computeEnvironmentOrder",
    "serviceEnvironmentOrder",
    "jobQueueType",
    "tags",
    "jobStateTimeLimitActions",
)
DEFINITION_DETAIL_ORDER = (
    "jobDefinitionName",
    "jobDefinitionArn",
    "revision",
    "status",
    "type",
    "schedulingPriority",
    "parameters",
    "retryStrategy",
    "containerProperties",
    "timeout",
    "nodeProperties",
    "tags",
    "propagateTags",
    "platformCapabilities",
    "ecsProperties",
    "eksProperties",
    "containerOrchestrationType",
    "consumableResourceProperties",
)


def in_model_order(values: Mapping[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    """``values`` with keys in the model's member order (unknown keys last, as given)."""
    out = {key: values[key] for key in order if key in values}
    out.update((key, value) for key, value in values.items() if key not in out)
    return out


def describe(detail: Mapping[str, Any], tags: Mapping[str, str], order: tuple[str, ...]) -> dict[str, Any]:
    """``detail`` with its ``tags`` merged in, in model order; AWS omits ``tags`` when there are none."""
    merged = {key: value for key, value in detail.items() if key != "tags"}
    if tags:
        merged["tags"] = dict(tags)
    return in_model_order(merged, order)
