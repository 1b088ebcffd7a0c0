"""SQS storage: queues and their messages, durable across restarts.

A message row carries what SQS tracks per message: its body and MD5, message attributes (JSON,
binary values base64-encoded by the service), system attributes, the time it was sent, the time
it becomes visible (``DelaySeconds`` on send, the visibility timeout after each receive), the
receive count, the first receive time and the receipt handle of the latest receive.

:func:`receive` is one transaction: it drops messages past the queue's retention period, moves
messages that have already been received ``maxReceiveCount`` times to the dead-letter queue named
by the queue's ``RedrivePolicy`` (SQS's redrive rule), then takes up to ``max_messages`` visible
messages in send order and hides each for the visibility timeout under a fresh receipt handle.

All queues live in one namespace per server; the account and region of the creator are kept to
build the queue's ARN.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

MIGRATIONS: Sequence[tuple[str, str]] = (
    (
        "sqs-0001",
        """
        CREATE TABLE sqs_queues (
            name TEXT PRIMARY KEY,
            account_id TEXT NOT NULL,
            region TEXT NOT NULL,
            created_s INTEGER NOT NULL,
            modified_s INTEGER NOT NULL,
            attributes TEXT NOT NULL,
            tags TEXT NOT NULL DEFAULT '{}',
            purged_ms INTEGER,
            sequence INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE sqs_messages (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            queue_name TEXT NOT NULL,
            message_id TEXT NOT NULL UNIQUE,
            body TEXT NOT NULL,
            md5_body TEXT NOT NULL,
            attributes TEXT NOT NULL DEFAULT '{}',
            system_attributes TEXT NOT NULL DEFAULT '{}',
            sent_ms INTEGER NOT NULL,
            visible_ms INTEGER NOT NULL,
            receive_count INTEGER NOT NULL DEFAULT 0,
            first_receive_ms INTEGER,
            receipt_handle TEXT
        );
        CREATE INDEX sqs_messages_ready ON sqs_messages (queue_name, visible_ms, seq);
        CREATE INDEX sqs_messages_receipt ON sqs_messages (receipt_handle);
        """,
    ),
)


@dataclasses.dataclass(frozen=True)
class Queue:
    name: str
    account_id: str
    region: str
    created_s: int
    modified_s: int
    attributes: dict[str, str]
    tags: dict[str, str]
    purged_ms: int | None

    @property
    def arn(self) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account_id}:{self.name}"


@dataclasses.dataclass(frozen=True)
class Message:
    seq: int
    queue_name: str
    message_id: str
    body: str
    md5_body: str
    attributes: dict[str, Any]
    system_attributes: dict[str, str]
    sent_ms: int
    visible_ms: int
    receive_count: int
    first_receive_ms: int | None
    receipt_handle: str | None


@dataclasses.dataclass(frozen=True)
class NewMessage:
    """A message to store: the service has validated it and computed its MD5 and id."""

    message_id: str
    body: str
    md5_body: str
    attributes: dict[str, Any]
    system_attributes: dict[str, str]
    delay_ms: int


@dataclasses.dataclass(frozen=True)
class Counts:
    visible: int
    in_flight: int
    delayed: int


# ---------------------------------------------------------------- queues


def _queue_from_row(row: sqlite3.Row) -> Queue:
    return Queue(
        name=row["name"],
        account_id=row["account_id"],
        region=row["region"],
        created_s=row["created_s"],
        modified_s=row["modified_s"],
        attributes=json.loads(row["attributes"]),
        tags=json.loads(row["tags"]),
        purged_ms=row["purged_ms"],
    )


def get_queue(conn: sqlite3.Connection, name: str) -> Queue | None:
    row = conn.execute("SELECT * FROM sqs_queues WHERE name = ?", (name,)).fetchone()
    return None if row is None else _queue_from_row(row)


def create_queue(
    conn: sqlite3.Connection,
    name: str,
    *,
    account_id: str,
    region: str,
    attributes: dict[str, str],
    tags: dict[str, str],
    now_s: int,
) -> None:
    conn.execute(
        "INSERT INTO sqs_queues (name, account_id, region, created_s, modified_s, attributes, tags) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (name, account_id, region, now_s, now_s, json.dumps(attributes), json.dumps(tags)),
    )


def delete_queue(conn: sqlite3.Connection, name: str) -> bool:
    cur = conn.execute("DELETE FROM sqs_queues WHERE name = ?", (name,))
    conn.execute("DELETE FROM sqs_messages WHERE queue_name = ?", (name,))
    return cur.rowcount > 0


def list_queues(conn: sqlite3.Connection, *, prefix: str, after: str, limit: int) -> list[Queue]:
    rows = conn.execute(
        "SELECT * FROM sqs_queues WHERE name > ? AND substr(name, 1, ?) = ? ORDER BY name LIMIT ?",
        (after, len(prefix), prefix, limit),
    ).fetchall()
    return [_queue_from_row(row) for row in rows]


def all_queues(conn: sqlite3.Connection) -> list[Queue]:
    return [_queue_from_row(row) for row in conn.execute("SELECT * FROM sqs_queues ORDER BY name")]


def set_attributes(conn: sqlite3.Connection, name: str, attributes: dict[str, str], now_s: int) -> None:
    conn.execute(
        "UPDATE sqs_queues SET attributes = ?, modified_s = ? WHERE name = ?",
        (json.dumps(attributes), now_s, name),
    )


def set_tags(conn: sqlite3.Connection, name: str, tags: dict[str, str]) -> None:
    conn.execute("UPDATE sqs_queues SET tags = ? WHERE name = ?", (json.dumps(tags), name))


def purge(conn: sqlite3.Connection, name: str, now_ms: int) -> None:
    conn.execute("DELETE FROM sqs_messages WHERE queue_name = ?", (name,))
    conn.execute("UPDATE sqs_queues SET purged_ms = ? WHERE name = ?", (now_ms, name))


def next_sequence_number(conn: sqlite3.Connection, name: str) -> int:
    """The next FIFO sequence number of the queue (strictly increasing per queue)."""
    conn.execute("UPDATE sqs_queues SET sequence = sequence + 1 WHERE name = ?", (name,))
    row = conn.execute("SELECT sequence FROM sqs_queues WHERE name = ?", (name,)).fetchone()
    return int(row[0])


# ---------------------------------------------------------------- messages


def _message_from_row(row: sqlite3.Row) -> Message:
    return Message(
        seq=row["seq"],
        queue_name=row["queue_name"],
        message_id=row["message_id"],
        body=row["body"],
        md5_body=row["md5_body"],
        attributes=json.loads(row["attributes"]),
        system_attributes=json.loads(row["system_attributes"]),
        sent_ms=row["sent_ms"],
        visible_ms=row["visible_ms"],
        receive_count=row["receive_count"],
        first_receive_ms=row["first_receive_ms"],
        receipt_handle=row["receipt_handle"],
    )


def add_messages(conn: sqlite3.Connection, queue: str, messages: Sequence[NewMessage], now_ms: int) -> None:
    """Store messages sent now; each becomes visible after its own delay."""
    conn.executemany(
        "INSERT INTO sqs_messages (queue_name, message_id, body, md5_body, attributes, system_attributes, "
        "sent_ms, visible_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                queue,
                m.message_id,
                m.body,
                m.md5_body,
                json.dumps(m.attributes),
                json.dumps(m.system_attributes),
                now_ms,
                now_ms + m.delay_ms,
            )
            for m in messages
        ],
    )


def find_duplicate(conn: sqlite3.Connection, queue: str, dedup_id: str, since_ms: int) -> Message | None:
    """A FIFO message of ``queue`` sent after ``since_ms`` with this deduplication id."""
    row = conn.execute(
        "SELECT * FROM sqs_messages WHERE queue_name = ? AND sent_ms >= ? "
        "AND json_extract(system_attributes, '$.MessageDeduplicationId') = ?",
        (queue, since_ms, dedup_id),
    ).fetchone()
    return None if row is None else _message_from_row(row)


def receive(
    conn: sqlite3.Connection,
    queue: Queue,
    *,
    now_ms: int,
    max_messages: int,
    visibility_ms: int,
    new_handle: Callable[[int], str],
    retention_ms: int,
    max_receive_count: int | None,
    dead_letter_queue: str | None,
    fifo: bool = False,
) -> list[Message]:
    """Receive up to ``max_messages`` visible messages of ``queue`` (see the module docstring).

    ``new_handle(seq)`` makes the receipt handle of each delivery.  For a FIFO queue, a message
    group with a message in flight yields nothing until that message is deleted or visible again.
    """
    conn.execute(
        "DELETE FROM sqs_messages WHERE queue_name = ? AND sent_ms < ?", (queue.name, now_ms - retention_ms)
    )
    if max_receive_count is not None and dead_letter_queue is not None:
        moved = conn.execute(
            "SELECT seq, system_attributes FROM sqs_messages WHERE queue_name = ? AND visible_ms <= ? "
            "AND receive_count >= ?",
            (queue.name, now_ms, max_receive_count),
        ).fetchall()
        conn.executemany(
            "UPDATE sqs_messages SET queue_name = ?, visible_ms = ?, receipt_handle = NULL, "
            "system_attributes = ? WHERE seq = ?",
            [
                (
                    dead_letter_queue,
                    now_ms,
                    json.dumps({**json.loads(row[1]), "DeadLetterQueueSourceArn": queue.arn}),
                    row[0],
                )
                for row in moved
            ],
        )
    if fifo:
        rows = conn.execute(
            "SELECT * FROM sqs_messages m WHERE queue_name = ? AND visible_ms <= ? AND NOT EXISTS ("
            " SELECT 1 FROM sqs_messages o WHERE o.queue_name = m.queue_name AND o.visible_ms > ?"
            " AND o.receive_count > 0 AND json_extract(o.system_attributes, '$.MessageGroupId') ="
            " json_extract(m.system_attributes, '$.MessageGroupId')) ORDER BY seq LIMIT ?",
            (queue.name, now_ms, now_ms, max_messages),
        ).fetchall()
    else:
        rows = conn.execute(
            "SELECT * FROM sqs_messages WHERE queue_name = ? AND visible_ms <= ? ORDER BY seq LIMIT ?",
            (queue.name, now_ms, max_messages),
        ).fetchall()
    received: list[Message] = []
    for row in rows:
        message = _message_from_row(row)
        received.append(
            dataclasses.replace(
                message,
                visible_ms=now_ms + visibility_ms,
                receive_count=message.receive_count + 1,
                first_receive_ms=message.first_receive_ms or now_ms,
                receipt_handle=new_handle(message.seq),
            )
        )
    conn.executemany(
        "UPDATE sqs_messages SET visible_ms = ?, receive_count = ?, first_receive_ms = ?, receipt_handle = ? "
        "WHERE seq = ?",
        [(m.visible_ms, m.receive_count, m.first_receive_ms, m.receipt_handle, m.seq) for m in received],
    )
    return received


def get_message(conn: sqlite3.Connection, queue: str, seq: int) -> Message | None:
    row = conn.execute("SELECT * FROM sqs_messages WHERE queue_name = ? AND seq = ?", (queue, seq)).fetchone()
    return None if row is None else _message_from_row(row)


def delete_message(conn: sqlite3.Connection, queue: str, seq: int) -> None:
    conn.execute("DELETE FROM sqs_messages WHERE queue_name = ? AND seq = ?", (queue, seq))


def set_visible_at(conn: sqlite3.Connection, queue: str, seq: int, visible_ms: int) -> None:
    conn.execute(
        "UPDATE sqs_messages SET visible_ms = ? WHERE queue_name = ? AND seq = ?", (visible_ms, queue, seq)
    )


def counts(conn: sqlite3.Connection, queue: str, now_ms: int) -> Counts:
    """``ApproximateNumberOfMessages`` (visible), ``...NotVisible`` (in flight) and ``...Delayed``."""
    row = conn.execute(
        "SELECT "
        "coalesce(sum(visible_ms <= ?), 0), "
        "coalesce(sum(visible_ms > ? AND receive_count > 0), 0), "
        "coalesce(sum(visible_ms > ? AND receive_count = 0), 0) "
        "FROM sqs_messages WHERE queue_name = ?",
        (now_ms, now_ms, now_ms, queue),
    ).fetchone()
    return Counts(int(row[0]), int(row[1]), int(row[2]))


def next_visible_ms(conn: sqlite3.Connection, queue: str, now_ms: int) -> int | None:
    """When the next hidden message of ``queue`` becomes visible, if any is hidden."""
    row = conn.execute(
        "SELECT min(visible_ms) FROM sqs_messages WHERE queue_name = ? AND visible_ms > ?", (queue, now_ms)
    ).fetchone()
    return None if row[0] is None else int(row[0])
