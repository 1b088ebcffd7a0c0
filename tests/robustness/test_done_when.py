"""Issue 2's "done when" checks against the real server, through the real ``aws`` CLI and boto3.

Every answer is checked against botocore's model: required output members present (except
``JobDetail.startedAt``, which AWS itself omits until a job starts), errors parsed into a code
and a message.  Bad input answers HTTP 400 ``ClientException`` naming the field, and the
server's log stays free of tracebacks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from serverkit import make_client, unique

from .checks import missing_required
from .conftest import WatchedServer
from .wire import WireRequest, send

BATCH = botocore.session.get_session().get_service_model("batch")


def assert_complete(operation: str, response: dict[str, Any]) -> None:
    """``response`` has every required member of ``operation``'s output shape, at every depth."""
    shape = BATCH.operation_model(operation).output_shape
    assert missing_required(shape, response) == [], (operation, response)


@pytest.mark.slow
def test_resource_lifecycle_through_the_aws_cli(
    watched_server: WatchedServer, aws_cli: Callable[..., Any], tmp_path: Path
) -> None:
    ce_name, q_name, jd_name = unique("dw-ce"), unique("dw-q"), unique("dw-jd")
    files = {
        "ce.json": {
            "computeEnvironmentName": ce_name,
            "type": "MANAGED",
            "state": "ENABLED",
            "computeResources": {"type": "EC2", "minvCpus": 0, "maxvCpus": 4, "subnets": ["subnet-1"]},
            "tags": {"team": "color"},
        },
        "q.json": {
            "jobQueueName": q_name,
            "priority": 10,
            "state": "ENABLED",
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
    }
    for name, body in files.items():
        (tmp_path / name).write_text(json.dumps(body))

    def run(operation: str, *args: str) -> dict[str, Any]:
        command = "".join(f"-{c.lower()}" if c.isupper() else c for c in operation).lstrip("-")
        result = aws_cli("batch", command, *args, endpoint=watched_server.url)
        assert result.returncode == 0, result.stderr
        document: dict[str, Any] = result.json() if result.stdout.strip() else {}
        assert_complete(operation, document)
        return document

    ce = run("CreateComputeEnvironment", "--cli-input-json", f"file://{tmp_path / 'ce.json'}")
    queue = run("CreateJobQueue", "--cli-input-json", f"file://{tmp_path / 'q.json'}")
    jd = run("RegisterJobDefinition", "--cli-input-json", f"file://{tmp_path / 'jd.json'}")
    assert jd["revision"] == 1
    [described_ce] = run("DescribeComputeEnvironments", "--compute-environments", ce_name)[
        "computeEnvironments"
    ]
    assert described_ce["computeEnvironmentArn"] == ce["computeEnvironmentArn"]
    assert described_ce["tags"] == {"team": "color"}
    [described_q] = run("DescribeJobQueues", "--job-queues", q_name)["jobQueues"]
    assert described_q["computeEnvironmentOrder"] == [
        {"order": 1, "computeEnvironment": ce["computeEnvironmentArn"]}
    ]
    assert described_q["jobQueueArn"] == queue["jobQueueArn"]
    run("TagResource", "--resource-arn", queue["jobQueueArn"], "--tags", "env=dev,owner=ops")
    assert run("ListTagsForResource", "--resource-arn", queue["jobQueueArn"])["tags"] == {
        "env": "dev",
        "owner": "ops",
    }
    run("DeregisterJobDefinition", "--job-definition", jd["jobDefinitionArn"])
    [gone] = run("DescribeJobDefinitions", "--job-definitions", f"{jd_name}:1")["jobDefinitions"]
    assert gone["status"] == "INACTIVE"
    assert watched_server.catcher.take() == []


def test_every_boto3_response_is_complete(watched_server: WatchedServer) -> None:
    batch = make_client("batch", watched_server.url)
    ce_name, q_name, jd_name = unique("dwb-ce"), unique("dwb-q"), unique("dwb-jd")
    calls: list[tuple[str, Callable[..., Any], dict[str, Any]]] = [
        (
            "CreateComputeEnvironment",
            batch.create_compute_environment,
            {"computeEnvironmentName": ce_name, "type": "UNMANAGED", "state": "DISABLED"},
        ),
        (
            "CreateJobQueue",
            batch.create_job_queue,
            {
                "jobQueueName": q_name,
                "priority": 1,
                "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": ce_name}],
            },
        ),
        (
            "RegisterJobDefinition",
            batch.register_job_definition,
            {"jobDefinitionName": jd_name, "type": "container", "containerProperties": {"image": "x"}},
        ),
        ("SubmitJob", batch.submit_job, {"jobName": "j", "jobQueue": q_name, "jobDefinition": jd_name}),
        ("DescribeComputeEnvironments", batch.describe_compute_environments, {}),
        ("DescribeJobQueues", batch.describe_job_queues, {}),
        ("DescribeJobDefinitions", batch.describe_job_definitions, {"status": "ACTIVE"}),
        ("ListJobs", batch.list_jobs, {"jobQueue": q_name, "jobStatus": "RUNNABLE"}),
        ("UpdateJobQueue", batch.update_job_queue, {"jobQueue": q_name, "priority": 5}),
        ("UpdateComputeEnvironment", batch.update_compute_environment, {"computeEnvironment": ce_name}),
        ("DeregisterJobDefinition", batch.deregister_job_definition, {"jobDefinition": f"{jd_name}:1"}),
    ]
    for operation, call, params in calls:
        response = call(**params)
        response.pop("ResponseMetadata")
        assert_complete(operation, response)
    job_ids = [
        job["jobId"] for job in batch.list_jobs(jobQueue=q_name, jobStatus="RUNNABLE")["jobSummaryList"]
    ]
    described = batch.describe_jobs(jobs=job_ids)
    described.pop("ResponseMetadata")
    assert_complete("DescribeJobs", described)
    assert len(described["jobs"]) == 1
    assert watched_server.catcher.take() == []


BAD_INPUTS: list[tuple[str, str, dict[str, Any], str]] = [
    ("priority as a string", "/v1/createjobqueue", {"jobQueueName": "q-str", "priority": "high"}, "priority"),
    (
        "unknown compute environment in the order",
        "/v1/createjobqueue",
        {
            "jobQueueName": "q-unknown-ce",
            "priority": 1,
            "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "no-such-ce"}],
        },
        "computeEnvironment",
    ),
    (
        "name with spaces",
        "/v1/createcomputeenvironment",
        {"computeEnvironmentName": "has spaces", "type": "UNMANAGED"},
        "computeEnvironmentName",
    ),
    (
        "name of 129 characters",
        "/v1/registerjobdefinition",
        {"jobDefinitionName": "j" * 129, "type": "container", "containerProperties": {"image": "x"}},
        "jobDefinitionName",
    ),
    (
        "51 tags",
        "/v1/createcomputeenvironment",
        {"computeEnvironmentName": "ce-51", "type": "UNMANAGED", "tags": {f"k{i}": "v" for i in range(51)}},
        "tags",
    ),
    (
        "unknown enum value",
        "/v1/createcomputeenvironment",
        {"computeEnvironmentName": "ce-enum", "type": "SERVERLESS"},
        "type",
    ),
]


@pytest.mark.parametrize(("case", "path", "document", "field"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_a_client_exception_naming_the_field(
    watched_server: WatchedServer, case: str, path: str, document: dict[str, Any], field: str
) -> None:
    body = json.dumps(document).encode()
    answer = send(watched_server.port, WireRequest("POST", path, {"Content-Type": "application/json"}, body))
    assert answer.status == 400, answer.body
    assert answer.headers["x-amzn-errortype"] == "ClientException"
    assert answer.json()["__type"] == "ClientException"
    assert field in answer.json()["message"], answer.json()["message"]
    assert watched_server.catcher.take() == []


@pytest.mark.slow
def test_bad_input_through_the_cli_names_the_field(
    watched_server: WatchedServer, aws_cli: Callable[..., Any], tmp_path: Path
) -> None:
    for case, path, document, field in BAD_INPUTS[1:]:
        operation = {
            "/v1/createjobqueue": "create-job-queue",
            "/v1/createcomputeenvironment": "create-compute-environment",
            "/v1/registerjobdefinition": "register-job-definition",
        }[path]
        (tmp_path / "bad.json").write_text(json.dumps(document))
        result = aws_cli(
            "batch",
            operation,
            "--cli-input-json",
            f"file://{tmp_path / 'bad.json'}",
            endpoint=watched_server.url,
        )
        assert result.returncode != 0, (case, result.stderr)
        assert "(ClientException)" in result.stderr, (case, result.stderr)
        assert field in result.stderr, (case, result.stderr)


def test_require_auth_refuses_unsigned_and_wrong_secret(
    start_server: Callable[..., Any], aws_cli: Callable[..., Any]
) -> None:
    secured = start_server(require_auth=True, credentials={"AKIDDONEWHEN": "the-right-secret"})
    good = make_client(
        "batch", secured.url, aws_access_key_id="AKIDDONEWHEN", aws_secret_access_key="the-right-secret"
    )
    assert good.describe_job_queues()["jobQueues"] == []
    unsigned = make_client("batch", secured.url, config=Config(signature_version=UNSIGNED))
    wrong = make_client("batch", secured.url, aws_access_key_id="AKIDDONEWHEN", aws_secret_access_key="wrong")
    for client, code in ((unsigned, "MissingAuthenticationToken"), (wrong, "InvalidSignatureException")):
        with pytest.raises(ClientError) as caught:
            client.create_compute_environment(computeEnvironmentName="sneaky", type="UNMANAGED")
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert caught.value.response["Error"]["Code"] == code
    cli_env = {"AWS_ACCESS_KEY_ID": "AKIDDONEWHEN", "AWS_SECRET_ACCESS_KEY": "wrong"}
    refused = aws_cli("batch", "describe-job-queues", endpoint=secured.url, env=cli_env)
    assert refused.returncode != 0
    assert "InvalidSignatureException" in refused.stderr
    refused = aws_cli("batch", "describe-job-queues", "--no-sign-request", endpoint=secured.url)
    assert refused.returncode != 0
    assert "MissingAuthenticationToken" in refused.stderr
    assert good.describe_compute_environments()["computeEnvironments"] == []
