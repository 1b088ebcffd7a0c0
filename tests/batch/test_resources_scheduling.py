"""What the scheduler reads: enabled queues, their enabled compute environments, capacities."""

from __future__ import annotations

import os
from pathlib import Path

from batchbridge.config import Settings
from batchbridge.domain.resources import capacity
from batchbridge.services.batch import BatchService
from batchbridge.services.context import RequestContext
from batchbridge.store.db import Database
from batchbridge.store.resolve import list_job_queues_for_scheduling, resolve_compute_environment

CTX = RequestContext(account_id="123456789012", region="us-east-1", request_id="r")


def test_scheduling_view_orders_queues_and_skips_disabled(tmp_path: Path) -> None:
    db = Database.open(tmp_path / "db.sqlite3")
    batch = BatchService(db, Settings(data_dir=tmp_path))
    batch.CreateComputeEnvironment(
        CTX,
        {
            "computeEnvironmentName": "big",
            "type": "MANAGED",
            "computeResources": {"type": "EC2", "maxvCpus": 6},
            "tags": {"batchbridge:gpus": "2"},
        },
    )
    batch.CreateComputeEnvironment(CTX, {"computeEnvironmentName": "local", "type": "UNMANAGED"})
    batch.CreateComputeEnvironment(
        CTX, {"computeEnvironmentName": "off", "type": "UNMANAGED", "state": "DISABLED"}
    )
    order = [
        {"order": 2, "computeEnvironment": "big"},
        {"order": 1, "computeEnvironment": "local"},
        {"order": 3, "computeEnvironment": "off"},
    ]
    batch.CreateJobQueue(CTX, {"jobQueueName": "low", "priority": 1, "computeEnvironmentOrder": order})
    batch.CreateJobQueue(CTX, {"jobQueueName": "high", "priority": 9, "computeEnvironmentOrder": order[:1]})
    batch.CreateJobQueue(
        CTX,
        {
            "jobQueueName": "stopped",
            "priority": 99,
            "state": "DISABLED",
            "computeEnvironmentOrder": order[:1],
        },
    )
    view = list_job_queues_for_scheduling(db, memory_mib=2048)
    assert [s.queue.name for s in view] == ["high", "low"]
    low = view[1]
    assert [t.compute_environment.name for t in low.targets] == ["local", "big"]
    local, big = (t.capacity for t in low.targets)
    assert local == (float(os.cpu_count() or 1), 2048, 0)
    assert big == (6.0, 2048, 2)
    ce = resolve_compute_environment(db, "us-east-1", "123456789012", "local")
    assert capacity(ce).memory_mib > 0
    db.close()
