"""Ordering lanes: one open head per (rule, target, order key), the others waiting behind it in
order, the next made due by the statement that closes the one before."""

from __future__ import annotations

import time
from pathlib import Path

from batchbridge.store import deliveries as ds
from batchbridge.store.db import Database
from batchbridge.store.migrations import discover_migrations

TARGET = {"Id": "t", "Arn": "arn:aws:lambda:us-east-1:123456789012:function:f"}


def add(db: Database, keys: list[str], now: float) -> None:
    """One event per key on the default bus, each with a delivery to rule 1's target."""
    with db.transaction() as conn:
        seqs = [
            ds.append_bus_event(conn, "default", {"id": f"e{n}"}, now, matched=True) for n in range(len(keys))
        ]
        ds.insert_deliveries(
            conn,
            [
                ds.NewDelivery(seq, 1, "arn:rule", "rule", "t", TARGET, key)
                for seq, key in zip(seqs, keys, strict=True)
            ],
            now,
        )


def statuses(db: Database) -> list[str]:
    with db.read() as conn:
        return [d.status for d in ds.list_deliveries(conn)]


def test_deliveries_behind_an_open_one_wait_and_are_not_offered(db: Database) -> None:
    now = time.time()
    add(db, ["job:a", "job:a", "job:b", "job:a"], now)
    assert statuses(db) == [ds.PENDING, ds.WAITING, ds.PENDING, ds.WAITING]
    add(db, ["job:a", "job:c"], now)
    assert statuses(db)[4:] == [ds.WAITING, ds.PENDING]
    with db.read() as conn:
        assert [d.order_key for d in ds.due_deliveries(conn, now + 1, 10)] == ["job:a", "job:b", "job:c"]
        assert ds.next_due_time(conn) == now


def test_closing_a_head_makes_the_next_of_its_lane_due_in_order(db: Database) -> None:
    now = time.time()
    add(db, ["job:a", "job:a", "job:a"], now)
    with db.transaction() as conn:
        (head,) = [d for d, _ in ds.claim_due(conn, now, 10)]
        assert ds.claim_due(conn, now, 10) == []
        ds.finish_delivered(conn, [head.seq], now + 5)
        (second,) = ds.due_deliveries(conn, now + 5, 10)
    assert second.seq == head.seq + 1
    assert second.next_attempt_at == now + 5
    assert statuses(db) == [ds.DELIVERED, ds.PENDING, ds.WAITING]
    with db.transaction() as conn:
        ds.claim_due(conn, now + 5, 10)
        ds.reschedule(conn, second.seq, now + 60, now + 6, "E", "failed")
        assert statuses(db) == [ds.DELIVERED, ds.PENDING, ds.WAITING]
        assert ds.due_deliveries(conn, now + 10, 10) == []
        ds.finish(conn, second.seq, ds.DROPPED, now + 7, "E", "gave up")
        assert [d.seq for d in ds.due_deliveries(conn, now + 7, 10)] == [second.seq + 1]
    assert statuses(db) == [ds.DELIVERED, ds.DROPPED, ds.PENDING]


def test_a_restart_returns_an_in_flight_head_and_keeps_its_lane_waiting(db: Database) -> None:
    now = time.time()
    add(db, ["job:a", "job:a"], now)
    with db.transaction() as conn:
        ds.claim_due(conn, now, 10)
        assert ds.reset_in_flight(conn, now + 1) == 1
        assert [d.seq for d in ds.due_deliveries(conn, now + 1, 10)] == [1]
    assert statuses(db) == [ds.PENDING, ds.WAITING]


def test_migration_makes_the_deliveries_queued_behind_an_open_one_wait(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    older = [m for m in discover_migrations() if m.id != "deliveries-0005"]
    with Database.open(path, migrations=older) as db, db.transaction() as conn:
        for n in range(5):
            ds.append_bus_event(conn, "default", {"id": f"e{n}"}, 0.0, matched=True)
        rows = [
            (1, "job:a", "delivered"),
            (2, "job:a", "in-flight"),
            (3, "job:a", "pending"),
            (4, "job:b", "pending"),
            (5, "job:b", "pending"),
        ]
        conn.executemany(
            "INSERT INTO event_deliveries(event_seq, rule_id, rule_arn, rule_name, target_id, target, "
            "order_key, status, first_seen, next_attempt_at, updated_at) "
            "VALUES (?, 1, 'r', 'r', 't', '{}', ?, ?, 0, 0, 0)",
            rows,
        )
    with Database.open(path) as db:
        assert statuses(db) == [ds.DELIVERED, ds.IN_FLIGHT, ds.WAITING, ds.PENDING, ds.WAITING]
        with db.read() as conn:
            applied = {row[0] for row in conn.execute("SELECT id FROM schema_migrations")}
    assert "deliveries-0005" in applied


def test_a_lane_whose_deliveries_all_closed_takes_the_next_one_at_once(db: Database) -> None:
    now = time.time()
    add(db, ["job:a", "job:a"], now)
    with db.transaction() as conn:
        (head,) = [d for d, _ in ds.claim_due(conn, now, 10)]
        ds.finish_delivered(conn, [head.seq], now)
        (second,) = [d for d, _ in ds.claim_due(conn, now, 10)]
        ds.finish(conn, second.seq, ds.DEAD_LETTERED, now, "E", "m")
    add(db, ["job:a"], now)
    assert statuses(db) == [ds.DELIVERED, ds.DEAD_LETTERED, ds.PENDING]
