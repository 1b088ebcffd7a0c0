"""Server-side validation: what botocore does not check answers the service's own error."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from .fakes import QUEUE_ARN
from .rawhttp import json_target, rest_json, send


def assert_validation(answer: Any, code: str, field: str) -> str:
    assert answer.status == 400, answer.body
    document = answer.json()
    assert document["__type"].rsplit("#", 1)[-1] == code
    assert f"at '{field}'" in document["message"], document["message"]
    assert answer.headers["x-amzn-requestid"]
    return str(document["message"])


def test_batch_priority_as_string_names_the_field(fake_server: Any) -> None:
    answer = rest_json(fake_server.url, "/v1/createjobqueue", {"jobQueueName": "q", "priority": "high"})
    message = assert_validation(answer, "ClientException", "priority")
    assert answer.headers["x-amzn-errortype"] == "ClientException"
    assert message == (
        "1 validation error detected: Value 'high' at 'priority' failed to satisfy constraint: "
        "Member must be an integer"
    )


def test_batch_required_member_missing(fake_server: Any) -> None:
    answer = rest_json(fake_server.url, "/v1/createjobqueue", {"priority": 1})
    message = assert_validation(answer, "ClientException", "jobQueueName")
    assert "Value null at 'jobQueueName' failed to satisfy constraint: Member must not be null" in message


def test_nested_list_member_path(fake_server: Any) -> None:
    document = {
        "jobQueueName": "q",
        "priority": 1,
        "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "a"}, {"order": "x"}],
    }
    answer = rest_json(fake_server.url, "/v1/createjobqueue", document)
    message = assert_validation(answer, "ClientException", "computeEnvironmentOrder.2.member.order")
    assert message.startswith("2 validation errors detected: ")
    assert "'computeEnvironmentOrder.2.member.computeEnvironment' failed" in message


def test_batch_unknown_enum_value_through_boto3(boto_client: Any, fake_server: Any) -> None:
    batch = boto_client("batch", endpoint=fake_server.url)
    with pytest.raises(ClientError) as caught:
        batch.create_job_queue(jobQueueName="q", priority=1, state="PAUSED")
    error = caught.value.response["Error"]
    assert error["Code"] == "ClientException"
    assert error["Message"] == (
        "1 validation error detected: Value 'PAUSED' at 'state' failed to satisfy constraint: "
        "Member must satisfy enum value set: [ENABLED, DISABLED]"
    )


def test_batch_51_tags_and_a_129_character_key(boto_client: Any, fake_server: Any) -> None:
    batch = boto_client("batch", endpoint=fake_server.url)
    with pytest.raises(ClientError) as caught:
        batch.tag_resource(resourceArn=QUEUE_ARN, tags={f"k{i}": "v" for i in range(51)})
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert (
        "at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"
        in (caught.value.response["Error"]["Message"])
    )
    with pytest.raises(ClientError) as caught:
        batch.tag_resource(resourceArn=QUEUE_ARN, tags={"k" * 129: "v"})
    assert (
        "at 'tags' failed to satisfy constraint: Map keys must satisfy constraint: "
        in (caught.value.response["Error"]["Message"])
    )
    assert "Member must have length less than or equal to 128" in caught.value.response["Error"]["Message"]


def test_events_name_of_129_characters(boto_client: Any, fake_server: Any) -> None:
    events = boto_client("events", endpoint=fake_server.url)
    with pytest.raises(ClientError) as caught:
        events.put_rule(Name="r" * 129, EventPattern='{"source": ["aws.batch"]}')
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert error["Message"] == (
        f"1 validation error detected: Value '{'r' * 129}' at 'name' failed to satisfy constraint: "
        "Member must have length less than or equal to 64"
    )


def test_events_pattern_and_limit_range(fake_server: Any) -> None:
    answer = json_target(fake_server.url, "AWSEvents.ListEventBuses", {"Limit": 0, "NamePrefix": "bad name!"})
    message = assert_validation(answer, "ValidationException", "limit")
    assert "Member must have value greater than or equal to 1" in message
    assert (
        "at 'namePrefix' failed to satisfy constraint: Member must satisfy regular expression pattern"
        in message
    )
    assert answer.headers["content-type"].startswith("application/x-amz-json-1.1")


def test_logs_limit_above_maximum(boto_client: Any, fake_server: Any) -> None:
    logs = boto_client("logs", endpoint=fake_server.url)
    with pytest.raises(ClientError) as caught:
        logs.describe_log_groups(limit=51)
    error = caught.value.response["Error"]
    assert error["Code"] == "InvalidParameterException"
    assert (
        "Value '51' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 50"
        in (error["Message"])
    )


def test_lambda_validation_exception_names_function_name(fake_server: Any) -> None:
    answer = send(fake_server.url + "/2015-03-31/functions/bad%20name%21", "GET")
    message = assert_validation(answer, "ValidationException", "functionName")
    assert answer.headers["x-amzn-errortype"] == "ValidationException"
    document = answer.json()
    assert document["Type"] == "User"
    assert document["Message"] == message


def test_lambda_invalid_header_enum(boto_client: Any, fake_server: Any) -> None:
    lam = boto_client("lambda", endpoint=fake_server.url)
    with pytest.raises(ClientError) as caught:
        lam.invoke(FunctionName="f1", InvocationType="Later", Payload=b"{}")
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "at 'invocationType'" in caught.value.response["Error"]["Message"]


def test_sqs_type_error_and_missing_parameter(fake_server: Any) -> None:
    answer = json_target(fake_server.url, "AmazonSQS.ListQueues", {"MaxResults": "ten"}, version="1.0")
    assert_validation(answer, "InvalidParameterValue", "maxResults")
    assert answer.headers["x-amzn-query-error"] == "InvalidParameterValue;Sender"
    answer = json_target(fake_server.url, "AmazonSQS.GetQueueUrl", {}, version="1.0")
    assert_validation(answer, "MissingParameter", "queueName")
    assert answer.headers["x-amzn-query-error"] == "MissingParameter;Sender"


def test_malformed_bodies_are_client_errors(fake_server: Any) -> None:
    answer = send(
        fake_server.url + "/v1/describejobqueues", "POST", "{not json", {"Content-Type": "application/json"}
    )
    assert answer.status == 400
    assert answer.json()["__type"] == "ClientException"
    answer = json_target(fake_server.url, "AWSEvents.ListEventBuses", ["a list"])
    assert answer.status == 400
    assert answer.json()["__type"] == "SerializationException"


def test_unknown_path_and_target(fake_server: Any) -> None:
    answer = send(fake_server.url + "/v1/nosuchoperation", "POST", "{}")
    assert answer.status == 404
    assert answer.headers["x-amzn-errortype"] == "UnknownOperationException"
    assert "POST /v1/nosuchoperation" in answer.json()["message"]
    answer = json_target(fake_server.url, "AWSEvents.DoMagic", {})
    assert answer.status == 400
    assert answer.json()["__type"] == "UnknownOperationException"
    assert "DoMagic" in answer.json()["message"]
    answer = json_target(fake_server.url, "NoSuchService_2020.Op", {})
    assert answer.status == 400
    assert "NoSuchService_2020.Op" in answer.json()["message"]
    assert answer.headers["x-amzn-requestid"]


def test_wrong_types_everywhere_never_crash(fake_server: Any) -> None:
    for value in (None, 1, "x", [1], {"a": 1}, True, 1.5):
        document = {"jobQueues": value, "maxResults": value, "nextToken": value}
        answer = rest_json(fake_server.url, "/v1/describejobqueues", document)
        assert answer.status in (200, 400), (value, answer.body)
        document = {"Entries": [{"Time": value, "Detail": value, "Resources": value}]}
        answer = json_target(fake_server.url, "AWSEvents.PutEvents", document)
        assert answer.status in (200, 400), (value, answer.body)
