"""Data never lost: what was accepted survives a restart, what was refused changed nothing.

A ``batchbridge server`` subprocess accepts resources of every service, is stopped with SIGTERM
(clean shutdown) or SIGKILL (no shutdown at all), and a new server on the same data folder must
describe every one of them unchanged.  A refused request must leave the store byte for byte as
it was (compared through SQLite's dump of every table).
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from serverkit import free_port, make_client, server_command, wait_healthy

from .conftest import WatchedServer


class Subprocess:
    """``python -m batchbridge server`` on a fixed data folder; restartable."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.data_dir = data_dir
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> None:
        port = free_port()
        command, env = server_command(self.data_dir, port)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        self.url = f"http://127.0.0.1:{port}"
        wait_healthy(self.url)

    def stop(self, sig: signal.Signals) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return self.process.wait(30)


@pytest.fixture
def subprocess_server(tmp_path: Path) -> Iterator[Subprocess]:
    server = Subprocess(tmp_path / "data", tmp_path / "server.log")
    yield server
    if server.process is not None and server.process.poll() is None:
        server.process.kill()
        server.process.wait(10)


def accept_resources(url: str) -> None:
    batch = make_client("batch", url)
    batch.create_compute_environment(
        computeEnvironmentName="keep-ce", type="UNMANAGED", state="DISABLED", tags={"team": "color"}
    )
    batch.create_job_queue(
        jobQueueName="keep-q",
        priority=7,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "keep-ce"}],
    )
    for _ in range(2):
        batch.register_job_definition(
            jobDefinitionName="keep-jd",
            type="container",
            containerProperties={"image": "x", "command": ["true"]},
        )
    batch.deregister_job_definition(jobDefinition="keep-jd:1")
    logs = make_client("logs", url)
    logs.create_log_group(logGroupName="/keep/group")
    logs.create_log_stream(logGroupName="/keep/group", logStreamName="s")
    logs.put_log_events(
        logGroupName="/keep/group",
        logStreamName="s",
        logEvents=[{"timestamp": int(time.time() * 1000), "message": "kept"}],
    )
    sqs = make_client("sqs", url)
    queue_url = sqs.create_queue(QueueName="keep-queue")["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody="kept message")
    events = make_client("events", url)
    events.put_rule(Name="keep-rule", EventPattern='{"source": ["aws.batch"]}')
    events.put_targets(
        Rule="keep-rule", Targets=[{"Id": "t1", "Arn": "arn:aws:sqs:us-east-1:123456789012:keep-queue"}]
    )


def snapshot(url: str) -> dict[str, Any]:
    """What the clients see of every accepted resource, without volatile members."""
    batch = make_client("batch", url)
    logs = make_client("logs", url)
    sqs = make_client("sqs", url)
    events = make_client("events", url)
    queue_url = sqs.get_queue_url(QueueName="keep-queue")["QueueUrl"]
    return {
        "ce": batch.describe_compute_environments(computeEnvironments=["keep-ce"])["computeEnvironments"],
        "q": batch.describe_job_queues(jobQueues=["keep-q"])["jobQueues"],
        "jd": batch.describe_job_definitions(jobDefinitionName="keep-jd")["jobDefinitions"],
        "log": [
            e["message"] for e in logs.get_log_events(logGroupName="/keep/group", logStreamName="s")["events"]
        ],
        "messages": [
            m["Body"]
            for m in sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=0).get("Messages", [])
        ],
        "rule": {k: v for k, v in events.describe_rule(Name="keep-rule").items() if k != "ResponseMetadata"},
        "targets": events.list_targets_by_rule(Rule="keep-rule")["Targets"],
    }


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_accepted_resources_survive_a_restart(subprocess_server: Subprocess, sig: signal.Signals) -> None:
    subprocess_server.start()
    accept_resources(subprocess_server.url)
    before = snapshot(subprocess_server.url)
    assert before["log"] == ["kept"] and before["messages"] == ["kept message"]
    assert [d["status"] for d in before["jd"]] == ["INACTIVE", "ACTIVE"]
    code = subprocess_server.stop(sig)
    assert code == (0 if sig == signal.SIGTERM else -signal.SIGKILL)
    subprocess_server.start()
    assert snapshot(subprocess_server.url) == before
    batch = make_client("batch", subprocess_server.url)
    assert (
        batch.register_job_definition(
            jobDefinitionName="keep-jd", type="container", containerProperties={"image": "x"}
        )["revision"]
        == 3
    )
    subprocess_server.stop(signal.SIGTERM)
    assert "Traceback" not in subprocess_server.log.read_text()


def dump(db_path: Path) -> list[str]:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        return list(conn.iterdump())


def test_refused_requests_change_nothing(fresh_watched: WatchedServer) -> None:
    url = fresh_watched.url
    accept_resources(url)
    db_path = fresh_watched.threaded.settings.db_path
    before = dump(db_path)
    batch = make_client("batch", url)
    sqs = make_client("sqs", url)
    events = make_client("events", url)
    logs = make_client("logs", url)
    refused: list[tuple[Any, dict[str, Any]]] = [
        (
            batch.create_job_queue,
            {
                "jobQueueName": "new-q",
                "priority": 1,
                "computeEnvironmentOrder": [
                    {"order": 1, "computeEnvironment": "keep-ce"},
                    {"order": 2, "computeEnvironment": "no-such-ce"},
                ],
            },
        ),
        (batch.create_compute_environment, {"computeEnvironmentName": "keep-ce", "type": "UNMANAGED"}),
        (
            batch.create_compute_environment,
            {
                "computeEnvironmentName": "new-ce",
                "type": "UNMANAGED",
                "tags": {f"k{i}": "v" for i in range(51)},
            },
        ),
        (
            batch.update_job_queue,
            {
                "jobQueue": "keep-q",
                "priority": 3,
                "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "no-such-ce"}],
            },
        ),
        (
            batch.register_job_definition,
            {
                "jobDefinitionName": "keep-jd",
                "type": "container",
                "containerProperties": {"image": "x", "memory": 1},
            },
        ),
        (batch.delete_compute_environment, {"computeEnvironment": "keep-ce"}),
        (
            batch.tag_resource,
            {
                "resourceArn": "arn:aws:batch:us-east-1:123456789012:job-queue/keep-q",
                "tags": {"aws:reserved": "x"},
            },
        ),
        (
            logs.put_log_events,
            {
                "logGroupName": "/keep/group",
                "logStreamName": "s",
                "logEvents": [{"timestamp": 2, "message": "b"}, {"timestamp": 1, "message": "a"}],
            },
        ),
        (events.put_rule, {"Name": "keep-rule", "EventPattern": '{"source": "not-a-list"}'}),
        (
            sqs.send_message_batch,
            {
                "QueueUrl": sqs.get_queue_url(QueueName="keep-queue")["QueueUrl"],
                "Entries": [{"Id": "same", "MessageBody": "1"}, {"Id": "same", "MessageBody": "2"}],
            },
        ),
    ]
    for call, params in refused:
        with pytest.raises(ClientError) as caught:
            call(**params)
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400, params
    assert dump(db_path) == before
    assert fresh_watched.catcher.take() == []
