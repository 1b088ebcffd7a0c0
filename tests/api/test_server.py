"""The server as users run it: ``python -m batchbridge server`` and the real ``aws`` CLI."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

import batchbridge


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.headers["Content-Type"].startswith("application/json")
        return json.loads(response.read())


def test_subprocess_server_health_cli_and_clean_sigterm(server_process: Any, aws_cli: Any) -> None:
    proc = server_process()
    health = get_json(f"{proc.url}/health")
    assert health["status"] == "ok"
    assert health["version"] == batchbridge.__version__
    assert isinstance(health["services"], list)
    result = aws_cli("batch", "describe-scheduling-policies", "--arns", "x", endpoint=proc.url)
    assert result.returncode != 0
    assert (
        "An error occurred (UnknownOperationException) when calling the DescribeSchedulingPolicies"
        in result.stderr
    )
    assert "The operation DescribeSchedulingPolicies is not implemented by batchbridge" in result.stderr
    assert proc.terminate() == 0
    log = proc.process.stderr.read()
    assert "POST /v1/describeschedulingpolicies 501" in log
    assert "Traceback" not in log


def test_subprocess_require_auth_with_credentials_file(
    server_process: Any, boto_client: Any, tmp_path: Path
) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text("[default]\naws_access_key_id = AKIDLOCAL\naws_secret_access_key = s3cret\n")
    proc = server_process("--require-auth", "--credentials", str(credentials), "--region", "eu-west-1")
    signed = boto_client(
        "events", endpoint=proc.url, aws_access_key_id="AKIDLOCAL", aws_secret_access_key="s3cret"
    )
    with pytest.raises(ClientError) as caught:
        signed.describe_rule(Name="r")
    assert caught.value.response["Error"]["Code"] != "InvalidSignatureException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] != 403
    unsigned = boto_client("events", endpoint=proc.url, config=Config(signature_version=UNSIGNED))
    with pytest.raises(ClientError) as caught:
        unsigned.describe_rule(Name="r")
    assert caught.value.response["Error"]["Code"] == "MissingAuthenticationToken"
    wrong = boto_client(
        "events", endpoint=proc.url, aws_access_key_id="AKIDLOCAL", aws_secret_access_key="nope"
    )
    with pytest.raises(ClientError) as caught:
        wrong.describe_rule(Name="r")
    assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert proc.terminate() == 0


def test_aws_cli_against_fake_services(fake_server: Any, aws_cli: Any) -> None:
    result = aws_cli("events", "list-event-buses", endpoint=fake_server.url)
    assert result.returncode == 0, result.stderr
    assert result.json()["EventBuses"][0]["Name"] == "default"
    result = aws_cli("batch", "describe-job-queues", "--job-queues", "q1", endpoint=fake_server.url)
    assert result.returncode == 0, result.stderr
    assert result.json()["jobQueues"][0]["priority"] == 10
    result = aws_cli(
        "batch",
        "create-job-queue",
        "--job-queue-name",
        "q",
        "--priority",
        "1",
        "--state",
        "PAUSED",
        endpoint=fake_server.url,
    )
    assert result.returncode != 0
    assert "An error occurred (ClientException) when calling the CreateJobQueue operation: " in result.stderr
    assert "at 'state' failed to satisfy constraint" in result.stderr


def test_in_process_health_lists_registered_services(fake_server: Any) -> None:
    health = get_json(f"{fake_server.url}/health")
    assert health["services"] == ["batch", "events", "lambda", "logs", "sqs"]
