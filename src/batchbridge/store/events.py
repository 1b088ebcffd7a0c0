"""EventBridge resources in SQLite: event buses, rules, targets and tags.

Every function takes the ``sqlite3.Connection`` of the caller's transaction (``db.transaction()``
or ``db.read()``), so a service can change a rule and its targets atomically.  Rules keep their
creation order (``id``), which is the order ``ListRules`` answers in; targets keep the order they
were first put.  A target is stored as the JSON object the API gave (``Id``, ``Arn``, input forms,
``RetryPolicy``, ``DeadLetterConfig``, ``BatchParameters``, ``SqsParameters``, ...), so every
member AWS models survives a round trip through ``ListTargetsByRule`` unchanged.

Buses are keyed by name: one server emulates one account, and the ARN recorded when a bus is
created is the one answered afterwards.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

MIGRATIONS: Sequence[tuple[str, str]] = (
    (
        "events-0001",
        """
        CREATE TABLE event_buses (
            name TEXT PRIMARY KEY,
            arn TEXT NOT NULL,
            description TEXT,
            created_at REAL NOT NULL
        );
        CREATE TABLE event_rules (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            bus TEXT NOT NULL,
            name TEXT NOT NULL,
            arn TEXT NOT NULL,
            event_pattern TEXT,
            schedule TEXT,
            state TEXT NOT NULL,
            description TEXT,
            role_arn TEXT,
            managed_by TEXT,
            created_at REAL NOT NULL,
            next_fire_at REAL,
            UNIQUE (bus, name)
        );
        CREATE TABLE event_targets (
            rule_id INTEGER NOT NULL REFERENCES event_rules(id) ON DELETE CASCADE,
            target_id TEXT NOT NULL,
            arn TEXT NOT NULL,
            body TEXT NOT NULL,
            position INTEGER NOT NULL,
            PRIMARY KEY (rule_id, target_id)
        );
        CREATE INDEX event_targets_arn ON event_targets(arn);
        CREATE TABLE event_tags (
            resource_arn TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (resource_arn, key)
        );
        """,
    ),
)


@dataclasses.dataclass(frozen=True)
class BusRecord:
    name: str
    arn: str
    description: str | None
    created_at: float


@dataclasses.dataclass(frozen=True)
class RuleRecord:
    id: int
    bus: str
    name: str
    arn: str
    event_pattern: str | None
    schedule: str | None
    state: str
    description: str | None
    role_arn: str | None
    managed_by: str | None
    created_at: float
    next_fire_at: float | None

    @property
    def enabled(self) -> bool:
        return self.state == "ENABLED"


@dataclasses.dataclass(frozen=True)
class TargetRecord:
    rule_id: int
    target_id: str
    arn: str
    body: dict[str, Any]


def _bus(row: sqlite3.Row) -> BusRecord:
    return BusRecord(row["name"], row["arn"], row["description"], float(row["created_at"]))


def _rule(row: sqlite3.Row) -> RuleRecord:
    return RuleRecord(
        id=int(row["id"]),
        bus=row["bus"],
        name=row["name"],
        arn=row["arn"],
        event_pattern=row["event_pattern"],
        schedule=row["schedule"],
        state=row["state"],
        description=row["description"],
        role_arn=row["role_arn"],
        managed_by=row["managed_by"],
        created_at=float(row["created_at"]),
        next_fire_at=None if row["next_fire_at"] is None else float(row["next_fire_at"]),
    )


def _target(row: sqlite3.Row) -> TargetRecord:
    return TargetRecord(int(row["rule_id"]), row["target_id"], row["arn"], json.loads(row["body"]))


def insert_bus(conn: sqlite3.Connection, name: str, arn: str, description: str | None, now: float) -> None:
    conn.execute(
        "INSERT INTO event_buses(name, arn, description, created_at) VALUES (?, ?, ?, ?)",
        (name, arn, description, now),
    )


def get_bus(conn: sqlite3.Connection, name: str) -> BusRecord | None:
    row = conn.execute("SELECT * FROM event_buses WHERE name = ?", (name,)).fetchone()
    return None if row is None else _bus(row)


def list_buses(
    conn: sqlite3.Connection, prefix: str | None, after: str | None, limit: int
) -> list[BusRecord]:
    """Buses by name, ``name > after`` and starting with ``prefix``; at most ``limit``."""
    rows = conn.execute(
        "SELECT * FROM event_buses WHERE name > ? AND substr(name, 1, ?) = ? ORDER BY name LIMIT ?",
        (after or "", len(prefix or ""), prefix or "", limit),
    ).fetchall()
    return [_bus(r) for r in rows]


def delete_bus(conn: sqlite3.Connection, name: str) -> None:
    conn.execute("DELETE FROM event_buses WHERE name = ?", (name,))


def upsert_rule(conn: sqlite3.Connection, values: Mapping[str, Any]) -> RuleRecord:
    """Create the rule ``(bus, name)`` or replace its settings, keeping its id and creation order."""
    columns = (
        "event_pattern",
        "schedule",
        "state",
        "description",
        "role_arn",
        "managed_by",
        "next_fire_at",
    )
    existing = get_rule(conn, values["bus"], values["name"])
    if existing is None:
        conn.execute(
            "INSERT INTO event_rules(bus, name, arn, created_at, "
            + ", ".join(columns)
            + ") VALUES (?, ?, ?, ?, "
            + ", ".join("?" for _ in columns)
            + ")",
            (
                values["bus"],
                values["name"],
                values["arn"],
                values["created_at"],
                *(values.get(c) for c in columns),
            ),
        )
    else:
        conn.execute(
            "UPDATE event_rules SET " + ", ".join(f"{c} = ?" for c in columns) + " WHERE id = ?",
            (*(values.get(c) for c in columns), existing.id),
        )
    rule = get_rule(conn, values["bus"], values["name"])
    assert rule is not None
    return rule


def get_rule(conn: sqlite3.Connection, bus: str, name: str) -> RuleRecord | None:
    row = conn.execute("SELECT * FROM event_rules WHERE bus = ? AND name = ?", (bus, name)).fetchone()
    return None if row is None else _rule(row)


def get_rule_by_id(conn: sqlite3.Connection, rule_id: int) -> RuleRecord | None:
    row = conn.execute("SELECT * FROM event_rules WHERE id = ?", (rule_id,)).fetchone()
    return None if row is None else _rule(row)


def list_rules(
    conn: sqlite3.Connection, bus: str | None, prefix: str | None, after_id: int, limit: int
) -> list[RuleRecord]:
    """Rules in creation order (of one bus when ``bus`` is given), ``id > after_id``."""
    sql = "SELECT * FROM event_rules WHERE id > ? AND substr(name, 1, ?) = ?"
    args: list[Any] = [after_id, len(prefix or ""), prefix or ""]
    if bus is not None:
        sql += " AND bus = ?"
        args.append(bus)
    rows = conn.execute(sql + " ORDER BY id LIMIT ?", (*args, limit)).fetchall()
    return [_rule(r) for r in rows]


def set_rule_state(conn: sqlite3.Connection, rule_id: int, state: str, next_fire_at: float | None) -> None:
    conn.execute(
        "UPDATE event_rules SET state = ?, next_fire_at = ? WHERE id = ?", (state, next_fire_at, rule_id)
    )


def set_next_fire(conn: sqlite3.Connection, rule_id: int, next_fire_at: float | None) -> None:
    conn.execute("UPDATE event_rules SET next_fire_at = ? WHERE id = ?", (next_fire_at, rule_id))


def due_schedules(conn: sqlite3.Connection, now: float) -> list[RuleRecord]:
    """Enabled schedule rules whose next firing is at or before ``now``."""
    rows = conn.execute(
        "SELECT * FROM event_rules WHERE state = 'ENABLED' AND schedule IS NOT NULL "
        "AND next_fire_at IS NOT NULL AND next_fire_at <= ? ORDER BY next_fire_at, id",
        (now,),
    ).fetchall()
    return [_rule(r) for r in rows]


def next_schedule_time(conn: sqlite3.Connection) -> float | None:
    row = conn.execute(
        "SELECT MIN(next_fire_at) FROM event_rules WHERE state = 'ENABLED' AND schedule IS NOT NULL"
    ).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def delete_rule(conn: sqlite3.Connection, rule_id: int) -> None:
    conn.execute("DELETE FROM event_targets WHERE rule_id = ?", (rule_id,))
    conn.execute("DELETE FROM event_rules WHERE id = ?", (rule_id,))


def count_rules(conn: sqlite3.Connection, bus: str) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM event_rules WHERE bus = ?", (bus,)).fetchone()[0])


def put_target(conn: sqlite3.Connection, rule_id: int, target: Mapping[str, Any]) -> None:
    """Insert or replace one target, keeping the position of a target that already existed."""
    body = json.dumps(dict(target), separators=(",", ":"), default=str)
    updated = conn.execute(
        "UPDATE event_targets SET arn = ?, body = ? WHERE rule_id = ? AND target_id = ?",
        (target["Arn"], body, rule_id, target["Id"]),
    ).rowcount
    if not updated:
        conn.execute(
            "INSERT INTO event_targets(rule_id, target_id, arn, body, position) VALUES (?, ?, ?, ?, "
            "(SELECT COALESCE(MAX(position), 0) + 1 FROM event_targets WHERE rule_id = ?))",
            (rule_id, target["Id"], target["Arn"], body, rule_id),
        )


def remove_target(conn: sqlite3.Connection, rule_id: int, target_id: str) -> bool:
    return (
        conn.execute(
            "DELETE FROM event_targets WHERE rule_id = ? AND target_id = ?", (rule_id, target_id)
        ).rowcount
        > 0
    )


def list_targets(conn: sqlite3.Connection, rule_id: int) -> list[TargetRecord]:
    rows = conn.execute(
        "SELECT * FROM event_targets WHERE rule_id = ? ORDER BY position", (rule_id,)
    ).fetchall()
    return [_target(r) for r in rows]


def count_targets(conn: sqlite3.Connection, rule_id: int) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM event_targets WHERE rule_id = ?", (rule_id,)).fetchone()[0])


def rules_by_target(
    conn: sqlite3.Connection, bus: str, arn: str, after_id: int, limit: int
) -> list[RuleRecord]:
    """Rules of ``bus`` with a target of ARN ``arn``, in creation order after ``after_id``."""
    rows = conn.execute(
        "SELECT DISTINCT r.* FROM event_rules r JOIN event_targets t ON t.rule_id = r.id "
        "WHERE r.bus = ? AND t.arn = ? AND r.id > ? ORDER BY r.id LIMIT ?",
        (bus, arn, after_id, limit),
    ).fetchall()
    return [_rule(r) for r in rows]


def set_tags(conn: sqlite3.Connection, arn: str, tags: Mapping[str, str]) -> None:
    conn.executemany(
        "INSERT INTO event_tags(resource_arn, key, value) VALUES (?, ?, ?) "
        "ON CONFLICT(resource_arn, key) DO UPDATE SET value = excluded.value",
        [(arn, k, v) for k, v in tags.items()],
    )


def remove_tags(conn: sqlite3.Connection, arn: str, keys: Sequence[str]) -> None:
    conn.executemany("DELETE FROM event_tags WHERE resource_arn = ? AND key = ?", [(arn, k) for k in keys])


def get_tags(conn: sqlite3.Connection, arn: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT key, value FROM event_tags WHERE resource_arn = ? ORDER BY key", (arn,)
    ).fetchall()
    return {r["key"]: r["value"] for r in rows}


def drop_tags(conn: sqlite3.Connection, arn: str) -> None:
    conn.execute("DELETE FROM event_tags WHERE resource_arn = ?", (arn,))
