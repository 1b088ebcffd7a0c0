"""The seed scenario with the real ``aws`` CLI and the article's own files, end to end.

Step 1: the rule on every SUCCEEDED job of the print-color definition runs the handler 8 times
(indexes 0..6 and ``root``).  Step 3: ``put-rule`` replaces the pattern with the parent-only one
(``container.containerInstanceArn`` must not exist) and the next array runs it once (``root``).
A catch-all rule on ``aws.batch`` feeding an SQS queue shows how child and parent events differ.
"""

from __future__ import annotations

import collections
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from serverkit import wait_for, zip_source

from .conftest import EXAMPLES, E2EServer, bodies, drain_queue, group_messages, handler_prints, wait_job

FUNCTION = "print-color-notify"
RULE = "print-color-done"
COLORS = (EXAMPLES / "colors.txt").read_text().split()
STATUS_KEYS = {"STARTING", "FAILED", "RUNNING", "SUCCEEDED", "RUNNABLE", "SUBMITTED", "PENDING"}


@pytest.fixture
def scenario_server(tmp_path: Path) -> Iterator[E2EServer]:
    running = E2EServer(tmp_path / "data")
    yield running
    running.stop()


def run_cli(aws_cli: Callable[..., Any], url: str, *args: str) -> Any:
    result = aws_cli(*args, endpoint=url)
    assert result.returncode == 0, f"aws {' '.join(args)} failed: {result.stderr}"
    return result.json() if result.stdout.strip() else None


def since(prints: list[str], before: list[str]) -> list[str]:
    """The prints not in ``before``, counted as a multiset: streams interleave runs of the same step."""
    earlier = collections.Counter(before)
    new: list[str] = []
    for line in prints:
        if earlier[line]:
            earlier[line] -= 1
        else:
            new.append(line)
    return new


def submit_and_collect(
    aws_cli: Callable[..., Any], server: E2EServer, expected_runs: int, before: list[str]
) -> tuple[str, list[str]]:
    """Submit print-color-job.json with the CLI; wait for the array and the handler's prints."""
    job = run_cli(
        aws_cli,
        server.url,
        "batch",
        "submit-job",
        "--cli-input-json",
        f"file://{EXAMPLES / 'print-color-job.json'}",
    )
    parent = job["jobId"]
    assert wait_job(server.client("batch"), parent)["status"] == "SUCCEEDED"
    group = f"/aws/lambda/{FUNCTION}"
    logs = server.client("logs")

    def enough() -> list[str] | None:
        prints = since(handler_prints(group_messages(logs, group)), before)
        return prints if len(prints) >= expected_runs else None

    prints = wait_for(enough)
    time.sleep(1.0)
    settled = since(handler_prints(group_messages(logs, group)), before)
    assert sorted(settled) == sorted(prints)
    return parent, settled


@pytest.mark.slow
def test_print_color_scenario_with_the_aws_cli(
    scenario_server: E2EServer, aws_cli: Callable[..., Any], tmp_path: Path
) -> None:
    url = scenario_server.url

    def cli(*args: str) -> Any:
        return run_cli(aws_cli, url, *args)

    cli(
        "batch",
        "create-compute-environment",
        "--cli-input-json",
        f"file://{EXAMPLES / 'compute-environment.json'}",
    )
    cli("batch", "create-job-queue", "--cli-input-json", f"file://{EXAMPLES / 'job-queue.json'}")
    definition = cli(
        "batch", "register-job-definition", "--cli-input-json", f"file://{EXAMPLES / 'job-definition.json'}"
    )
    assert (
        definition["jobDefinitionArn"] == "arn:aws:batch:us-east-1:123456789012:job-definition/print-color:1"
    )

    package = tmp_path / "handler.zip"
    package.write_bytes(zip_source((EXAMPLES / "lambda_function.py").read_text()))
    function = cli(
        "lambda", "create-function", "--function-name", FUNCTION, "--runtime", "python3.11",
        "--role", "arn:aws:iam::123456789012:role/print-color-notify",
        "--handler", "lambda_function.lambda_handler", "--zip-file", f"fileb://{package}",
    )  # fmt: skip
    queue_url = cli("sqs", "create-queue", "--queue-name", "batch-events")["QueueUrl"]
    queue_arn = cli("sqs", "get-queue-attributes", "--queue-url", queue_url, "--attribute-names", "QueueArn")[
        "Attributes"
    ]["QueueArn"]
    catch_all = tmp_path / "catch-all.json"
    catch_all.write_text(json.dumps({"source": ["aws.batch"]}))
    cli("events", "put-rule", "--name", "all-batch", "--event-pattern", f"file://{catch_all}")
    cli("events", "put-targets", "--rule", "all-batch", "--targets", f"Id=queue,Arn={queue_arn}")

    # Step 1: the naive rule fires for every child and for the parent.
    cli(
        "events",
        "put-rule",
        "--name",
        RULE,
        "--event-pattern",
        f"file://{EXAMPLES / 'rule-every-success.json'}",
    )
    cli("events", "put-targets", "--rule", RULE, "--targets", f"Id=notify,Arn={function['FunctionArn']}")
    parent1, step1 = submit_and_collect(aws_cli, scenario_server, 8, [])
    assert sorted(step1) == sorted([str(i) for i in range(7)] + ["root"])

    # The children's colours are in their job log streams, read with the CLI.
    batch = scenario_server.client("batch")
    children = batch.describe_jobs(jobs=[f"{parent1}:{i}" for i in range(7)])["jobs"]
    for child in children:
        index = child["arrayProperties"]["index"]
        stream = child["container"]["logStreamName"]
        out = cli("logs", "get-log-events", "--log-group-name", "/aws/batch/job", "--log-stream-name", stream)
        lines = [e["message"] for e in out["events"]]
        assert lines == [f"My favorite color of the rainbow is {COLORS[index]}."]

    # Step 3: the parent-only pattern replaces the first one; the handler runs once.
    cli(
        "events",
        "put-rule",
        "--name",
        RULE,
        "--event-pattern",
        f"file://{EXAMPLES / 'rule-parent-only.json'}",
    )
    described = cli("events", "describe-rule", "--name", RULE)
    assert "containerInstanceArn" in described["EventPattern"]
    _, step3 = submit_and_collect(aws_cli, scenario_server, 1, step1)
    assert step3 == ["root"]

    # The handler's log group, read with the CLI, has Lambda's frame lines around each run.
    streams = cli("logs", "describe-log-streams", "--log-group-name", f"/aws/lambda/{FUNCTION}")["logStreams"]
    messages: list[str] = []
    for stream in streams:
        out = cli(
            "logs", "get-log-events", "--log-group-name", f"/aws/lambda/{FUNCTION}",
            "--log-stream-name", stream["logStreamName"], "--start-from-head",
        )  # fmt: skip
        messages += [e["message"] for e in out["events"]]
    assert sum(m.startswith("START RequestId:") for m in messages) == 9
    assert sum(m.startswith("REPORT RequestId:") for m in messages) == 9

    # The catch-all rule saw the SUCCEEDED events of the first array: 7 children and the parent.
    events = bodies(drain_queue(scenario_server.client("sqs"), queue_url))
    first = [e for e in events if e["detail"]["jobId"].split(":")[0] == parent1]
    succeeded = [e for e in first if e["detail"]["status"] == "SUCCEEDED"]
    assert len(succeeded) == 8
    assert all(e["source"] == "aws.batch" and e["detail-type"] == "Batch Job State Change" for e in first)
    parent_events = [e for e in succeeded if e["detail"]["jobId"] == parent1]
    child_events = [e for e in succeeded if e["detail"]["jobId"] != parent1]
    assert len(parent_events) == 1 and len(child_events) == 7
    parent_arn = parent_events[0]["detail"]["jobArn"]

    for event in child_events:
        detail = event["detail"]
        index = int(detail["jobId"].split(":")[1])
        assert detail["arrayProperties"] == {"statusSummary": {}, "index": index}
        assert detail["statusReason"] == "Essential container in task exited"
        assert len(detail["attempts"]) == 1
        attempt = detail["attempts"][0]
        for key in ("containerInstanceArn", "taskArn", "exitCode", "logStreamName", "networkInterfaces"):
            assert key in attempt["container"], key
        assert attempt["container"]["exitCode"] == 0
        assert attempt["statusReason"] == "Essential container in task exited"
        for key in ("exitCode", "containerInstanceArn", "taskArn", "logStreamName"):
            assert key in detail["container"], key
        assert detail["container"]["resourceRequirements"] == [
            {"value": "250", "type": "MEMORY"},
            {"value": "1", "type": "VCPU"},
        ]
        assert detail["tags"]["resourceArn"] == parent_arn
        assert event["resources"] == [detail["jobArn"]]

    detail = parent_events[0]["detail"]
    assert detail["attempts"] == []
    for key in ("exitCode", "containerInstanceArn", "taskArn", "logStreamName"):
        assert key not in detail["container"], key
    assert detail["container"]["image"]
    assert detail["arrayProperties"]["size"] == 7
    summary = detail["arrayProperties"]["statusSummary"]
    assert set(summary) == STATUS_KEYS
    assert summary["SUCCEEDED"] == 7 and sum(summary.values()) == 7
    assert detail["tags"]["resourceArn"] == parent_arn
