"""The array-completion scenario, played through the AWS APIs against any batchbridge endpoint.

Step 1 puts the naive rule (every SUCCEEDED job of the print-color definition) in front of a Lambda
handler and submits an array of 7: the handler runs once per child and once for the parent, 8
times.  Step 3 replaces the rule's pattern with the parent-only form (``container.
containerInstanceArn`` must not exist, which holds only for the parent) and submits the same array
again: the handler runs once, for the parent, printing ``root``.

Everything goes through boto3 with the article's own files from ``examples/print-color/``, so the
same steps work with the ``aws`` CLI, and against AWS itself once the ARNs name a real account.
"""

from __future__ import annotations

import io
import json
import time
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from batchbridge.patterns import explain

FUNCTION_NAME = "print-color-notify"
RULE_NAME = "print-color-done"
ROLE_ARN = "arn:aws:iam::123456789012:role/print-color-notify"
HANDLER_FRAMES = ("START RequestId:", "END RequestId:", "REPORT RequestId:", "INIT_START")


class ScenarioError(RuntimeError):
    """The scenario did not turn out as the article says it should."""


@dataclass
class Watcher:
    """Follows log streams incrementally: the children's job streams and the handler's group."""

    logs: Any
    seen_tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    def new_messages(self, group: str, stream: str) -> list[str]:
        key = (group, stream)
        messages: list[str] = []
        while True:
            kwargs: dict[str, Any] = {"logGroupName": group, "logStreamName": stream}
            token = self.seen_tokens.get(key)
            kwargs.update({"nextToken": token} if token else {"startFromHead": True})
            try:
                page = self.logs.get_log_events(**kwargs)
            except self.logs.exceptions.ResourceNotFoundException:
                return messages
            messages.extend(event["message"] for event in page["events"])
            next_token = page.get("nextForwardToken")
            if next_token is None or next_token == token or not page["events"]:
                if next_token:
                    self.seen_tokens[key] = next_token
                return messages
            self.seen_tokens[key] = next_token

    def group_messages(self, group: str) -> list[str]:
        messages: list[str] = []
        try:
            streams = self.logs.describe_log_streams(logGroupName=group)["logStreams"]
        except self.logs.exceptions.ResourceNotFoundException:
            return messages
        for stream in sorted(streams, key=lambda s: s.get("creationTime", 0)):
            messages.extend(self.new_messages(group, stream["logStreamName"]))
        return messages


def handler_outputs(messages: list[str]) -> list[str]:
    """What the handler printed, without Lambda's START/END/REPORT frame lines."""
    return [m.strip() for m in messages if m.strip() and not m.startswith(HANDLER_FRAMES)]


def zip_handler(path: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.write(path, path.name)
    return buffer.getvalue()


class Scenario:
    """Plays the article's steps with boto3 ``clients`` (a callable: service name -> client)."""

    def __init__(self, clients: Callable[[str], Any], examples: Path, console: Console) -> None:
        self.batch = clients("batch")
        self.events = clients("events")
        self.lambda_ = clients("lambda")
        self.logs = clients("logs")
        self.examples = examples
        self.console = console
        self.watcher = Watcher(self.logs)
        self.last_parent = ""

    def _json(self, name: str) -> Any:
        return json.loads((self.examples / name).read_text())

    def setup(self) -> str:
        """Create the compute environment, queue, definition and the handler; return its ARN."""
        ce = self.batch.create_compute_environment(**self._json("compute-environment.json"))
        self.console.print(f"created compute environment [cyan]{ce['computeEnvironmentArn']}[/cyan]")
        queue = self.batch.create_job_queue(**self._json("job-queue.json"))
        self.console.print(f"created job queue [cyan]{queue['jobQueueArn']}[/cyan]")
        definition = self.batch.register_job_definition(**self._json("job-definition.json"))
        self.console.print(f"registered job definition [cyan]{definition['jobDefinitionArn']}[/cyan]")
        function = self.lambda_.create_function(
            FunctionName=FUNCTION_NAME,
            Runtime="python3.11",
            Role=ROLE_ARN,
            Handler="lambda_function.lambda_handler",
            Code={"ZipFile": zip_handler(self.examples / "lambda_function.py")},
        )
        self.console.print(f"created function [cyan]{function['FunctionArn']}[/cyan]")
        return str(function["FunctionArn"])

    def put_rule(self, pattern_file: str, function_arn: str) -> None:
        pattern = (self.examples / pattern_file).read_text()
        self.events.put_rule(Name=RULE_NAME, EventPattern=pattern, State="ENABLED")
        self.events.put_targets(Rule=RULE_NAME, Targets=[{"Id": "notify", "Arn": function_arn}])
        self.console.print(f"rule [cyan]{RULE_NAME}[/cyan] now uses [bold]{pattern_file}[/bold]")

    def run_array(self, expected_runs: int, settle_seconds: float = 1.5, timeout: float = 90.0) -> list[str]:
        """Submit the array, stream child and handler output, return what the handler printed."""
        group = f"/aws/lambda/{FUNCTION_NAME}"
        self.watcher.group_messages(group)
        job = self.batch.submit_job(**self._json("print-color-job.json"))
        parent = job["jobId"]
        self.last_parent = parent
        self.console.print(f"submitted array job [cyan]{parent}[/cyan] of 7 children")
        outputs: list[str] = []
        printed: set[int] = set()
        deadline = time.monotonic() + timeout
        settled_at: float | None = None
        while time.monotonic() < deadline:
            children = self.batch.describe_jobs(jobs=[f"{parent}:{i}" for i in range(7)])["jobs"]
            for child in children:
                index = child["arrayProperties"]["index"]
                stream = child.get("container", {}).get("logStreamName")
                if stream and index not in printed and child["status"] in ("SUCCEEDED", "FAILED"):
                    for line in self.watcher.new_messages("/aws/batch/job", stream):
                        self.console.print(f"  [dim]child {index}:[/dim] {line}", highlight=False)
                    printed.add(index)
            for line in handler_outputs(self.watcher.group_messages(group)):
                outputs.append(line)
                self.console.print(f"  [magenta]handler:[/magenta] {line}", highlight=False)
            status = self.batch.describe_jobs(jobs=[parent])["jobs"][0]["status"]
            if status == "FAILED":
                raise ScenarioError(f"array job {parent} FAILED")
            if status == "SUCCEEDED" and len(printed) == 7 and len(outputs) >= expected_runs:
                settled_at = settled_at or time.monotonic()
                if time.monotonic() - settled_at >= settle_seconds:
                    return outputs
            time.sleep(0.1)
        raise ScenarioError(
            f"timed out after {timeout:g} s: handler ran {len(outputs)} times, expected {expected_runs}"
        )


def job_events(endpoint: str, job_id: str) -> list[dict[str, Any]]:
    """The ``Batch Job State Change`` events a job produced (batchbridge's extension endpoint)."""
    url = f"{endpoint.rstrip('/')}/_batchbridge/jobs/{urllib.parse.quote(job_id, safe=':')}/events"
    with urllib.request.urlopen(url, timeout=30) as response:
        events: list[dict[str, Any]] = json.loads(response.read())["events"]
    return events


def compare(endpoint: str, parent: str, examples: Path, console: Console) -> None:
    """Step 2: the parent-only pattern against a child's and the parent's SUCCEEDED events."""
    pattern = (examples / "rule-parent-only.json").read_text()
    for label, job_id in (("child 0", f"{parent}:0"), ("parent", parent)):
        succeeded = [e for e in job_events(endpoint, job_id) if e["detail"].get("status") == "SUCCEEDED"]
        if not succeeded:
            raise ScenarioError(f"step 2: {label} ({job_id}) has no SUCCEEDED event")
        result = explain(pattern, succeeded[-1])
        check = next(c for b in result.branches for c in b.fields if c.path.endswith("containerInstanceArn"))
        verdict = "[green]matches[/green]" if result.matched else "[red]does not match[/red]"
        console.print(f"  {label}: containerInstanceArn {check.reason}", highlight=False, markup=False)
        console.print(f"    so the parent-only pattern {verdict}")
        expected = label == "parent"
        if result.matched != expected:
            raise ScenarioError(
                f"step 2: the parent-only pattern should {'' if expected else 'not '}match {label}"
            )


def play(
    clients: Callable[[str], Any], examples: Path, console: Console, endpoint: str | None = None
) -> tuple[int, int]:
    """Run step 1, step 2 (with ``endpoint``) and step 3; return the handler runs of steps 1 and 3."""
    scenario = Scenario(clients, examples, console)
    console.print(
        "An array job of 7 children prints colours; a rule sends SUCCEEDED events to a Lambda handler "
        "that prints the child's index, or 'root' for the parent."
    )
    function_arn = scenario.setup()
    console.rule("[bold]step 1: the naive rule")
    console.print(
        "[dim]A rule on every SUCCEEDED event of the job definition fires for each child and again "
        "for the parent.[/dim]"
    )
    scenario.put_rule("rule-every-success.json", function_arn)
    step1 = scenario.run_array(expected_runs=8)
    expected1 = sorted([str(i) for i in range(7)] + ["root"])
    if sorted(step1) != expected1:
        raise ScenarioError(f"step 1: handler printed {sorted(step1)}, expected {expected1}")
    console.print(f"step 1: the handler ran [bold]{len(step1)}[/bold] times: 7 children and the parent")
    if endpoint:
        console.rule("[bold]step 2: tell parent and child events apart")
        console.print(
            "[dim]A child's event carries container.containerInstanceArn; the parent's does not "
            "(batchbridge explain shows it field by field).[/dim]"
        )
        compare(endpoint, scenario.last_parent, examples, console)
    console.rule("[bold]step 3: the parent-only rule")
    console.print(
        "[dim]Adding containerInstanceArn exists: false to the pattern leaves only the parent's "
        "event: one notification per array.[/dim]"
    )
    scenario.put_rule("rule-parent-only.json", function_arn)
    step3 = scenario.run_array(expected_runs=1)
    if step3 != ["root"]:
        raise ScenarioError(f"step 3: handler printed {step3}, expected ['root']")
    console.print("step 3: the handler ran [bold]once[/bold], for the parent")
    return len(step1), len(step3)
