"""Durable delivery across SIGKILL: every event is delivered or dead-lettered, none lost.

AWS rule emulated: EventBridge delivers at least once.  Here every event written to a bus (by
``PutEvents`` or from Batch's outbox) has its deliveries recorded in the store before any attempt;
a server killed with SIGKILL and restarted on the same data folder returns in-flight deliveries to
pending and attempts them again.  So no event is lost, and an event can reach its target twice
only when its delivery was in flight at the kill (sent, but not yet recorded as delivered).
"""

from __future__ import annotations

import collections
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from serverkit import wait_for, zip_source

from batchbridge.store import deliveries as ds
from batchbridge.store.db import Database
from batchbridge.store.outbox import Outbox

from .conftest import EXAMPLES, PRINT_COLOR_IMAGE, ROLE, drain_queue, make_client, wait_job


class Proc:
    """A ``python -m batchbridge server`` subprocess on a fixed data folder."""

    def __init__(self, data_dir: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHBRIDGE_")}
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "batchbridge", "server", "--port", str(self.port),
                "--data-dir", str(data_dir), "--no-access-log",
                "--image", f"{PRINT_COLOR_IMAGE}=sh {EXAMPLES / 'print-color.sh'}",
            ],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("server did not start") from None
                time.sleep(0.05)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


FLAKY_HANDLER = """
import os

def handler(event, context):
    marker = os.path.join(MARKS, event["id"])
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise RuntimeError("first attempt fails")
    with open(os.path.join(MARKS, "delivered.log"), "a") as log:
        log.write(event["id"] + "\\n")
"""


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for proc in started:
        proc.kill()


@pytest.mark.slow
def test_sigkill_mid_delivery_loses_no_event(tmp_path: Path, procs: list[Proc]) -> None:
    data = tmp_path / "data"
    first = Proc(data)
    procs.append(first)
    sqs, events, batch = (make_client(s, first.url) for s in ("sqs", "events", "batch"))
    url = sqs.create_queue(QueueName="every-event")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all", EventPattern=json.dumps({"source": ["e2e.crash", "aws.batch"]}))
    events.put_targets(Rule="all", Targets=[{"Id": "q", "Arn": arn}])
    marks = tmp_path / "marks"
    marks.mkdir()
    handler = FLAKY_HANDLER.replace("MARKS", repr(str(marks)))
    fn = make_client("lambda", first.url).create_function(
        FunctionName="flaky",
        Runtime="python3.11",
        Role=ROLE,
        Handler="lambda_function.handler",
        Code={"ZipFile": zip_source(handler)},
    )
    events.put_rule(Name="flaky", EventPattern=json.dumps({"source": ["e2e.crash"]}))
    events.put_targets(Rule="flaky", Targets=[{"Id": "fn", "Arn": fn["FunctionArn"]}])
    for name in ("compute-environment", "job-queue", "job-definition"):
        document = json.loads((EXAMPLES / f"{name}.json").read_text())
        {"compute-environment": batch.create_compute_environment, "job-queue": batch.create_job_queue}.get(
            name, batch.register_job_definition
        )(**document)
    parent = batch.submit_job(**json.loads((EXAMPLES / "print-color-job.json").read_text()))["jobId"]

    put_ids: list[str] = []
    for chunk in range(30):
        entries = [
            {"Source": "e2e.crash", "DetailType": "tick", "Detail": json.dumps({"n": chunk * 10 + i})}
            for i in range(10)
        ]
        put_ids += [e["EventId"] for e in events.put_events(Entries=entries)["Entries"]]
    first.kill()

    with Database.open(data / "batchbridge.sqlite3") as db, db.read() as conn:
        open_at_kill = len(ds.list_deliveries(conn, ds.PENDING)) + len(ds.list_deliveries(conn, ds.IN_FLIGHT))
        unmatched_at_kill = len(ds.unmatched_events(conn, 1_000_000))
        in_flight: dict[str, set[str]] = {"q": set(), "fn": set()}
        for item in ds.list_deliveries(conn, ds.IN_FLIGHT):
            event = ds.get_event(conn, item.event_seq)
            assert event is not None
            in_flight[item.target["Id"]].add(event.event["id"])

    second = Proc(data)
    procs.append(second)
    sqs2, batch2 = make_client("sqs", second.url), make_client("batch", second.url)
    assert wait_job(batch2, parent, timeout=90)["status"] == "SUCCEEDED"
    delivered_log = marks / "delivered.log"
    wait_for(lambda: delivered_log.exists() and len(delivered_log.read_text().split()) >= len(put_ids), 60)
    url2 = sqs2.get_queue_url(QueueName="every-event")["QueueUrl"]
    bodies = [json.loads(m["Body"]) for m in drain_queue(sqs2, url2, settle=2.0, timeout=60)]
    received = [body["id"] for body in bodies]
    succeeded = {
        b["detail"]["jobId"]
        for b in bodies
        if b["source"] == "aws.batch" and b["detail"]["status"] == "SUCCEEDED"
    }
    second.kill()

    with Database.open(data / "batchbridge.sqlite3") as db:
        batch_ids = [item.event["id"] for item in Outbox(db).read_all(limit=1_000_000)]
        with db.read() as conn:
            open_left = [d for s in ds.OPEN_STATUSES for d in ds.list_deliveries(conn, s)]
    counts = collections.Counter(received)
    expected = set(put_ids) | set(batch_ids)
    assert len(put_ids) >= 50
    assert succeeded == {parent} | {f"{parent}:{i}" for i in range(7)}
    assert expected - set(counts) == set(), "events lost across the kill"
    assert set(counts) - expected == set()
    repeated = {event_id for event_id, n in counts.items() if n > 1}
    assert repeated <= in_flight["q"], "only deliveries in flight at the kill may repeat"
    assert all(n <= 2 for n in counts.values())
    assert open_left == []

    assert open_at_kill > 0, "the kill must interrupt deliveries"
    handled = collections.Counter((marks / "delivered.log").read_text().split())
    assert set(handled) == set(put_ids), "every event reaches the flaky handler once it succeeds"
    handler_repeats = {event_id for event_id, n in handled.items() if n > 1}
    assert handler_repeats <= in_flight["fn"]
    print(
        f"events put: {len(put_ids)}, unmatched at the kill: {unmatched_at_kill}, open deliveries:"
        f" {open_at_kill}, in flight: {sum(map(len, in_flight.values()))}, repeated at the queue:"
        f" {len(repeated)}, at the handler: {len(handler_repeats)}"
    )
