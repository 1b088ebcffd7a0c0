"""``logs --follow`` ends when the job ends; ``events tail`` prints the events put on the bus."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from serverkit import create_compute_environment, create_job_queue, unique

from .conftest import Done, cli_env, register


def test_logs_follow_prints_lines_as_they_come_and_ends_with_the_job(
    server: Any, boto_client: Callable[..., Any], batch_queue: str, run_cli: Callable[..., Done]
) -> None:
    batch = boto_client("batch")
    definition = register(batch, ["sh", "-c", "echo first; sleep 1.5; echo second"])
    job = batch.submit_job(jobName="follow", jobQueue=batch_queue, jobDefinition=definition)
    done = run_cli("logs", job["jobId"], "--follow", "--interval", "0.1", endpoint=server.url, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["first", "second"]
    assert batch.describe_jobs(jobs=[job["jobId"]])["jobs"][0]["status"] == "SUCCEEDED"


def test_logs_of_a_job_without_output_yet_says_so(
    server: Any, boto_client: Callable[..., Any], run_cli: Callable[..., Done]
) -> None:
    batch = boto_client("batch")
    name = create_compute_environment(batch, unique("disabled"), max_vcpus=2, state="DISABLED")
    create_job_queue(batch, name, name)
    job = batch.submit_job(jobName="waiting", jobQueue=name, jobDefinition=register(batch, ["true"]))
    try:
        done = run_cli("logs", job["jobId"], endpoint=server.url)
        assert done.returncode == 0, done.stderr
        assert done.stdout == ""
        assert "has no output yet; --follow waits for it" in done.stderr
    finally:
        batch.cancel_job(jobId=job["jobId"], reason="test over")


def _start_tail(server_url: str, *args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "batchbridge", "events", "tail", *args, "--endpoint", server_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    assert process.stderr is not None
    line = process.stderr.readline()
    assert "tailing bus default (rule " in line, line
    return process, line.split("(rule ", 1)[1].split(")", 1)[0]


def test_events_tail_prints_count_events_put_with_put_events(
    server: Any, boto_client: Callable[..., Any], tmp_path: Any
) -> None:
    source = f"cli.test.{uuid.uuid4().hex[:8]}"
    pattern = tmp_path / "pattern.json"
    pattern.write_text(json.dumps({"source": [source]}))
    process, rule = _start_tail(
        server.url, "--count", "3", "--compact", "--timeout", "30", "--pattern", str(pattern)
    )
    events = boto_client("events")
    try:
        entries = [
            {"Source": source, "DetailType": "greeting", "Detail": json.dumps({"n": n})} for n in range(3)
        ]
        entries.append({"Source": "cli.test.other", "DetailType": "greeting", "Detail": "{}"})
        assert events.put_events(Entries=entries)["FailedEntryCount"] == 0
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    lines = stdout.splitlines()
    assert len(lines) == 3
    assert all(f" {source} greeting " in line for line in lines)
    assert sorted(json.loads(line.rsplit(" ", 1)[1])["n"] for line in lines) == [0, 1, 2]
    names = [r["Name"] for r in events.list_rules(NamePrefix="batchbridge-tail-")["Rules"]]
    assert rule not in names, "the temporary rule is removed on exit"
    queues = boto_client("sqs").list_queues(QueueNamePrefix=rule).get("QueueUrls", [])
    assert queues == [], "the temporary queue is removed on exit"


def test_events_tail_prints_whole_events_as_json(
    server: Any, boto_client: Callable[..., Any], tmp_path: Any
) -> None:
    source = f"cli.test.{uuid.uuid4().hex[:8]}"
    pattern = tmp_path / "pattern.json"
    pattern.write_text(json.dumps({"source": [source]}))
    process, _ = _start_tail(server.url, "--count", "1", "--timeout", "30", "--pattern", str(pattern))
    try:
        boto_client("events").put_events(
            Entries=[{"Source": source, "DetailType": "t", "Detail": '{"a": 1}'}]
        )
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    event = json.loads(stdout)
    assert event["source"] == source
    assert event["detail-type"] == "t"
    assert event["detail"] == {"a": 1}
    assert event["account"] == "123456789012"


def test_events_tail_with_an_invalid_pattern_names_the_problem_and_cleans_up(
    server: Any, boto_client: Callable[..., Any], tmp_path: Any, run_cli: Callable[..., Done]
) -> None:
    pattern = tmp_path / "bad.json"
    pattern.write_text(json.dumps({"source": []}))
    before = boto_client("sqs").list_queues(QueueNamePrefix="batchbridge-tail-").get("QueueUrls", [])
    done = run_cli("events", "tail", "--pattern", str(pattern), "--timeout", "5", endpoint=server.url)
    assert done.returncode == 2
    assert "InvalidEventPatternException" in done.stderr
    assert "Traceback" not in done.stderr
    time.sleep(0.1)
    after = boto_client("sqs").list_queues(QueueNamePrefix="batchbridge-tail-").get("QueueUrls", [])
    assert sorted(after) == sorted(before)
