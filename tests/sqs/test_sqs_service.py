"""The SQS service called in-process with a real database."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from batchbridge.config import Settings
from batchbridge.services.context import RequestContext
from batchbridge.services.sqs import SqsError, SqsService, md5_of_attributes
from batchbridge.store.db import Database

from .conftest import FakeClock


def _queue(sqs: SqsService, ctx: RequestContext, name: str = "q", **attributes: str) -> str:
    return str(sqs.CreateQueue(ctx, {"QueueName": name, "Attributes": attributes})["QueueUrl"])


def _receive(sqs: SqsService, ctx: RequestContext, url: str, **params: Any) -> list[dict[str, Any]]:
    out = asyncio.run(sqs.ReceiveMessage(ctx, {"QueueUrl": url, **params}))
    return list(out.get("Messages", []))


def test_queue_url_and_arn(sqs: SqsService, ctx: RequestContext) -> None:
    url = _queue(sqs, ctx, "jobs")
    assert url == "http://127.0.0.1:4566/123456789012/jobs"
    assert sqs.GetQueueUrl(ctx, {"QueueName": "jobs"})["QueueUrl"] == url
    attrs = sqs.GetQueueAttributes(ctx, {"QueueUrl": url, "AttributeNames": ["QueueArn"]})["Attributes"]
    assert attrs == {"QueueArn": "arn:aws:sqs:us-east-1:123456789012:jobs"}


def test_unknown_queue_is_query_compatible_error(sqs: SqsService, ctx: RequestContext) -> None:
    with pytest.raises(SqsError) as err:
        sqs.GetQueueUrl(ctx, {"QueueName": "missing"})
    assert err.value.code == "QueueDoesNotExist"
    assert err.value.query_code == "AWS.SimpleQueueService.NonExistentQueue"
    assert err.value.message == "The specified queue does not exist."


def test_create_is_idempotent_only_with_same_attributes(sqs: SqsService, ctx: RequestContext) -> None:
    url = _queue(sqs, ctx, "q", VisibilityTimeout="10")
    assert _queue(sqs, ctx, "q", VisibilityTimeout="10") == url
    assert _queue(sqs, ctx, "q") == url
    with pytest.raises(SqsError) as err:
        _queue(sqs, ctx, "q", VisibilityTimeout="20")
    assert (err.value.code, err.value.query_code) == ("QueueNameExists", "QueueAlreadyExists")
    assert "VisibilityTimeout" in err.value.message


@pytest.mark.parametrize(
    ("name", "attributes", "code", "field"),
    [
        ("bad name", {}, "InvalidParameterValue", "alphanumeric"),
        ("q", {"VisibilityTimeout": "50000"}, "InvalidAttributeValue", "VisibilityTimeout"),
        ("q", {"DelaySeconds": "x"}, "InvalidAttributeValue", "DelaySeconds"),
        ("q", {"Colour": "red"}, "InvalidAttributeName", "Colour"),
        ("q", {"RedrivePolicy": "{}"}, "InvalidAttributeValue", "RedrivePolicy"),
        ("q", {"FifoQueue": "true"}, "InvalidParameterValue", ".fifo"),
    ],
)
def test_bad_create_input_names_the_field(
    sqs: SqsService, ctx: RequestContext, name: str, attributes: dict[str, str], code: str, field: str
) -> None:
    with pytest.raises(SqsError) as err:
        sqs.CreateQueue(ctx, {"QueueName": name, "Attributes": attributes})
    assert err.value.code == code
    assert field in err.value.message


def test_list_queues_prefix_and_pages(sqs: SqsService, ctx: RequestContext) -> None:
    for name in ["a1", "a2", "a3", "b1"]:
        _queue(sqs, ctx, name)
    assert len(sqs.ListQueues(ctx, {"QueueNamePrefix": "a"})["QueueUrls"]) == 3
    page = sqs.ListQueues(ctx, {"QueueNamePrefix": "a", "MaxResults": 2})
    assert [u.rsplit("/", 1)[1] for u in page["QueueUrls"]] == ["a1", "a2"]
    rest = sqs.ListQueues(ctx, {"QueueNamePrefix": "a", "MaxResults": 2, "NextToken": page["NextToken"]})
    assert [u.rsplit("/", 1)[1] for u in rest["QueueUrls"]] == ["a3"] and "NextToken" not in rest


def test_send_receive_delete(sqs: SqsService, ctx: RequestContext) -> None:
    url = _queue(sqs, ctx)
    sent = sqs.SendMessage(ctx, {"QueueUrl": url, "MessageBody": "hello"})
    assert sent["MD5OfMessageBody"] == hashlib.md5(b"hello").hexdigest()
    [msg] = _receive(sqs, ctx, url, AttributeNames=["All"])
    assert msg["Body"] == "hello" and msg["MessageId"] == sent["MessageId"]
    assert msg["Attributes"]["ApproximateReceiveCount"] == "1"
    assert msg["Attributes"]["SenderId"] == "123456789012"
    assert _receive(sqs, ctx, url) == []
    sqs.DeleteMessage(ctx, {"QueueUrl": url, "ReceiptHandle": msg["ReceiptHandle"]})
    counts = sqs.GetQueueAttributes(ctx, {"QueueUrl": url, "AttributeNames": ["All"]})["Attributes"]
    assert counts["ApproximateNumberOfMessages"] == "0"
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_visibility_expiry_redelivers_with_receive_count_two(
    sqs: SqsService, ctx: RequestContext, clock: FakeClock
) -> None:
    url = _queue(sqs, ctx, VisibilityTimeout="5")
    sqs.SendMessage(ctx, {"QueueUrl": url, "MessageBody": "again"})
    [first] = _receive(sqs, ctx, url)
    attrs = sqs.GetQueueAttributes(
        ctx, {"QueueUrl": url, "AttributeNames": ["ApproximateNumberOfMessagesNotVisible"]}
    )
    assert attrs["Attributes"] == {"ApproximateNumberOfMessagesNotVisible": "1"}
    clock.now += 4
    assert _receive(sqs, ctx, url) == []
    clock.now += 2
    [second] = _receive(sqs, ctx, url, MessageSystemAttributeNames=["ApproximateReceiveCount"])
    assert second["Attributes"] == {"ApproximateReceiveCount": "2"}
    assert second["ReceiptHandle"] != first["ReceiptHandle"]


def test_change_visibility_and_not_inflight(sqs: SqsService, ctx: RequestContext, clock: FakeClock) -> None:
    url = _queue(sqs, ctx)
    sqs.SendMessage(ctx, {"QueueUrl": url, "MessageBody": "m"})
    [msg] = _receive(sqs, ctx, url)
    sqs.ChangeMessageVisibility(
        ctx, {"QueueUrl": url, "ReceiptHandle": msg["ReceiptHandle"], "VisibilityTimeout": 0}
    )
    [again] = _receive(sqs, ctx, url, VisibilityTimeout=1)
    clock.now += 2
    with pytest.raises(SqsError) as err:
        sqs.ChangeMessageVisibility(
            ctx, {"QueueUrl": url, "ReceiptHandle": again["ReceiptHandle"], "VisibilityTimeout": 10}
        )
    assert err.value.code == "MessageNotInflight"
    with pytest.raises(SqsError) as bad:
        sqs.DeleteMessage(ctx, {"QueueUrl": url, "ReceiptHandle": "not-a-handle"})
    assert bad.value.code == "ReceiptHandleIsInvalid"


def test_message_attributes_md5_and_filtering(sqs: SqsService, ctx: RequestContext) -> None:
    url = _queue(sqs, ctx)
    attributes = {
        "color": {"DataType": "String", "StringValue": "blue"},
        "size": {"DataType": "Number", "StringValue": "3"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        "meta.owner": {"DataType": "String.custom", "StringValue": "me"},
    }
    sent = sqs.SendMessage(ctx, {"QueueUrl": url, "MessageBody": "x", "MessageAttributes": attributes})
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(attributes)
    [msg] = _receive(sqs, ctx, url, MessageAttributeNames=["All"])
    assert msg["MessageAttributes"] == attributes
    assert msg["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    sqs.ChangeMessageVisibility(
        ctx, {"QueueUrl": url, "ReceiptHandle": msg["ReceiptHandle"], "VisibilityTimeout": 0}
    )
    [only] = _receive(sqs, ctx, url, MessageAttributeNames=["meta.*", "size"])
    assert set(only["MessageAttributes"]) == {"meta.owner", "size"}
    assert only["MD5OfMessageAttributes"] == md5_of_attributes(only["MessageAttributes"])


def test_md5_of_attributes_matches_aws_documented_encoding() -> None:
    attributes = {"a": {"DataType": "String", "StringValue": "b"}}
    encoded = b"\x00\x00\x00\x01a" + b"\x00\x00\x00\x06String" + b"\x01" + b"\x00\x00\x00\x01b"
    assert md5_of_attributes(attributes) == hashlib.md5(encoded).hexdigest()


@pytest.mark.parametrize(
    ("params", "code", "text"),
    [
        ({"MessageBody": ""}, "MissingParameter", "MessageBody"),
        ({"MessageBody": "bad \x01"}, "InvalidMessageContents", "Invalid characters"),
        ({"MessageBody": "x" * 262_145}, "InvalidParameterValue", "262144"),
        ({"MessageBody": "x", "DelaySeconds": 901}, "InvalidParameterValue", "DelaySeconds"),
        (
            {"MessageBody": "x", "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "abc"}}},
            "InvalidParameterValue",
            "'n'",
        ),
        (
            {"MessageBody": "x", "MessageAttributes": {"k": {"DataType": "Blob", "StringValue": "v"}}},
            "InvalidParameterValue",
            "'k'",
        ),
    ],
)
def test_bad_messages_answer_aws_errors(
    sqs: SqsService, ctx: RequestContext, params: dict[str, Any], code: str, text: str
) -> None:
    url = _queue(sqs, ctx)
    with pytest.raises(SqsError) as err:
        sqs.SendMessage(ctx, {"QueueUrl": url, **params})
    assert err.value.code == code and text in err.value.message


def test_send_batch_partial_failure(sqs: SqsService, ctx: RequestContext) -> None:
    url = _queue(sqs, ctx)
    out = sqs.SendMessageBatch(
        ctx,
        {
            "QueueUrl": url,
            "Entries": [
                {"Id": "ok1", "MessageBody": "one"},
                {"Id": "bad", "MessageBody": "x", "DelaySeconds": 5000},
                {"Id": "ok2", "MessageBody": "two"},
            ],
        },
    )
    assert [e["Id"] for e in out["Successful"]] == ["ok1", "ok2"]
    assert out["Failed"] == [
        {
            "Id": "bad",
            "SenderFault": True,
            "Code": "InvalidParameterValue",
            "Message": out["Failed"][0]["Message"],
        }
    ]
    assert "DelaySeconds" in out["Failed"][0]["Message"]
    got = _receive(sqs, ctx, url, MaxNumberOfMessages=10)
    assert sorted(m["Body"] for m in got) == ["one", "two"]
    deleted = sqs.DeleteMessageBatch(
        ctx,
        {
            "QueueUrl": url,
            "Entries": [
                {"Id": "a", "ReceiptHandle": got[0]["ReceiptHandle"]},
                {"Id": "b", "ReceiptHandle": "junk"},
            ],
        },
    )
    assert [e["Id"] for e in deleted["Successful"]] == ["a"]
    assert deleted["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"


@pytest.mark.parametrize(
    ("entries", "code"),
    [
        ([], "EmptyBatchRequest"),
        ([{"Id": f"e{i}", "MessageBody": "x"} for i in range(11)], "TooManyEntriesInBatchRequest"),
        (
            [{"Id": "same", "MessageBody": "x"}, {"Id": "same", "MessageBody": "y"}],
            "BatchEntryIdsNotDistinct",
        ),
        ([{"Id": "bad id!", "MessageBody": "x"}], "InvalidBatchEntryId"),
    ],
)
def test_batch_request_errors(sqs: SqsService, ctx: RequestContext, entries: list[Any], code: str) -> None:
    url = _queue(sqs, ctx)
    with pytest.raises(SqsError) as err:
        sqs.SendMessageBatch(ctx, {"QueueUrl": url, "Entries": entries})
    assert err.value.code == code


def test_receive_parameter_ranges(sqs: SqsService, ctx: RequestContext) -> None:
    url = _queue(sqs, ctx)
    for params in ({"MaxNumberOfMessages": 11}, {"WaitTimeSeconds": 21}, {"VisibilityTimeout": -1}):
        with pytest.raises(SqsError) as err:
            _receive(sqs, ctx, url, **params)
        assert err.value.code == "InvalidParameterValue"
        assert next(iter(params)) in err.value.message


def test_delay_seconds_hides_new_messages(sqs: SqsService, ctx: RequestContext, clock: FakeClock) -> None:
    url = _queue(sqs, ctx, DelaySeconds="10")
    sqs.SendMessage(ctx, {"QueueUrl": url, "MessageBody": "later"})
    attrs = sqs.GetQueueAttributes(
        ctx, {"QueueUrl": url, "AttributeNames": ["ApproximateNumberOfMessagesDelayed"]}
    )
    assert attrs["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    assert _receive(sqs, ctx, url) == []
    clock.now += 10
    assert [m["Body"] for m in _receive(sqs, ctx, url)] == ["later"]


def test_purge_and_its_60_second_rule(sqs: SqsService, ctx: RequestContext, clock: FakeClock) -> None:
    url = _queue(sqs, ctx)
    for i in range(3):
        sqs.SendMessage(ctx, {"QueueUrl": url, "MessageBody": str(i)})
    sqs.PurgeQueue(ctx, {"QueueUrl": url})
    assert _receive(sqs, ctx, url) == []
    with pytest.raises(SqsError) as err:
        sqs.PurgeQueue(ctx, {"QueueUrl": url})
    assert err.value.code == "PurgeQueueInProgress"
    clock.now += 61
    sqs.PurgeQueue(ctx, {"QueueUrl": url})


def test_set_attributes_and_tags(sqs: SqsService, ctx: RequestContext) -> None:
    url = _queue(sqs, ctx)
    sqs.SetQueueAttributes(ctx, {"QueueUrl": url, "Attributes": {"VisibilityTimeout": "45"}})
    got = sqs.GetQueueAttributes(
        ctx, {"QueueUrl": url, "AttributeNames": ["VisibilityTimeout", "DelaySeconds"]}
    )
    assert got["Attributes"] == {"VisibilityTimeout": "45", "DelaySeconds": "0"}
    with pytest.raises(SqsError) as err:
        sqs.GetQueueAttributes(ctx, {"QueueUrl": url, "AttributeNames": ["Nope"]})
    assert err.value.code == "InvalidAttributeName"
    sqs.TagQueue(ctx, {"QueueUrl": url, "Tags": {"team": "a", "env": "dev"}})
    sqs.UntagQueue(ctx, {"QueueUrl": url, "TagKeys": ["env"]})
    assert sqs.ListQueueTags(ctx, {"QueueUrl": url})["Tags"] == {"team": "a"}


def test_redrive_moves_message_to_dead_letter_queue(
    sqs: SqsService, ctx: RequestContext, clock: FakeClock
) -> None:
    dlq = _queue(sqs, ctx, "dlq")
    policy = json.dumps(
        {"deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:dlq", "maxReceiveCount": 2}
    )
    url = _queue(sqs, ctx, "work", RedrivePolicy=policy, VisibilityTimeout="1")
    sqs.SendMessage(ctx, {"QueueUrl": url, "MessageBody": "poison"})
    for _ in range(2):
        assert len(_receive(sqs, ctx, url)) == 1
        clock.now += 2
    assert _receive(sqs, ctx, url) == []
    [dead] = _receive(sqs, ctx, dlq, AttributeNames=["All"])
    assert dead["Body"] == "poison"
    assert dead["Attributes"]["DeadLetterQueueSourceArn"] == "arn:aws:sqs:us-east-1:123456789012:work"
    sources = sqs.ListDeadLetterSourceQueues(ctx, {"QueueUrl": dlq})["queueUrls"]
    assert sources == [url]


def test_fifo_queue_groups_dedup_and_sequence(sqs: SqsService, ctx: RequestContext) -> None:
    url = _queue(sqs, ctx, "orders.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    a = sqs.SendMessage(ctx, {"QueueUrl": url, "MessageBody": "a", "MessageGroupId": "g1"})
    dup = sqs.SendMessage(ctx, {"QueueUrl": url, "MessageBody": "a", "MessageGroupId": "g1"})
    b = sqs.SendMessage(ctx, {"QueueUrl": url, "MessageBody": "b", "MessageGroupId": "g1"})
    assert dup["MessageId"] == a["MessageId"]
    assert int(b["SequenceNumber"]) > int(a["SequenceNumber"])
    [first] = _receive(sqs, ctx, url, MaxNumberOfMessages=1)
    assert first["Body"] == "a"
    assert _receive(sqs, ctx, url) == []  # group g1 has a message in flight
    sqs.DeleteMessage(ctx, {"QueueUrl": url, "ReceiptHandle": first["ReceiptHandle"]})
    assert [m["Body"] for m in _receive(sqs, ctx, url)] == ["b"]
    with pytest.raises(SqsError) as err:
        sqs.SendMessage(ctx, {"QueueUrl": url, "MessageBody": "c"})
    assert err.value.code == "MissingParameter" and "MessageGroupId" in err.value.message


def test_send_message_internal(sqs: SqsService, ctx: RequestContext) -> None:
    url = _queue(sqs, ctx, "targets")
    message_id = sqs.send_message_internal(
        "arn:aws:sqs:us-east-1:123456789012:targets",
        '{"detail": {}}',
        {"k": {"DataType": "String", "StringValue": "v"}},
    )
    [msg] = _receive(sqs, ctx, url, MessageAttributeNames=["All"])
    assert msg["MessageId"] == message_id and msg["MessageAttributes"]["k"]["StringValue"] == "v"
    with pytest.raises(SqsError) as err:
        sqs.send_message_internal("arn:aws:sqs:us-east-1:123456789012:nope", "x", {})
    assert err.value.code == "QueueDoesNotExist"


def test_long_poll_returns_as_soon_as_a_message_arrives(sqs: SqsService, ctx: RequestContext) -> None:
    url = _queue(sqs, ctx)

    async def scenario() -> tuple[float, dict[str, Any]]:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        loop.call_later(0.3, lambda: sqs.SendMessage(ctx, {"QueueUrl": url, "MessageBody": "wake"}))
        out = await sqs.ReceiveMessage(ctx, {"QueueUrl": url, "WaitTimeSeconds": 10})
        return time.monotonic() - started, out

    elapsed, out = asyncio.run(scenario())
    assert [m["Body"] for m in out["Messages"]] == ["wake"]
    assert 0.25 <= elapsed < 2.0


def test_long_poll_wakes_on_send_from_another_thread(
    tmp_path: Path, settings: Settings, ctx: RequestContext
) -> None:
    db = Database.open(tmp_path / "threads.sqlite3")
    sqs = SqsService(db, settings)
    url = _queue(sqs, ctx)
    sender_db = Database.open(tmp_path / "threads.sqlite3")

    def send() -> None:
        time.sleep(0.3)
        with sender_db.transaction():
            pass
        sqs.send_message_internal("arn:aws:sqs:us-east-1:123456789012:q", "from thread", {})

    thread = threading.Thread(target=send)
    started = time.monotonic()
    thread.start()
    out = asyncio.run(sqs.ReceiveMessage(ctx, {"QueueUrl": url, "WaitTimeSeconds": 10}))
    thread.join()
    assert [m["Body"] for m in out["Messages"]] == ["from thread"]
    assert time.monotonic() - started < 2.0
    sender_db.close()
    db.close()


def test_long_poll_times_out_empty(sqs: SqsService, ctx: RequestContext) -> None:
    url = _queue(sqs, ctx)
    started = time.monotonic()
    assert _receive(sqs, ctx, url, WaitTimeSeconds=1) == []
    assert 0.9 <= time.monotonic() - started < 2.0


def test_messages_survive_restart(tmp_path: Path, settings: Settings, ctx: RequestContext) -> None:
    path = tmp_path / "durable.sqlite3"
    db = Database.open(path)
    url = _queue(SqsService(db, settings), ctx)
    SqsService(db, settings).SendMessage(ctx, {"QueueUrl": url, "MessageBody": "persisted"})
    db.close()
    again = Database.open(path)
    assert [m["Body"] for m in _receive(SqsService(again, settings), ctx, url)] == ["persisted"]
    again.close()


def test_delete_queue(sqs: SqsService, ctx: RequestContext) -> None:
    url = _queue(sqs, ctx)
    sqs.DeleteQueue(ctx, {"QueueUrl": url})
    with pytest.raises(SqsError) as err:
        sqs.SendMessage(ctx, {"QueueUrl": url, "MessageBody": "x"})
    assert err.value.code == "QueueDoesNotExist"


def test_long_poll_sees_a_send_from_another_database_handle(
    tmp_path: Path, settings: Settings, ctx: RequestContext
) -> None:
    path = tmp_path / "shared.sqlite3"
    db = Database.open(path)
    receiver = SqsService(db, settings)
    url = _queue(receiver, ctx)
    other_db = Database.open(path)
    other = SqsService(other_db, settings)

    def send() -> None:
        time.sleep(0.2)
        other.SendMessage(ctx, {"QueueUrl": url, "MessageBody": "elsewhere"})

    thread = threading.Thread(target=send)
    started = time.monotonic()
    thread.start()
    out = asyncio.run(receiver.ReceiveMessage(ctx, {"QueueUrl": url, "WaitTimeSeconds": 10}))
    thread.join()
    assert [m["Body"] for m in out["Messages"]] == ["elsewhere"]
    assert time.monotonic() - started < 3.0
    other_db.close()
    db.close()
