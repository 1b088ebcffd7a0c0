"""The per-bus event log and the durable deliveries of events to targets.

``bus_events`` records the events put on a bus (``PutEvents``, schedules, and the Batch outbox
events that some rule matched), in arrival order, for matching and delivery.  An outbox event is
recorded by reference (``outbox_position``, ``deliveries-0004``): its body is read from the outbox
row instead of being stored twice.  ``matched_at`` stays empty until the
dispatcher has matched the event and written its deliveries — in the same transaction — so an
event is never matched twice nor lost between the two steps.  ``rule_id`` is set for a
``Scheduled Event``, which goes to its own rule's targets only and is never matched.

``event_deliveries`` holds one row per (event, rule, target).  Status moves ``pending`` →
``in-flight`` → ``delivered``, or back to ``pending`` with a later ``next_attempt_at`` after a
failure, or ends ``dead-lettered`` / ``dropped`` when the retry policy is exhausted.  At start-up
``in-flight`` rows are returned to ``pending`` (at-least-once).  Order: a lane (rule, target,
``order_key``) has at most one ``pending`` or ``in-flight`` delivery, its oldest open one; the
deliveries behind it are ``waiting`` (:func:`insert_deliveries` decides, ``deliveries-0005``
converted older databases) and the next one becomes ``pending``, due at once, in the statement
that closes the one before (:func:`finish`, :func:`finish_delivered`).  So the events of one job
reach one target in the order they happened, and :func:`due_deliveries` needs no lane check: it
reads the oldest due ``pending`` rows, instead of stepping over every delivery queued behind an
open one at each claim.

Cost per delivery (a catch-all rule puts one delivery on every Batch event): pending deliveries are
found through a partial index over ``seq`` holding only ``pending`` rows (migration
``deliveries-0002``), so a claim reads the oldest due rows in order without sorting the backlog;
the claim reads each delivery together with its event's stored JSON (one query) and marks the batch
``in-flight`` in one statement; a fresh delivery that heads its lane can be written ``in-flight``
at once instead (:func:`insert_deliveries` with ``claim``).  The event body is parsed only when someone reads
:attr:`BusEvent.event`; a target without input transformation receives :attr:`BusEvent.body` as
stored.  Choice: deliveries waiting for a later retry stay in that index and are stepped over by the
scan, which keeps the common case (a backlog of due deliveries) cheap at the price of a scan over
deliveries in backoff.  Every index over the status holds ``pending`` rows only (``deliveries-0003``
replaced the index over every status), so recording a delivery as done rewrites its row and no index
page; the start-up reset of ``in-flight`` rows reads the table once instead.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

MIGRATIONS: Sequence[tuple[str, str]] = (
    (
        "deliveries-0001",
        """
        CREATE TABLE bus_events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL,
            bus TEXT NOT NULL,
            rule_id INTEGER,
            body TEXT NOT NULL,
            ingested_at REAL NOT NULL,
            matched_at REAL
        );
        CREATE INDEX bus_events_unmatched ON bus_events(seq) WHERE matched_at IS NULL;
        CREATE INDEX bus_events_bus ON bus_events(bus, seq);
        CREATE TABLE event_deliveries (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            event_seq INTEGER NOT NULL REFERENCES bus_events(seq),
            rule_id INTEGER NOT NULL,
            rule_arn TEXT NOT NULL,
            rule_name TEXT NOT NULL,
            target_id TEXT NOT NULL,
            target TEXT NOT NULL,
            order_key TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            first_seen REAL NOT NULL,
            next_attempt_at REAL NOT NULL,
            last_error_code TEXT,
            last_error_message TEXT,
            updated_at REAL NOT NULL
        );
        CREATE INDEX event_deliveries_due ON event_deliveries(status, next_attempt_at);
        CREATE INDEX event_deliveries_order ON event_deliveries(rule_id, target_id, order_key, seq);
        """,
    ),
    (
        "deliveries-0002",
        """
        CREATE INDEX event_deliveries_pending ON event_deliveries(seq) WHERE status = 'pending';
        """,
    ),
    (
        "deliveries-0003",
        """
        DROP INDEX event_deliveries_due;
        CREATE INDEX event_deliveries_due_at ON event_deliveries(next_attempt_at) WHERE status = 'pending';
        """,
    ),
    (
        "deliveries-0004",
        """
        ALTER TABLE bus_events ADD COLUMN outbox_position INTEGER;
        """,
    ),
    (
        "deliveries-0005",
        """
        UPDATE event_deliveries SET status = 'waiting' WHERE status = 'pending' AND EXISTS (
            SELECT 1 FROM event_deliveries e WHERE e.rule_id = event_deliveries.rule_id
            AND e.target_id = event_deliveries.target_id AND e.order_key = event_deliveries.order_key
            AND e.seq < event_deliveries.seq AND e.status IN ('pending', 'in-flight')
        );
        """,
    ),
)

#: The columns of a bus event, its body read from the outbox when it refers to an outbox row.
_EVENT_COLUMNS = (
    "b.seq AS seq, b.event_id AS event_id, b.bus AS bus, b.rule_id AS rule_id, "
    "COALESCE(o.body, b.body) AS body, b.ingested_at AS ingested_at"
)
_EVENT_FROM = "bus_events b LEFT JOIN outbox o ON o.position = b.outbox_position"

PENDING = "pending"
IN_FLIGHT = "in-flight"
WAITING = "waiting"
DELIVERED = "delivered"
DEAD_LETTERED = "dead-lettered"
DROPPED = "dropped"
OPEN_STATUSES = (PENDING, IN_FLIGHT, WAITING)


@dataclasses.dataclass(frozen=True)
class BusEvent:
    """An event on a bus; ``body`` is its compact JSON as stored, :attr:`event` the parsed form."""

    seq: int
    event_id: str
    bus: str
    rule_id: int | None
    body: str
    ingested_at: float

    @functools.cached_property
    def event(self) -> dict[str, Any]:
        """The event document, parsed from :attr:`body` on first use."""
        value: dict[str, Any] = json.loads(self.body)
        return value


@dataclasses.dataclass(frozen=True)
class Delivery:
    seq: int
    event_seq: int
    rule_id: int
    rule_arn: str
    rule_name: str
    target_id: str
    target: dict[str, Any]
    order_key: str
    status: str
    attempts: int
    first_seen: float
    next_attempt_at: float
    last_error_code: str | None
    last_error_message: str | None

    @property
    def lane(self) -> tuple[int, str, str]:
        """The ordering lane: deliveries of one lane run one after another."""
        return (self.rule_id, self.target_id, self.order_key)


@dataclasses.dataclass(frozen=True)
class NewDelivery:
    event_seq: int
    rule_id: int
    rule_arn: str
    rule_name: str
    target_id: str
    target: dict[str, Any]
    order_key: str


def _event(row: sqlite3.Row) -> BusEvent:
    return BusEvent(
        int(row["seq"]),
        row["event_id"],
        row["bus"],
        None if row["rule_id"] is None else int(row["rule_id"]),
        row["body"],
        float(row["ingested_at"]),
    )


@functools.lru_cache(maxsize=256)
def _target_document(text: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(text)
    return value


def _target(text: str) -> dict[str, Any]:
    """A target's stored JSON as a dict; the many deliveries of one target share one parse."""
    return dict(_target_document(text))


def _delivery(row: sqlite3.Row) -> Delivery:
    return Delivery(
        seq=int(row["seq"]),
        event_seq=int(row["event_seq"]),
        rule_id=int(row["rule_id"]),
        rule_arn=row["rule_arn"],
        rule_name=row["rule_name"],
        target_id=row["target_id"],
        target=_target(row["target"]),
        order_key=row["order_key"],
        status=row["status"],
        attempts=int(row["attempts"]),
        first_seen=float(row["first_seen"]),
        next_attempt_at=float(row["next_attempt_at"]),
        last_error_code=row["last_error_code"],
        last_error_message=row["last_error_message"],
    )


def append_bus_event(
    conn: sqlite3.Connection,
    bus: str,
    event: dict[str, Any],
    now: float,
    rule_id: int | None = None,
    *,
    matched: bool = False,
) -> int:
    """Record ``event`` on ``bus`` (for ``rule_id`` only when it is a scheduled event).

    The body is compact JSON in UTF-8 (no ``\\u`` escapes), the exact bytes a target without input
    transformation receives.  ``matched`` records it as already matched, for a caller that writes
    its deliveries in the same transaction.
    """
    body = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    cur = conn.execute(
        "INSERT INTO bus_events(event_id, bus, rule_id, body, ingested_at, matched_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (event["id"], bus, rule_id, body, now, now if matched else None),
    )
    return int(cur.lastrowid or 0)


def append_matched_events(
    conn: sqlite3.Connection,
    bus: str,
    events: Sequence[dict[str, Any]],
    now: float,
    bodies: Sequence[str] | None = None,
) -> list[int]:
    """Record ``events`` on ``bus`` as already matched, in one statement; their ``seq`` in order.

    ``bodies``, when given, are the events' stored JSON texts (compact UTF-8, as the outbox keeps
    them), written as they are instead of encoding each event again.  The caller writes their
    deliveries in the same transaction.  Inside a write transaction nobody else inserts, so the
    rows take consecutive ``seq`` values ending at ``last_insert_rowid()``.
    """
    if not events:
        return []
    texts = (
        bodies
        if bodies is not None
        else [json.dumps(e, separators=(",", ":"), ensure_ascii=False) for e in events]
    )
    conn.executemany(
        "INSERT INTO bus_events(event_id, bus, body, ingested_at, matched_at) VALUES (?, ?, ?, ?, ?)",
        [(e["id"], bus, text, now, now) for e, text in zip(events, texts, strict=True)],
    )
    last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
    return list(range(last - len(events) + 1, last + 1))


def append_outbox_events(
    conn: sqlite3.Connection, bus: str, events: Sequence[tuple[str, int]], now: float
) -> list[int]:
    """Record outbox events on ``bus`` as already matched, by reference; their ``seq`` in order.

    Each item is ``(event id, outbox position)``: the row keeps no copy of the body, which is read
    from the outbox row (stored once, never changed) wherever the event is read.  Consecutive
    ``seq`` values as in :func:`append_matched_events`.
    """
    if not events:
        return []
    conn.executemany(
        "INSERT INTO bus_events(event_id, bus, body, ingested_at, matched_at, outbox_position) "
        "VALUES (?, ?, '', ?, ?, ?)",
        [(event_id, bus, now, now, position) for event_id, position in events],
    )
    last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
    return list(range(last - len(events) + 1, last + 1))


def unmatched_events(conn: sqlite3.Connection, limit: int) -> list[BusEvent]:
    rows = conn.execute(
        f"SELECT {_EVENT_COLUMNS} FROM {_EVENT_FROM} WHERE b.matched_at IS NULL ORDER BY b.seq LIMIT ?",
        (limit,),
    ).fetchall()
    return [_event(r) for r in rows]


def mark_matched(conn: sqlite3.Connection, seqs: Iterable[int], now: float) -> None:
    conn.executemany("UPDATE bus_events SET matched_at = ? WHERE seq = ?", [(now, s) for s in seqs])


def recent_events(conn: sqlite3.Connection, bus: str, after_seq: int, limit: int) -> list[BusEvent]:
    """Events put on ``bus`` after ``after_seq``, oldest first (``events tail``)."""
    rows = conn.execute(
        f"SELECT {_EVENT_COLUMNS} FROM {_EVENT_FROM} WHERE b.bus = ? AND b.seq > ? ORDER BY b.seq LIMIT ?",
        (bus, after_seq, limit),
    ).fetchall()
    return [_event(r) for r in rows]


def get_event(conn: sqlite3.Connection, seq: int) -> BusEvent | None:
    row = conn.execute(f"SELECT {_EVENT_COLUMNS} FROM {_EVENT_FROM} WHERE b.seq = ?", (seq,)).fetchone()
    return None if row is None else _event(row)


#: A lane's open deliveries are its newest ones (they close in order), so its newest row tells
#: whether it has any: one step down the lane index and one row read.
_LANE_OPEN = (
    "SELECT status IN ('pending', 'in-flight', 'waiting') FROM event_deliveries "
    "WHERE rule_id = ? AND target_id = ? AND order_key = ? ORDER BY seq DESC LIMIT 1"
)


def _lane_open(conn: sqlite3.Connection, lane: tuple[int, str, str]) -> bool:
    row = conn.execute(_LANE_OPEN, lane).fetchone()
    return row is not None and bool(row[0])


def insert_deliveries(
    conn: sqlite3.Connection, items: Iterable[NewDelivery], now: float, *, claim: int = 0
) -> list[Delivery]:
    """Write new deliveries, due now: ``pending`` when their lane has no open delivery, else
    ``waiting`` behind it (module docstring).  A target shared by many is serialised once.

    With ``claim``, up to that many of the ``pending`` ones are written ``in-flight`` at once, as
    :func:`claim_due` would mark them in the same transaction, and returned as it returns them
    (``attempts`` as read before the claim): the caller starts their attempts after the commit.
    A fresh delivery then costs one row write instead of a write, a read and a rewrite.
    """
    texts: dict[int, str] = {}
    opened: set[tuple[int, str, str]] = set()
    news = list(items)
    statuses: list[str] = []
    for d in news:
        lane = (d.rule_id, d.target_id, d.order_key)
        if lane in opened or _lane_open(conn, lane):
            statuses.append(WAITING)
        elif claim > 0:
            claim -= 1
            statuses.append(IN_FLIGHT)
        else:
            statuses.append(PENDING)
        opened.add(lane)

    def text(target: dict[str, Any]) -> str:
        key = id(target)
        if key not in texts:
            texts[key] = json.dumps(target, separators=(",", ":"))
        return texts[key]

    conn.executemany(
        "INSERT INTO event_deliveries(event_seq, rule_id, rule_arn, rule_name, target_id, target, "
        "order_key, status, attempts, first_seen, next_attempt_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                d.event_seq,
                d.rule_id,
                d.rule_arn,
                d.rule_name,
                d.target_id,
                text(d.target),
                d.order_key,
                status,
                1 if status == IN_FLIGHT else 0,
                now,
                now,
                now,
            )
            for d, status in zip(news, statuses, strict=True)
        ],
    )
    if IN_FLIGHT not in statuses:
        return []
    first = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0]) - len(news) + 1
    return [
        Delivery(
            first + index,
            d.event_seq,
            d.rule_id,
            d.rule_arn,
            d.rule_name,
            d.target_id,
            dict(d.target),
            d.order_key,
            PENDING,
            0,
            now,
            now,
            None,
            None,
        )
        for index, (d, status) in enumerate(zip(news, statuses, strict=True))
        if status == IN_FLIGHT
    ]


_DUE = (
    "SELECT d.* FROM event_deliveries d INDEXED BY event_deliveries_pending "
    "WHERE d.status = 'pending' AND d.next_attempt_at <= ? ORDER BY d.seq LIMIT ?"
)

_PROMOTE_NEXT = (
    "UPDATE event_deliveries SET status = 'pending', next_attempt_at = ?, updated_at = ? WHERE seq = ("
    "SELECT e.seq FROM event_deliveries d JOIN event_deliveries e ON e.rule_id = d.rule_id "
    "AND e.target_id = d.target_id AND e.order_key = d.order_key AND e.seq > d.seq "
    "WHERE d.seq = ? AND e.status = 'waiting' ORDER BY e.seq LIMIT 1)"
)


def due_deliveries(conn: sqlite3.Connection, now: float, limit: int) -> list[Delivery]:
    """Pending deliveries due by ``now`` (each the head of its lane), oldest first."""
    return [_delivery(r) for r in conn.execute(_DUE, (now, limit)).fetchall()]


def claim_due(conn: sqlite3.Connection, now: float, limit: int) -> list[tuple[Delivery, BusEvent]]:
    """Claim up to ``limit`` due deliveries (see :func:`due_deliveries`) with their events.

    The rows are marked ``in-flight`` (one more attempt) in ``conn``'s transaction, which must be
    a write transaction: nobody else can claim them between the read and the update.
    """
    rows = conn.execute(
        "SELECT d.*, b.event_id AS b_event_id, b.bus AS b_bus, b.rule_id AS b_rule_id, "
        "COALESCE(o.body, b.body) AS b_body, b.ingested_at AS b_ingested_at FROM (" + _DUE + ") d "
        "JOIN bus_events b ON b.seq = d.event_seq LEFT JOIN outbox o ON o.position = b.outbox_position "
        "ORDER BY d.seq",
        (now, limit),
    ).fetchall()
    claimed: list[tuple[Delivery, BusEvent]] = []
    for row in rows:
        event = BusEvent(
            int(row["event_seq"]),
            row["b_event_id"],
            row["b_bus"],
            None if row["b_rule_id"] is None else int(row["b_rule_id"]),
            row["b_body"],
            float(row["b_ingested_at"]),
        )
        claimed.append((_delivery(row), event))
    if claimed:
        conn.executemany(
            "UPDATE event_deliveries SET status = 'in-flight', attempts = attempts + 1, updated_at = ? "
            "WHERE seq = ? AND status = 'pending'",
            [(now, item.seq) for item, _ in claimed],
        )
    return claimed


def next_due_time(conn: sqlite3.Connection) -> float | None:
    row = conn.execute(
        "SELECT MIN(next_attempt_at) FROM event_deliveries WHERE status = 'pending'"
    ).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def mark_in_flight(conn: sqlite3.Connection, seq: int, now: float) -> bool:
    """Claim a pending delivery (compare-and-set); ``False`` when someone else took it."""
    return (
        conn.execute(
            "UPDATE event_deliveries SET status = 'in-flight', attempts = attempts + 1, updated_at = ? "
            "WHERE seq = ? AND status = 'pending'",
            (now, seq),
        ).rowcount
        > 0
    )


def finish(
    conn: sqlite3.Connection,
    seq: int,
    status: str,
    now: float,
    error_code: str | None = None,
    error_message: str | None = None,
) -> None:
    """Close a delivery as delivered, dead-lettered or dropped; the next of its lane becomes due."""
    conn.execute(
        "UPDATE event_deliveries SET status = ?, updated_at = ?, "
        "last_error_code = COALESCE(?, last_error_code), "
        "last_error_message = COALESCE(?, last_error_message) WHERE seq = ?",
        (status, now, error_code, error_message, seq),
    )
    conn.execute(_PROMOTE_NEXT, (now, now, seq))


def finish_delivered(conn: sqlite3.Connection, seqs: Sequence[int], now: float) -> None:
    """Close every delivery of ``seqs`` as delivered, in one statement, and make the next of each
    lane due in another."""
    conn.executemany(
        "UPDATE event_deliveries SET status = 'delivered', updated_at = ? WHERE seq = ?",
        [(now, seq) for seq in seqs],
    )
    conn.executemany(_PROMOTE_NEXT, [(now, now, seq) for seq in seqs])


def reschedule(
    conn: sqlite3.Connection,
    seq: int,
    next_attempt_at: float,
    now: float,
    error_code: str,
    error_message: str,
) -> None:
    """Return a failed delivery to ``pending`` for another attempt at ``next_attempt_at``."""
    conn.execute(
        "UPDATE event_deliveries SET status = 'pending', next_attempt_at = ?, updated_at = ?, "
        "last_error_code = ?, last_error_message = ? WHERE seq = ?",
        (next_attempt_at, now, error_code, error_message, seq),
    )


def reset_in_flight(conn: sqlite3.Connection, now: float) -> int:
    """After a restart: every in-flight delivery becomes pending again, due now."""
    return conn.execute(
        "UPDATE event_deliveries SET status = 'pending', next_attempt_at = ?, updated_at = ? "
        "WHERE status = 'in-flight'",
        (now, now),
    ).rowcount


def list_deliveries(conn: sqlite3.Connection, status: str | None = None) -> list[Delivery]:
    """Every delivery (of one status when given), oldest first."""
    if status is None:
        rows = conn.execute("SELECT * FROM event_deliveries ORDER BY seq").fetchall()
    else:
        rows = conn.execute(
            "SELECT * FROM event_deliveries WHERE status = ? ORDER BY seq", (status,)
        ).fetchall()
    return [_delivery(r) for r in rows]
