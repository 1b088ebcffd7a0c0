"""Compute environments, job queues, job definitions and tags through BatchService in-process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batchbridge.config import Settings
from batchbridge.errors import ClientException
from batchbridge.services.batch import BatchService
from batchbridge.services.context import RequestContext
from batchbridge.store.db import Database

CTX = RequestContext(account_id="123456789012", region="us-east-1", request_id="req-1")
PREFIX = "arn:aws:batch:us-east-1:123456789012"


@pytest.fixture
def batch(tmp_path: Path) -> Iterator[BatchService]:
    db = Database.open(tmp_path / "db.sqlite3")
    yield BatchService(db, Settings(data_dir=tmp_path))
    db.close()


def managed(name: str = "print-color-computing", **extra: Any) -> dict[str, Any]:
    return {
        "computeEnvironmentName": name,
        "type": "MANAGED",
        "computeResources": {"type": "EC2", "maxvCpus": 4, "minvCpus": 0, "subnets": ["subnet-1"]},
        **extra,
    }


def queue(name: str = "print-color-queue", ces: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    order = [
        {"order": i + 1, "computeEnvironment": ce}
        for i, ce in enumerate(["print-color-computing"] if ces is None else ces)
    ]
    return {"jobQueueName": name, "priority": 1, "computeEnvironmentOrder": order, **extra}


PRINT_COLOR = {
    "jobDefinitionName": "print-color",
    "type": "container",
    "containerProperties": {
        "image": "print-color",
        "resourceRequirements": [{"type": "MEMORY", "value": "250"}, {"type": "VCPU", "value": "1"}],
    },
}


def bad(call: Any, params: dict[str, Any], *fragments: str) -> str:
    with pytest.raises(ClientException) as info:
        call(CTX, params)
    assert info.value.code == "ClientException"
    assert info.value.status == 400
    for fragment in fragments:
        assert fragment in info.value.message
    return info.value.message


def test_create_and_describe_compute_environment(batch: BatchService) -> None:
    out = batch.CreateComputeEnvironment(CTX, managed(tags={"team": "color"}))
    assert out == {
        "computeEnvironmentName": "print-color-computing",
        "computeEnvironmentArn": f"{PREFIX}:compute-environment/print-color-computing",
    }
    [ce] = batch.DescribeComputeEnvironments(CTX, {})["computeEnvironments"]
    assert ce["status"] == "VALID"
    assert ce["statusReason"] == "ComputeEnvironment Healthy"
    assert ce["state"] == "ENABLED"
    assert ce["tags"] == {"team": "color"}
    assert ce["ecsClusterArn"].startswith(
        "arn:aws:ecs:us-east-1:123456789012:cluster/AWSBatch-print-color-computing-"
    )
    assert ce["computeResources"]["maxvCpus"] == 4
    assert list(ce)[:4] == ["computeEnvironmentName", "computeEnvironmentArn", "ecsClusterArn", "tags"]
    by_arn = batch.DescribeComputeEnvironments(
        CTX, {"computeEnvironments": [out["computeEnvironmentArn"], "nope"]}
    )
    assert [c["computeEnvironmentName"] for c in by_arn["computeEnvironments"]] == ["print-color-computing"]


def test_unmanaged_and_every_managed_type_accepted(batch: BatchService) -> None:
    batch.CreateComputeEnvironment(
        CTX, {"computeEnvironmentName": "u", "type": "UNMANAGED", "unmanagedvCpus": 8}
    )
    for kind in ("SPOT", "FARGATE", "FARGATE_SPOT"):
        params = managed(f"ce-{kind}")
        params["computeResources"] = {"type": kind, "maxvCpus": 2}
        batch.CreateComputeEnvironment(CTX, params)
    names = [
        c["computeEnvironmentName"] for c in batch.DescribeComputeEnvironments(CTX, {})["computeEnvironments"]
    ]
    assert names == ["u", "ce-SPOT", "ce-FARGATE", "ce-FARGATE_SPOT"]


@pytest.mark.parametrize("name", ["has space", "x" * 129, "", "dot.name"])
def test_bad_compute_environment_names(batch: BatchService, name: str) -> None:
    bad(batch.CreateComputeEnvironment, managed(name), "computeEnvironmentName")


def test_managed_needs_compute_resources_type_and_max_vcpus(batch: BatchService) -> None:
    bad(
        batch.CreateComputeEnvironment, {"computeEnvironmentName": "a", "type": "MANAGED"}, "computeResources"
    )
    params = managed("a")
    params["computeResources"] = {"maxvCpus": 2}
    bad(batch.CreateComputeEnvironment, params, "computeResources.type")
    params["computeResources"] = {"type": "EC2"}
    bad(batch.CreateComputeEnvironment, params, "computeResources.maxvCpus")
    params["computeResources"] = {"type": "EC2", "maxvCpus": 2, "minvCpus": 3}
    bad(batch.CreateComputeEnvironment, params, "minvCpus")
    bad(batch.CreateComputeEnvironment, {"computeEnvironmentName": "a", "type": "BOGUS"}, "type", "BOGUS")
    bad(batch.CreateComputeEnvironment, {**managed("a"), "unmanagedvCpus": 3}, "unmanagedvCpus")


def test_duplicate_compute_environment(batch: BatchService) -> None:
    batch.CreateComputeEnvironment(CTX, managed())
    bad(batch.CreateComputeEnvironment, managed(), "print-color-computing", "already exists")


def test_update_compute_environment(batch: BatchService) -> None:
    batch.CreateComputeEnvironment(CTX, managed())
    out = batch.UpdateComputeEnvironment(
        CTX,
        {
            "computeEnvironment": "print-color-computing",
            "state": "DISABLED",
            "computeResources": {"maxvCpus": 16},
        },
    )
    assert out["computeEnvironmentArn"] == f"{PREFIX}:compute-environment/print-color-computing"
    [ce] = batch.DescribeComputeEnvironments(CTX, {})["computeEnvironments"]
    assert ce["state"] == "DISABLED"
    assert ce["computeResources"]["maxvCpus"] == 16
    assert ce["computeResources"]["type"] == "EC2"
    bad(
        batch.UpdateComputeEnvironment,
        {"computeEnvironment": "ghost"},
        "compute-environment/ghost",
        "does not exist",
    )
    bad(
        batch.UpdateComputeEnvironment,
        {"computeEnvironment": "print-color-computing", "unmanagedvCpus": 2},
        "unmanagedvCpus",
    )


def test_delete_compute_environment_rules(batch: BatchService) -> None:
    batch.CreateComputeEnvironment(CTX, managed())
    batch.CreateJobQueue(CTX, queue())
    bad(batch.DeleteComputeEnvironment, {"computeEnvironment": "print-color-computing"}, "DISABLED")
    batch.UpdateComputeEnvironment(CTX, {"computeEnvironment": "print-color-computing", "state": "DISABLED"})
    msg = bad(batch.DeleteComputeEnvironment, {"computeEnvironment": "print-color-computing"})
    assert msg == "Cannot delete, found existing JobQueue relationship"
    batch.UpdateJobQueue(CTX, {"jobQueue": "print-color-queue", "state": "DISABLED"})
    batch.DeleteJobQueue(CTX, {"jobQueue": "print-color-queue"})
    assert (
        batch.DeleteComputeEnvironment(
            CTX, {"computeEnvironment": f"{PREFIX}:compute-environment/print-color-computing"}
        )
        == {}
    )
    assert batch.DescribeComputeEnvironments(CTX, {})["computeEnvironments"] == []
    batch.CreateComputeEnvironment(CTX, managed())


def test_queue_returns_compute_environment_arns(batch: BatchService) -> None:
    batch.CreateComputeEnvironment(CTX, managed())
    batch.CreateComputeEnvironment(CTX, managed("second"))
    out = batch.CreateJobQueue(
        CTX, queue(ces=[f"{PREFIX}:compute-environment/second", "print-color-computing"])
    )
    assert out == {
        "jobQueueName": "print-color-queue",
        "jobQueueArn": f"{PREFIX}:job-queue/print-color-queue",
    }
    [q] = batch.DescribeJobQueues(CTX, {"jobQueues": ["print-color-queue"]})["jobQueues"]
    assert q["status"] == "VALID" and q["statusReason"] == "JobQueue Healthy" and q["state"] == "ENABLED"
    assert q["computeEnvironmentOrder"] == [
        {"order": 1, "computeEnvironment": f"{PREFIX}:compute-environment/second"},
        {"order": 2, "computeEnvironment": f"{PREFIX}:compute-environment/print-color-computing"},
    ]
    assert q["priority"] == 1


def test_queue_validation(batch: BatchService) -> None:
    batch.CreateComputeEnvironment(CTX, managed())
    bad(batch.CreateJobQueue, queue(ces=["ghost"]), "computeEnvironmentOrder[0].computeEnvironment", "ghost")
    bad(batch.CreateJobQueue, queue(ces=[]), "computeEnvironmentOrder")
    for i in range(4):
        if i:
            batch.CreateComputeEnvironment(CTX, managed(f"c{i}"))
    bad(
        batch.CreateJobQueue,
        queue(ces=["print-color-computing", "c1", "c2", "c3"]),
        "computeEnvironmentOrder",
        "3",
    )
    dup = queue(ces=["print-color-computing", "c1"])
    dup["computeEnvironmentOrder"][1]["order"] = 1
    bad(batch.CreateJobQueue, dup, "computeEnvironmentOrder[1].order")
    bad(batch.CreateJobQueue, queue(ces=["c1", "c1"]), "computeEnvironmentOrder[1].computeEnvironment")
    fargate = managed("fg")
    fargate["computeResources"] = {"type": "FARGATE", "maxvCpus": 2}
    batch.CreateComputeEnvironment(CTX, fargate)
    bad(batch.CreateJobQueue, queue(ces=["c1", "fg"]), "computeEnvironmentOrder", "mixed")
    bad(batch.CreateJobQueue, queue("bad name"), "jobQueueName")
    bad(batch.CreateJobQueue, queue(priority=-1), "priority")
    batch.CreateJobQueue(CTX, queue())
    bad(batch.CreateJobQueue, queue(), "print-color-queue", "already exists")


def test_update_and_delete_job_queue(batch: BatchService) -> None:
    batch.CreateComputeEnvironment(CTX, managed())
    batch.CreateComputeEnvironment(CTX, managed("other"))
    batch.CreateJobQueue(CTX, queue())
    batch.UpdateJobQueue(
        CTX,
        {
            "jobQueue": f"{PREFIX}:job-queue/print-color-queue",
            "priority": 50,
            "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "other"}],
        },
    )
    [q] = batch.DescribeJobQueues(CTX, {})["jobQueues"]
    assert q["priority"] == 50
    assert q["computeEnvironmentOrder"] == [
        {"order": 1, "computeEnvironment": f"{PREFIX}:compute-environment/other"}
    ]
    batch.UpdateComputeEnvironment(CTX, {"computeEnvironment": "print-color-computing", "state": "DISABLED"})
    batch.DeleteComputeEnvironment(CTX, {"computeEnvironment": "print-color-computing"})
    bad(batch.DeleteJobQueue, {"jobQueue": "print-color-queue"}, "DISABLED")
    msg = bad(batch.UpdateJobQueue, {"jobQueue": "ghost-queue"})
    assert msg == "JobQueue ghost-queue not found."
    batch.UpdateJobQueue(CTX, {"jobQueue": "print-color-queue", "state": "DISABLED"})
    batch.DeleteJobQueue(CTX, {"jobQueue": "print-color-queue"})
    assert batch.DescribeJobQueues(CTX, {})["jobQueues"] == []


def test_register_and_describe_job_definition_echoes_empty_lists(batch: BatchService) -> None:
    out = batch.RegisterJobDefinition(CTX, PRINT_COLOR)
    assert out == {
        "jobDefinitionName": "print-color",
        "jobDefinitionArn": f"{PREFIX}:job-definition/print-color:1",
        "revision": 1,
    }
    [jd] = batch.DescribeJobDefinitions(CTX, {})["jobDefinitions"]
    assert jd["status"] == "ACTIVE" and jd["type"] == "container"
    props = jd["containerProperties"]
    for key in ("command", "environment", "mountPoints", "ulimits", "volumes", "secrets"):
        assert props[key] == []
    assert props["resourceRequirements"] == [
        {"type": "MEMORY", "value": "250"},
        {"type": "VCPU", "value": "1"},
    ]
    assert list(jd)[:5] == ["jobDefinitionName", "jobDefinitionArn", "revision", "status", "type"]


def test_revisions_never_reused_and_resolution(batch: BatchService) -> None:
    from batchbridge.store.resolve import resolve_job_definition

    for _ in range(3):
        batch.RegisterJobDefinition(CTX, PRINT_COLOR)
    batch.DeregisterJobDefinition(CTX, {"jobDefinition": "print-color:3"})
    assert batch.RegisterJobDefinition(CTX, PRINT_COLOR)["revision"] == 4
    batch.DeregisterJobDefinition(CTX, {"jobDefinition": f"{PREFIX}:job-definition/print-color:4"})
    db = batch.db
    assert resolve_job_definition(db, "us-east-1", "123456789012", "print-color").revision == 2
    assert resolve_job_definition(db, "us-east-1", "123456789012", "print-color:1").revision == 1
    assert (
        resolve_job_definition(
            db, "us-east-1", "123456789012", f"{PREFIX}:job-definition/print-color"
        ).revision
        == 2
    )
    with pytest.raises(ClientException) as info:
        resolve_job_definition(db, "us-east-1", "123456789012", "print-color:3")
    assert (
        info.value.message == f"JobDefinition {PREFIX}:job-definition/print-color:3 is not in ACTIVE status"
    )
    with pytest.raises(ClientException) as info:
        resolve_job_definition(db, "us-east-1", "123456789012", "nextflow")
    assert info.value.message == "JobDefinition name nextflow does not exist or is not in ACTIVE status"
    with pytest.raises(ClientException) as info:
        resolve_job_definition(db, "us-east-1", "123456789012", f"{PREFIX}:job-definition/ghost")
    assert info.value.message == f"JobDefinition {PREFIX}:job-definition/ghost not found."
    with pytest.raises(ClientException) as info:
        resolve_job_definition(db, "us-east-1", "123456789012", "print-color:9")
    assert info.value.message == f"JobDefinition {PREFIX}:job-definition/print-color:9 not found."
    statuses = {
        d["revision"]: d["status"]
        for d in batch.DescribeJobDefinitions(CTX, {"jobDefinitionName": "print-color"})["jobDefinitions"]
    }
    assert statuses == {1: "ACTIVE", 2: "ACTIVE", 3: "INACTIVE", 4: "INACTIVE"}
    inactive = batch.DescribeJobDefinitions(CTX, {"jobDefinitionName": "print-color", "status": "INACTIVE"})
    assert [d["revision"] for d in inactive["jobDefinitions"]] == [3, 4]
    listed = batch.DescribeJobDefinitions(
        CTX, {"jobDefinitions": ["print-color:2", f"{PREFIX}:job-definition/print-color:1"]}
    )
    assert sorted(d["revision"] for d in listed["jobDefinitions"]) == [1, 2]


def test_job_definition_validation(batch: BatchService) -> None:
    reg = batch.RegisterJobDefinition

    def with_props(**props: Any) -> dict[str, Any]:
        return {**PRINT_COLOR, "containerProperties": {"image": "x", **props}}

    bad(reg, {**PRINT_COLOR, "jobDefinitionName": "has space"}, "jobDefinitionName")
    bad(reg, {**PRINT_COLOR, "jobDefinitionName": "x" * 129}, "jobDefinitionName")
    bad(
        reg,
        with_props(resourceRequirements=[{"type": "MEMORY", "value": "lots"}]),
        "resourceRequirements[0].value",
    )
    bad(reg, with_props(resourceRequirements=[{"type": "MEMORY", "value": "2"}]), "MEMORY", "4")
    bad(
        reg,
        with_props(environment=[{"name": "AWS_BATCH_X", "value": "1"}]),
        "environment[0].name",
        "AWS_BATCH",
    )
    bad(reg, {"jobDefinitionName": "a", "type": "container"}, "containerProperties")
    bad(
        reg,
        {**PRINT_COLOR, "timeout": {"attemptDurationSeconds": 10}},
        "timeout.attemptDurationSeconds",
        "60",
    )
    bad(reg, {**PRINT_COLOR, "retryStrategy": {"attempts": 11}}, "retryStrategy.attempts")
    bad(
        reg,
        {**PRINT_COLOR, "retryStrategy": {"evaluateOnExit": [{"action": "RETRY"}]}},
        "RetryAttempts must be provided",
    )
    bad(reg, {**PRINT_COLOR, "schedulingPriority": 10000}, "schedulingPriority")
    bad(reg, {**PRINT_COLOR, "tags": {}}, "tags")
    bad(batch.DescribeJobDefinitions, {"jobDefinitions": ["a:1"], "status": "ACTIVE"}, "jobDefinitions")
    bad(batch.DescribeJobDefinitions, {"status": "GONE"}, "status")
    msg = bad(batch.DeregisterJobDefinition, {"jobDefinition": "ghost:1"})
    assert msg == f"JobDefinition {PREFIX}:job-definition/ghost:1 not found."


def test_pagination_over_describe_calls(batch: BatchService) -> None:
    for i in range(5):
        batch.RegisterJobDefinition(CTX, {**PRINT_COLOR, "jobDefinitionName": f"d{i}"})
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"maxResults": 2}
        if token:
            params["nextToken"] = token
        out = batch.DescribeJobDefinitions(CTX, params)
        seen += [d["jobDefinitionName"] for d in out["jobDefinitions"]]
        pages += 1
        token = out.get("nextToken")
        if not token:
            break
    assert seen == [f"d{i}" for i in range(5)]
    assert pages == 3
    bad(batch.DescribeJobDefinitions, {"nextToken": "garbage"}, "nextToken")
    bad(batch.DescribeJobQueues, {"maxResults": 0}, "maxResults")
    bad(batch.DescribeComputeEnvironments, {"maxResults": 101}, "maxResults")
    bad(batch.DescribeJobQueues, {"jobQueues": [f"q{i}" for i in range(101)]}, "jobQueues", "100")
    msg = bad(batch.DescribeComputeEnvironments, {"computeEnvironments": ["a"], "maxResults": 5})
    assert msg == "Error executing request, Exception : ComputeEnvironments and MaxResults cannot both be set"
    bad(
        batch.DescribeJobDefinitions,
        {"jobDefinitions": ["d1:1"], "maxResults": 5},
        "JobDefinitions",
        "MaxResults",
    )
    token = batch.DescribeJobDefinitions(CTX, {"maxResults": 1})["nextToken"]
    bad(batch.DescribeJobQueues, {"nextToken": token}, "nextToken")


def test_tags_on_resources(batch: BatchService) -> None:
    batch.CreateComputeEnvironment(CTX, managed())
    batch.CreateJobQueue(CTX, queue(tags={"a": "1"}))
    jd = batch.RegisterJobDefinition(CTX, PRINT_COLOR)["jobDefinitionArn"]
    q = f"{PREFIX}:job-queue/print-color-queue"
    assert batch.ListTagsForResource(CTX, {"resourceArn": q}) == {"tags": {"a": "1"}}
    batch.TagResource(CTX, {"resourceArn": q, "tags": {"b": "2", "a": "3"}})
    assert batch.ListTagsForResource(CTX, {"resourceArn": q}) == {"tags": {"a": "3", "b": "2"}}
    batch.UntagResource(CTX, {"resourceArn": q, "tagKeys": ["a", "zzz"]})
    assert batch.ListTagsForResource(CTX, {"resourceArn": q}) == {"tags": {"b": "2"}}
    batch.TagResource(CTX, {"resourceArn": jd, "tags": {"owner": "me"}})
    [d] = batch.DescribeJobDefinitions(CTX, {})["jobDefinitions"]
    assert d["tags"] == {"owner": "me"}
    ce = f"{PREFIX}:compute-environment/print-color-computing"
    assert batch.ListTagsForResource(CTX, {"resourceArn": ce}) == {"tags": {}}


def test_tag_validation(batch: BatchService) -> None:
    batch.CreateComputeEnvironment(CTX, managed())
    ce = f"{PREFIX}:compute-environment/print-color-computing"
    bad(batch.TagResource, {"resourceArn": ce, "tags": {}}, "tags")
    bad(batch.TagResource, {"resourceArn": ce, "tags": {f"k{i}": "v" for i in range(51)}}, "tags", "50")
    bad(batch.TagResource, {"resourceArn": ce, "tags": {"k" * 129: "v"}}, "tag key")
    bad(batch.TagResource, {"resourceArn": ce, "tags": {"k": "v" * 257}}, "tags", "256")
    bad(batch.TagResource, {"resourceArn": ce, "tags": {"aws:owner": "v"}}, "aws:")
    batch.TagResource(CTX, {"resourceArn": ce, "tags": {f"k{i}": "v" for i in range(50)}})
    bad(batch.TagResource, {"resourceArn": ce, "tags": {"one-more": "v"}}, "tags", "50")
    bad(
        batch.TagResource,
        {"resourceArn": f"{PREFIX}:job-queue/ghost", "tags": {"a": "b"}},
        "resourceArn",
        "ghost",
    )
    child = f"{PREFIX}:job/4c7599ae-0a82-49aa-ba5a-4727fcce14a8:3"
    bad(batch.TagResource, {"resourceArn": child, "tags": {"a": "b"}}, "resourceArn", "child")
    bad(batch.ListTagsForResource, {"resourceArn": "not-an-arn"}, "resourceArn")
    bad(batch.UntagResource, {"resourceArn": ce, "tagKeys": []}, "tagKeys")
