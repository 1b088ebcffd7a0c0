"""CloudWatch Logs storage: log groups, log streams and their events.

Events are rows numbered by one monotonically increasing id (SQLite ``AUTOINCREMENT``), so the id
orders events in the order they were ingested and never repeats, even after deletes.  Within a
stream this order is the timestamp order AWS reports whenever producers append in time order,
which the job engine and the Lambda runtime do; events appended out of time order across batches
are reported in ingestion order (a documented simplification of AWS's timestamp sort).

:func:`append_log_events` is the hot path shared by the job engine and the Lambda runtime: it
takes the caller's connection (so it joins the caller's transaction), creates the group and the
stream when missing, and writes any number of events with one ``executemany`` and a constant
number of other statements.

``GetLogEvents`` tokens follow AWS's visible shape, ``f/<56 digits>/s`` and ``b/<56 digits>/s``:
a forward token ``f/N`` reads events with an id above ``N``; a backward token ``b/N`` reads the
events just below id ``N``.  When a forward read finds nothing new, the same forward token comes
back, which is how clients (``aws logs tail``, ``batchbridge logs --follow``) detect the end.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from typing import Any

from batchbridge.store.db import Database

MIGRATIONS: Sequence[tuple[str, str]] = (
    (
        "logs-0001",
        """
        CREATE TABLE log_groups (
            name TEXT PRIMARY KEY,
            created_ms INTEGER NOT NULL,
            retention_days INTEGER,
            tags TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE log_streams (
            group_name TEXT NOT NULL,
            name TEXT NOT NULL,
            created_ms INTEGER NOT NULL,
            first_event_ms INTEGER,
            last_event_ms INTEGER,
            last_ingestion_ms INTEGER,
            sequence INTEGER NOT NULL DEFAULT 0,
            stored_bytes INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (group_name, name)
        );
        CREATE TABLE log_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            group_name TEXT NOT NULL,
            stream_name TEXT NOT NULL,
            timestamp_ms INTEGER NOT NULL,
            ingestion_ms INTEGER NOT NULL,
            message TEXT NOT NULL
        );
        CREATE INDEX log_events_by_stream ON log_events (group_name, stream_name, id);
        CREATE INDEX log_events_by_group ON log_events (group_name, id);
        """,
    ),
)

#: Width of the number inside a ``GetLogEvents`` token, as in AWS's tokens.
TOKEN_DIGITS = 56


@dataclasses.dataclass(frozen=True)
class LogGroup:
    name: str
    created_ms: int
    retention_days: int | None
    tags: dict[str, str]
    stored_bytes: int


@dataclasses.dataclass(frozen=True)
class LogStream:
    group_name: str
    name: str
    created_ms: int
    first_event_ms: int | None
    last_event_ms: int | None
    last_ingestion_ms: int | None
    sequence: int
    stored_bytes: int


@dataclasses.dataclass(frozen=True)
class LogEvent:
    id: int
    stream_name: str
    timestamp_ms: int
    ingestion_ms: int
    message: str


@dataclasses.dataclass(frozen=True)
class LogEventsPage:
    """One ``GetLogEvents`` page: events oldest first and the two continuation tokens."""

    events: list[LogEvent]
    forward_token: str
    backward_token: str


def now_ms() -> int:
    return int(time.time() * 1000)


def sequence_token(sequence: int) -> str:
    """An upload sequence token in AWS's shape (a long decimal number), derived from a counter."""
    return f"{sequence:056d}"


def forward_token(event_id: int) -> str:
    return f"f/{event_id:0{TOKEN_DIGITS}d}/s"


def backward_token(event_id: int) -> str:
    return f"b/{event_id:0{TOKEN_DIGITS}d}/s"


def parse_events_token(token: str) -> tuple[str, int]:
    """``("f", n)`` or ``("b", n)``; ``ValueError`` for anything that is not one of our tokens."""
    parts = token.split("/")
    if len(parts) not in (2, 3) or parts[0] not in ("f", "b") or not parts[1].isdigit():
        raise ValueError(f"not a log events token: {token!r}")
    if len(parts) == 3 and parts[2] != "s":
        raise ValueError(f"not a log events token: {token!r}")
    return parts[0], int(parts[1])


# ---------------------------------------------------------------- groups


def create_group(conn: sqlite3.Connection, name: str, *, tags: dict[str, str], created_ms: int) -> bool:
    """Create a group; ``False`` when one with that name already exists."""
    cur = conn.execute(
        "INSERT OR IGNORE INTO log_groups (name, created_ms, tags) VALUES (?, ?, ?)",
        (name, created_ms, json.dumps(tags, sort_keys=True)),
    )
    return cur.rowcount > 0


def delete_group(conn: sqlite3.Connection, name: str) -> bool:
    """Delete a group with its streams and events; ``False`` when it did not exist."""
    cur = conn.execute("DELETE FROM log_groups WHERE name = ?", (name,))
    if cur.rowcount == 0:
        return False
    conn.execute("DELETE FROM log_streams WHERE group_name = ?", (name,))
    conn.execute("DELETE FROM log_events WHERE group_name = ?", (name,))
    return True


def _group_from_row(row: sqlite3.Row) -> LogGroup:
    return LogGroup(
        name=row["name"],
        created_ms=row["created_ms"],
        retention_days=row["retention_days"],
        tags=json.loads(row["tags"]),
        stored_bytes=row["stored_bytes"] or 0,
    )


_GROUP_SELECT = (
    "SELECT g.name, g.created_ms, g.retention_days, g.tags, "
    "(SELECT SUM(s.stored_bytes) FROM log_streams s WHERE s.group_name = g.name) AS stored_bytes "
    "FROM log_groups g"
)


def get_group(conn: sqlite3.Connection, name: str) -> LogGroup | None:
    row = conn.execute(f"{_GROUP_SELECT} WHERE g.name = ?", (name,)).fetchone()
    return None if row is None else _group_from_row(row)


def list_groups(conn: sqlite3.Connection, *, prefix: str, after: str, limit: int) -> list[LogGroup]:
    """Groups whose name starts with ``prefix`` and sorts after ``after``, by name, at most ``limit``."""
    rows = conn.execute(
        f"{_GROUP_SELECT} WHERE g.name > ? AND substr(g.name, 1, ?) = ? ORDER BY g.name LIMIT ?",
        (after, len(prefix), prefix, limit),
    ).fetchall()
    return [_group_from_row(row) for row in rows]


def set_retention(conn: sqlite3.Connection, name: str, days: int | None) -> bool:
    cur = conn.execute("UPDATE log_groups SET retention_days = ? WHERE name = ?", (days, name))
    return cur.rowcount > 0


def set_tags(conn: sqlite3.Connection, name: str, tags: dict[str, str]) -> bool:
    cur = conn.execute(
        "UPDATE log_groups SET tags = ? WHERE name = ?", (json.dumps(tags, sort_keys=True), name)
    )
    return cur.rowcount > 0


# ---------------------------------------------------------------- streams


def create_stream(conn: sqlite3.Connection, group: str, name: str, *, created_ms: int) -> bool:
    """Create a stream in an existing group; ``False`` when the stream already exists."""
    cur = conn.execute(
        "INSERT OR IGNORE INTO log_streams (group_name, name, created_ms) VALUES (?, ?, ?)",
        (group, name, created_ms),
    )
    return cur.rowcount > 0


def delete_stream(conn: sqlite3.Connection, group: str, name: str) -> bool:
    cur = conn.execute("DELETE FROM log_streams WHERE group_name = ? AND name = ?", (group, name))
    if cur.rowcount == 0:
        return False
    conn.execute("DELETE FROM log_events WHERE group_name = ? AND stream_name = ?", (group, name))
    return True


def _stream_from_row(row: sqlite3.Row) -> LogStream:
    return LogStream(
        group_name=row["group_name"],
        name=row["name"],
        created_ms=row["created_ms"],
        first_event_ms=row["first_event_ms"],
        last_event_ms=row["last_event_ms"],
        last_ingestion_ms=row["last_ingestion_ms"],
        sequence=row["sequence"],
        stored_bytes=row["stored_bytes"],
    )


def get_stream(conn: sqlite3.Connection, group: str, name: str) -> LogStream | None:
    row = conn.execute(
        "SELECT * FROM log_streams WHERE group_name = ? AND name = ?", (group, name)
    ).fetchone()
    return None if row is None else _stream_from_row(row)


def list_streams(
    conn: sqlite3.Connection, group: str, *, prefix: str = "", names: Sequence[str] | None = None
) -> list[LogStream]:
    """Every stream of ``group`` starting with ``prefix`` (or among ``names``), ordered by name."""
    sql = "SELECT * FROM log_streams WHERE group_name = ? AND substr(name, 1, ?) = ?"
    args: list[Any] = [group, len(prefix), prefix]
    if names is not None:
        sql += f" AND name IN ({','.join('?' * len(names))})"
        args.extend(names)
    rows = conn.execute(sql + " ORDER BY name", args).fetchall()
    return [_stream_from_row(row) for row in rows]


# ---------------------------------------------------------------- events


def append_log_events(
    conn: sqlite3.Connection,
    group: str,
    stream: str,
    events: Sequence[tuple[int, str]],
    *,
    ingestion_ms: int | None = None,
) -> None:
    """Append ``(timestamp_ms, message)`` events to ``group``/``stream``, creating both when missing.

    Runs on the caller's connection, inside the caller's transaction when one is open.  The cost
    is one ``executemany`` plus four statements per call whatever the number of events, so many
    small batches stay cheap.  The stream's first/last event timestamps, last ingestion time,
    stored bytes and upload sequence are updated as AWS reports them in ``DescribeLogStreams``.
    """
    if not events:
        return
    ingested = now_ms() if ingestion_ms is None else ingestion_ms
    conn.execute(
        "INSERT OR IGNORE INTO log_groups (name, created_ms, tags) VALUES (?, ?, '{}')", (group, ingested)
    )
    conn.execute(
        "INSERT OR IGNORE INTO log_streams (group_name, name, created_ms) VALUES (?, ?, ?)",
        (group, stream, ingested),
    )
    conn.executemany(
        "INSERT INTO log_events (group_name, stream_name, timestamp_ms, ingestion_ms, message) "
        "VALUES (?, ?, ?, ?, ?)",
        [(group, stream, ts, ingested, message) for ts, message in events],
    )
    first = min(ts for ts, _ in events)
    last = max(ts for ts, _ in events)
    size = sum(len(message.encode("utf-8")) for _, message in events)
    conn.execute(
        "UPDATE log_streams SET "
        "first_event_ms = min(coalesce(first_event_ms, ?), ?), "
        "last_event_ms = max(coalesce(last_event_ms, ?), ?), "
        "last_ingestion_ms = ?, sequence = sequence + 1, stored_bytes = stored_bytes + ? "
        "WHERE group_name = ? AND name = ?",
        (first, first, last, last, ingested, size, group, stream),
    )


def _event_from_row(row: sqlite3.Row) -> LogEvent:
    return LogEvent(
        id=row["id"],
        stream_name=row["stream_name"],
        timestamp_ms=row["timestamp_ms"],
        ingestion_ms=row["ingestion_ms"],
        message=row["message"],
    )


def _time_filter(start_time: int | None, end_time: int | None) -> tuple[str, list[Any]]:
    sql = ""
    args: list[Any] = []
    if start_time is not None:
        sql += " AND timestamp_ms >= ?"
        args.append(start_time)
    if end_time is not None:
        sql += " AND timestamp_ms < ?"
        args.append(end_time)
    return sql, args


def read_log_events(
    db: Database,
    group: str,
    stream: str,
    *,
    start_from_head: bool = False,
    start_time: int | None = None,
    end_time: int | None = None,
    limit: int = 10_000,
    token: str | None = None,
) -> LogEventsPage:
    """One page of ``GetLogEvents`` for ``group``/``stream`` (empty when the stream does not exist).

    Without a token, ``start_from_head`` reads the first ``limit`` events, otherwise the last
    ``limit`` (AWS's default).  ``start_time`` is inclusive and ``end_time`` exclusive, in epoch
    milliseconds.  ``token`` is a token from a previous page; a malformed one raises ``ValueError``.
    Events always come oldest first.  Polling with the returned forward token yields only newer
    events, and returns the same token when there are none.
    """
    direction, mark = ("f", 0) if token is None else parse_events_token(token)
    backwards = direction == "b" or (token is None and not start_from_head)
    time_sql, time_args = _time_filter(start_time, end_time)
    base = "SELECT * FROM log_events WHERE group_name = ? AND stream_name = ?"
    with db.read() as conn:
        if backwards:
            cursor_sql = " AND id < ?" if token is not None else ""
            cursor_args = [mark] if token is not None else []
            rows = conn.execute(
                f"{base}{cursor_sql}{time_sql} ORDER BY id DESC LIMIT ?",
                [group, stream, *cursor_args, *time_args, limit],
            ).fetchall()
            rows.reverse()
        else:
            rows = conn.execute(
                f"{base} AND id > ?{time_sql} ORDER BY id LIMIT ?",
                [group, stream, mark, *time_args, limit],
            ).fetchall()
    events = [_event_from_row(row) for row in rows]
    if events:
        return LogEventsPage(events, forward_token(events[-1].id), backward_token(events[0].id))
    if token is None:
        return LogEventsPage([], forward_token(0), backward_token(0))
    if direction == "f":
        return LogEventsPage([], forward_token(mark), backward_token(mark + 1))
    return LogEventsPage([], forward_token(max(mark - 1, 0)), backward_token(mark))


def scan_events(
    conn: sqlite3.Connection,
    group: str,
    *,
    streams: Sequence[str] | None,
    stream_prefix: str,
    start_time: int | None,
    end_time: int | None,
    after_id: int,
    batch: int = 1000,
) -> Iterator[LogEvent]:
    """Events of ``group`` with an id above ``after_id``, oldest first, read ``batch`` rows at a time.

    ``streams`` restricts to those stream names; ``stream_prefix`` to names with that prefix.
    """
    time_sql, time_args = _time_filter(start_time, end_time)
    stream_sql = " AND substr(stream_name, 1, ?) = ?"
    stream_args: list[Any] = [len(stream_prefix), stream_prefix]
    if streams is not None:
        stream_sql += f" AND stream_name IN ({','.join('?' * len(streams))})"
        stream_args.extend(streams)
    cursor = after_id
    while True:
        rows = conn.execute(
            f"SELECT * FROM log_events WHERE group_name = ? AND id > ?{stream_sql}{time_sql} "
            "ORDER BY id LIMIT ?",
            [group, cursor, *stream_args, *time_args, batch],
        ).fetchall()
        for row in rows:
            yield _event_from_row(row)
        if len(rows) < batch:
            return
        cursor = rows[-1]["id"]


def expire_events(conn: sqlite3.Connection, now_ms: int) -> int:
    """Delete events older than their group's retention (``PutRetentionPolicy``); return how many.

    AWS deletes expired events in the background; the application can call this from a periodic
    background task.  Groups without a retention policy keep their events forever, as on AWS.
    """
    cur = conn.execute(
        "DELETE FROM log_events WHERE id IN ("
        " SELECT e.id FROM log_events e JOIN log_groups g ON g.name = e.group_name"
        " WHERE g.retention_days IS NOT NULL AND e.timestamp_ms < ? - g.retention_days * 86400000)",
        (now_ms,),
    )
    return cur.rowcount
