"""Amazon SQS (botocore service ``sqs``, the JSON protocol ``AmazonSQS.*`` of botocore's model).

Operations: CreateQueue, GetQueueUrl, ListQueues, DeleteQueue, Get/SetQueueAttributes, PurgeQueue,
tags, ListDeadLetterSourceQueues, SendMessage(Batch), ReceiveMessage, DeleteMessage(Batch),
ChangeMessageVisibility(Batch); plus :meth:`SqsService.send_message_internal` for EventBridge
targets and dead-letter queues.

AWS rules emulated (Amazon SQS API reference):

* Errors carry the model's shape name as their code (``QueueDoesNotExist``) and the legacy query
  code in :attr:`SqsError.query_code` (``AWS.SimpleQueueService.NonExistentQueue``), which the wire
  layer sends as the ``x-amzn-query-error: <query code>;Sender`` header exactly as SQS does, so
  botocore reports the legacy code and still raises the modelled exception class.
* ``CreateQueue`` is idempotent when every given attribute matches the existing queue, otherwise
  ``QueueNameExists`` (query code ``QueueAlreadyExists``).
* ``ReceiveMessage`` long polling (``WaitTimeSeconds`` up to 20, or the queue's
  ``ReceiveMessageWaitTimeSeconds``) is an asyncio wait that any send to the queue wakes at once.
* MD5s: ``MD5OfMessageBody`` is the hex MD5 of the UTF-8 body; ``MD5OfMessageAttributes`` is the
  MD5 of the attributes sorted by name, each encoded as length-prefixed (4-byte big-endian) name,
  length-prefixed data type, a transport byte (1 string, 2 binary) and the length-prefixed value.
* FIFO queues (``.fifo``): ``MessageGroupId`` is required, deduplication ids (explicit or the
  body's SHA-256 with ``ContentBasedDeduplication``) are honoured for 5 minutes, a message group
  with a message in flight delivers nothing else, and sends answer a ``SequenceNumber``.
* Choices where AWS is loose: a stale receipt handle still deletes its message (as standard queues
  do in practice); ``QueueDeletedRecently`` is not enforced; ``PurgeQueue`` is limited to one call
  per 60 seconds per queue, as AWS documents.

Queue URLs are ``<endpoint>/<account>/<name>``, where the endpoint is the one the client
addressed (the ``endpoint_url`` attribute of the request context when the wire layer sets it),
else :attr:`SqsService.endpoint_url` (set once the server is bound), else
``http://<host>:<port>`` from the settings.  Any URL whose last path segment names the queue is
accepted on input.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from batchbridge.config import Settings
from batchbridge.errors import ServiceError
from batchbridge.services.context import RequestContext
from batchbridge.store import sqs as store
from batchbridge.store.db import Database

QUEUE_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,80}")
BATCH_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,80}")
ATTRIBUTE_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,256}")
MAX_BATCH = 10
MAX_WAIT_SECONDS = 20
MAX_VISIBILITY = 43_200
DEDUP_WINDOW_MS = 5 * 60 * 1000
PURGE_INTERVAL_MS = 60_000
#: How often a long poll re-reads the queue even without a wake-up (writes from other processes).
RECHECK_SECONDS = 1.0

#: Settable queue attributes with their defaults and, for numbers, their allowed range.
ATTRIBUTE_DEFAULTS: dict[str, str] = {
    "VisibilityTimeout": "30",
    "MessageRetentionPeriod": "345600",
    "DelaySeconds": "0",
    "ReceiveMessageWaitTimeSeconds": "0",
    "MaximumMessageSize": "262144",
}
NUMERIC_RANGES: dict[str, tuple[int, int]] = {
    "VisibilityTimeout": (0, MAX_VISIBILITY),
    "MessageRetentionPeriod": (60, 1_209_600),
    "DelaySeconds": (0, 900),
    "ReceiveMessageWaitTimeSeconds": (0, MAX_WAIT_SECONDS),
    "MaximumMessageSize": (1024, 1_048_576),
    "KmsDataKeyReusePeriodSeconds": (60, 86_400),
}
OTHER_SETTABLE = {
    "Policy",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "FifoQueue",
    "ContentBasedDeduplication",
    "KmsMasterKeyId",
    "SqsManagedSseEnabled",
    "DeduplicationScope",
    "FifoThroughputLimit",
}
READ_ONLY = {
    "QueueArn",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
}
SYSTEM_NAMES = {
    "SenderId",
    "SentTimestamp",
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageDeduplicationId",
    "MessageGroupId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
}


class SqsError(ServiceError):
    """An SQS error: ``code`` is the model's shape name, ``query_code`` the legacy query code.

    The wire layer answers ``{"__type": "com.amazonaws.sqs#<code>", "message": ...}`` with the
    header ``x-amzn-query-error: <query_code>;Sender``.
    """

    def __init__(self, code: str, message: str, query_code: str | None = None, status: int = 400) -> None:
        super().__init__(message, code=code, status=status)
        self.query_code = query_code or code


def queue_does_not_exist() -> SqsError:
    return SqsError(
        "QueueDoesNotExist", "The specified queue does not exist.", "AWS.SimpleQueueService.NonExistentQueue"
    )


def invalid_parameter(message: str) -> SqsError:
    return SqsError("InvalidParameterValue", message)


def missing_parameter(field: str) -> SqsError:
    return SqsError("MissingParameter", f"The request must contain the parameter {field}.")


def receipt_handle_invalid(handle: object) -> SqsError:
    return SqsError(
        "ReceiptHandleIsInvalid", f'The input receipt handle "{handle}" is not a valid receipt handle.'
    )


# ---------------------------------------------------------------- MD5s and attributes


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _prefixed(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def md5_of_attributes(attributes: dict[str, Any]) -> str:
    """SQS's ``MD5OfMessageAttributes`` (also used for ``MD5OfMessageSystemAttributes``)."""
    buffer = bytearray()
    for name in sorted(attributes):
        value = attributes[name]
        buffer += _prefixed(name.encode("utf-8"))
        buffer += _prefixed(str(value["DataType"]).encode("utf-8"))
        if value.get("StringValue") is not None:
            buffer += b"\x01" + _prefixed(str(value["StringValue"]).encode("utf-8"))
        elif value.get("BinaryValue") is not None:
            buffer += b"\x02" + _prefixed(bytes(value["BinaryValue"]))
    return md5_hex(bytes(buffer))


_INVALID_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def check_body(body: object, max_size: int, attributes_size: int) -> str:
    """SQS's rules for a message body: present, allowed characters, total size within the limit."""
    if not isinstance(body, str) or body == "":
        raise missing_parameter("MessageBody")
    if _INVALID_CHARS.search(body):
        raise SqsError(
            "InvalidMessageContents",
            "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | "
            "#xE000 to #xFFFD | #x10000 to #x10FFFF",
        )
    size = len(body.encode("utf-8")) + attributes_size
    if size > max_size:
        raise invalid_parameter(
            f"One or more parameters are invalid. Reason: Message must be shorter than {max_size} bytes."
        )
    return body


def check_message_attributes(
    attributes: object, field: str = "MessageAttributes"
) -> tuple[dict[str, Any], int]:
    """Validate message attributes; return them in storable form (binary as base64) and their size."""
    if attributes is None:
        return {}, 0
    if not isinstance(attributes, dict):
        raise invalid_parameter(f"{field} must be a map of attribute name to value.")
    if len(attributes) > 10:
        raise invalid_parameter(
            f"Number of message attributes [{len(attributes)}] exceeds the allowed maximum [10]."
        )
    stored: dict[str, Any] = {}
    size = 0
    for name, value in attributes.items():
        if not ATTRIBUTE_NAME_RE.fullmatch(name) or name.lower().startswith(("aws.", "amazon.")):
            raise invalid_parameter(f"The message attribute name '{name}' is invalid in {field}.")
        if not isinstance(value, dict) or not value.get("DataType"):
            raise invalid_parameter(f"The message attribute '{name}' must contain a DataType in {field}.")
        data_type = str(value["DataType"])
        base = data_type.split(".", 1)[0]
        if base not in ("String", "Number", "Binary"):
            raise invalid_parameter(
                f"The type of message attribute '{name}' is invalid. You must use only the following "
                "supported type prefixes: Binary, Number, String."
            )
        if base == "Binary":
            raw = value.get("BinaryValue")
            if not isinstance(raw, bytes | bytearray) or not raw:
                raise invalid_parameter(
                    f"The message attribute '{name}' must contain non-empty message attribute value "
                    f"for message attribute type '{data_type}'."
                )
            stored[name] = {"DataType": data_type, "BinaryValue": base64.b64encode(bytes(raw)).decode()}
            size += len(raw)
        else:
            text = value.get("StringValue")
            if not isinstance(text, str) or text == "":
                raise invalid_parameter(
                    f"The message attribute '{name}' must contain non-empty message attribute value "
                    f"for message attribute type '{data_type}'."
                )
            if base == "Number" and not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
                raise invalid_parameter(
                    f"Can't cast the value of message (user) attribute '{name}' to a number."
                )
            stored[name] = {"DataType": data_type, "StringValue": text}
            size += len(text.encode("utf-8"))
        size += len(name.encode("utf-8")) + len(data_type.encode("utf-8"))
    return stored, size


def _wire_attributes(stored: dict[str, Any]) -> dict[str, Any]:
    """Stored attributes back in the model's shape (``BinaryValue`` as bytes)."""
    out: dict[str, Any] = {}
    for name, value in stored.items():
        if "BinaryValue" in value:
            out[name] = {"DataType": value["DataType"], "BinaryValue": base64.b64decode(value["BinaryValue"])}
        else:
            out[name] = dict(value)
    return out


def _number(name: str, value: object, low: int, high: int) -> int:
    text = str(value)
    if not re.fullmatch(r"-?\d+", text) or not low <= int(text) <= high:
        raise SqsError("InvalidAttributeValue", f"Invalid value for the parameter {name}.")
    return int(text)


def _number_param(field: str, value: object, low: int, high: int) -> int:
    """An integer request parameter in ``low..high``, else ``InvalidParameterValue`` naming it."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise invalid_parameter(
            f"Value {value} for parameter {field} is invalid. Reason: Must be between {low} and {high}, "
            "if provided."
        )
    return value


def validate_queue_attributes(name: str, attributes: dict[str, Any]) -> dict[str, str]:
    """Check settable queue attributes (names and values) and return them as strings."""
    out: dict[str, str] = {}
    for key, raw in attributes.items():
        value = str(raw)
        if key in NUMERIC_RANGES:
            _number(key, value, *NUMERIC_RANGES[key])
        elif key in ("FifoQueue", "ContentBasedDeduplication", "SqsManagedSseEnabled"):
            if value.lower() not in ("true", "false"):
                raise SqsError("InvalidAttributeValue", f"Invalid value for the parameter {key}.")
            value = value.lower()
        elif key == "RedrivePolicy":
            try:
                policy = json.loads(value)
                target = policy["deadLetterTargetArn"]
                count = int(policy["maxReceiveCount"])
            except (ValueError, KeyError, TypeError) as exc:
                raise SqsError(
                    "InvalidAttributeValue",
                    "Value "
                    + value
                    + " for parameter RedrivePolicy is invalid. Reason: Redrive policy is not a dict "
                    "or is missing deadLetterTargetArn and maxReceiveCount.",
                ) from exc
            if not isinstance(target, str) or not target.startswith("arn:") or not 1 <= count <= 1000:
                raise SqsError(
                    "InvalidAttributeValue",
                    f"Value {value} for parameter RedrivePolicy is invalid. Reason: Invalid value for "
                    "deadLetterTargetArn or maxReceiveCount (1 to 1000).",
                )
        elif key not in OTHER_SETTABLE:
            raise SqsError("InvalidAttributeName", f"Unknown Attribute {key}.")
        out[key] = value
    fifo_name = name.endswith(".fifo")
    if out.get("FifoQueue") == "true" and not fifo_name:
        raise invalid_parameter(
            "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, "
            "must end with .fifo suffix and be 1 to 80 in length."
        )
    if out.get("ContentBasedDeduplication") == "true" and not fifo_name:
        raise SqsError("InvalidAttributeName", "Unknown Attribute ContentBasedDeduplication.")
    return out


def _batch_entries(entries: object, action: str) -> list[dict[str, Any]]:
    """SQS's checks on a batch: 1..10 entries with distinct, well-formed ids."""
    if not isinstance(entries, list) or not entries:
        raise SqsError(
            "EmptyBatchRequest",
            f"There should be at least one {action}RequestEntry in the request.",
            "AWS.SimpleQueueService.EmptyBatchRequest",
        )
    if len(entries) > MAX_BATCH:
        raise SqsError(
            "TooManyEntriesInBatchRequest",
            f"Maximum number of entries per request are {MAX_BATCH}. You have sent {len(entries)}.",
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        )
    seen: set[str] = set()
    for entry in entries:
        entry_id = entry.get("Id") if isinstance(entry, dict) else None
        if not isinstance(entry_id, str) or not BATCH_ID_RE.fullmatch(entry_id):
            raise SqsError(
                "InvalidBatchEntryId",
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. "
                "It can be at most 80 letters long.",
                "AWS.SimpleQueueService.InvalidBatchEntryId",
            )
        if entry_id in seen:
            raise SqsError(
                "BatchEntryIdsNotDistinct",
                f"Id {entry_id} repeated.",
                "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
            )
        seen.add(entry_id)
    return entries


def _failure(entry_id: str, error: ServiceError) -> dict[str, Any]:
    code = getattr(error, "query_code", error.code)
    return {"Id": entry_id, "SenderFault": error.status < 500, "Code": code, "Message": error.message}


class _Wakeups:
    """Wakes long-polling receivers of a queue; callable from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]] = {}

    def register(self, queue: str) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            self._waiters.setdefault(queue, set()).add((loop, future))
        return future

    def unregister(self, queue: str, future: asyncio.Future[None]) -> None:
        with self._lock:
            waiters = self._waiters.get(queue, set())
            waiters.discard((future.get_loop(), future))
            if not waiters:
                self._waiters.pop(queue, None)

    def notify(self, queue: str) -> None:
        with self._lock:
            waiters = list(self._waiters.get(queue, ()))
        for loop, future in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class SqsService:
    """The ``sqs`` service: one method per SQS operation, plus :meth:`send_message_internal`."""

    def __init__(self, db: Database, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        #: The server's base URL once bound (set by the application when the port was 0).
        self.endpoint_url: str | None = None
        self._wakeups = _Wakeups()

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    # ------------------------------------------------------------ addressing

    def _endpoint(self, ctx: RequestContext) -> str:
        endpoint = getattr(ctx, "endpoint_url", None)
        if isinstance(endpoint, str) and endpoint:
            return endpoint.rstrip("/")
        if self.endpoint_url:
            return self.endpoint_url.rstrip("/")
        host = self.settings.host if self.settings.host not in ("0.0.0.0", "::", "") else "localhost"
        return f"http://{host}:{self.settings.port}"

    def queue_url(self, ctx: RequestContext, queue: store.Queue) -> str:
        return f"{self._endpoint(ctx)}/{queue.account_id}/{queue.name}"

    def _queue(self, conn: Any, url: object) -> store.Queue:
        """The queue a ``QueueUrl`` names (its last path segment), or ``QueueDoesNotExist``."""
        if not isinstance(url, str) or not url.strip():
            raise missing_parameter("QueueUrl")
        name = url.strip().rstrip("/").rsplit("/", 1)[-1]
        queue = store.get_queue(conn, name)
        if queue is None:
            raise queue_does_not_exist()
        return queue

    @staticmethod
    def _effective(queue: store.Queue) -> dict[str, str]:
        return {**ATTRIBUTE_DEFAULTS, **queue.attributes}

    # ------------------------------------------------------------ queues

    def CreateQueue(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("QueueName")
        if not isinstance(name, str) or not name:
            raise missing_parameter("QueueName")
        base = name[: -len(".fifo")] if name.endswith(".fifo") else name
        if not QUEUE_NAME_RE.fullmatch(base) or len(name) > 80:
            raise invalid_parameter(
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
            )
        attributes = validate_queue_attributes(name, dict(params.get("Attributes") or {}))
        if name.endswith(".fifo") and attributes.get("FifoQueue") != "true":
            raise invalid_parameter(
                "The queue name ends with .fifo but the FifoQueue attribute is not set to true."
            )
        now_s = int(self.clock())
        with self.db.transaction() as conn:
            existing = store.get_queue(conn, name)
            if existing is not None:
                current = self._effective(existing)
                differing = [k for k, v in attributes.items() if current.get(k, "") != v]
                if differing:
                    raise SqsError(
                        "QueueNameExists",
                        "A queue already exists with the same name and a different value for attribute(s) "
                        + ", ".join(differing),
                        "QueueAlreadyExists",
                    )
                return {"QueueUrl": self.queue_url(ctx, existing)}
            store.create_queue(
                conn,
                name,
                account_id=ctx.account_id,
                region=ctx.region,
                attributes=attributes,
                tags=dict(params.get("tags") or {}),
                now_s=now_s,
            )
            queue = store.get_queue(conn, name)
        assert queue is not None
        return {"QueueUrl": self.queue_url(ctx, queue)}

    def GetQueueUrl(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("QueueName")
        if not isinstance(name, str) or not name:
            raise missing_parameter("QueueName")
        with self.db.read() as conn:
            queue = store.get_queue(conn, name)
        if queue is None:
            raise queue_does_not_exist()
        return {"QueueUrl": self.queue_url(ctx, queue)}

    def ListQueues(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        prefix = params.get("QueueNamePrefix") or ""
        max_results = params.get("MaxResults")
        if max_results is not None and (not isinstance(max_results, int) or not 1 <= max_results <= 1000):
            raise invalid_parameter(
                "Value for parameter MaxResults is invalid. Reason: must be between 1 and 1000."
            )
        if params.get("NextToken") and max_results is None:
            raise invalid_parameter(
                "MaxResults is a mandatory parameter when you provide a value for NextToken."
            )
        after = ""
        if params.get("NextToken"):
            try:
                after = base64.urlsafe_b64decode(str(params["NextToken"]).encode()).decode()
            except (binascii.Error, UnicodeError, ValueError) as exc:
                raise invalid_parameter("Invalid NextToken value.") from exc
        limit = max_results or 1000
        with self.db.read() as conn:
            queues = store.list_queues(conn, prefix=prefix, after=after, limit=limit + 1)
        out: dict[str, Any] = {"QueueUrls": [self.queue_url(ctx, q) for q in queues[:limit]]}
        if max_results is not None and len(queues) > limit:
            out["NextToken"] = base64.urlsafe_b64encode(queues[limit - 1].name.encode()).decode()
        return out

    def DeleteQueue(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as conn:
            queue = self._queue(conn, params.get("QueueUrl"))
            store.delete_queue(conn, queue.name)
        self._wakeups.notify(queue.name)
        return {}

    def GetQueueAttributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        names = list(params.get("AttributeNames") or [])
        for name in names:
            if name != "All" and name not in ATTRIBUTE_DEFAULTS and name not in OTHER_SETTABLE | READ_ONLY:
                raise SqsError("InvalidAttributeName", f"Unknown Attribute {name}.")
        now = self._now_ms()
        with self.db.read() as conn:
            queue = self._queue(conn, params.get("QueueUrl"))
            counts = store.counts(conn, queue.name, now)
        values = {
            **self._effective(queue),
            "QueueArn": queue.arn,
            "ApproximateNumberOfMessages": str(counts.visible),
            "ApproximateNumberOfMessagesNotVisible": str(counts.in_flight),
            "ApproximateNumberOfMessagesDelayed": str(counts.delayed),
            "CreatedTimestamp": str(queue.created_s),
            "LastModifiedTimestamp": str(queue.modified_s),
            "SqsManagedSseEnabled": queue.attributes.get("SqsManagedSseEnabled", "false"),
        }
        wanted = values if "All" in names else {n: values[n] for n in names if n in values}
        return {"Attributes": wanted} if wanted else {}

    def SetQueueAttributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        raw = params.get("Attributes")
        if not isinstance(raw, dict):
            raise missing_parameter("Attributes")
        with self.db.transaction() as conn:
            queue = self._queue(conn, params.get("QueueUrl"))
            changes = validate_queue_attributes(queue.name, raw)
            if "FifoQueue" in changes and changes["FifoQueue"] != queue.attributes.get("FifoQueue", "false"):
                raise SqsError("InvalidAttributeName", "Unknown Attribute FifoQueue.")
            store.set_attributes(conn, queue.name, {**queue.attributes, **changes}, int(self.clock()))
        return {}

    def PurgeQueue(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        now = self._now_ms()
        with self.db.transaction() as conn:
            queue = self._queue(conn, params.get("QueueUrl"))
            if queue.purged_ms is not None and now - queue.purged_ms < PURGE_INTERVAL_MS:
                raise SqsError(
                    "PurgeQueueInProgress",
                    f"Only one PurgeQueue operation on {queue.name} is allowed every 60 seconds.",
                    "AWS.SimpleQueueService.PurgeQueueInProgress",
                )
            store.purge(conn, queue.name, now)
        return {}

    def TagQueue(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as conn:
            queue = self._queue(conn, params.get("QueueUrl"))
            store.set_tags(conn, queue.name, {**queue.tags, **dict(params.get("Tags") or {})})
        return {}

    def UntagQueue(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        remove = set(params.get("TagKeys") or [])
        with self.db.transaction() as conn:
            queue = self._queue(conn, params.get("QueueUrl"))
            store.set_tags(conn, queue.name, {k: v for k, v in queue.tags.items() if k not in remove})
        return {}

    def ListQueueTags(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with self.db.read() as conn:
            queue = self._queue(conn, params.get("QueueUrl"))
        return {"Tags": queue.tags} if queue.tags else {}

    def ListDeadLetterSourceQueues(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with self.db.read() as conn:
            target = self._queue(conn, params.get("QueueUrl"))
            sources = [q for q in store.all_queues(conn) if self._dead_letter_arn(q) == target.arn]
        return {"queueUrls": [self.queue_url(ctx, q) for q in sources]}

    @staticmethod
    def _dead_letter_arn(queue: store.Queue) -> str | None:
        policy = queue.attributes.get("RedrivePolicy")
        if not policy:
            return None
        target = json.loads(policy).get("deadLetterTargetArn")
        return str(target) if target else None

    # ------------------------------------------------------------ sending

    def _prepare(
        self,
        conn: Any,
        queue: store.Queue,
        entry: dict[str, Any],
        sender: str,
    ) -> tuple[store.NewMessage | None, dict[str, Any]]:
        """Validate one message for ``queue``; ``None`` when FIFO deduplication drops it."""
        settings = self._effective(queue)
        attributes, attributes_size = check_message_attributes(entry.get("MessageAttributes"))
        system_raw = entry.get("MessageSystemAttributes")
        system_attrs, _ = check_message_attributes(system_raw, "MessageSystemAttributes")
        if set(system_attrs) - {"AWSTraceHeader"}:
            raise invalid_parameter("Message system attribute name must be AWSTraceHeader.")
        body = check_body(entry.get("MessageBody"), int(settings["MaximumMessageSize"]), attributes_size)
        delay = entry.get("DelaySeconds")
        fifo = settings.get("FifoQueue") == "true"
        if delay is not None:
            if fifo:
                raise invalid_parameter(
                    f"Value {delay} for parameter DelaySeconds is invalid. Reason: The request include "
                    "parameter that is not valid for this queue type."
                )
            _number_param("DelaySeconds", delay, 0, 900)
        delay_s = int(delay) if delay is not None else int(settings["DelaySeconds"])
        system: dict[str, str] = {"SenderId": sender}
        if "AWSTraceHeader" in system_attrs:
            system["AWSTraceHeader"] = system_attrs["AWSTraceHeader"]["StringValue"]
        result: dict[str, Any] = {"MD5OfMessageBody": md5_hex(body.encode("utf-8"))}
        if attributes:
            result["MD5OfMessageAttributes"] = md5_of_attributes(_wire_attributes(attributes))
        if system_attrs:
            result["MD5OfMessageSystemAttributes"] = md5_of_attributes(_wire_attributes(system_attrs))
        group, dedup = entry.get("MessageGroupId"), entry.get("MessageDeduplicationId")
        if fifo:
            if not group:
                raise missing_parameter("MessageGroupId")
            if not dedup:
                if settings.get("ContentBasedDeduplication") != "true":
                    raise invalid_parameter(
                        "The queue should either have ContentBasedDeduplication enabled or "
                        "MessageDeduplicationId provided explicitly"
                    )
                dedup = hashlib.sha256(body.encode("utf-8")).hexdigest()
            duplicate = store.find_duplicate(conn, queue.name, str(dedup), self._now_ms() - DEDUP_WINDOW_MS)
            if duplicate is not None:
                result["MessageId"] = duplicate.message_id
                result["SequenceNumber"] = duplicate.system_attributes.get("SequenceNumber", "")
                return None, result
            system["MessageGroupId"] = str(group)
            system["MessageDeduplicationId"] = str(dedup)
            system["SequenceNumber"] = f"{store.next_sequence_number(conn, queue.name):020d}"
            result["SequenceNumber"] = system["SequenceNumber"]
        elif group is not None or dedup is not None:
            field = "MessageGroupId" if group is not None else "MessageDeduplicationId"
            raise invalid_parameter(
                f"Value {group if group is not None else dedup} for parameter {field} is invalid. "
                "Reason: The request include parameter that is not valid for this queue type."
            )
        message_id = str(uuid.uuid4())
        result["MessageId"] = message_id
        return store.NewMessage(
            message_id, body, result["MD5OfMessageBody"], attributes, system, delay_s * 1000
        ), result

    def SendMessage(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as conn:
            queue = self._queue(conn, params.get("QueueUrl"))
            message, result = self._prepare(conn, queue, params, ctx.account_id)
            if message is not None:
                store.add_messages(conn, queue.name, [message], self._now_ms())
        self._wakeups.notify(queue.name)
        return result

    def SendMessageBatch(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        entries = _batch_entries(params.get("Entries"), "SendMessageBatch")
        successful: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        with self.db.transaction() as conn:
            queue = self._queue(conn, params.get("QueueUrl"))
            limit = int(self._effective(queue)["MaximumMessageSize"])
            total = sum(len(str(e.get("MessageBody") or "").encode("utf-8")) for e in entries)
            if total > limit:
                raise SqsError(
                    "BatchRequestTooLong",
                    f"Batch requests cannot be longer than {limit} bytes. You have sent {total} bytes.",
                    "AWS.SimpleQueueService.BatchRequestTooLong",
                )
            messages: list[store.NewMessage] = []
            for entry in entries:
                try:
                    message, result = self._prepare(conn, queue, entry, ctx.account_id)
                except SqsError as error:
                    failed.append(_failure(entry["Id"], error))
                    continue
                if message is not None:
                    messages.append(message)
                successful.append({"Id": entry["Id"], **result})
            store.add_messages(conn, queue.name, messages, self._now_ms())
        self._wakeups.notify(queue.name)
        return {"Successful": successful, "Failed": failed}

    def send_message_internal(self, queue_arn: str, body: str, attributes: dict[str, dict[str, Any]]) -> str:
        """Send ``body`` to the queue with ARN ``queue_arn`` on behalf of EventBridge or a DLQ.

        ``attributes`` uses the ``MessageAttributes`` shape (``DataType`` with ``StringValue`` or
        ``BinaryValue``).  FIFO queues get the queue name as message group and content-based
        deduplication.  Returns the message id; raises :class:`SqsError` ``QueueDoesNotExist`` when
        no queue has that ARN's name, or the validation error of an invalid message.
        """
        name = queue_arn.rsplit(":", 1)[-1]
        with self.db.transaction() as conn:
            queue = store.get_queue(conn, name)
            if queue is None:
                raise queue_does_not_exist()
            entry: dict[str, Any] = {"MessageBody": body, "MessageAttributes": attributes or None}
            if self._effective(queue).get("FifoQueue") == "true":
                entry["MessageGroupId"] = queue.name
                entry["MessageDeduplicationId"] = hashlib.sha256(body.encode("utf-8")).hexdigest()
            message, result = self._prepare(conn, queue, entry, queue.account_id)
            if message is not None:
                store.add_messages(conn, queue.name, [message], self._now_ms())
        self._wakeups.notify(queue.name)
        return str(result["MessageId"])

    # ------------------------------------------------------------ receiving

    def _receive_now(self, params: dict[str, Any]) -> tuple[list[dict[str, Any]], int | None]:
        """One receive attempt: the messages, and when a hidden message reappears if none came."""
        max_messages = _number_param(
            "MaxNumberOfMessages", params.get("MaxNumberOfMessages", 1), 1, MAX_BATCH
        )
        now = self._now_ms()
        with self.db.transaction() as conn:
            queue = self._queue(conn, params.get("QueueUrl"))
            settings = self._effective(queue)
            visibility = params.get("VisibilityTimeout")
            visibility_s = (
                int(settings["VisibilityTimeout"])
                if visibility is None
                else _number_param("VisibilityTimeout", visibility, 0, MAX_VISIBILITY)
            )
            max_receive, dead_letter = None, None
            target = self._dead_letter_arn(queue)
            if target:
                dlq = store.get_queue(conn, target.rsplit(":", 1)[-1])
                if dlq is not None and dlq.name != queue.name:
                    max_receive = int(json.loads(settings["RedrivePolicy"])["maxReceiveCount"])
                    dead_letter = dlq.name
            received = store.receive(
                conn,
                queue,
                now_ms=now,
                max_messages=max_messages,
                visibility_ms=visibility_s * 1000,
                new_handle=lambda seq: _receipt_handle(queue.name, seq),
                retention_ms=int(settings["MessageRetentionPeriod"]) * 1000,
                max_receive_count=max_receive,
                dead_letter_queue=dead_letter,
                fifo=settings.get("FifoQueue") == "true",
            )
            wake_at = None if received else store.next_visible_ms(conn, queue.name, now)
        if dead_letter is not None:
            self._wakeups.notify(dead_letter)
        wanted_system = set(params.get("AttributeNames") or [])
        wanted_system |= set(params.get("MessageSystemAttributeNames") or [])
        wanted_user = list(params.get("MessageAttributeNames") or [])
        return [self._render(m, wanted_system, wanted_user) for m in received], wake_at

    @staticmethod
    def _render(message: store.Message, system: set[str], user: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "MessageId": message.message_id,
            "ReceiptHandle": message.receipt_handle,
            "MD5OfBody": message.md5_body,
            "Body": message.body,
        }
        values = {
            **message.system_attributes,
            "SentTimestamp": str(message.sent_ms),
            "ApproximateReceiveCount": str(message.receive_count),
            "ApproximateFirstReceiveTimestamp": str(message.first_receive_ms or message.sent_ms),
        }
        chosen = {k: v for k, v in values.items() if "All" in system or k in system}
        if chosen:
            out["Attributes"] = chosen
        picked = {name: value for name, value in message.attributes.items() if _wanted(name, user)}
        if picked:
            wire = _wire_attributes(picked)
            out["MessageAttributes"] = wire
            out["MD5OfMessageAttributes"] = md5_of_attributes(wire)
        return out

    async def ReceiveMessage(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """Receive now, or wait up to ``WaitTimeSeconds`` until a send or a visibility expiry wakes us.

        Without ``WaitTimeSeconds`` the queue's ``ReceiveMessageWaitTimeSeconds`` applies.  The
        waiter is registered before each attempt, so a send that lands between the attempt and the
        wait still wakes it.  Sends by another process sharing the database file cannot wake it, so
        the queue is also re-read every ``RECHECK_SECONDS``.
        """
        wait = params.get("WaitTimeSeconds")
        if wait is not None:
            _number_param("WaitTimeSeconds", wait, 0, MAX_WAIT_SECONDS)
        else:
            with self.db.read() as conn:
                queue = self._queue(conn, params.get("QueueUrl"))
            wait = int(self._effective(queue)["ReceiveMessageWaitTimeSeconds"])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(wait)
        name = str(params.get("QueueUrl") or "").rstrip("/").rsplit("/", 1)[-1]
        while True:
            future = self._wakeups.register(name)
            try:
                messages, wake_at = self._receive_now(params)
                remaining = deadline - loop.time()
                if messages or remaining <= 0:
                    return {"Messages": messages} if messages else {}
                if wake_at is not None:
                    remaining = min(remaining, max(0.01, (wake_at - self._now_ms()) / 1000))
                remaining = min(remaining, RECHECK_SECONDS)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(future), timeout=remaining)
            finally:
                self._wakeups.unregister(name, future)

    # ------------------------------------------------------------ deleting and visibility

    def _locate(self, conn: Any, queue: store.Queue, handle: object) -> store.Message | None:
        """The message a receipt handle designates (``None`` once deleted); invalid handles raise."""
        parsed = _parse_receipt_handle(handle)
        if parsed is None or parsed[0] != queue.name:
            raise receipt_handle_invalid(handle)
        return store.get_message(conn, queue.name, parsed[1])

    def _delete(self, conn: Any, queue: store.Queue, handle: object) -> None:
        message = self._locate(conn, queue, handle)
        if message is not None:
            store.delete_message(conn, queue.name, message.seq)

    def _change_visibility(self, conn: Any, queue: store.Queue, handle: object, timeout: object) -> None:
        seconds = _number_param("VisibilityTimeout", timeout, 0, MAX_VISIBILITY)
        message = self._locate(conn, queue, handle)
        if message is None or message.receipt_handle != handle:
            raise receipt_handle_invalid(handle)
        now = self._now_ms()
        if message.visible_ms <= now:
            raise SqsError(
                "MessageNotInflight",
                "Value " + str(handle) + " for parameter ReceiptHandle is invalid. Reason: Message does "
                "not exist or is not available for visibility timeout change.",
                "AWS.SimpleQueueService.MessageNotInflight",
            )
        store.set_visible_at(conn, queue.name, message.seq, now + seconds * 1000)

    def DeleteMessage(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("ReceiptHandle"):
            raise missing_parameter("ReceiptHandle")
        with self.db.transaction() as conn:
            queue = self._queue(conn, params.get("QueueUrl"))
            self._delete(conn, queue, params["ReceiptHandle"])
        return {}

    def DeleteMessageBatch(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        entries = _batch_entries(params.get("Entries"), "DeleteMessageBatch")
        return self._batch(
            params, entries, lambda conn, queue, e: self._delete(conn, queue, e.get("ReceiptHandle"))
        )

    def ChangeMessageVisibility(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        with self.db.transaction() as conn:
            queue = self._queue(conn, params.get("QueueUrl"))
            self._change_visibility(conn, queue, params.get("ReceiptHandle"), params.get("VisibilityTimeout"))
        self._wakeups.notify(queue.name)
        return {}

    def ChangeMessageVisibilityBatch(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        entries = _batch_entries(params.get("Entries"), "ChangeMessageVisibilityBatch")
        out = self._batch(
            params,
            entries,
            lambda conn, queue, e: self._change_visibility(
                conn, queue, e.get("ReceiptHandle"), e.get("VisibilityTimeout", 0)
            ),
        )
        self._wakeups.notify(str(params.get("QueueUrl") or "").rstrip("/").rsplit("/", 1)[-1])
        return out

    def _batch(
        self,
        params: dict[str, Any],
        entries: list[dict[str, Any]],
        action: Callable[[Any, store.Queue, dict[str, Any]], None],
    ) -> dict[str, Any]:
        successful: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        with self.db.transaction() as conn:
            queue = self._queue(conn, params.get("QueueUrl"))
            for entry in entries:
                try:
                    action(conn, queue, entry)
                except SqsError as error:
                    failed.append(_failure(entry["Id"], error))
                else:
                    successful.append({"Id": entry["Id"]})
        return {"Successful": successful, "Failed": failed}


def _wanted(name: str, patterns: list[str]) -> bool:
    """``MessageAttributeNames`` matching: ``All``, ``.*``, an exact name or a ``prefix.*``."""
    return any(
        p in ("All", ".*") or p == name or (p.endswith(".*") and name.startswith(p[:-1])) for p in patterns
    )


def _receipt_handle(queue: str, seq: int) -> str:
    raw = f"{queue}\n{seq}\n{uuid.uuid4().hex}{uuid.uuid4().hex}".encode()
    return base64.urlsafe_b64encode(raw).decode()


def _parse_receipt_handle(handle: object) -> tuple[str, int] | None:
    if not isinstance(handle, str) or not handle:
        return None
    try:
        parts = base64.urlsafe_b64decode(handle.encode("ascii")).decode("utf-8").split("\n")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])
