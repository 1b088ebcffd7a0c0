"""The job document in SQLite: the changing part rewritten per transition, the submission part once."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import pytest

from batchbridge.domain.job_events import event_time
from batchbridge.domain.jobs import AttemptRecord, Job, RunState
from batchbridge.domain.lifecycle import JobKind, JobStatus
from batchbridge.engine.transitions import JobWriter
from batchbridge.store import jobs as job_store
from batchbridge.store.db import Database

PARENT = "9d1c6c2e-5e0b-4a8e-9a43-0f5a3c2b7e10"
ARN = f"arn:aws:batch:us-east-1:123456789012:job/{PARENT}"


def child(index: int, status: JobStatus = JobStatus.PENDING) -> Job:
    return Job(
        job_id=f"{PARENT}:{index}",
        job_arn=f"{ARN}:{index}",
        name="print-color",
        kind=JobKind.ARRAY_CHILD,
        status=status,
        queue_arn="arn:aws:batch:us-east-1:123456789012:job-queue/q",
        queue_name="q",
        definition_arn="arn:aws:batch:us-east-1:123456789012:job-definition/print-color:1",
        definition_name="print-color",
        created_at=1735689600500,
        container={"image": "busybox", "command": ["true"], "environment": [{"name": "A", "value": "1"}]},
        parameters={"p": "v"},
        retry_strategy={"attempts": 2, "evaluateOnExit": []},
        timeout={"attemptDurationSeconds": 60},
        tags={"team": "x"},
        propagate_tags=True,
        platform_capabilities=["EC2"],
        parent_id=PARENT,
        parent_arn=ARN,
        array_size=3,
        array_index=index,
        vcpus=1.0,
        memory_mib=250,
    )


def parent_job() -> Job:
    job = child(0)
    return dataclasses.replace(
        job,
        job_id=PARENT,
        job_arn=ARN,
        kind=JobKind.ARRAY_PARENT,
        parent_id=None,
        parent_arn=None,
        array_index=None,
        run=RunState(),
    )


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database.open(tmp_path / "db.sqlite3")


def test_to_doc_matches_asdict_for_every_field() -> None:
    job = child(1, JobStatus.FAILED)
    job.attempts.append(AttemptRecord(1, 2, "Essential container in task exited", 3, "r", "t", "c", "l"))
    job.run = RunState(attempt=1, task_id="abc", exit_code=3, seq=9)
    expected = dataclasses.asdict(job)
    expected["kind"] = job.kind.value
    expected["status"] = job.status.value
    assert job.to_doc() == expected
    assert Job.from_doc(json.loads(json.dumps(job.to_doc()))) == job


def test_submission_fields_are_stored_once_and_transitions_rewrite_the_rest(db: Database) -> None:
    with db.transaction() as conn:
        job_store.insert_jobs(conn, [child(0), child(1)])
    with db.read() as conn:
        row = conn.execute(
            "SELECT j.doc, j.static_id, s.text FROM jobs j JOIN job_statics s ON s.id = j.static_id"
            " WHERE j.id = ?",
            (f"{PARENT}:0",),
        ).fetchone()
        texts = conn.execute("SELECT count(*) FROM job_statics").fetchone()[0]
    assert texts == 1, "the children of one array share one submission-time text"
    doc, static = json.loads(row["doc"]), json.loads(row["text"])
    assert set(static) == set(job_store.STATIC_FIELDS)
    assert not set(doc) & set(job_store.STATIC_FIELDS)
    assert static["container"]["command"] == ["true"]

    with db.transaction() as conn:
        job = job_store.get_job(conn, f"{PARENT}:0")
        assert job == child(0)
        job.status = JobStatus.RUNNABLE
        job.status_reason = "moved"
        assert job_store.update_job(conn, job, JobStatus.PENDING)
        assert not job_store.update_job(conn, job, JobStatus.PENDING)
    with db.read() as conn:
        again = job_store.get_jobs(conn, [f"{PARENT}:0", f"{PARENT}:1"])
        after = conn.execute("SELECT static_id FROM jobs WHERE id = ?", (f"{PARENT}:0",)).fetchone()
    assert after["static_id"] == row["static_id"]
    assert again[f"{PARENT}:0"].status is JobStatus.RUNNABLE
    assert again[f"{PARENT}:0"].status_reason == "moved"
    assert again[f"{PARENT}:0"].container == child(0).container
    assert again[f"{PARENT}:1"] == child(1)


def test_transitions_store_only_what_changed_and_read_back_the_same_job(db: Database) -> None:
    job = child(3, JobStatus.RUNNING)
    job.run = RunState(
        attempt=2, task_id="abc", task_arn="t2", container_instance_arn="c2", log_stream_name="l2"
    )
    job.attempts = [
        AttemptRecord(1, 2, "Essential container in task exited", 3, "r", "t1", "c1", "l1"),
        AttemptRecord(None, 5, "Task failed to start", None, None, "t2", None, "l2"),
    ]
    with db.transaction() as conn:
        job_store.insert_jobs(conn, [job])
        row = conn.execute("SELECT doc FROM jobs WHERE id = ?", (job.job_id,)).fetchone()
        loaded = job_store.get_job(conn, job.job_id)
    doc = json.loads(row["doc"])
    assert "cancel_reason" not in doc and "is_cancelled" not in doc and "stopped_at" not in doc
    assert doc["attempts"][0]["task_arn"] == "t1"
    assert "task_arn" not in doc["attempts"][1] and "log_stream_name" not in doc["attempts"][1]
    assert doc["attempts"][1]["container_instance_arn"] is None
    assert loaded == job
    job.run = RunState(attempt=2, exit_code=0)
    job.status = JobStatus.SUCCEEDED
    with db.transaction() as conn:
        assert job_store.update_job(conn, job, JobStatus.RUNNING)
        again = job_store.get_job(conn, job.job_id)
    assert again == job and again.run.exit_code == 0


def test_rows_written_by_earlier_versions_still_load_and_update(db: Database) -> None:
    split = child(4)
    with db.transaction() as conn:
        job_store.insert_jobs(conn, [split])
        doc = split.to_doc()
        static = {key: doc.pop(key) for key in job_store.STATIC_FIELDS}
        conn.execute(
            "UPDATE jobs SET doc = ?, static = ?, static_id = NULL WHERE id = ?",
            (json.dumps(doc), json.dumps(static), split.job_id),
        )
    with db.transaction() as conn:
        job = job_store.get_job(conn, split.job_id)
        assert job == split
        job.status = JobStatus.RUNNABLE
        assert job_store.update_job(conn, job, JobStatus.PENDING)
    with db.read() as conn:
        loaded = job_store.get_job(conn, split.job_id)
    assert loaded is not None and loaded.status is JobStatus.RUNNABLE and loaded.container == split.container

    old = child(2)
    with db.transaction() as conn:
        job_store.insert_jobs(conn, [old])
        conn.execute(
            "UPDATE jobs SET doc = ?, static = NULL, static_id = NULL WHERE id = ?",
            (json.dumps(old.to_doc()), old.job_id),
        )
    with db.transaction() as conn:
        job = job_store.get_job(conn, old.job_id)
        assert job == old
        job.status = JobStatus.RUNNABLE
        assert job_store.update_job(conn, job, JobStatus.PENDING)
    with db.read() as conn:
        loaded = job_store.get_job(conn, old.job_id)
    assert loaded is not None and loaded.status is JobStatus.RUNNABLE
    assert loaded.container == old.container and loaded.tags == old.tags


def test_child_counts_are_batched_but_read_back_inside_the_pass(db: Database) -> None:
    children = [child(i) for i in range(3)]
    with db.transaction() as conn:
        job_store.insert_jobs(conn, [parent_job(), *children])
        job_store.init_counts(conn, PARENT, JobStatus.PENDING, 3)
    with db.transaction() as conn:
        writer = JobWriter(conn, clock=lambda: 1735689605000)
        for job in children[:2]:
            assert writer.move(job, JobStatus.RUNNABLE)
        assert writer.array_counts(PARENT) == {"PENDING": 1, "RUNNABLE": 2}
        writer.move(children[2], JobStatus.RUNNABLE)
        writer.finish()
    with db.read() as conn:
        assert job_store.array_counts(conn, PARENT) == {"PENDING": 0, "RUNNABLE": 3}
        bodies = [json.loads(r[0]) for r in conn.execute("SELECT body FROM outbox ORDER BY position")]
    assert [b["detail"]["status"] for b in bodies] == ["RUNNABLE"] * 3
    assert [b["account"] for b in bodies] == ["123456789012"] * 3
    assert {b["time"] for b in bodies} == {"2025-01-01T00:00:05Z"}


def test_event_time_is_second_precision_utc_across_seconds() -> None:
    assert event_time(1735689600999) == "2025-01-01T00:00:00Z"
    assert event_time(1735689601000) == "2025-01-01T00:00:01Z"
    assert event_time(1735689600000) == "2025-01-01T00:00:00Z"


def test_sqlite_connection_is_a_real_file(db: Database) -> None:
    assert db.path.exists()
    with sqlite3.connect(db.path) as raw:
        assert raw.execute("SELECT count(*) FROM schema_migrations WHERE id = 'jobs-0002'").fetchone()[0] == 1


def test_an_attempt_that_ran_and_ended_in_one_pass_is_written_once_with_both_events(db: Database) -> None:
    from batchbridge.engine.attempts import record_exit
    from batchbridge.executors.base import AttemptExit

    job = child(5, JobStatus.STARTING)
    job.run = RunState(attempt=1, task_id="abc", task_arn="arn:aws:ecs:us-east-1:1:task/AWSBatch-c-u/abc")
    with db.transaction() as conn:
        job_store.insert_jobs(conn, [job])
        job_store.init_counts(conn, PARENT, JobStatus.STARTING, 1)
    exit = AttemptExit(job.job_id + ".1", 0, None, "Essential container in task exited", 1000, 1005)
    statements: list[str] = []
    with db.transaction() as conn:
        conn.set_trace_callback(statements.append)
        writer = JobWriter(conn)
        loaded = job_store.get_job(conn, job.job_id)
        assert loaded is not None and record_exit(writer, loaded, exit)
        writer.finish()
        conn.set_trace_callback(None)
    assert sum(s.startswith("UPDATE jobs") for s in statements) == 1
    bodies = [json.loads(e[3]) for e in writer.events]
    assert [b["detail"]["status"] for b in bodies] == ["RUNNING", "SUCCEEDED"]
    assert "logStreamName" in bodies[0]["detail"]["container"]
    assert "exitCode" not in bodies[0]["detail"]["container"] and bodies[0]["detail"]["attempts"] == []
    assert bodies[1]["detail"]["attempts"][0]["container"]["logStreamName"].endswith("/abc")
    with db.read() as conn:
        stored = job_store.get_job(conn, job.job_id)
        counts = job_store.array_counts(conn, PARENT)
    assert stored is not None and stored.status is JobStatus.SUCCEEDED and stored.started_at == 1000
    assert stored.status_reason == "Essential container in task exited"
    assert counts.get("SUCCEEDED") == 1 and counts.get("STARTING") == 0 and counts.get("RUNNING", 0) == 0

    with db.transaction() as conn:
        writer = JobWriter(conn)
        stale = dataclasses.replace(job, run=dataclasses.replace(job.run), attempts=[])
        assert not writer.move_through(stale, [(JobStatus.RUNNING, None), (JobStatus.FAILED, None)])
        assert writer.events == [] and stale.status is JobStatus.STARTING


def test_an_arrays_children_inserted_at_once_are_the_rows_insert_jobs_writes(tmp_path: Path) -> None:
    """insert_children fills a template per child; every column must match insert_jobs' own rows."""
    size = 12
    kids = [dataclasses.replace(child(i), array_size=size) for i in range(size)]
    waiting = {kids[3].job_id: 2, kids[7].job_id: 1}
    rows = {}
    for name, insert in (
        ("one by one", lambda conn: job_store.insert_jobs(conn, kids, waiting)),
        ("at once", lambda conn: job_store.insert_children(conn, kids[0], size, waiting)),
    ):
        db = Database.open(tmp_path / f"{name}.sqlite3")
        with db.transaction() as conn:
            insert(conn)
        with db.read() as conn:
            rows[name] = [
                tuple(r)
                for r in conn.execute(
                    "SELECT j.id, kind, status, queue_arn, parent_id, array_index, name, definition_arn,"
                    " created_at, waiting, doc, s.text FROM jobs j JOIN job_statics s ON s.id = j.static_id"
                    " ORDER BY seq"
                )
            ]
            loaded = job_store.get_jobs(conn, [k.job_id for k in kids])
        assert [loaded[k.job_id] for k in kids] == kids
        db.close()
    assert rows["at once"] == rows["one by one"]
    assert len(rows["at once"]) == size


def test_a_job_read_back_after_its_write_is_the_job_written_once_and_only_while_the_row_holds_it(
    db: Database,
) -> None:
    job = child(5)
    with db.transaction() as conn:
        job_store.insert_jobs(conn, [job])
    job.status = JobStatus.RUNNABLE
    with db.transaction() as conn:
        assert job_store.update_job(conn, job, JobStatus.PENDING)
    with db.read() as conn:
        first = job_store.get_job(conn, job.job_id)
        second = job_store.get_job(conn, job.job_id)
    assert first is job, "the read right after the write takes the job written"
    assert second == job and second is not job, "a job handed out is never handed out again"

    job.status = JobStatus.STARTING
    with pytest.raises(RuntimeError), db.transaction() as conn:
        assert job_store.update_job(conn, job, JobStatus.RUNNABLE)
        raise RuntimeError("the pass fails: its writes roll back")
    with db.read() as conn:
        after_rollback = job_store.get_job(conn, job.job_id)
    assert after_rollback is not None and after_rollback.status is JobStatus.RUNNABLE

    job.status = JobStatus.RUNNABLE
    with db.transaction() as conn:
        assert not job_store.update_job(conn, job, JobStatus.STARTING)
        writer = JobWriter(conn)
        fresh = job_store.get_job(conn, job.job_id)
        assert fresh is not None and writer.move(fresh, JobStatus.STARTING)
        writer.finish()
    other = Database.open(db.path)
    with other.transaction() as conn:
        conn.execute(
            "UPDATE jobs SET doc = replace(doc, '\"STARTING\"', '\"RUNNABLE\"'), status = 'RUNNABLE'"
        )
    other.close()
    with db.read() as conn:
        changed_elsewhere = job_store.get_job(conn, job.job_id)
    assert changed_elsewhere is not None and changed_elsewhere.status is JobStatus.RUNNABLE
