"""The scheduler's queue list is kept between passes and re-read after any change that matters."""

from __future__ import annotations

from pathlib import Path

from batchbridge.config import Settings
from batchbridge.services.batch import BatchService
from batchbridge.services.context import RequestContext
from batchbridge.store import resources
from batchbridge.store.db import Database
from batchbridge.store.resolve import list_job_queues_for_scheduling

CTX = RequestContext(account_id="123456789012", region="us-east-1", request_id="r")


def _setup(db: Database, tmp_path: Path) -> BatchService:
    batch = BatchService(db, Settings(data_dir=tmp_path))
    batch.CreateComputeEnvironment(
        CTX,
        {
            "computeEnvironmentName": "ce",
            "type": "MANAGED",
            "computeResources": {"type": "EC2", "maxvCpus": 4},
        },
    )
    batch.CreateJobQueue(
        CTX,
        {
            "jobQueueName": "q",
            "priority": 1,
            "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "ce"}],
        },
    )
    return batch


def _names(db: Database) -> list[tuple[str, list[tuple[str, float]]]]:
    return [
        (s.queue.name, [(t.compute_environment.name, t.capacity.vcpus) for t in s.targets])
        for s in list_job_queues_for_scheduling(db, 1024)
    ]


def test_unchanged_tables_cost_no_reread(tmp_path: Path) -> None:
    db = Database.open(tmp_path / "db.sqlite3")
    _setup(db, tmp_path)
    first = list_job_queues_for_scheduling(db, 1024)
    second = list_job_queues_for_scheduling(db, 1024)
    assert first == second
    assert first[0] is second[0]
    first.clear()
    assert len(list_job_queues_for_scheduling(db, 1024)) == 1
    db.close()


def test_writes_through_the_service_are_seen_at_once(tmp_path: Path) -> None:
    db = Database.open(tmp_path / "db.sqlite3")
    batch = _setup(db, tmp_path)
    assert _names(db) == [("q", [("ce", 4.0)])]
    before = resources.placement_version()
    batch.UpdateComputeEnvironment(CTX, {"computeEnvironment": "ce", "computeResources": {"maxvCpus": 2}})
    assert resources.placement_version() > before
    assert _names(db) == [("q", [("ce", 2.0)])]
    batch.UpdateJobQueue(CTX, {"jobQueue": "q", "state": "DISABLED"})
    assert _names(db) == []
    batch.UpdateJobQueue(CTX, {"jobQueue": "q", "state": "ENABLED"})
    batch.UpdateComputeEnvironment(CTX, {"computeEnvironment": "ce", "state": "DISABLED"})
    assert _names(db) == [("q", [])]
    db.close()


def test_commits_of_another_connection_are_seen(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    db = Database.open(path)
    _setup(db, tmp_path)
    assert _names(db) == [("q", [("ce", 4.0)])]
    other = Database.open(path)
    version = resources.placement_version()
    with other.transaction() as conn:
        conn.execute("UPDATE job_queues SET state = 'DISABLED'")
    assert resources.placement_version() == version
    assert _names(db) == []
    other.close()
    db.close()


def test_memory_setting_is_part_of_the_key(tmp_path: Path) -> None:
    db = Database.open(tmp_path / "db.sqlite3")
    _setup(db, tmp_path)
    small = list_job_queues_for_scheduling(db, 1024)
    large = list_job_queues_for_scheduling(db, 4096)
    assert small[0].targets[0].capacity.memory_mib == 1024
    assert large[0].targets[0].capacity.memory_mib == 4096
    db.close()
