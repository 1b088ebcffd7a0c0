"""The assembled application: real services behind the shared ``server`` fixture, background tasks."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from batchbridge.app import Application
from batchbridge.config import Settings


def test_shared_server_serves_the_real_services(server: Any, boto_client: Any) -> None:
    with urllib.request.urlopen(f"{server.url}/health", timeout=5) as response:
        services = json.loads(response.read())["services"]
    assert "batch" in services
    batch = boto_client("batch")
    batch.create_compute_environment(computeEnvironmentName="assembly-ce", type="UNMANAGED")
    batch.create_job_queue(
        jobQueueName="assembly-q",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "assembly-ce"}],
    )
    arn = batch.describe_job_queues(jobQueues=["assembly-q"])["jobQueues"][0]["jobQueueArn"]
    batch.tag_resource(resourceArn=arn, tags={"a": "1", "b": "2"})
    batch.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert batch.list_tags_for_resource(resourceArn=arn)["tags"] == {"b": "2"}


def test_sqs_queue_urls_use_the_endpoint_the_client_addressed(server: Any, boto_client: Any) -> None:
    if "sqs" not in server.app.services:
        pytest.skip("the SQS service is not part of this build")
    sqs = boto_client("sqs")
    url = sqs.create_queue(QueueName="assembly-queue")["QueueUrl"]
    assert url == f"{server.url}/123456789012/assembly-queue"


def test_background_tasks_run_and_are_cancelled_cleanly(tmp_path: Path) -> None:
    app = Application(Settings(data_dir=tmp_path, port=0), open_store=False)
    ticks: list[int] = []
    cancelled: list[bool] = []

    async def ticker() -> None:
        try:
            while True:
                ticks.append(1)
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def broken() -> None:
        raise RuntimeError("boom")

    app.add_background_task(ticker)
    app.add_background_task(broken)

    async def scenario() -> None:
        await app.start()
        await asyncio.sleep(0.1)
        await app.stop()

    asyncio.run(scenario())
    assert len(ticks) >= 3
    assert cancelled == [True]


def test_store_is_opened_and_closed_with_the_application(tmp_path: Path) -> None:
    app = Application(Settings(data_dir=tmp_path / "data", port=0))
    assert app.db is not None
    assert (tmp_path / "data" / "batchbridge.sqlite3").exists()
    asyncio.run(app.stop())
    assert app.db is None
