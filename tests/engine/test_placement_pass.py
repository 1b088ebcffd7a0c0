"""A placement pass reads about as many RUNNABLE jobs as it places, whatever the start-ahead."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchbridge.config import Settings
from batchbridge.domain.jobs import JobStatus
from batchbridge.engine.scheduler import (
    MAX_LOOKAHEAD_VCPUS,
    Usage,
    advance_submitted,
    lookahead_vcpus,
    place_runnable,
    release_ready,
)
from batchbridge.engine.transitions import JobWriter
from batchbridge.services.batch import BatchService
from batchbridge.services.context import RequestContext
from batchbridge.store.db import Database
from batchbridge.store.resolve import list_job_queues_for_scheduling

CTX = RequestContext(account_id="123456789012", region="us-east-1", request_id="r")


@pytest.mark.parametrize("released", [0.0, 0.3, 1.5, 10.4, 22.8, 31.99, 40.0])
def test_start_ahead_is_whole_vcpus_on_a_whole_vcpu_environment(released: float) -> None:
    ahead = lookahead_vcpus(2.0, released)
    assert ahead == int(ahead)
    assert 2.0 <= ahead <= MAX_LOOKAHEAD_VCPUS
    assert ahead >= min(2 * released, MAX_LOOKAHEAD_VCPUS) - 1


def test_a_full_environment_stops_the_pass_after_one_page(tmp_path: Path) -> None:
    db = Database.open(tmp_path / "db.sqlite3")
    batch = BatchService(db, Settings(data_dir=tmp_path))
    resources = {"type": "EC2", "maxvCpus": 2}
    batch.CreateComputeEnvironment(
        CTX, {"computeEnvironmentName": "ce", "type": "MANAGED", "computeResources": resources}
    )
    order = [{"order": 1, "computeEnvironment": "ce"}]
    batch.CreateJobQueue(CTX, {"jobQueueName": "q", "priority": 1, "computeEnvironmentOrder": order})
    batch.RegisterJobDefinition(
        CTX,
        {
            "jobDefinitionName": "d",
            "type": "container",
            "containerProperties": {
                "image": "busybox",
                "command": ["true"],
                "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "16"}],
            },
        },
    )
    array = {"size": 600}
    batch.SubmitJob(CTX, {"jobName": "a", "jobQueue": "q", "jobDefinition": "d", "arrayProperties": array})
    queues = list_job_queues_for_scheduling(db, 4096)
    with db.transaction() as conn:
        writer = JobWriter(conn)
        advance_submitted(conn, writer, 1000)
        assert release_ready(conn, writer, 1000) == 600
        writer.finish()

    def ahead(ce_arn: str, capacity_vcpus: float) -> float:
        return lookahead_vcpus(capacity_vcpus, 10.4)

    usage: dict[str, Usage] = {}
    with db.transaction() as conn:
        writer = JobWriter(conn)
        placed = place_runnable(conn, writer, queues, usage, 1000, None, ahead)
        writer.finish()
    assert len(placed) == 2 + ahead("", 2.0)
    assert all(job.status is JobStatus.STARTING for job in placed)

    statements: list[str] = []
    with db.transaction() as conn:
        conn.set_trace_callback(statements.append)
        writer = JobWriter(conn)
        assert place_runnable(conn, writer, queues, usage, 1000, None, ahead) == []
        conn.set_trace_callback(None)
    reads = [s for s in statements if "RUNNABLE" in s and s.lstrip().upper().startswith("SELECT")]
    assert len(reads) <= 1, reads
    db.close()
