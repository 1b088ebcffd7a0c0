"""The SQLite store core: migrations, transactions, compare-and-set."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from batchbridge.store.db import Database, compare_and_set
from batchbridge.store.migrations import Migration, MigrationError, apply_migrations, discover_migrations

BASE = [Migration("t-0001", "CREATE TABLE items (id TEXT PRIMARY KEY, status TEXT, version INTEGER)", "t")]


def open_db(tmp_path: Path, migrations: list[Migration] | None = None) -> Database:
    chosen = BASE if migrations is None else migrations
    return Database.open(tmp_path / "sub" / "db.sqlite3", migrations=chosen)


def test_open_creates_folder_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    with db.read() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert (tmp_path / "sub" / "db.sqlite3").exists()
    db.close()


def test_migrations_applied_once_and_only_new_ones_on_reopen(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    assert db.applied_migrations == ["t-0001"]
    db.close()
    again = open_db(tmp_path)
    assert again.applied_migrations == []
    again.close()
    extra = [*BASE, Migration("t-0002", "ALTER TABLE items ADD COLUMN note TEXT", "t")]
    third = open_db(tmp_path, extra)
    assert third.applied_migrations == ["t-0002"]
    with third.read() as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM schema_migrations ORDER BY id")]
        cols = [r[1] for r in conn.execute("PRAGMA table_info(items)")]
    assert ids == ["t-0001", "t-0002"]
    assert "note" in cols
    third.close()


def test_failing_migration_leaves_no_record_and_no_partial_schema(tmp_path: Path) -> None:
    bad = [*BASE, Migration("t-0002", "CREATE TABLE half (x INTEGER); CREATE TABLE oops (", "t")]
    with pytest.raises(MigrationError, match="t-0002"):
        open_db(tmp_path, bad)
    db = open_db(tmp_path)
    with db.read() as conn:
        ids = {r[0] for r in conn.execute("SELECT id FROM schema_migrations")}
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert ids == {"t-0001"}
    assert "half" not in tables
    db.close()


def test_duplicate_migration_ids_rejected(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.sqlite3", isolation_level=None)
    with pytest.raises(MigrationError, match="t-0001"):
        apply_migrations(conn, [BASE[0], Migration("t-0001", "SELECT 1", "other")])
    conn.close()


def test_package_migrations_are_discovered_in_a_stable_order(tmp_path: Path) -> None:
    first = [m.id for m in discover_migrations()]
    assert first == [m.id for m in discover_migrations()]
    assert len(first) == len(set(first))
    db = Database.open(tmp_path / "full.sqlite3")
    assert db.applied_migrations == first
    db.close()


def test_transaction_commits_and_rolls_back(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    with db.transaction() as conn:
        conn.execute("INSERT INTO items VALUES ('a', 'NEW', 1)")
    with pytest.raises(RuntimeError), db.transaction() as conn:
        conn.execute("INSERT INTO items VALUES ('b', 'NEW', 1)")
        raise RuntimeError("boom")
    with db.read() as conn:
        assert [r[0] for r in conn.execute("SELECT id FROM items")] == ["a"]
    assert not db.in_transaction
    db.close()


def test_nested_transaction_joins_outer(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    other = open_db(tmp_path)
    with db.transaction() as outer:
        outer.execute("INSERT INTO items VALUES ('a', 'NEW', 1)")
        with db.transaction() as inner:
            assert inner is outer
            inner.execute("INSERT INTO items VALUES ('b', 'NEW', 1)")
        with other.read() as conn:
            assert conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 0
    with other.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 2
    db.close()
    other.close()


def test_failed_nested_block_is_undone_and_uncaught_error_rolls_back_all(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    with db.transaction() as outer:
        outer.execute("INSERT INTO items VALUES ('a', 'NEW', 1)")
        with pytest.raises(KeyError), db.transaction() as inner:
            inner.execute("INSERT INTO items VALUES ('b', 'NEW', 1)")
            raise KeyError("x")
    with db.read() as conn:
        assert [r[0] for r in conn.execute("SELECT id FROM items")] == ["a"]
    with pytest.raises(ValueError), db.transaction() as outer:
        outer.execute("INSERT INTO items VALUES ('c', 'NEW', 1)")
        with db.transaction() as inner:
            inner.execute("INSERT INTO items VALUES ('d', 'NEW', 1)")
        raise ValueError("y")
    with db.read() as conn:
        assert [r[0] for r in conn.execute("SELECT id FROM items")] == ["a"]
    db.close()


def test_compare_and_set_applies_only_on_expected_state(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    with db.transaction() as conn:
        conn.execute("INSERT INTO items VALUES ('j', 'RUNNABLE', 1)")
        was = {"status": "RUNNABLE", "version": 1}
        assert compare_and_set(conn, "items", {"id": "j"}, was, {"status": "STARTING", "version": 2})
        assert not compare_and_set(conn, "items", {"id": "j"}, was, {"status": "FAILED", "version": 2})
        assert not compare_and_set(conn, "items", {"id": "nope"}, {"version": 2}, {"version": 3})
    with db.read() as conn:
        row = conn.execute("SELECT status, version FROM items WHERE id='j'").fetchone()
    assert (row["status"], row["version"]) == ("STARTING", 2)
    with pytest.raises(ValueError), db.transaction() as conn:
        compare_and_set(conn, "items; DROP TABLE items", {"id": "j"}, {}, {"version": 9})
    db.close()


def test_compare_and_set_wins_once_across_two_connections(tmp_path: Path) -> None:
    open_db(tmp_path).close()
    wins: list[bool] = []

    def worker() -> None:
        db = open_db(tmp_path)
        with db.transaction() as conn:
            wins.append(compare_and_set(conn, "items", {"id": "k"}, {"version": 1}, {"version": 2}))
        db.close()

    db = open_db(tmp_path)
    with db.transaction() as conn:
        conn.execute("INSERT INTO items VALUES ('k', 'RUNNABLE', 1)")
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False, False, False, True]
    db.close()
