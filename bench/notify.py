"""Notification latency: last child's exit to the start of the parent-only handler.

The scenario's promise is one notification when an array ends.  This measures how long it takes:
each child's command writes ``time.time()`` to a file as its very last act, and the Lambda handler
behind the parent-only rule (``container.containerInstanceArn`` must not exist) writes
``time.time()`` on entry.  Latency = handler entry - the latest child's timestamp, per array.
Arrays run one after another on a compute environment of 2 vCPUs (children of 1 vCPU); the
server runs in its own process with default settings.  Target: p50 <= 50 ms.

    .venv/bin/python bench/notify.py                 # 20 arrays of 100
    .venv/bin/python bench/notify.py --arrays 5 --size 10
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

SERVE = """
import sys, time
from pathlib import Path
from batchbridge.app import Application
from batchbridge.config import Settings
from batchbridge.server import ThreadedServer
settings = Settings(host="127.0.0.1", port=0, data_dir=Path(sys.argv[1]), access_log=False)
server = ThreadedServer(settings, Application(settings)).start()
print(server.url, flush=True)
while True:
    time.sleep(3600)
"""

HANDLER = """
import time

def handler(event, context):
    entered = time.time()
    with open(MARKS + "/handler-" + event["detail"]["jobId"], "w") as out:
        out.write(repr(entered))
"""

CHILD = 'date +%s.%N > "MARKS/child-$AWS_BATCH_JOB_ID"'


def client(service: str, url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}),
    )


def start_server(data: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-c", SERVE, str(data)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def setup(url: str, marks: Path) -> tuple[str, str]:
    """CE (2 vCPUs), queue, child definition, handler and the parent-only rule; (queue, definition)."""
    batch, lam, events = client("batch", url), client("lambda", url), client("events", url)
    name = f"notify-{uuid.uuid4().hex[:6]}"
    batch.create_compute_environment(
        computeEnvironmentName=name,
        type="MANAGED",
        computeResources={"type": "EC2", "maxvCpus": 2, "subnets": ["s"], "instanceRole": "r"},
    )
    batch.create_job_queue(
        jobQueueName=name, priority=1, computeEnvironmentOrder=[{"order": 1, "computeEnvironment": name}]
    )
    definition = batch.register_job_definition(
        jobDefinitionName=name,
        type="container",
        containerProperties={
            "image": "busybox",
            "command": ["sh", "-c", CHILD.replace("MARKS", str(marks))],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "16"}],
        },
    )["jobDefinitionArn"]
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("lambda_function.py", HANDLER.replace("MARKS", repr(str(marks))))
    function = lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role="arn:aws:iam::123456789012:role/notify",
        Handler="lambda_function.handler",
        Code={"ZipFile": package.getvalue()},
    )["FunctionArn"]
    pattern = {
        "source": ["aws.batch"],
        "detail-type": ["Batch Job State Change"],
        "detail": {
            "jobDefinition": [definition],
            "status": ["SUCCEEDED"],
            "container": {"containerInstanceArn": [{"exists": False}]},
        },
    }
    events.put_rule(Name=name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, Targets=[{"Id": "notify", "Arn": function}])
    return name, str(definition)


def one_array(url: str, queue: str, definition: str, size: int, marks: Path, timeout: float = 300) -> float:
    """Submit an array; seconds from the latest child's last act to the handler's entry."""
    batch = client("batch", url)
    parent = batch.submit_job(
        jobName="notify", jobQueue=queue, jobDefinition=definition, arrayProperties={"size": size}
    )["jobId"]
    mark = marks / f"handler-{parent}"
    deadline = time.monotonic() + timeout
    while not (mark.exists() and mark.read_text()):
        if time.monotonic() > deadline:
            raise SystemExit(f"no notification for {parent} within {timeout} s")
        time.sleep(0.005)
    entered = float(mark.read_text())
    last_child = max(float((marks / f"child-{parent}:{i}").read_text()) for i in range(size))
    return entered - last_child


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arrays", type=int, default=20)
    parser.add_argument("--size", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        marks = Path(tmp) / "marks"
        marks.mkdir()
        proc, url = start_server(Path(tmp) / "data")
        try:
            queue, definition = setup(url, marks)
            one_array(url, queue, definition, 2, marks)
            latencies = []
            for n in range(args.arrays):
                latency = one_array(url, queue, definition, args.size, marks)
                latencies.append(latency)
                print(f"array {n + 1:>2} of {args.size}: {latency * 1000:7.1f} ms", flush=True)
        finally:
            proc.kill()
            proc.wait()
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    print(f"last child exit -> parent-only handler start, {args.arrays} arrays of {args.size}:")
    print(
        f"  p50 {p50 * 1000:.1f} ms  p99 {p99 * 1000:.1f} ms  mean {statistics.mean(latencies) * 1000:.1f} ms"
    )
    print(f"  target p50 <= 50 ms: {'met' if p50 <= 0.050 else 'NOT met'}")


if __name__ == "__main__":
    main()
