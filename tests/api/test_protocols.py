"""The four wire protocols end to end through real boto3: parsing, serialisation, headers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .fakes import QUEUE_ARN


def client(boto_client: Any, fake_server: Any, service: str, **kwargs: Any) -> Any:
    return boto_client(service, endpoint=fake_server.url, **kwargs)


def test_batch_describe_job_queues_parses_body_and_serialises_modelled_members_only(
    boto_client: Any, fake_server: Any
) -> None:
    batch = client(boto_client, fake_server, "batch")
    answer = batch.describe_job_queues(jobQueues=["q1", "q2"], maxResults=5)
    params = fake_server.services["batch"].last("DescribeJobQueues")
    assert params == {"jobQueues": ["q1", "q2"], "maxResults": 5}
    queue = answer["jobQueues"][0]
    assert queue["jobQueueArn"] == QUEUE_ARN
    assert queue["priority"] == 10
    assert "internalNotModelled" not in queue
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert len(answer["ResponseMetadata"]["RequestId"]) == 36


def test_batch_tags_use_percent_decoded_uri_label_and_repeated_query_keys(
    boto_client: Any, fake_server: Any
) -> None:
    batch = client(boto_client, fake_server, "batch")
    batch.tag_resource(resourceArn=QUEUE_ARN, tags={"a": "1", "b": "2", "c": "3"})
    assert fake_server.services["batch"].last("TagResource") == {
        "resourceArn": QUEUE_ARN,
        "tags": {"a": "1", "b": "2", "c": "3"},
    }
    batch.untag_resource(resourceArn=QUEUE_ARN, tagKeys=["a", "b"])
    assert fake_server.services["batch"].last("UntagResource")["tagKeys"] == ["a", "b"]
    assert batch.list_tags_for_resource(resourceArn=QUEUE_ARN)["tags"] == {"c": "3"}


def test_region_comes_from_the_signature_scope(boto_client: Any, fake_server: Any) -> None:
    batch = client(boto_client, fake_server, "batch", region_name="eu-west-3")
    answer = batch.create_job_queue(jobQueueName="q9", priority=1)
    assert answer["jobQueueArn"] == "arn:aws:batch:eu-west-3:123456789012:job-queue/q9"
    _, ctx, _ = fake_server.services["batch"].calls[-1]
    assert ctx.region == "eu-west-3"
    assert ctx.account_id == "123456789012"


def test_lambda_invoke_raw_payload_headers_and_query(boto_client: Any, fake_server: Any) -> None:
    lam = client(boto_client, fake_server, "lambda")
    answer = lam.invoke(FunctionName="f1", Payload=b'{"x": 1}', LogType="Tail", Qualifier="$LATEST")
    params = fake_server.services["lambda"].last("Invoke")
    assert params["FunctionName"] == "f1"
    assert params["Payload"] == b'{"x": 1}'
    assert params["LogType"] == "Tail"
    assert params["Qualifier"] == "$LATEST"
    assert answer["StatusCode"] == 200
    assert answer["LogResult"] == "bG9nIGxpbmU="
    assert answer["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in answer
    assert answer["Payload"].read() == b'{"echo": {"x": 1}}'


def test_lambda_invoke_function_error_header_and_event_status(boto_client: Any, fake_server: Any) -> None:
    lam = client(boto_client, fake_server, "lambda")
    failed = lam.invoke(FunctionName="f1", Payload=b'"fail"')
    assert failed["FunctionError"] == "Unhandled"
    queued = lam.invoke(FunctionName="f1", InvocationType="Event", Payload=b"{}")
    assert queued["StatusCode"] == 202
    assert queued["ResponseMetadata"]["HTTPStatusCode"] == 202


def test_lambda_base64_zip_and_arn_function_name(boto_client: Any, fake_server: Any) -> None:
    lam = client(boto_client, fake_server, "lambda")
    answer = lam.create_function(
        FunctionName="f2",
        Runtime="python3.11",
        Role="arn:aws:iam::123456789012:role/r",
        Handler="h.handler",
        Code={"ZipFile": b"PK\x03\x04zipbytes"},
    )
    assert fake_server.services["lambda"].last("CreateFunction")["Code"]["ZipFile"] == b"PK\x03\x04zipbytes"
    assert answer["CodeSize"] == len(b"PK\x03\x04zipbytes")
    arn = "arn:aws:lambda:us-east-1:123456789012:function:f2"
    got = lam.get_function(FunctionName=arn)
    assert fake_server.services["lambda"].last("GetFunction")["FunctionName"] == arn
    assert got["Configuration"]["LastModified"] == "2024-05-06T07:08:09.123+0000"


def test_lambda_error_status_comes_from_the_model(boto_client: Any, fake_server: Any) -> None:
    lam = client(boto_client, fake_server, "lambda")
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as caught:
        lam.get_function(FunctionName="missing")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert "Function not found" in caught.value.response["Error"]["Message"]


def test_events_json_protocol_timestamps_in_and_out(boto_client: Any, fake_server: Any) -> None:
    events = client(boto_client, fake_server, "events")
    buses = events.list_event_buses(NamePrefix="def", Limit=10)
    assert fake_server.services["events"].last("ListEventBuses") == {"NamePrefix": "def", "Limit": 10}
    bus = buses["EventBuses"][0]
    assert bus["CreationTime"] == dt.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=bus["CreationTime"].tzinfo)
    assert bus["LastModifiedTime"].timestamp() == pytest.approx(1714979289.123)
    when = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    events.put_events(Entries=[{"Source": "s", "DetailType": "t", "Detail": "{}", "Time": when}])
    entry = fake_server.services["events"].last("PutEvents")["Entries"][0]
    assert entry["Time"] == when


def test_sqs_json_1_0_and_query_compatible_errors(boto_client: Any, fake_server: Any) -> None:
    sqs = client(boto_client, fake_server, "sqs")
    assert sqs.list_queues(QueueNamePrefix="q")["QueueUrls"] == ["http://localhost/123456789012/q1"]
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as caught:
        sqs.get_queue_url(QueueName="nope")
    error = caught.value.response["Error"]
    assert error["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert error["Message"] == "The specified queue does not exist."


def test_logs_json_1_1_and_modelled_error(boto_client: Any, fake_server: Any) -> None:
    logs = client(boto_client, fake_server, "logs")
    groups = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/", limit=5)
    assert groups["logGroups"][0]["creationTime"] == 1714979289123
    with pytest.raises(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName="/aws/lambda/f")


def test_rest_json_error_envelope_parses_in_botocore(boto_client: Any, fake_server: Any) -> None:
    batch = client(boto_client, fake_server, "batch")
    with pytest.raises(ClientError) as caught:
        batch.submit_job(jobName="j", jobQueue="nope", jobDefinition="d")
    response = caught.value.response
    assert response["Error"]["Code"] == "ClientException"
    assert response["Error"]["Message"] == "JobQueue nope not found."
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["ResponseMetadata"]["RequestId"]


def test_unimplemented_operation_is_named(boto_client: Any, fake_server: Any) -> None:
    batch = client(boto_client, fake_server, "batch")
    with pytest.raises(ClientError) as caught:
        batch.describe_scheduling_policies(arns=["arn:aws:batch:us-east-1:123456789012:scheduling-policy/p"])
    error = caught.value.response["Error"]
    assert error["Code"] == "UnknownOperationException"
    assert error["Message"] == "The operation DescribeSchedulingPolicies is not implemented by batchbridge"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    events = client(boto_client, fake_server, "events")
    with pytest.raises(ClientError) as caught:
        events.describe_rule(Name="r")
    assert "DescribeRule" in caught.value.response["Error"]["Message"]


def test_internal_failure_hides_the_exception(boto_client: Any, fake_server: Any) -> None:
    batch = client(boto_client, fake_server, "batch")
    with pytest.raises(ClientError) as caught:
        batch.describe_compute_environments()
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert response["Error"]["Code"] == "ServerException"
    assert "secret internal detail" not in response["Error"]["Message"]
