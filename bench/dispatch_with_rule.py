"""Dispatch throughput with a catch-all rule delivering every Batch event to a Lambda function.

Runs the array of ``bench/dispatch.py`` (N children running ``true`` on a CE with maxvCpus 2)
twice on one server: first with no rule, then with a rule ``{"source": ["aws.batch"]}`` whose
target is a Lambda function that appends each event id to a file.  Reports both
SubmitJob-to-parent-SUCCEEDED times and their ratio (target <= 1.3x), the time until the last
event of the array reached the handler, and checks that every event the array wrote to the outbox
reached the handler exactly once.  Also reports the server's CPU time during each array, the
Lambda workers' CPU time, and from them the CPU cost of one delivery (server and worker), which
load from other processes on the machine changes far less than the elapsed times.

    .venv/bin/python bench/dispatch_with_rule.py           # N = 10000
    .venv/bin/python bench/dispatch_with_rule.py -n 1000
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import sqlite3
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchkit import client, cpu_seconds, make_definition, make_queue, run_array, start_server, status_mib

HANDLER = """
import os

def handler(event, context):
    line = (event["detail"]["jobId"] + " " + event["id"] + "\\n").encode()
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
"""


def delivered_for(log: Path, parent: str) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    if not log.exists():
        return counts
    for line in log.read_text().splitlines():
        job_id, _, event_id = line.partition(" ")
        if job_id.split(":")[0] == parent:
            counts[event_id] += 1
    return counts


def outbox_ids(db: Path, parent: str) -> set[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT body FROM outbox").fetchall()
    events = [json.loads(body) for (body,) in rows]
    return {e["id"] for e in events if e["detail"]["jobId"].split(":")[0] == parent}


def worker_cpu_seconds(server_pid: int) -> float:
    """CPU seconds of the server's live Lambda worker processes."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if b"batchbridge.functions.worker" in cmdline and int(stat[1]) == server_pid:
            total += (int(stat[11]) + int(stat[12])) / 100
    return total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=10_000, help="children in the array")
    args = parser.parse_args()
    n = args.n
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        log = Path(tmp) / "delivered.log"
        proc, url = start_server(data, agent_idle_seconds=10.0)
        try:
            batch = client("batch", url)
            name = make_queue(batch, f"bench-{uuid.uuid4().hex[:6]}")
            definition = make_definition(batch, name)
            run_array(batch, name, definition, 2)
            cpu0 = cpu_seconds(proc.pid)
            _, without = run_array(batch, name, definition, n)
            cpu_without = cpu_seconds(proc.pid) - cpu0
            print(
                f"array of {n}, no rule:          {without:.2f} s  server CPU {cpu_without:.2f} s", flush=True
            )

            package = io.BytesIO()
            with zipfile.ZipFile(package, "w") as archive:
                archive.writestr("lambda_function.py", HANDLER.replace("LOG", repr(str(log))))
            function = client("lambda", url).create_function(
                FunctionName=name,
                Runtime="python3.11",
                Role="arn:aws:iam::123456789012:role/bench",
                Handler="lambda_function.handler",
                Code={"ZipFile": package.getvalue()},
            )["FunctionArn"]
            events = client("events", url)
            events.put_rule(Name=name, EventPattern=json.dumps({"source": ["aws.batch"]}))
            events.put_targets(Rule=name, Targets=[{"Id": "every-event", "Arn": function}])

            start = time.perf_counter()
            cpu0 = cpu_seconds(proc.pid)
            parent, with_rule = run_array(batch, name, definition, n)
            print(
                f"array of {n}, catch-all rule:  {with_rule:.2f} s  ratio {with_rule / without:.2f}x"
                f" (target <= 1.3x)  server CPU {cpu_seconds(proc.pid) - cpu0:.2f} s",
                flush=True,
            )
            expected = outbox_ids(data / "batchbridge.sqlite3", parent)
            deadline = time.monotonic() + 600
            while len(delivered_for(log, parent)) < len(expected) and time.monotonic() < deadline:
                time.sleep(0.05)
            all_delivered = time.perf_counter() - start
            cpu_with = cpu_seconds(proc.pid) - cpu0
            workers = worker_cpu_seconds(proc.pid)
            deliveries = max(1, len(expected))
            counts = delivered_for(log, parent)
            print(f"SubmitJob -> last event at the handler: {all_delivered:.2f} s", flush=True)
            print(
                f"CPU per delivery: server {1000 * (cpu_with - cpu_without) / deliveries:.3f} ms"
                f" (server CPU until the last delivery {cpu_with:.2f} s), Lambda workers"
                f" {1000 * workers / deliveries:.3f} ms ({workers:.2f} s)",
                flush=True,
            )
            missing = expected - set(counts)
            twice = sum(1 for c in counts.values() if c > 1)
            print(
                f"events of the array: {len(expected)} (expected {4 * n + 2}); delivered {len(counts)};"
                f" missing {len(missing)}; delivered more than once {twice}"
            )
            print(f"server peak RSS: {status_mib(proc.pid, 'VmHWM'):.0f} MiB")
        finally:
            proc.kill()
            proc.wait()
    if missing or twice or len(expected) != 4 * n + 2:
        raise SystemExit("delivery mismatch")


if __name__ == "__main__":
    main()
