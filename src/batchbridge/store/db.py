"""The SQLite database every store module writes through.

``Database.open(path)`` creates the folder, opens SQLite in WAL mode with ``synchronous=NORMAL``
(durable across a process crash; the last commits may be lost only on power loss), foreign keys on
and a busy timeout, then applies the schema migrations of the ``batchbridge.store`` package.  The
WAL is checkpointed every 8,192 pages (32 MiB) rather than SQLite's 1,000: under a stream of
small transactions the same hot pages (an index's last leaf, an array parent's counts) are
copied back once per checkpoint instead of eight times.

Transactions: ``db.transaction()`` yields the connection inside ``BEGIN IMMEDIATE ... COMMIT``;
an exception rolls everything back and propagates.  A nested ``transaction()`` joins the outer
one (it neither begins nor commits), so a service can call several store functions that each open
a transaction and have them commit together.  A nested block runs inside a savepoint: if it
raises, its own writes are undone before the exception reaches the outer block, which then
decides (an uncaught exception rolls back the whole transaction).  ``db.read()`` yields the same
connection for queries that need no transaction; inside an open transaction it sees its writes.

Thread-safety contract: a :class:`Database` belongs to one thread at a time.  The server uses it
from its single asyncio loop thread; any other thread (a worker, a test helper) opens its own
``Database`` on the same file, and WAL lets readers and one writer proceed together.  An internal
re-entrant lock serialises ``transaction()`` and ``read()`` so that an accidental cross-thread
call waits instead of corrupting the connection's transaction state.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from batchbridge.store.migrations import Migration, apply_migrations, discover_migrations

BUSY_TIMEOUT_MS = 10_000

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Database:
    """One SQLite connection with migrations applied; see the module docstring for the contract."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self._lock = threading.RLock()
        self._depth = 0
        self.applied_migrations: list[str] = []

    @classmethod
    def open(cls, path: Path | str, *, migrations: Sequence[Migration] | None = None) -> Database:
        """Open (creating if needed) the database at ``path`` and apply pending migrations.

        ``migrations`` defaults to those discovered over the ``batchbridge.store`` package;
        ``applied_migrations`` on the result lists the ids this call applied.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            str(path),
            isolation_level=None,
            check_same_thread=False,
            timeout=BUSY_TIMEOUT_MS / 1000,
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA wal_autocheckpoint = 8192")
        conn.execute("PRAGMA foreign_keys = ON")
        db = cls(conn, path)
        try:
            todo = discover_migrations() if migrations is None else list(migrations)
            db.applied_migrations = apply_migrations(conn, todo)
        except BaseException:
            conn.close()
            raise
        return db

    @property
    def in_transaction(self) -> bool:
        """Whether a ``transaction()`` block is open on this database."""
        return self._depth > 0

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE``; commit on success, roll back on exception; nested calls join."""
        with self._lock:
            if self._depth > 0:
                savepoint = f"sp_{self._depth}"
                self._conn.execute(f"SAVEPOINT {savepoint}")
                self._depth += 1
                try:
                    yield self._conn
                except BaseException:
                    self._conn.execute(f"ROLLBACK TO {savepoint}")
                    self._conn.execute(f"RELEASE {savepoint}")
                    raise
                else:
                    self._conn.execute(f"RELEASE {savepoint}")
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self._conn
            except BaseException:
                self._depth = 0
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._depth = 0
            self._conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """The connection for queries outside (or inside, when one is open) a transaction."""
        with self._lock:
            yield self._conn

    def close(self) -> None:
        """Close the connection; the WAL is checkpointed by SQLite on the last close."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not an SQL identifier: {name!r}")
    return name


def compare_and_set(
    conn: sqlite3.Connection,
    table: str,
    key: Mapping[str, Any],
    expected: Mapping[str, Any],
    changes: Mapping[str, Any],
) -> bool:
    """Apply ``changes`` to the row identified by ``key`` only if its ``expected`` columns still match.

    Issues ``UPDATE table SET ... WHERE <key columns> = ? AND <expected columns> = ?`` and reports
    whether a row changed.  This is how job transitions are written: the caller reads a job,
    computes the next status through the transition table and sets it only if nobody moved the
    job meanwhile (``expected={"status": "RUNNABLE", "version": 7}``).  Table and column names
    must be plain identifiers (they come from store code, never from callers' input).
    """
    if not changes:
        raise ValueError("compare_and_set needs at least one column to change")
    if not key:
        raise ValueError("compare_and_set needs a key")
    sets = ", ".join(f"{_check_identifier(col)} = ?" for col in changes)
    conds = [f"{_check_identifier(col)} = ?" for col in key]
    conds += [
        f"{_check_identifier(col)} IS NULL" if value is None else f"{_check_identifier(col)} = ?"
        for col, value in expected.items()
    ]
    params = [*changes.values(), *key.values(), *(v for v in expected.values() if v is not None)]
    sql = f"UPDATE {_check_identifier(table)} SET {sets} WHERE {' AND '.join(conds)}"
    return conn.execute(sql, params).rowcount > 0
