"""Tables of compute environments, job queues and job definitions.

Each resource is one row: its AWS-shaped detail as JSON plus indexed columns (ARN, account,
region, name, state/status, creation order ``seq``) for lookups and keyset paging.  A job queue's
compute environments are also kept in ``job_queue_compute_environments`` so that "is this
compute environment still attached?" (AWS refuses to delete it then) is one indexed query.

Job definition revisions are never deleted (AWS deletes INACTIVE ones after 180 days; we keep
them), so ``MAX(revision) + 1`` never reuses a number.  Job rows elsewhere refer to queues and
definitions by ARN text, without foreign keys, because a deleted queue's jobs stay describable.

Every write of a compute environment or a job queue (insert, update, delete, links) bumps the
in-process counter read by :func:`placement_version`, so a reader can keep what it derived from
these tables (the scheduler's queue list) until the counter moves.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from batchbridge.domain.resources import ComputeEnvironment, JobDefinition, JobQueue
from batchbridge.store.tags import drop_tags, get_tags_many

_VERSION = [0]


def placement_version() -> int:
    """Counter of compute environment and job queue writes made in this process (any database).

    It moves inside the writing transaction, before its commit: a reader that keys a cache on it
    must also key on ``PRAGMA data_version`` (commits of other connections) and read under the
    database's lock, as :func:`batchbridge.store.resolve.list_job_queues_for_scheduling` does.
    """
    return _VERSION[0]


def _bump() -> None:
    _VERSION[0] += 1


MIGRATIONS = (
    (
        "resources-0001",
        """
        CREATE TABLE compute_environments (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            arn TEXT NOT NULL UNIQUE,
            account TEXT NOT NULL,
            region TEXT NOT NULL,
            name TEXT NOT NULL,
            state TEXT NOT NULL,
            status TEXT NOT NULL,
            detail TEXT NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE TABLE job_queues (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            arn TEXT NOT NULL UNIQUE,
            account TEXT NOT NULL,
            region TEXT NOT NULL,
            name TEXT NOT NULL,
            state TEXT NOT NULL,
            status TEXT NOT NULL,
            priority INTEGER NOT NULL,
            detail TEXT NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE TABLE job_queue_compute_environments (
            queue_arn TEXT NOT NULL REFERENCES job_queues (arn) ON DELETE CASCADE,
            ce_arn TEXT NOT NULL REFERENCES compute_environments (arn),
            ord INTEGER NOT NULL,
            PRIMARY KEY (queue_arn, ce_arn)
        );
        CREATE INDEX job_queue_ce_by_ce ON job_queue_compute_environments (ce_arn);
        CREATE TABLE job_definitions (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            arn TEXT NOT NULL UNIQUE,
            account TEXT NOT NULL,
            region TEXT NOT NULL,
            name TEXT NOT NULL,
            revision INTEGER NOT NULL,
            status TEXT NOT NULL,
            detail TEXT NOT NULL,
            created_at REAL NOT NULL,
            UNIQUE (account, region, name, revision)
        );
        CREATE INDEX job_definitions_by_status ON job_definitions (account, region, name, status, revision);
        """,
    ),
)


def _dump(detail: Any) -> str:
    return json.dumps(detail, separators=(",", ":"))


def _scope(account: str, region: str, after_seq: int) -> tuple[list[str], list[Any]]:
    return ["account = ?", "region = ?", "seq > ?"], [account, region, after_seq]


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({','.join('?' * len(values))})"


# -- compute environments ------------------------------------------------------------------------


def _ce(row: sqlite3.Row, tags: dict[str, str] | None = None) -> ComputeEnvironment:
    return ComputeEnvironment(row["arn"], row["name"], json.loads(row["detail"]), tags or {}, row["seq"])


def insert_compute_environment(
    conn: sqlite3.Connection, account: str, region: str, ce: ComputeEnvironment
) -> None:
    """Store a new compute environment (the caller has checked that the name is free)."""
    _bump()
    conn.execute(
        "INSERT INTO compute_environments (arn, account, region, name, state, status, detail, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (ce.arn, account, region, ce.name, ce.state, ce.detail["status"], _dump(ce.detail), time.time()),
    )


def update_compute_environment(conn: sqlite3.Connection, ce: ComputeEnvironment) -> None:
    """Replace the stored detail (and its indexed columns) of an existing compute environment."""
    _bump()
    conn.execute(
        "UPDATE compute_environments SET state = ?, status = ?, detail = ? WHERE arn = ?",
        (ce.state, ce.detail["status"], _dump(ce.detail), ce.arn),
    )


def _delete(conn: sqlite3.Connection, table: str, arn: str) -> None:
    _bump()
    conn.execute(f"DELETE FROM {table} WHERE arn = ?", (arn,))
    drop_tags(conn, arn)


def _get(conn: sqlite3.Connection, table: str, arn: str) -> tuple[sqlite3.Row, dict[str, str] | None] | None:
    row = conn.execute(f"SELECT * FROM {table} WHERE arn = ?", (arn,)).fetchone()
    return None if row is None else (row, get_tags_many(conn, [arn]).get(arn))


def _list(
    conn: sqlite3.Connection,
    table: str,
    account: str,
    region: str,
    arns: Sequence[str] | None,
    after_seq: int,
    limit: int,
) -> list[tuple[sqlite3.Row, dict[str, str] | None]]:
    """Rows of ``table`` in creation order after ``after_seq`` (only ``arns`` when given), with tags."""
    where, params = _scope(account, region, after_seq)
    if arns is not None:
        if not arns:
            return []
        where.append(_in("arn", arns))
        params.extend(arns)
    rows = conn.execute(
        f"SELECT * FROM {table} WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?", [*params, limit]
    ).fetchall()
    tags = get_tags_many(conn, [row["arn"] for row in rows])
    return [(row, tags.get(row["arn"])) for row in rows]


def delete_compute_environment(conn: sqlite3.Connection, arn: str) -> None:
    _delete(conn, "compute_environments", arn)


def get_compute_environment(conn: sqlite3.Connection, arn: str) -> ComputeEnvironment | None:
    """The compute environment with this ARN, tags included, or ``None``."""
    found = _get(conn, "compute_environments", arn)
    return None if found is None else _ce(*found)


def list_compute_environments(
    conn: sqlite3.Connection,
    account: str,
    region: str,
    *,
    arns: Sequence[str] | None = None,
    after_seq: int = 0,
    limit: int = 100,
) -> list[ComputeEnvironment]:
    """Compute environments in creation order after ``after_seq``, at most ``limit``."""
    return [
        _ce(*found) for found in _list(conn, "compute_environments", account, region, arns, after_seq, limit)
    ]


def queues_using_compute_environment(conn: sqlite3.Connection, ce_arn: str) -> list[str]:
    """ARNs of the job queues whose ``computeEnvironmentOrder`` names ``ce_arn``."""
    rows = conn.execute(
        "SELECT queue_arn FROM job_queue_compute_environments WHERE ce_arn = ? ORDER BY queue_arn",
        (ce_arn,),
    )
    return [row[0] for row in rows]


# -- job queues ----------------------------------------------------------------------------------


def _queue(row: sqlite3.Row, tags: dict[str, str] | None = None) -> JobQueue:
    return JobQueue(row["arn"], row["name"], json.loads(row["detail"]), tags or {}, row["seq"])


def _link(conn: sqlite3.Connection, queue: JobQueue) -> None:
    _bump()
    conn.execute("DELETE FROM job_queue_compute_environments WHERE queue_arn = ?", (queue.arn,))
    conn.executemany(
        "INSERT INTO job_queue_compute_environments (queue_arn, ce_arn, ord) VALUES (?, ?, ?)",
        [
            (queue.arn, entry["computeEnvironment"], entry["order"])
            for entry in queue.detail.get("computeEnvironmentOrder") or []
        ],
    )


def insert_job_queue(conn: sqlite3.Connection, account: str, region: str, queue: JobQueue) -> None:
    """Store a new job queue and its compute environment links."""
    _bump()
    conn.execute(
        "INSERT INTO job_queues (arn, account, region, name, state, status, priority, detail, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            queue.arn,
            account,
            region,
            queue.name,
            queue.state,
            queue.detail["status"],
            queue.priority,
            _dump(queue.detail),
            time.time(),
        ),
    )
    _link(conn, queue)


def update_job_queue(conn: sqlite3.Connection, queue: JobQueue) -> None:
    """Replace the stored detail, indexed columns and links of an existing job queue."""
    _bump()
    conn.execute(
        "UPDATE job_queues SET state = ?, status = ?, priority = ?, detail = ? WHERE arn = ?",
        (queue.state, queue.detail["status"], queue.priority, _dump(queue.detail), queue.arn),
    )
    _link(conn, queue)


def delete_job_queue(conn: sqlite3.Connection, arn: str) -> None:
    _delete(conn, "job_queues", arn)


def get_job_queue(conn: sqlite3.Connection, arn: str) -> JobQueue | None:
    """The job queue with this ARN, tags included, or ``None``."""
    found = _get(conn, "job_queues", arn)
    return None if found is None else _queue(*found)


def list_job_queues(
    conn: sqlite3.Connection,
    account: str,
    region: str,
    *,
    arns: Sequence[str] | None = None,
    after_seq: int = 0,
    limit: int = 100,
) -> list[JobQueue]:
    """Job queues in creation order after ``after_seq``, at most ``limit``."""
    return [_queue(*found) for found in _list(conn, "job_queues", account, region, arns, after_seq, limit)]


def enabled_job_queues(conn: sqlite3.Connection) -> list[JobQueue]:
    """Every ENABLED queue of every account and region, highest ``priority`` first, then oldest."""
    rows = conn.execute(
        "SELECT * FROM job_queues WHERE state = 'ENABLED' ORDER BY priority DESC, seq"
    ).fetchall()
    tags = get_tags_many(conn, [row["arn"] for row in rows])
    return [_queue(row, tags.get(row["arn"])) for row in rows]


def compute_environments_by_arn(
    conn: sqlite3.Connection, arns: Sequence[str]
) -> dict[str, ComputeEnvironment]:
    """The compute environments among ``arns`` that exist, keyed by ARN (any account or region)."""
    if not arns:
        return {}
    rows = conn.execute(f"SELECT * FROM compute_environments WHERE {_in('arn', arns)}", list(arns)).fetchall()
    tags = get_tags_many(conn, [row["arn"] for row in rows])
    return {row["arn"]: _ce(row, tags.get(row["arn"])) for row in rows}


# -- job definitions -----------------------------------------------------------------------------


def _definition(row: sqlite3.Row, tags: dict[str, str] | None = None) -> JobDefinition:
    return JobDefinition(
        row["arn"], row["name"], row["revision"], json.loads(row["detail"]), tags or {}, row["seq"]
    )


def next_revision(conn: sqlite3.Connection, account: str, region: str, name: str) -> int:
    """The revision the next registration of ``name`` gets: 1, then one more than any ever used."""
    row = conn.execute(
        "SELECT MAX(revision) FROM job_definitions WHERE account = ? AND region = ? AND name = ?",
        (account, region, name),
    ).fetchone()
    return int(row[0] or 0) + 1


def insert_job_definition(
    conn: sqlite3.Connection, account: str, region: str, definition: JobDefinition
) -> None:
    conn.execute(
        "INSERT INTO job_definitions (arn, account, region, name, revision, status, detail, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            definition.arn,
            account,
            region,
            definition.name,
            definition.revision,
            definition.status,
            _dump(definition.detail),
            time.time(),
        ),
    )


def set_job_definition_status(conn: sqlite3.Connection, definition: JobDefinition, status: str) -> None:
    """Set ``status`` (ACTIVE/INACTIVE) in both the indexed column and the stored detail."""
    detail = {**definition.detail, "status": status}
    conn.execute(
        "UPDATE job_definitions SET status = ?, detail = ? WHERE arn = ?",
        (status, _dump(detail), definition.arn),
    )


def get_job_definition(conn: sqlite3.Connection, arn: str) -> JobDefinition | None:
    """The job definition revision with this ARN (ACTIVE or INACTIVE), tags included, or ``None``."""
    row = conn.execute("SELECT * FROM job_definitions WHERE arn = ?", (arn,)).fetchone()
    return None if row is None else _definition(row, get_tags_many(conn, [arn]).get(arn))


def latest_active_job_definition(
    conn: sqlite3.Connection, account: str, region: str, name: str
) -> JobDefinition | None:
    """The highest ACTIVE revision of ``name``, or ``None`` when it has none."""
    row = conn.execute(
        "SELECT * FROM job_definitions WHERE account = ? AND region = ? AND name = ? AND status = 'ACTIVE' "
        "ORDER BY revision DESC LIMIT 1",
        (account, region, name),
    ).fetchone()
    return None if row is None else _definition(row, get_tags_many(conn, [row["arn"]]).get(row["arn"]))


def list_job_definitions(
    conn: sqlite3.Connection,
    account: str,
    region: str,
    *,
    arns: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    status: str | None = None,
    after_seq: int = 0,
    limit: int = 100,
) -> list[JobDefinition]:
    """Job definition revisions in registration order, filtered by ARN or name list and status.

    With both ``arns`` and ``names`` given, a revision matches if it matches either list.
    """
    where, params = _scope(account, region, after_seq)
    either: list[str] = []
    if arns:
        either.append(_in("arn", arns))
        params.extend(arns)
    if names:
        either.append(_in("name", names))
        params.extend(names)
    if arns is not None or names is not None:
        if not either:
            return []
        where.append(f"({' OR '.join(either)})")
    if status is not None:
        where.append("status = ?")
        params.append(status)
    rows = conn.execute(
        f"SELECT * FROM job_definitions WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?", [*params, limit]
    ).fetchall()
    tags = get_tags_many(conn, [row["arn"] for row in rows])
    return [_definition(row, tags.get(row["arn"])) for row in rows]
