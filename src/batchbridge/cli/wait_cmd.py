"""``batchbridge wait JOB_ID``: follow a job until it ends.

An array parent gets a live progress bar of its children: how many have ended, the count in each
status (from the parent's ``arrayProperties.statusSummary``, which AWS Batch keeps for array
parents), the rate at which children end and the time remaining at that rate.  A single job or a
child (``JOB_ID:INDEX``) gets a spinner with its status.  Output goes to stderr, so ``--json``
(the final DescribeJobs detail) can be piped.

Exit status: 0 when the job SUCCEEDED, 1 when it FAILED, 2 when it does not exist (or the server
cannot be reached), 3 when ``--timeout`` ran out first.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from batchbridge.cli.common import CommandError, add_client_options, client, make_console

TERMINAL = {"SUCCEEDED", "FAILED"}
ORDER = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")


class RateColumn(ProgressColumn):
    """Children ended per second, over rich's recent-speed window."""

    def render(self, task: Task) -> Text:
        speed = task.speed
        if speed is None:
            return Text("-/s", style="progress.data.speed")
        return Text(f"{speed:.1f}/s" if speed < 10 else f"{speed:.0f}/s", style="progress.data.speed")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "wait",
        help="wait for a job or an array to finish, with a progress bar",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("job_id", help="the job id (an array parent, a child JOB_ID:INDEX, or a single job)")
    parser.add_argument("--json", action="store_true", help="print the final DescribeJobs detail as JSON")
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between polls (default 0.25)")
    parser.add_argument("--timeout", type=float, default=0, help="give up after this many seconds (0: never)")
    add_client_options(parser)
    parser.set_defaults(func=run)


def _describe(batch: Any, job_id: str) -> dict[str, Any] | None:
    jobs = batch.describe_jobs(jobs=[job_id])["jobs"]
    return jobs[0] if jobs else None


def summary_text(summary: dict[str, int]) -> str:
    """``RUNNING 3 · SUCCEEDED 40 · ...`` with zero counts left out."""
    return " · ".join(f"{status} {summary.get(status, 0)}" for status in ORDER if summary.get(status, 0))


def _columns(array: bool) -> tuple[ProgressColumn, ...]:
    if array:
        return (
            TextColumn("[bold]{task.fields[name]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[summary]}"),
            RateColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        )
    return (
        SpinnerColumn(),
        TextColumn("[bold]{task.fields[name]}"),
        TextColumn("{task.fields[summary]}"),
        TimeElapsedColumn(),
    )


def run(args: argparse.Namespace) -> int:
    batch = client(args, "batch")
    console = make_console(stderr=True)
    job = _describe(batch, args.job_id)
    if job is None:
        raise CommandError(f"job {args.job_id} not found")
    deadline = time.monotonic() + args.timeout if args.timeout else None
    size = job.get("arrayProperties", {}).get("size")
    with Progress(*_columns(bool(size)), console=console, transient=False) as progress:
        task = progress.add_task("job", total=size or None, name=job["jobName"], summary=job["status"])
        while True:
            if size:
                summary = job.get("arrayProperties", {}).get("statusSummary", {})
                done = summary.get("SUCCEEDED", 0) + summary.get("FAILED", 0)
                progress.update(task, completed=done, summary=summary_text(summary) or job["status"])
            else:
                progress.update(task, summary=job["status"])
            if job["status"] in TERMINAL:
                break
            if deadline is not None and time.monotonic() > deadline:
                progress.stop()
                console.print(f"[yellow]gave up after {args.timeout:g} s; job is {job['status']}[/yellow]")
                return 3
            time.sleep(args.interval)
            job = _describe(batch, args.job_id) or job
    reason = job.get("statusReason")
    colour = "green" if job["status"] == "SUCCEEDED" else "red"
    console.print(f"[{colour}]{job['jobId']} {job['status']}[/{colour}]" + (f": {reason}" if reason else ""))
    if args.json:
        json.dump(job, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    return 0 if job["status"] == "SUCCEEDED" else 1
