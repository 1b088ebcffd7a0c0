"""Resource operations over real HTTP: boto3 and the ``aws`` CLI with ``--cli-input-json``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from serverkit import unique


def client_error(call: Callable[..., Any], **params: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as info:
        call(**params)
    response: dict[str, Any] = info.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == "ClientException"
    return response


def test_boto3_resource_round_trip(boto_client: Callable[..., Any]) -> None:
    batch = boto_client("batch")
    ce_name, q_name, jd_name = unique("ce"), unique("q"), unique("jd")
    ce = batch.create_compute_environment(
        computeEnvironmentName=ce_name,
        type="MANAGED",
        computeResources={"type": "EC2", "maxvCpus": 4, "subnets": ["subnet-1"]},
    )
    assert ce["computeEnvironmentArn"].endswith(f":compute-environment/{ce_name}")
    q = batch.create_job_queue(
        jobQueueName=q_name, priority=1, computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce_name}]
    )
    jd = batch.register_job_definition(
        jobDefinitionName=jd_name,
        type="container",
        containerProperties={
            "image": "busybox",
            "resourceRequirements": [{"type": "MEMORY", "value": "250"}, {"type": "VCPU", "value": "1"}],
        },
    )
    assert jd["revision"] == 1
    [desc_ce] = batch.describe_compute_environments(computeEnvironments=[ce_name])["computeEnvironments"]
    assert desc_ce["status"] == "VALID"
    [desc_q] = batch.describe_job_queues(jobQueues=[q["jobQueueArn"]])["jobQueues"]
    assert desc_q["computeEnvironmentOrder"][0]["computeEnvironment"] == ce["computeEnvironmentArn"]
    [desc_jd] = batch.describe_job_definitions(jobDefinitionName=jd_name)["jobDefinitions"]
    assert desc_jd["containerProperties"]["command"] == []
    batch.tag_resource(resourceArn=q["jobQueueArn"], tags={"team": "color", "env": "dev"})
    batch.untag_resource(resourceArn=q["jobQueueArn"], tagKeys=["env"])
    assert batch.list_tags_for_resource(resourceArn=q["jobQueueArn"])["tags"] == {"team": "color"}
    batch.deregister_job_definition(jobDefinition=jd["jobDefinitionArn"])
    [gone] = batch.describe_job_definitions(jobDefinitions=[f"{jd_name}:1"])["jobDefinitions"]
    assert gone["status"] == "INACTIVE"


def test_boto3_bad_inputs_answer_client_exception(boto_client: Callable[..., Any]) -> None:
    batch = boto_client("batch")
    err = client_error(batch.create_compute_environment, computeEnvironmentName="has space", type="UNMANAGED")
    assert "computeEnvironmentName" in err["Error"]["Message"]
    err = client_error(
        batch.create_job_queue,
        jobQueueName=unique("q"),
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "no-such-ce"}],
    )
    assert "no-such-ce" in err["Error"]["Message"]
    err = client_error(
        batch.register_job_definition,
        jobDefinitionName=unique("jd"),
        type="container",
        containerProperties={"image": "x", "environment": [{"name": "AWS_BATCH_JOB_ID", "value": "1"}]},
    )
    assert "environment[0].name" in err["Error"]["Message"]
    err = client_error(
        batch.tag_resource, resourceArn="arn:aws:batch:us-east-1:123456789012:job-queue/none", tags={"a": "b"}
    )
    assert "resourceArn" in err["Error"]["Message"]
    err = client_error(batch.describe_job_queues, nextToken="forged")
    assert "nextToken" in err["Error"]["Message"]


def test_paginator_walks_every_page(boto_client: Callable[..., Any]) -> None:
    batch = boto_client("batch")
    name = unique("paged")
    for _ in range(5):
        batch.register_job_definition(
            jobDefinitionName=name, type="container", containerProperties={"image": "x"}
        )
    pages = batch.get_paginator("describe_job_definitions").paginate(
        jobDefinitionName=name, PaginationConfig={"PageSize": 2}
    )
    revisions = [d["revision"] for page in pages for d in page["jobDefinitions"]]
    assert revisions == [1, 2, 3, 4, 5]


def test_aws_cli_with_input_json(aws_cli: Callable[..., Any], tmp_path: Path) -> None:
    ce_name, q_name, jd_name = unique("cli-ce"), unique("cli-q"), unique("print-color")
    files = {
        "ce.json": {
            "computeEnvironmentName": ce_name,
            "type": "MANAGED",
            "computeResources": {"type": "EC2", "maxvCpus": 2, "subnets": ["subnet-1"]},
        },
        "q.json": {
            "jobQueueName": q_name,
            "priority": 1,
            "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": ce_name}],
        },
        "jd.json": {
            "jobDefinitionName": jd_name,
            "type": "container",
            "containerProperties": {
                "image": "print-color",
                "resourceRequirements": [{"type": "MEMORY", "value": "250"}, {"type": "VCPU", "value": "1"}],
            },
        },
        "bad.json": {
            "jobDefinitionName": "bad name",
            "type": "container",
            "containerProperties": {"image": "x"},
        },
    }
    for name, body in files.items():
        (tmp_path / name).write_text(json.dumps(body))
    ce = aws_cli("batch", "create-compute-environment", "--cli-input-json", f"file://{tmp_path / 'ce.json'}")
    assert ce.returncode == 0, ce.stderr
    assert ce.json()["computeEnvironmentName"] == ce_name
    q = aws_cli("batch", "create-job-queue", "--cli-input-json", f"file://{tmp_path / 'q.json'}")
    assert q.returncode == 0, q.stderr
    jd = aws_cli("batch", "register-job-definition", "--cli-input-json", f"file://{tmp_path / 'jd.json'}")
    assert jd.returncode == 0, jd.stderr
    arn = jd.json()["jobDefinitionArn"]
    described = aws_cli("batch", "describe-job-queues", "--job-queues", q_name)
    assert described.json()["jobQueues"][0]["computeEnvironmentOrder"][0]["computeEnvironment"].endswith(
        ce_name
    )
    tagged = aws_cli("batch", "tag-resource", "--resource-arn", arn, "--tags", "team=color")
    assert tagged.returncode == 0, tagged.stderr
    tags = aws_cli("batch", "list-tags-for-resource", "--resource-arn", arn)
    assert tags.json()["tags"] == {"team": "color"}
    dereg = aws_cli("batch", "deregister-job-definition", "--job-definition", arn)
    assert dereg.returncode == 0, dereg.stderr
    defs = aws_cli("batch", "describe-job-definitions", "--job-definition-name", jd_name)
    assert defs.json()["jobDefinitions"][0]["status"] == "INACTIVE"
    bad = aws_cli("batch", "register-job-definition", "--cli-input-json", f"file://{tmp_path / 'bad.json'}")
    assert bad.returncode != 0
    assert "(ClientException)" in bad.stderr
    assert "jobDefinitionName" in bad.stderr
