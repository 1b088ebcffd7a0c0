"""Tags of Batch resources (compute environments, job queues, job definitions, jobs), keyed by ARN.

AWS keeps tags per resource ARN; a job definition's tags belong to one revision (its ARN carries
the revision).  Tags are kept apart from each resource's detail so that TagResource on any ARN,
including a job's, is one upsert here, and describe calls merge them back in.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping

MIGRATIONS = (
    (
        "tags-0001",
        """
        CREATE TABLE resource_tags (
            resource_arn TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (resource_arn, key)
        ) WITHOUT ROWID;
        """,
    ),
)


def get_tags(conn: sqlite3.Connection, arn: str) -> dict[str, str]:
    """The tags of ``arn`` (``{}`` when it has none), in key order."""
    rows = conn.execute("SELECT key, value FROM resource_tags WHERE resource_arn = ? ORDER BY key", (arn,))
    return {row[0]: row[1] for row in rows}


def get_tags_many(conn: sqlite3.Connection, arns: Iterable[str]) -> dict[str, dict[str, str]]:
    """Tags of several ARNs at once; ARNs without tags are absent from the result."""
    wanted = list(dict.fromkeys(arns))
    out: dict[str, dict[str, str]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT resource_arn, key, value FROM resource_tags WHERE resource_arn IN ({marks}) "
            "ORDER BY resource_arn, key",
            chunk,
        )
        for arn, key, value in rows:
            out.setdefault(arn, {})[key] = value
    return out


def put_tags(conn: sqlite3.Connection, arn: str, tags: Mapping[str, str]) -> None:
    """Add or overwrite ``tags`` on ``arn``."""
    conn.executemany(
        "INSERT INTO resource_tags (resource_arn, key, value) VALUES (?, ?, ?) "
        "ON CONFLICT (resource_arn, key) DO UPDATE SET value = excluded.value",
        [(arn, key, value) for key, value in tags.items()],
    )


def remove_tags(conn: sqlite3.Connection, arn: str, keys: Iterable[str]) -> None:
    """Remove the given keys from ``arn``; absent keys are ignored (as AWS does)."""
    conn.executemany(
        "DELETE FROM resource_tags WHERE resource_arn = ? AND key = ?", [(arn, key) for key in keys]
    )


def drop_tags(conn: sqlite3.Connection, arn: str) -> None:
    """Forget every tag of a deleted resource."""
    conn.execute("DELETE FROM resource_tags WHERE resource_arn = ?", (arn,))
