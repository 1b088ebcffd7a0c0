"""SQS through real HTTP: boto3 (which checks the MD5s) and the ``aws`` CLI."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from batchbridge.services.sqs import SqsService


@pytest.fixture
def sqs_client(server: Any, boto_client: Callable[..., Any]) -> Any:
    if "sqs" not in server.app.services:
        server.app.register_service("sqs", SqsService(server.app.db, server.settings))
    service = server.app.services["sqs"]
    if isinstance(service, SqsService) and service.endpoint_url is None and server.settings.port == 0:
        service.endpoint_url = server.url
    return boto_client("sqs")


def _queue(client: Any, **attributes: str) -> str:
    name = f"q-{uuid.uuid4().hex[:12]}"
    return str(client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


def test_send_receive_delete_with_attributes(sqs_client: Any) -> None:
    url = _queue(sqs_client)
    attributes = {
        "kind": {"DataType": "String", "StringValue": "job"},
        "n": {"DataType": "Number", "StringValue": "42"},
        "raw": {"DataType": "Binary", "BinaryValue": b"\x01\x02"},
    }
    sent = sqs_client.send_message(QueueUrl=url, MessageBody="héllo", MessageAttributes=attributes)
    assert sent["MD5OfMessageBody"] == hashlib.md5("héllo".encode()).hexdigest()
    got = sqs_client.receive_message(
        QueueUrl=url, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]
    )
    [msg] = got["Messages"]
    assert msg["Body"] == "héllo"
    assert msg["MessageAttributes"] == attributes
    assert msg["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert msg["Attributes"]["ApproximateReceiveCount"] == "1"
    sqs_client.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    attrs = sqs_client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert attrs["QueueArn"].endswith(":" + url.rsplit("/", 1)[1])


def test_queue_url_is_the_servers_endpoint(sqs_client: Any, server: Any) -> None:
    url = _queue(sqs_client)
    assert url.startswith(f"{server.url}/123456789012/")
    assert sqs_client.get_queue_url(QueueName=url.rsplit("/", 1)[1])["QueueUrl"] == url


def test_visibility_timeout_expiry_redelivers(sqs_client: Any) -> None:
    url = _queue(sqs_client, VisibilityTimeout="1")
    sqs_client.send_message(QueueUrl=url, MessageBody="retry me")
    first = sqs_client.receive_message(QueueUrl=url)["Messages"][0]
    assert "Messages" not in sqs_client.receive_message(QueueUrl=url)
    second = sqs_client.receive_message(
        QueueUrl=url, WaitTimeSeconds=3, MessageSystemAttributeNames=["ApproximateReceiveCount"]
    )["Messages"][0]
    assert second["MessageId"] == first["MessageId"]
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"


def test_long_poll_returns_when_another_thread_sends(
    sqs_client: Any, boto_client: Callable[..., Any]
) -> None:
    url = _queue(sqs_client)
    sender = boto_client("sqs")

    def send() -> None:
        time.sleep(0.5)
        sender.send_message(QueueUrl=url, MessageBody="wake up")

    thread = threading.Thread(target=send)
    started = time.monotonic()
    thread.start()
    got = sqs_client.receive_message(QueueUrl=url, WaitTimeSeconds=10)
    elapsed = time.monotonic() - started
    thread.join()
    assert [m["Body"] for m in got["Messages"]] == ["wake up"]
    assert 0.4 <= elapsed < 3.0


def test_batch_partial_failure_and_purge(sqs_client: Any) -> None:
    url = _queue(sqs_client)
    out = sqs_client.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "a", "MessageBody": "one"},
            {"Id": "b", "MessageBody": "two", "DelaySeconds": 1000},
            {"Id": "c", "MessageBody": "three"},
        ],
    )
    assert [e["Id"] for e in out["Successful"]] == ["a", "c"]
    assert out["Failed"][0]["Id"] == "b" and out["Failed"][0]["SenderFault"] is True
    attrs = sqs_client.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "2"
    sqs_client.purge_queue(QueueUrl=url)
    assert "Messages" not in sqs_client.receive_message(QueueUrl=url)
    with pytest.raises(sqs_client.exceptions.PurgeQueueInProgress):
        sqs_client.purge_queue(QueueUrl=url)


def test_errors_as_botocore_sees_them(sqs_client: Any) -> None:
    with pytest.raises(sqs_client.exceptions.QueueDoesNotExist) as missing:
        sqs_client.get_queue_url(QueueName=f"nope-{uuid.uuid4().hex[:8]}")
    assert missing.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    url = _queue(sqs_client, VisibilityTimeout="5")
    name = url.rsplit("/", 1)[1]
    with pytest.raises(sqs_client.exceptions.QueueNameExists) as exists:
        sqs_client.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "6"})
    assert exists.value.response["Error"]["Code"] == "QueueAlreadyExists"
    with pytest.raises(ClientError) as bad:
        sqs_client.receive_message(QueueUrl=url, MaxNumberOfMessages=11)
    assert bad.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "MaxNumberOfMessages" in bad.value.response["Error"]["Message"]
    with pytest.raises(sqs_client.exceptions.TooManyEntriesInBatchRequest):
        sqs_client.send_message_batch(
            QueueUrl=url, Entries=[{"Id": f"e{i}", "MessageBody": "x"} for i in range(11)]
        )


def test_list_queues_paginator(sqs_client: Any) -> None:
    prefix = f"lp-{uuid.uuid4().hex[:8]}"
    for i in range(3):
        sqs_client.create_queue(QueueName=f"{prefix}-{i}")
    pages = sqs_client.get_paginator("list_queues").paginate(
        QueueNamePrefix=prefix, PaginationConfig={"PageSize": 2}
    )
    urls = [u for page in pages for u in page.get("QueueUrls", [])]
    assert [u.rsplit("/", 1)[1] for u in urls] == [f"{prefix}-{i}" for i in range(3)]


def test_aws_cli_receive_message(sqs_client: Any, aws_cli: Callable[..., Any]) -> None:
    url = _queue(sqs_client)
    sqs_client.send_message(QueueUrl=url, MessageBody="for the cli")
    result = aws_cli("sqs", "receive-message", "--queue-url", url, "--attribute-names", "All")
    assert result.returncode == 0, result.stderr
    [msg] = result.json()["Messages"]
    assert msg["Body"] == "for the cli" and msg["Attributes"]["ApproximateReceiveCount"] == "1"
