"""The events outbox: every ``Batch Job State Change`` is written here in its transition's transaction.

Contract for producers: call :func:`append_event` with the connection of the transaction that
applies the status change, so the event exists if and only if the change committed; after the
commit, call :func:`notify` (or ``Outbox.notify``) to wake the consumers at once.  ``event_id`` is
unique, so an event is never stored twice.

Contract for the consumer (the EventBridge bus):

* Consumption is a cursor, not a mark per row: the consumer has taken every event up to
  :func:`consumed_up_to` and none after it.  Positions become visible in order (one writer at a
  time, ``BEGIN IMMEDIATE``; a position is assigned inside the writing transaction), so no event
  can later appear behind the cursor.  Moving the cursor is one row update however many events it
  passes, and the producers' inserts touch no index of consumption (``outbox-0003`` replaced the
  per-row ``consumed_at`` marks, which stay as they were in older databases).
* Inside its own write transaction the consumer reads :func:`pending_rows` (positions, envelope
  columns and stored JSON texts, unparsed), writes what it derives from them and calls
  :func:`advance`; or, when it needs none of them, moves the cursor to :func:`last_position`
  without reading them at all.
* ``Outbox(db).read(after=position, limit=n)`` returns unconsumed events with ``position > after``
  in commit order (:class:`OutboxEvent`: ``position``, ``event_id``, ``event`` as a dict with the
  envelope key order preserved, ``created_at`` in epoch ms).
* ``mark_consumed(positions)`` moves the cursor to the highest of ``positions``: the events before
  it count as consumed too (the consumer takes them in order).
* Wake-up: ``await outbox.wait(timeout)`` returns ``True`` as soon as a producer called
  :func:`notify` for the same database since the last ``wait`` (or ``False`` on timeout), so the bus
  can sleep between batches instead of polling tightly.  ``add_listener(callback)`` registers a
  plain callable called (in the notifying thread) after each commit with new events.  Both are
  in-process; another process on the same file finds new rows by polling ``read``.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from batchbridge.store.db import Database
from batchbridge.store.signals import signal_for

TOPIC = "outbox"

MIGRATIONS: Sequence[tuple[str, str]] = (
    (
        "outbox-0001",
        """
        CREATE TABLE outbox (
            position INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            source TEXT NOT NULL,
            detail_type TEXT NOT NULL,
            body TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            consumed_at INTEGER
        );
        CREATE INDEX outbox_unconsumed ON outbox(position) WHERE consumed_at IS NULL;
        """,
    ),
    (
        "outbox-0002",
        """
        ALTER TABLE outbox ADD COLUMN job_id TEXT;
        UPDATE outbox SET job_id = json_extract(body, '$.detail.jobId');
        CREATE INDEX outbox_by_job ON outbox(job_id, position) WHERE job_id IS NOT NULL;
        """,
    ),
    (
        "outbox-0003",
        """
        CREATE TABLE outbox_cursor (
            consumer TEXT PRIMARY KEY,
            position INTEGER NOT NULL
        );
        INSERT INTO outbox_cursor(consumer, position) VALUES ('bus', COALESCE(
            (SELECT MIN(position) - 1 FROM outbox WHERE consumed_at IS NULL),
            (SELECT MAX(position) FROM outbox),
            0
        ));
        DROP INDEX outbox_unconsumed;
        """,
    ),
)

#: The one consumer of the outbox (the EventBridge dispatcher).
CONSUMER = "bus"


@dataclasses.dataclass(frozen=True)
class OutboxEvent:
    """One stored event: ``event`` parsed, ``body`` the stored JSON text it was parsed from."""

    position: int
    event_id: str
    event: dict[str, Any]
    created_at: int
    consumed: bool
    body: str = ""


def encode_event(event: dict[str, Any]) -> str:
    """The stored form of an event: compact UTF-8 JSON (no ``\\u`` escapes), as buses store it."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


_INSERT = (
    "INSERT INTO outbox(event_id, source, detail_type, body, created_at, job_id) VALUES (?, ?, ?, ?, ?, ?)"
)


def append_event(conn: sqlite3.Connection, event: dict[str, Any]) -> int:
    """Store ``event`` (an EventBridge envelope) inside the caller's transaction; return its position."""
    cur = conn.execute(
        _INSERT,
        (
            event["id"],
            event["source"],
            event["detail-type"],
            encode_event(event),
            int(time.time() * 1000),
            _job_id(event),
        ),
    )
    return int(cur.lastrowid or 0)


def append_events(conn: sqlite3.Connection, events: Iterable[dict[str, Any]]) -> None:
    """Store many events in one ``executemany`` inside the caller's transaction."""
    now = int(time.time() * 1000)
    conn.executemany(
        _INSERT,
        [(e["id"], e["source"], e["detail-type"], encode_event(e), now, _job_id(e)) for e in events],
    )


def append_encoded(conn: sqlite3.Connection, rows: Iterable[tuple[str, str, str, str, str | None]]) -> None:
    """Store events already encoded by :func:`encode_event`'s rules, in one ``executemany``.

    Each row is ``(event id, source, detail-type, body, job id)``; ``body`` must be the compact
    UTF-8 JSON of the whole envelope, exactly what :func:`encode_event` would produce.
    """
    now = int(time.time() * 1000)
    conn.executemany(_INSERT, [(i, s, t, b, now, j) for i, s, t, b, j in rows])


def _job_id(event: dict[str, Any]) -> str | None:
    detail = event.get("detail")
    job_id = detail.get("jobId") if isinstance(detail, dict) else None
    return job_id if isinstance(job_id, str) else None


def events_for_job(conn: sqlite3.Connection, job_id: str) -> list[dict[str, Any]]:
    """Every event the job produced, in the order they were written (for ``explain --job``)."""
    rows = conn.execute("SELECT body FROM outbox WHERE job_id = ? ORDER BY position", (job_id,)).fetchall()
    return [json.loads(row["body"]) for row in rows]


def consumed_up_to(conn: sqlite3.Connection) -> int:
    """The position of the last event the consumer has taken (0 before the first)."""
    row = conn.execute("SELECT position FROM outbox_cursor WHERE consumer = ?", (CONSUMER,)).fetchone()
    return 0 if row is None else int(row[0])


def last_position(conn: sqlite3.Connection) -> int:
    """The highest position written so far (0 for an empty outbox); one step down the rowid tree."""
    row = conn.execute("SELECT MAX(position) FROM outbox").fetchone()
    return 0 if row is None or row[0] is None else int(row[0])


class PendingRow(NamedTuple):
    """An unconsumed outbox row as the consumer reads it: the envelope columns and the body text."""

    position: int
    event_id: str
    source: str
    detail_type: str
    job_id: str | None
    body: str


def pending_rows(conn: sqlite3.Connection, after: int, limit: int) -> list[PendingRow]:
    """The rows after ``after``, in commit order, bodies unparsed."""
    rows = conn.execute(
        "SELECT position, event_id, source, detail_type, job_id, body FROM outbox "
        "WHERE position > ? ORDER BY position LIMIT ?",
        (after, limit),
    ).fetchall()
    return [PendingRow(*row) for row in rows]


def advance(conn: sqlite3.Connection, position: int) -> None:
    """Move the consumer's cursor forward to ``position`` (never backward), in ``conn``'s transaction."""
    conn.execute(
        "UPDATE outbox_cursor SET position = MAX(position, ?) WHERE consumer = ?", (position, CONSUMER)
    )


def notify(db: Database) -> None:
    """Wake the consumers of ``db``'s outbox; call it after the commit that wrote events."""
    signal_for(db, TOPIC).fire()


def _row(row: sqlite3.Row, cursor: int) -> OutboxEvent:
    position = int(row["position"])
    return OutboxEvent(
        position=position,
        event_id=str(row["event_id"]),
        event=json.loads(row["body"]),
        created_at=int(row["created_at"]),
        consumed=position <= cursor,
        body=str(row["body"]),
    )


class Outbox:
    """The consumer's view of the outbox; see the module docstring."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def read(self, after: int = 0, limit: int = 100) -> list[OutboxEvent]:
        """Unconsumed events after ``after`` in commit order."""
        with self.db.read() as conn:
            cursor = consumed_up_to(conn)
            rows = conn.execute(
                "SELECT * FROM outbox WHERE position > ? ORDER BY position LIMIT ?",
                (max(after, cursor), limit),
            ).fetchall()
        return [_row(r, cursor) for r in rows]

    def read_all(self, after: int = 0, limit: int = 1000) -> list[OutboxEvent]:
        """Every event after ``after`` in commit order, consumed or not (for inspection and tests)."""
        with self.db.read() as conn:
            cursor = consumed_up_to(conn)
            rows = conn.execute(
                "SELECT * FROM outbox WHERE position > ? ORDER BY position LIMIT ?", (after, limit)
            ).fetchall()
        return [_row(r, cursor) for r in rows]

    def mark_consumed(self, positions: Iterable[int], conn: sqlite3.Connection | None = None) -> None:
        """Move the cursor to the highest of ``positions`` (module docstring), in ``conn``'s
        transaction when given."""
        highest = max(positions, default=0)
        if highest <= 0:
            return
        if conn is not None:
            advance(conn, highest)
            return
        with self.db.transaction() as own:
            advance(own, highest)

    def notify(self) -> None:
        notify(self.db)

    def add_listener(self, callback: Callable[[], None]) -> None:
        signal_for(self.db, TOPIC).add_listener(callback)

    async def wait(self, timeout: float | None = None) -> bool:
        """Sleep until a producer notifies (``True``) or ``timeout`` seconds pass (``False``)."""
        return await signal_for(self.db, TOPIC).wait(timeout)
