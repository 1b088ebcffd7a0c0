"""The logs store on a real SQLite file: the append hot path and GetLogEvents paging."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from batchbridge.store import logs as store
from batchbridge.store.db import Database


def _append(db: Database, group: str, stream: str, count: int, start: int = 0) -> None:
    with db.transaction() as conn:
        store.append_log_events(conn, group, stream, [(1000 + i, f"line {i}") for i in range(start, count)])


def test_append_creates_group_and_stream_and_updates_stream_summary(db: Database) -> None:
    with db.transaction() as conn:
        store.append_log_events(conn, "/aws/batch/job", "s1", [(5, "a"), (9, "bb")], ingestion_ms=77)
        store.append_log_events(conn, "/aws/batch/job", "s1", [(12, "ccc")], ingestion_ms=80)
    with db.read() as conn:
        group = store.get_group(conn, "/aws/batch/job")
        stream = store.get_stream(conn, "/aws/batch/job", "s1")
    assert group is not None and group.stored_bytes == 6
    assert stream is not None
    assert (stream.first_event_ms, stream.last_event_ms, stream.last_ingestion_ms) == (5, 12, 80)
    assert stream.sequence == 2


def test_append_joins_the_callers_transaction(db: Database) -> None:
    with pytest.raises(RuntimeError), db.transaction() as conn:
        store.append_log_events(conn, "g", "s", [(1, "lost")])
        raise RuntimeError("caller fails after appending")
    with db.read() as conn:
        assert store.get_group(conn, "g") is None
    page = store.read_log_events(db, "g", "s", start_from_head=True)
    assert page.events == []


def test_append_issues_constant_statements_per_batch(db: Database) -> None:
    statements: list[str] = []
    with db.transaction() as conn:
        conn.set_trace_callback(statements.append)
        store.append_log_events(conn, "g", "s", [(i, f"m{i}") for i in range(500)])
        conn.set_trace_callback(None)
    inserts = [s for s in statements if s.startswith("INSERT INTO log_events")]
    assert len(inserts) == 500  # executemany traces each row, but there is no SELECT per event
    assert not [s for s in statements if s.lstrip().upper().startswith("SELECT")]


def test_many_small_batches_are_cheap(tmp_path: Path) -> None:
    db = Database.open(tmp_path / "bulk.sqlite3")
    started = time.perf_counter()
    for batch in range(2000):
        with db.transaction() as conn:
            store.append_log_events(conn, "/aws/batch/job", f"s{batch % 10}", [(batch, "x"), (batch, "y")])
    elapsed = time.perf_counter() - started
    db.close()
    assert elapsed < 5.0


def test_forward_paging_from_head_then_end_returns_same_token(db: Database) -> None:
    _append(db, "g", "s", 25)
    first = store.read_log_events(db, "g", "s", start_from_head=True, limit=10)
    assert [e.message for e in first.events] == [f"line {i}" for i in range(10)]
    second = store.read_log_events(db, "g", "s", token=first.forward_token, limit=10)
    assert [e.message for e in second.events] == [f"line {i}" for i in range(10, 20)]
    third = store.read_log_events(db, "g", "s", token=second.forward_token, limit=10)
    assert len(third.events) == 5
    end = store.read_log_events(db, "g", "s", token=third.forward_token, limit=10)
    assert end.events == [] and end.forward_token == third.forward_token
    _append(db, "g", "s", 27, start=25)
    fresh = store.read_log_events(db, "g", "s", token=end.forward_token)
    assert [e.message for e in fresh.events] == ["line 25", "line 26"]


def test_default_reads_the_last_page_and_backward_token_walks_back(db: Database) -> None:
    _append(db, "g", "s", 25)
    last = store.read_log_events(db, "g", "s", limit=10)
    assert [e.message for e in last.events] == [f"line {i}" for i in range(15, 25)]
    back = store.read_log_events(db, "g", "s", token=last.backward_token, limit=10)
    assert [e.message for e in back.events] == [f"line {i}" for i in range(5, 15)]
    back2 = store.read_log_events(db, "g", "s", token=back.backward_token, limit=10)
    assert [e.message for e in back2.events] == [f"line {i}" for i in range(5)]
    start = store.read_log_events(db, "g", "s", token=back2.backward_token, limit=10)
    assert start.events == [] and start.backward_token == back2.backward_token
    forward_again = store.read_log_events(db, "g", "s", token=start.forward_token, limit=3)
    assert [e.message for e in forward_again.events] == ["line 0", "line 1", "line 2"]


def test_time_range_is_start_inclusive_end_exclusive(db: Database) -> None:
    _append(db, "g", "s", 10)
    page = store.read_log_events(db, "g", "s", start_from_head=True, start_time=1002, end_time=1005)
    assert [e.timestamp_ms for e in page.events] == [1002, 1003, 1004]


def test_streams_do_not_mix_and_tokens_are_aws_shaped(db: Database) -> None:
    _append(db, "g", "a", 3)
    _append(db, "g", "b", 2)
    page = store.read_log_events(db, "g", "b", start_from_head=True)
    assert len(page.events) == 2
    assert page.forward_token.startswith("f/") and page.forward_token.endswith("/s")
    assert len(page.forward_token) == 2 + store.TOKEN_DIGITS + 2
    with pytest.raises(ValueError):
        store.read_log_events(db, "g", "b", token="x/12")


def test_events_survive_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "durable.sqlite3"
    db = Database.open(path)
    _append(db, "g", "s", 3)
    db.close()
    again = Database.open(path)
    assert len(store.read_log_events(again, "g", "s", start_from_head=True).events) == 3
    again.close()


def test_delete_group_removes_streams_and_events(db: Database) -> None:
    _append(db, "g", "s", 3)
    with db.transaction() as conn:
        assert store.delete_group(conn, "g")
        assert not store.delete_group(conn, "g")
    with db.read() as conn:
        assert conn.execute("SELECT count(*) FROM log_events").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM log_streams").fetchone()[0] == 0


def test_migration_is_registered(db: Database) -> None:
    conn = sqlite3.connect(db.path)
    ids = {row[0] for row in conn.execute("SELECT id FROM schema_migrations")}
    conn.close()
    assert "logs-0001" in ids


def test_expire_events_honours_each_groups_retention(db: Database) -> None:
    day = 86_400_000
    with db.transaction() as conn:
        store.append_log_events(conn, "short", "s", [(0, "old"), (5 * day, "recent")])
        store.append_log_events(conn, "forever", "s", [(0, "kept")])
        store.set_retention(conn, "short", 3)
        assert store.expire_events(conn, now_ms=6 * day) == 1
    assert [e.message for e in store.read_log_events(db, "short", "s", start_from_head=True).events] == [
        "recent"
    ]
    assert [e.message for e in store.read_log_events(db, "forever", "s", start_from_head=True).events] == [
        "kept"
    ]
