"""Lambda functions: one row per function with its ``FunctionConfiguration`` as JSON.

The configuration is kept in Lambda's own shape (the model's member names) together with where
its extracted code lives, its resource policy (kept, not enforced) and its tags.  Function names
are unique per account and region, as on Lambda.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Sequence
from typing import Any

MIGRATIONS: Sequence[tuple[str, str]] = (
    (
        "functions-0001",
        """
        CREATE TABLE functions (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            account TEXT NOT NULL,
            region TEXT NOT NULL,
            name TEXT NOT NULL,
            config TEXT NOT NULL,
            code_dir TEXT NOT NULL,
            policy TEXT NOT NULL DEFAULT '[]',
            tags TEXT NOT NULL DEFAULT '{}',
            reserved_concurrency INTEGER,
            UNIQUE (account, region, name)
        );
        """,
    ),
)


@dataclasses.dataclass
class FunctionRecord:
    """A stored function: its configuration, code folder, policy statements and tags."""

    account: str
    region: str
    name: str
    config: dict[str, Any]
    code_dir: str
    policy: list[dict[str, Any]]
    tags: dict[str, str]
    reserved_concurrency: int | None
    seq: int = 0


def _record(row: sqlite3.Row) -> FunctionRecord:
    return FunctionRecord(
        account=row["account"],
        region=row["region"],
        name=row["name"],
        config=json.loads(row["config"]),
        code_dir=row["code_dir"],
        policy=json.loads(row["policy"]),
        tags=json.loads(row["tags"]),
        reserved_concurrency=row["reserved_concurrency"],
        seq=row["seq"],
    )


def insert_function(conn: sqlite3.Connection, record: FunctionRecord) -> bool:
    """Insert ``record``; ``False`` when a function of that name already exists."""
    cursor = conn.execute(
        "INSERT OR IGNORE INTO functions (account, region, name, config, code_dir, policy, tags, "
        "reserved_concurrency) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            record.account,
            record.region,
            record.name,
            json.dumps(record.config),
            record.code_dir,
            json.dumps(record.policy),
            json.dumps(record.tags),
            record.reserved_concurrency,
        ),
    )
    return cursor.rowcount == 1


def update_function(conn: sqlite3.Connection, record: FunctionRecord) -> None:
    """Write back every mutable part of ``record``."""
    conn.execute(
        "UPDATE functions SET config = ?, code_dir = ?, policy = ?, tags = ?, reserved_concurrency = ? "
        "WHERE account = ? AND region = ? AND name = ?",
        (
            json.dumps(record.config),
            record.code_dir,
            json.dumps(record.policy),
            json.dumps(record.tags),
            record.reserved_concurrency,
            record.account,
            record.region,
            record.name,
        ),
    )


def delete_function(conn: sqlite3.Connection, account: str, region: str, name: str) -> bool:
    cursor = conn.execute(
        "DELETE FROM functions WHERE account = ? AND region = ? AND name = ?", (account, region, name)
    )
    return cursor.rowcount == 1


def get_function(conn: sqlite3.Connection, account: str, region: str, name: str) -> FunctionRecord | None:
    row = conn.execute(
        "SELECT * FROM functions WHERE account = ? AND region = ? AND name = ?", (account, region, name)
    ).fetchone()
    return None if row is None else _record(row)


def list_functions(
    conn: sqlite3.Connection, account: str, region: str, *, after_seq: int, limit: int
) -> list[FunctionRecord]:
    """Functions in creation order after ``after_seq``, at most ``limit`` of them."""
    rows = conn.execute(
        "SELECT * FROM functions WHERE account = ? AND region = ? AND seq > ? ORDER BY seq LIMIT ?",
        (account, region, after_seq, limit),
    ).fetchall()
    return [_record(row) for row in rows]
