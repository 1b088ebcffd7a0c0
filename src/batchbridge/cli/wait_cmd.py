"""``batchbridge wait JOB_ID``: follow a job until it ends.

An array parent gets a live progress bar of its children (per-status counts from the parent's
``arrayProperties.statusSummary``, rate and ETA); a single job gets a spinner with its status.
Exit status: 0 when the job SUCCEEDED, 1 when it FAILED, 2 when it does not exist.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from batchbridge.cli.common import add_client_options, client

TERMINAL = {"SUCCEEDED", "FAILED"}
ORDER = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("wait", help="wait for a job or an array to finish", description=__doc__)
    parser.add_argument("job_id", help="the job id (an array parent, a child `id:index`, or a single job)")
    parser.add_argument("--json", action="store_true", help="print the final DescribeJobs detail as JSON")
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between polls")
    parser.add_argument("--timeout", type=float, default=0, help="give up after this many seconds (0: never)")
    add_client_options(parser)
    parser.set_defaults(func=run)


def _describe(batch: Any, job_id: str) -> dict[str, Any] | None:
    jobs = batch.describe_jobs(jobs=[job_id])["jobs"]
    return jobs[0] if jobs else None


def summary_text(summary: dict[str, int]) -> str:
    """``RUNNING 3 · SUCCEEDED 40 · ...`` with zero counts left out."""
    return " · ".join(f"{status} {summary.get(status, 0)}" for status in ORDER if summary.get(status, 0))


def run(args: argparse.Namespace) -> int:
    batch = client(args, "batch")
    console = Console(stderr=True)
    job = _describe(batch, args.job_id)
    if job is None:
        console.print(f"[red]job {args.job_id} not found[/red]")
        return 2
    deadline = time.monotonic() + args.timeout if args.timeout else None
    size = job.get("arrayProperties", {}).get("size")
    columns: tuple[ProgressColumn, ...]
    if size:
        columns = (
            TextColumn("[bold]{task.fields[name]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[summary]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
    else:
        columns = (
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[name]}"),
            TextColumn("{task.fields[summary]}"),
        )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("job", total=size or None, name=job["jobName"], summary=job["status"])
        while True:
            if size:
                summary = job.get("arrayProperties", {}).get("statusSummary", {})
                done = summary.get("SUCCEEDED", 0) + summary.get("FAILED", 0)
                progress.update(task, completed=done, summary=summary_text(summary) or job["status"])
            else:
                progress.update(task, summary=job["status"])
            if job["status"] in TERMINAL:
                if size:
                    progress.update(task, completed=size)
                break
            if deadline is not None and time.monotonic() > deadline:
                console.print(f"[yellow]gave up after {args.timeout:g} s; job is {job['status']}[/yellow]")
                return 3
            time.sleep(args.interval)
            job = _describe(batch, args.job_id) or job
    reason = job.get("statusReason")
    colour = "green" if job["status"] == "SUCCEEDED" else "red"
    console.print(f"[{colour}]{job['jobId']} {job['status']}[/{colour}]" + (f": {reason}" if reason else ""))
    if args.json:
        json.dump(job, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0 if job["status"] == "SUCCEEDED" else 1
