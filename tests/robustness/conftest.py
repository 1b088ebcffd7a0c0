"""Fixtures of the robustness tests: a real server whose log is watched for tracebacks.

``watched_server`` is an in-process server (every real service, the job engine and the event
dispatcher running) with a :class:`TracebackCatcher` on the ``batchbridge``, ``aiohttp`` and
``asyncio`` loggers, and a few resources created up front so that generated requests also reach
the code paths of resources that exist.  Its compute environment is DISABLED: jobs submitted by
the fuzzer stay RUNNABLE instead of running commands on the host.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from serverkit import free_port, loopback_settings, make_client

from batchbridge.app import Application
from batchbridge.server import ThreadedServer

from .checks import WATCHED_LOGGERS, TracebackCatcher


@dataclass
class WatchedServer:
    threaded: ThreadedServer
    catcher: TracebackCatcher
    pool: dict[str, list[str]] = field(default_factory=dict)
    clients: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.threaded.url

    @property
    def port(self) -> int:
        return self.threaded.port

    def client(self, service: str) -> Any:
        if service not in self.clients:
            self.clients[service] = make_client(service, self.url)
        return self.clients[service]


def start_watched(data_dir: Path, **overrides: Any) -> tuple[ThreadedServer, TracebackCatcher]:
    catcher = TracebackCatcher()
    for name in WATCHED_LOGGERS:
        logging.getLogger(name).addHandler(catcher)
    settings = loopback_settings(data_dir, **{"port": free_port(), **overrides})
    return ThreadedServer(settings, Application(settings)).start(), catcher


def stop_watched(threaded: ThreadedServer, catcher: TracebackCatcher) -> None:
    threaded.stop()
    for name in WATCHED_LOGGERS:
        logging.getLogger(name).removeHandler(catcher)


FUNCTION_ZIP_HANDLER = "def handler(event, context):\n    return {'echo': event}\n"


def function_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", FUNCTION_ZIP_HANDLER)
    return buffer.getvalue()


def _quietly(call: Callable[..., Any], **params: Any) -> Any:
    try:
        return call(**params)
    except ClientError:
        return None


def build_pool(server: WatchedServer) -> dict[str, list[str]]:
    """Create (again, when the fuzzer deleted it) one resource of each kind, and name them.

    The names are keyed by the members that name such a resource, for :class:`Generator`.
    """
    account, region = "123456789012", "us-east-1"
    batch = server.client("batch")
    _quietly(
        batch.create_compute_environment, computeEnvironmentName="fuzz-ce", type="UNMANAGED", state="DISABLED"
    )
    _quietly(batch.update_compute_environment, computeEnvironment="fuzz-ce", state="DISABLED")
    ce = f"arn:aws:batch:{region}:{account}:compute-environment/fuzz-ce"
    _quietly(
        batch.create_job_queue,
        jobQueueName="fuzz-q",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}],
    )
    queue = f"arn:aws:batch:{region}:{account}:job-queue/fuzz-q"
    definition = batch.register_job_definition(
        jobDefinitionName="fuzz-jd",
        type="container",
        containerProperties={"image": "fuzz", "command": ["true"]},
    )["jobDefinitionArn"]
    submitted = _quietly(batch.submit_job, jobName="fuzz-job", jobQueue="fuzz-q", jobDefinition="fuzz-jd")
    jobs = [submitted["jobId"]] if submitted else []
    logs = server.client("logs")
    _quietly(logs.create_log_group, logGroupName="/fuzz/group")
    _quietly(logs.create_log_stream, logGroupName="/fuzz/group", logStreamName="fuzz-stream")
    group_arn = f"arn:aws:logs:{region}:{account}:log-group:/fuzz/group"
    sqs = server.client("sqs")
    queue_url = sqs.create_queue(QueueName="fuzz-queue")["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody="hello")
    events = server.client("events")
    _quietly(events.create_event_bus, Name="fuzz-bus")
    rule = events.put_rule(Name="fuzz-rule", EventPattern='{"source": ["fuzz"]}')["RuleArn"]
    functions = server.client("lambda")
    _quietly(
        functions.create_function,
        FunctionName="fuzz-fn",
        Runtime="python3.11",
        Role=f"arn:aws:iam::{account}:role/fuzz",
        Handler="index.handler",
        Code={"ZipFile": function_zip()},
    )
    function = f"arn:aws:lambda:{region}:{account}:function:fuzz-fn"
    return {
        "computeEnvironment": ["fuzz-ce", ce],
        "computeEnvironments": ["fuzz-ce", ce],
        "computeEnvironmentName": ["fuzz-ce"],
        "jobQueue": ["fuzz-q", queue],
        "jobQueues": ["fuzz-q", queue],
        "jobDefinition": ["fuzz-jd", "fuzz-jd:1", definition],
        "jobDefinitions": ["fuzz-jd:1", definition],
        "jobDefinitionName": ["fuzz-jd"],
        "jobId": jobs,
        "jobs": jobs,
        "resourceArn": [queue, definition, ce, group_arn, rule],
        "logGroupName": ["/fuzz/group"],
        "logGroupIdentifier": ["/fuzz/group", group_arn],
        "logStreamName": ["fuzz-stream"],
        "logStreamNames": ["fuzz-stream"],
        "QueueUrl": [queue_url],
        "QueueName": ["fuzz-queue"],
        "EventBusName": ["fuzz-bus", "default"],
        "Name": ["fuzz-bus", "fuzz-rule"],
        "Rule": ["fuzz-rule"],
        "ResourceARN": [rule],
        "Arn": [queue_url, rule, function],
        "FunctionName": ["fuzz-fn", function],
        "Resource": [function],
    }


@pytest.fixture(scope="module")
def watched_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WatchedServer]:
    threaded, catcher = start_watched(tmp_path_factory.mktemp("robust"))
    server = WatchedServer(threaded, catcher)
    try:
        yield server
    finally:
        stop_watched(threaded, catcher)


@pytest.fixture
def fresh_watched(tmp_path: Path) -> Iterator[WatchedServer]:
    """A watched server with its own empty data folder, for tests that compare the store."""
    threaded, catcher = start_watched(tmp_path / "data")
    try:
        yield WatchedServer(threaded, catcher)
    finally:
        stop_watched(threaded, catcher)
