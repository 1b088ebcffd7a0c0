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
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

from benchkit import client, make_definition, make_queue, start_server

HANDLER = """
import time

def handler(event, context):
    entered = time.time()
    with open(MARKS + "/handler-" + event["detail"]["jobId"], "w") as out:
        out.write(repr(entered))
"""

CHILD = 'date +%s.%N > "MARKS/child-$AWS_BATCH_JOB_ID"'


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def setup(url: str, marks: Path) -> tuple[str, str]:
    """CE (2 vCPUs), queue, child definition, handler and the parent-only rule; (queue, definition)."""
    batch, lam, events = client("batch", url), client("lambda", url), client("events", url)
    name = make_queue(batch, f"notify-{uuid.uuid4().hex[:6]}")
    definition = make_definition(batch, name, ["sh", "-c", CHILD.replace("MARKS", str(marks))])
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
    return name, definition


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
