"""Jobs, their dependency edges and array counts in SQLite.

Tables:

* ``jobs``: one row per job (single, array parent, array child).  Indexed columns for the
  lookups the service and engine make (``id``; ``queue_arn, status, seq`` for placement and
  ListJobs in submission order; ``parent_id, array_index`` for children; ``status, waiting, seq``
  for the scheduler), and the :class:`~batchbridge.domain.jobs.Job` as JSON in two parts:
  the fields fixed at submission (container, parameters, ...: the same text for every child of an
  array) kept once per distinct text in ``job_statics`` and referenced by ``static_id``, parsed
  once and shared; and ``doc``, the rest (status, reasons, times, attempts, run state), the only
  part a transition rewrites, written compactly: members at their default (``None``, ``False``,
  empty) are left out, and an attempt's task, container instance and log stream are left out
  when they are the current run's (a missing one reads as the run's).  Small rows matter: a
  transition rewrites the row's page, and an array's children sharing pages share those writes.
  Rows written by earlier versions load and update as they are: with the submission-time text in
  their own ``static`` column, or with everything in ``doc`` when both are absent.
  DescribeJobs of one job is a primary-key lookup whatever the table size.
* ``job_dependencies``: edges ``job_id`` waits for ``depends_on``; ``jobs.waiting`` counts the
  edges still open, so a job is ready when it is PENDING with ``waiting = 0``.
* ``array_counts``: children per status for each array parent, kept in the child transitions'
  transactions, so ``statusSummary`` and the parent roll-up are O(1) reads.
* ``attempt_output``: the last output ``seq`` stored per attempt (for executor recovery).

Status changes are compare-and-set: :func:`update_job` writes only if the row still holds the
status the caller read (``UPDATE ... WHERE id = ? AND status = ?``).  Bulk inserts (an array of
10,000 children) use one ``executemany`` inside the caller's transaction.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from batchbridge.domain.jobs import Job
from batchbridge.domain.lifecycle import JobKind, JobStatus, is_terminal

MIGRATIONS: Sequence[tuple[str, str]] = (
    (
        "jobs-0001",
        """
        CREATE TABLE jobs (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            queue_arn TEXT NOT NULL,
            parent_id TEXT,
            array_index INTEGER,
            name TEXT NOT NULL,
            definition_arn TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            waiting INTEGER NOT NULL DEFAULT 0,
            stop_requested INTEGER NOT NULL DEFAULT 0,
            doc TEXT NOT NULL
        );
        CREATE INDEX jobs_queue_status ON jobs(queue_arn, status, seq);
        CREATE INDEX jobs_status_ready ON jobs(status, waiting, seq);
        CREATE INDEX jobs_parent ON jobs(parent_id, array_index) WHERE parent_id IS NOT NULL;
        CREATE INDEX jobs_stop ON jobs(stop_requested) WHERE stop_requested = 1;
        CREATE TABLE job_dependencies (
            job_id TEXT NOT NULL,
            depends_on TEXT NOT NULL,
            PRIMARY KEY (job_id, depends_on)
        );
        CREATE INDEX job_dependencies_target ON job_dependencies(depends_on);
        CREATE TABLE array_counts (
            parent_id TEXT NOT NULL,
            status TEXT NOT NULL,
            n INTEGER NOT NULL,
            PRIMARY KEY (parent_id, status)
        );
        CREATE TABLE attempt_output (
            attempt_id TEXT PRIMARY KEY,
            last_seq INTEGER NOT NULL
        );
        """,
    ),
    (
        "jobs-0002",
        """
        ALTER TABLE jobs ADD COLUMN static TEXT;
        """,
    ),
    (
        "jobs-0003",
        """
        CREATE TABLE job_statics (
            id INTEGER PRIMARY KEY,
            text TEXT NOT NULL UNIQUE
        );
        ALTER TABLE jobs ADD COLUMN static_id INTEGER;
        """,
    ),
)


#: Job fields fixed at submission (the same for every child of an array): stored once in
#: ``static`` when the job is inserted, never rewritten by a transition.
STATIC_FIELDS: tuple[str, ...] = (
    "queue_arn",
    "queue_name",
    "definition_arn",
    "definition_name",
    "container",
    "parameters",
    "depends_on",
    "retry_strategy",
    "timeout",
    "tags",
    "propagate_tags",
    "platform_capabilities",
    "parent_arn",
    "array_size",
    "sequential",
    "vcpus",
    "memory_mib",
    "gpus",
)
_STATIC = frozenset(STATIC_FIELDS)
_STATIC_CACHE: dict[str, dict[str, Any]] = {}
_STATIC_CACHE_SIZE = 256
_STATIC_LOCK = threading.Lock()
#: The columns every job query selects, from ``jobs j`` joined to its submission-time text.
_SELECT = "SELECT j.seq AS seq, j.id AS id, j.doc AS doc, coalesce(s.text, j.static) AS static FROM jobs j"
_JOIN = " LEFT JOIN job_statics s ON s.id = j.static_id"
#: Attempt members that, when equal to the current run's, are left out of the stored document.
_SHARED_WITH_RUN: tuple[str, ...] = ("task_arn", "container_instance_arn", "log_stream_name")
_ZERO_DEFAULTS = frozenset({"attempt", "seq"})
_OPTIONAL_IN_ATTEMPT = frozenset({"exit_code", "reason"})
_DROP_WHEN_NONE: tuple[str, ...] = (
    "status_reason",
    "started_at",
    "stopped_at",
    "parent_id",
    "array_index",
    "cancel_reason",
)


def _encode(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))


def _compact(job: Job) -> dict[str, Any]:
    """The changing part of the job's document, without the members at their default."""
    doc: dict[str, Any] = {
        "job_id": job.job_id,
        "job_arn": job.job_arn,
        "name": job.name,
        "kind": job.kind.value,
        "status": job.status.value,
        "created_at": job.created_at,
    }
    for key in _DROP_WHEN_NONE:
        value = getattr(job, key)
        if value is not None:
            doc[key] = value
    if job.is_cancelled:
        doc["is_cancelled"] = True
    if job.is_terminated:
        doc["is_terminated"] = True
    run = {
        k: v
        for k, v in job.run.__dict__.items()
        if v is not None and not (k in ("attempt", "seq") and v == 0)
    }
    if job.attempts:
        attempts = []
        for record in job.attempts:
            item = {
                k: v for k, v in record.__dict__.items() if v is not None or k not in _OPTIONAL_IN_ATTEMPT
            }
            for key in _SHARED_WITH_RUN:
                if item[key] is not None and item[key] == run.get(key):
                    del item[key]
            attempts.append(item)
        doc["attempts"] = attempts
    if run:
        doc["run"] = run
    return doc


def _expand(doc: dict[str, Any]) -> dict[str, Any]:
    """Undo :func:`_compact`'s sharing: an attempt's missing task, instance or stream is the run's."""
    attempts = doc.get("attempts")
    if attempts:
        run = doc.get("run") or {}
        for item in attempts:
            for key in _SHARED_WITH_RUN:
                if key not in item:
                    item[key] = run.get(key)
    return doc


def _split(job: Job, memo: dict[tuple[int, ...], str] | None = None) -> tuple[str, str]:
    """(changing part, submission-time part) of the job's document, as compact JSON.

    ``memo`` reuses the submission-time text of jobs whose submission-time members are the very
    same objects (the children of one array), for the lifetime of the caller's call.
    """
    key = tuple(id(getattr(job, field)) for field in STATIC_FIELDS)
    static = memo.get(key) if memo is not None else None
    if static is None:
        static = _static_text(job)
        if memo is not None:
            memo[key] = static
    return _encode(_compact(job)), static


def _static_text(job: Job) -> str:
    """The submission-time part of the job's document, as compact JSON."""
    return _encode({field: getattr(job, field) for field in STATIC_FIELDS})


def _dump(job: Job) -> str:
    """The changing part of the job's document (what a transition rewrites)."""
    return _encode(_compact(job))


def _static(text: str) -> dict[str, Any]:
    """The parsed submission-time part, shared by every job with the same text (read-only)."""
    found = _STATIC_CACHE.get(text)
    if found is None:
        found = json.loads(text)
        with _STATIC_LOCK:
            if len(_STATIC_CACHE) >= _STATIC_CACHE_SIZE:
                _STATIC_CACHE.pop(next(iter(_STATIC_CACHE)))
            _STATIC_CACHE[text] = found
    return found


#: job id -> (the changing part as last written, the job that text was written from).  A job the
#: engine writes is usually read back soon (released, then placed, then ended): a read whose row
#: holds exactly the text written takes the job from here instead of parsing it again.  The entry is
#: removed by that read, so a job handed out is never shared; a rolled-back write leaves a text
#: that no row holds, which is never matched.  Jobs that ended are not kept.
_WRITTEN: dict[str, tuple[str, Job]] = {}
_WRITTEN_LIMIT = 8192


def _remember(job: Job, doc: str) -> None:
    if len(_WRITTEN) >= _WRITTEN_LIMIT:
        with contextlib.suppress(StopIteration, KeyError, RuntimeError):
            del _WRITTEN[next(iter(_WRITTEN))]
    _WRITTEN[job.job_id] = (doc, job)


def _load(row: sqlite3.Row) -> Job:
    written = _WRITTEN.pop(row["id"], None)
    if written is not None and written[0] == row["doc"]:
        return written[1]
    doc = _expand(json.loads(row["doc"]))
    static = row["static"]
    if static is not None:
        doc.update(_static(static))
    return Job.from_doc(doc)


def _static_ids(conn: sqlite3.Connection, texts: Iterable[str]) -> dict[str, int]:
    """The ``job_statics`` id of each distinct text, inserting the texts not stored yet."""
    ids: dict[str, int] = {}
    for text in texts:
        if text in ids:
            continue
        conn.execute("INSERT OR IGNORE INTO job_statics(text) VALUES (?)", (text,))
        ids[text] = int(conn.execute("SELECT id FROM job_statics WHERE text = ?", (text,)).fetchone()[0])
    return ids


_INSERT_JOB = (
    "INSERT INTO jobs(id, kind, status, queue_arn, parent_id, array_index, name, definition_arn,"
    " created_at, waiting, doc, static_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def insert_jobs(
    conn: sqlite3.Connection, jobs: Sequence[Job], waiting: Mapping[str, int] | None = None
) -> None:
    """Insert ``jobs`` (one ``executemany``); ``waiting`` gives each job's count of open edges."""
    counts = waiting or {}
    memo: dict[tuple[int, ...], str] = {}
    parts = [_split(j, memo) for j in jobs]
    ids = _static_ids(conn, (static for _, static in parts))
    conn.executemany(
        _INSERT_JOB,
        [
            (
                j.job_id,
                j.kind.value,
                j.status.value,
                j.queue_arn,
                j.parent_id,
                j.array_index,
                j.name,
                j.definition_arn,
                j.created_at,
                counts.get(j.job_id, 0),
                doc,
                ids[static],
            )
            for j, (doc, static) in zip(jobs, parts, strict=True)
        ],
    )


#: Stand-ins for the members that differ between the children of one array (see insert_children).
_CHILD_MARKERS = {"job_id": "\x01", "job_arn": "\x02", "array_index": "\x03"}


def insert_children(
    conn: sqlite3.Connection, first: Job, size: int, waiting: Mapping[str, int] | None = None
) -> None:
    """Insert the children ``0 .. size-1`` of an array, ``first`` being child 0 (one ``executemany``).

    Siblings differ only in id (``<parent>:<index>``), ARN (``<parent ARN>:<index>``) and index,
    so the changing part of the document is encoded once with markers in those places and filled
    in per child: the rows are exactly those :func:`insert_jobs` writes, at a fraction of the cost.
    """
    if size <= 0:
        return
    counts = waiting or {}
    parent_id, parent_arn = first.parent_id, first.parent_arn
    assert parent_id is not None and parent_arn is not None and first.array_index == 0
    marked = _compact(first)
    marked.update(_CHILD_MARKERS)
    head, rest = _encode(marked).split('"\\u0001"')
    middle, rest = rest.split('"\\u0002"')
    before_index, tail = rest.split('"\\u0003"')
    static = _static_text(first)
    static_id = _static_ids(conn, [static])[static]
    quote = json.encoder.encode_basestring_ascii
    kind, status = first.kind.value, first.status.value
    rows = []
    for index in range(size):
        job_id = f"{parent_id}:{index}"
        doc = f"{head}{quote(job_id)}{middle}{quote(f'{parent_arn}:{index}')}{before_index}{index}{tail}"
        rows.append(
            (
                job_id,
                kind,
                status,
                first.queue_arn,
                parent_id,
                index,
                first.name,
                first.definition_arn,
                first.created_at,
                counts.get(job_id, 0),
                doc,
                static_id,
            )
        )
    conn.executemany(_INSERT_JOB, rows)


def insert_dependencies(conn: sqlite3.Connection, edges: Iterable[tuple[str, str]]) -> None:
    """Record that each ``(job_id, depends_on)`` pair waits."""
    conn.executemany("INSERT OR IGNORE INTO job_dependencies(job_id, depends_on) VALUES (?, ?)", list(edges))


def get_job(conn: sqlite3.Connection, job_id: str) -> Job | None:
    row = conn.execute(f"{_SELECT}{_JOIN} WHERE j.id = ?", (job_id,)).fetchone()
    return None if row is None else _load(row)


def get_jobs(conn: sqlite3.Connection, job_ids: Sequence[str]) -> dict[str, Job]:
    """The stored jobs among ``job_ids`` (unknown ids are absent), by id."""
    found: dict[str, Job] = {}
    for start in range(0, len(job_ids), 500):
        chunk = list(job_ids[start : start + 500])
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(f"{_SELECT}{_JOIN} WHERE j.id IN ({marks})", chunk):
            job = _load(row)
            found[job.job_id] = job
    return found


def statuses(conn: sqlite3.Connection, job_ids: Sequence[str]) -> dict[str, JobStatus]:
    out: dict[str, JobStatus] = {}
    for start in range(0, len(job_ids), 500):
        chunk = list(job_ids[start : start + 500])
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(f"SELECT id, status FROM jobs WHERE id IN ({marks})", chunk):
            out[str(row["id"])] = JobStatus(row["status"])
    return out


def update_job(conn: sqlite3.Connection, job: Job, expected: JobStatus) -> bool:
    """Write ``job`` only if its row still has status ``expected``; report whether it did."""
    doc = _dump(job)
    cur = conn.execute(
        "UPDATE jobs SET status = ?, doc = ? WHERE id = ? AND status = ?"
        " AND (static_id IS NOT NULL OR static IS NOT NULL)",
        (job.status.value, doc, job.job_id, expected.value),
    )
    if cur.rowcount > 0:
        if not is_terminal(job.status):
            _remember(job, doc)
        return True
    whole = json.dumps(job.to_doc(), separators=(",", ":"))
    cur = conn.execute(
        "UPDATE jobs SET status = ?, doc = ? WHERE id = ? AND status = ? AND static IS NULL"
        " AND static_id IS NULL",
        (job.status.value, whole, job.job_id, expected.value),
    )
    return cur.rowcount > 0


def request_stop(conn: sqlite3.Connection, job_id: str, flag: bool = True) -> None:
    conn.execute("UPDATE jobs SET stop_requested = ? WHERE id = ?", (1 if flag else 0, job_id))


def stop_requested(conn: sqlite3.Connection, limit: int = 500) -> list[Job]:
    rows = conn.execute(f"{_SELECT}{_JOIN} WHERE j.stop_requested = 1 LIMIT ?", (limit,)).fetchall()
    return [_load(r) for r in rows]


def ids_in_status(
    conn: sqlite3.Connection, status: JobStatus, *, ready_only: bool = False, limit: int = 1000
) -> list[str]:
    """Ids in ``status`` in submission order; ``ready_only`` keeps those with no open dependency."""
    if ready_only:
        sql = (
            "SELECT id FROM jobs WHERE status = ? AND waiting = 0 AND kind != 'ARRAY_PARENT'"
            " ORDER BY seq LIMIT ?"
        )
    else:
        sql = "SELECT id FROM jobs WHERE status = ? ORDER BY seq LIMIT ?"
    return [str(r["id"]) for r in conn.execute(sql, (status.value, limit))]


def jobs_in_status(conn: sqlite3.Connection, status: JobStatus, limit: int = 1000) -> list[Job]:
    rows = conn.execute(
        f"{_SELECT}{_JOIN} WHERE j.status = ? ORDER BY j.seq LIMIT ?", (status.value, limit)
    ).fetchall()
    return [_load(r) for r in rows]


def runnable_in_queue(conn: sqlite3.Connection, queue_arn: str, limit: int, after_seq: int = 0) -> list[Job]:
    """RUNNABLE jobs of one queue in submission order (FIFO), after ``after_seq``."""
    rows = conn.execute(
        f"{_SELECT}{_JOIN} WHERE j.queue_arn = ? AND j.status = 'RUNNABLE' AND j.seq > ?"
        " ORDER BY j.seq LIMIT ?",
        (queue_arn, after_seq, limit),
    ).fetchall()
    out = []
    for row in rows:
        job = _load(row)
        job.run.seq = int(row["seq"])
        out.append(job)
    return out


def runnable_queues(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT DISTINCT queue_arn FROM jobs WHERE status = 'RUNNABLE'").fetchall()
    return [str(r["queue_arn"]) for r in rows]


def children(conn: sqlite3.Connection, parent_id: str) -> list[Job]:
    rows = conn.execute(
        f"{_SELECT}{_JOIN} WHERE j.parent_id = ? ORDER BY j.array_index", (parent_id,)
    ).fetchall()
    return [_load(r) for r in rows]


def child_ids_in(conn: sqlite3.Connection, parent_id: str, status_list: Iterable[JobStatus]) -> list[str]:
    wanted = [s.value for s in status_list]
    marks = ",".join("?" * len(wanted))
    rows = conn.execute(
        f"SELECT id FROM jobs WHERE parent_id = ? AND status IN ({marks}) ORDER BY array_index",
        (parent_id, *wanted),
    ).fetchall()
    return [str(r["id"]) for r in rows]


# --- array counts -------------------------------------------------------------------------------


def init_counts(conn: sqlite3.Connection, parent_id: str, status: JobStatus, n: int) -> None:
    conn.execute(
        "INSERT INTO array_counts(parent_id, status, n) VALUES (?, ?, ?)"
        " ON CONFLICT(parent_id, status) DO UPDATE SET n = n + excluded.n",
        (parent_id, status.value, n),
    )


def move_count(conn: sqlite3.Connection, parent_id: str, old: JobStatus, new: JobStatus) -> None:
    """One child of ``parent_id`` moved from ``old`` to ``new``."""
    conn.execute(
        "UPDATE array_counts SET n = n - 1 WHERE parent_id = ? AND status = ?", (parent_id, old.value)
    )
    init_counts(conn, parent_id, new, 1)


def add_counts(conn: sqlite3.Connection, deltas: Mapping[tuple[str, str], int]) -> None:
    """Apply many ``(parent id, status) -> change`` deltas to the children counts at once."""
    rows = [(parent, status, n) for (parent, status), n in deltas.items() if n]
    if rows:
        conn.executemany(
            "INSERT INTO array_counts(parent_id, status, n) VALUES (?, ?, ?)"
            " ON CONFLICT(parent_id, status) DO UPDATE SET n = n + excluded.n",
            rows,
        )


def array_counts(conn: sqlite3.Connection, parent_id: str) -> dict[str, int]:
    rows = conn.execute("SELECT status, n FROM array_counts WHERE parent_id = ?", (parent_id,)).fetchall()
    return {str(r["status"]): int(r["n"]) for r in rows}


# --- dependencies -------------------------------------------------------------------------------


def dependents_of(conn: sqlite3.Connection, job_id: str) -> list[str]:
    rows = conn.execute("SELECT job_id FROM job_dependencies WHERE depends_on = ?", (job_id,)).fetchall()
    return [str(r["job_id"]) for r in rows]


def resolve_edges_to(conn: sqlite3.Connection, job_id: str) -> list[str]:
    """Close every edge pointing at ``job_id`` (it succeeded); return the waiting jobs now ready."""
    waiting = dependents_of(conn, job_id)
    if not waiting:
        return []
    conn.execute("DELETE FROM job_dependencies WHERE depends_on = ?", (job_id,))
    conn.executemany("UPDATE jobs SET waiting = waiting - 1 WHERE id = ?", [(w,) for w in waiting])
    ready: list[str] = []
    for start in range(0, len(waiting), 500):
        chunk = waiting[start : start + 500]
        marks = ",".join("?" * len(chunk))
        ready.extend(
            str(r["id"])
            for r in conn.execute(f"SELECT id FROM jobs WHERE id IN ({marks}) AND waiting <= 0", chunk)
        )
    return ready


def open_dependencies(conn: sqlite3.Connection, job_id: str) -> list[str]:
    rows = conn.execute("SELECT depends_on FROM job_dependencies WHERE job_id = ?", (job_id,)).fetchall()
    return [str(r["depends_on"]) for r in rows]


# --- attempt output -----------------------------------------------------------------------------


def record_output_seq(conn: sqlite3.Connection, seqs: Mapping[str, int]) -> None:
    conn.executemany(
        "INSERT INTO attempt_output(attempt_id, last_seq) VALUES (?, ?)"
        " ON CONFLICT(attempt_id) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)",
        list(seqs.items()),
    )


def output_seqs(conn: sqlite3.Connection, attempt_ids: Sequence[str]) -> dict[str, int]:
    out = {a: 0 for a in attempt_ids}
    for start in range(0, len(attempt_ids), 500):
        chunk = list(attempt_ids[start : start + 500])
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(
            f"SELECT attempt_id, last_seq FROM attempt_output WHERE attempt_id IN ({marks})", chunk
        ):
            out[str(row["attempt_id"])] = int(row["last_seq"])
    return out


# --- listing ------------------------------------------------------------------------------------


def list_jobs(
    conn: sqlite3.Connection,
    *,
    queue_arn: str | None = None,
    parent_id: str | None = None,
    status: JobStatus | None = None,
    name_prefix: str | None = None,
    name_exact: str | None = None,
    definition_arn: str | None = None,
    definition_prefix: str | None = None,
    before: int | None = None,
    after: int | None = None,
    newest_first: bool = False,
    after_seq: int | None = None,
    limit: int = 100,
) -> list[tuple[int, Job]]:
    """One page of ``(seq, job)`` rows matching the filters, keyset-paged on ``seq``."""
    conds: list[str] = []
    params: list[Any] = []
    if queue_arn is not None:
        conds.append("queue_arn = ? AND kind != ?")
        params += [queue_arn, JobKind.ARRAY_CHILD.value]
    if parent_id is not None:
        conds.append("parent_id = ?")
        params.append(parent_id)
    if status is not None:
        conds.append("status = ?")
        params.append(status.value)
    if name_exact is not None:
        conds.append("lower(name) = lower(?)")
        params.append(name_exact)
    if name_prefix is not None:
        conds.append("lower(substr(name, 1, ?)) = lower(?)")
        params += [len(name_prefix), name_prefix]
    if definition_arn is not None:
        conds.append("definition_arn = ?")
        params.append(definition_arn)
    if definition_prefix is not None:
        conds.append("substr(definition_arn, 1, ?) = ?")
        params += [len(definition_prefix), definition_prefix]
    if before is not None:
        conds.append("created_at < ?")
        params.append(before)
    if after is not None:
        conds.append("created_at > ?")
        params.append(after)
    if after_seq is not None:
        conds.append("seq < ?" if newest_first else "seq > ?")
        params.append(after_seq)
    where = " AND ".join(conds) if conds else "1"
    order = "seq DESC" if newest_first else "seq"
    rows = conn.execute(
        f"{_SELECT}{_JOIN} WHERE {where} ORDER BY j.{order} LIMIT ?", (*params, limit)
    ).fetchall()
    return [(int(r["seq"]), _load(r)) for r in rows]


def count_jobs(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM jobs").fetchone()[0])
