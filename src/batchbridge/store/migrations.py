"""Versioned schema migrations, discovered over the ``batchbridge.store`` package.

Every store module may declare ``MIGRATIONS: Sequence[tuple[str, str]]``: pairs of a unique id
(``"jobs-0001"``) and an SQL script.  :func:`discover_migrations` imports each module of the
package and collects them in a deterministic order: modules sorted by name, then each module's
migrations in the order it declares them.  Cross-module references (a foreign key from ``jobs``
to ``job_queues``) do not depend on that order, because SQLite checks foreign keys when rows are
written, not when tables are created.

:func:`apply_migrations` applies each migration not yet recorded in ``schema_migrations``, each in
its own ``BEGIN IMMEDIATE`` transaction together with its record, so a failed script leaves
nothing behind and two processes opening the same file at once apply every migration exactly once.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from types import ModuleType

STORE_PACKAGE = "batchbridge.store"

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    id TEXT PRIMARY KEY,
    module TEXT NOT NULL,
    applied_at TEXT NOT NULL
)
"""


@dataclasses.dataclass(frozen=True)
class Migration:
    """One schema change: ``id`` is unique across the whole package."""

    id: str
    sql: str
    module: str = ""


class MigrationError(RuntimeError):
    """A migration set that cannot be applied: duplicate ids or a failing script."""


def migrations_of(module: ModuleType) -> list[Migration]:
    """The migrations a module declares in ``MIGRATIONS`` (none when it declares nothing)."""
    declared: Sequence[tuple[str, str]] = getattr(module, "MIGRATIONS", ())
    return [Migration(mid, sql, module.__name__) for mid, sql in declared]


def discover_migrations(package: str = STORE_PACKAGE) -> list[Migration]:
    """Import every module of ``package`` and collect its migrations in deterministic order."""
    pkg = importlib.import_module(package)
    found: list[Migration] = []
    names = sorted(info.name for info in pkgutil.iter_modules(pkg.__path__) if not info.ispkg)
    for name in names:
        found.extend(migrations_of(importlib.import_module(f"{package}.{name}")))
    check_unique(found)
    return found


def check_unique(migrations: Iterable[Migration]) -> None:
    """Reject two migrations that share an id: the second would silently never run."""
    seen: dict[str, str] = {}
    for migration in migrations:
        if migration.id in seen:
            raise MigrationError(
                f"migration id {migration.id!r} declared by both {seen[migration.id]} and {migration.module}"
            )
        seen[migration.id] = migration.module


def applied_ids(conn: sqlite3.Connection) -> set[str]:
    """Ids already recorded in ``schema_migrations``."""
    conn.execute(_BOOKKEEPING)
    return {row[0] for row in conn.execute("SELECT id FROM schema_migrations")}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def apply_migrations(conn: sqlite3.Connection, migrations: Sequence[Migration]) -> list[str]:
    """Apply the migrations not yet recorded; return the ids applied by this call.

    ``conn`` must be in autocommit mode (``isolation_level=None``) and outside a transaction.
    The record is inserted first inside the transaction, so a concurrent opener that applied the
    same migration a moment earlier makes this insert fail and the script is skipped.
    """
    check_unique(migrations)
    done = applied_ids(conn)
    applied: list[str] = []
    for migration in migrations:
        if migration.id in done:
            continue
        stamp = datetime.now(UTC).isoformat()
        script = (
            "BEGIN IMMEDIATE;\n"
            "INSERT INTO schema_migrations (id, module, applied_at) VALUES "
            f"({_quote(migration.id)}, {_quote(migration.module)}, {_quote(stamp)});\n"
            f"{migration.sql}\n;\nCOMMIT;"
        )
        try:
            conn.executescript(script)
        except sqlite3.IntegrityError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if migration.id in applied_ids(conn):
                continue
            raise MigrationError(f"migration {migration.id} failed: {exc}") from exc
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise MigrationError(f"migration {migration.id} failed: {exc}") from exc
        applied.append(migration.id)
    return applied
