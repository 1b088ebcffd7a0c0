"""``batchbridge logs JOB_ID [--index I] [--follow]``: a job's output from CloudWatch Logs.

Batch writes each attempt's output to group ``/aws/batch/job``, in the stream named by the
attempt's ``logStreamName``.  For an array parent without ``--index`` the children's output is
printed child by child, each line prefixed with its index.  ``--follow`` keeps reading until the
job (or every child) has ended and its stream has no more events, as ``aws logs tail --follow``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.markup import escape

from batchbridge.cli.common import CommandError, add_client_options, client, make_console

LOG_GROUP = "/aws/batch/job"
TERMINAL = {"SUCCEEDED", "FAILED"}


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "logs",
        help="print a job's or a child's output",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("job_id", help="the job id (or JOB_ID:INDEX for an array child)")
    parser.add_argument("--index", type=int, help="an array child's index (same as JOB_ID:INDEX)")
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing until the job ends")
    parser.add_argument(
        "--interval", type=float, default=0.5, help="seconds between polls with --follow (default 0.5)"
    )
    add_client_options(parser)
    parser.set_defaults(func=run)


def streams_of(job: dict[str, Any]) -> list[str]:
    """Every log stream the job's attempts wrote to, oldest attempt first."""
    names = [a["container"]["logStreamName"] for a in job.get("attempts", []) if "container" in a]
    current = job.get("container", {}).get("logStreamName")
    if current and current not in names:
        names.append(current)
    return [name for name in names if name]


class StreamReader:
    """Reads one stream from the head, remembering the forward token between polls."""

    def __init__(self, logs: Any, stream: str) -> None:
        self.logs = logs
        self.stream = stream
        self.token: str | None = None

    def poll(self) -> Iterator[str]:
        while True:
            kwargs: dict[str, Any] = {"logGroupName": LOG_GROUP, "logStreamName": self.stream}
            kwargs.update({"nextToken": self.token} if self.token else {"startFromHead": True})
            try:
                page = self.logs.get_log_events(**kwargs)
            except self.logs.exceptions.ResourceNotFoundException:
                return
            for event in page["events"]:
                yield event["message"]
            same = page.get("nextForwardToken") == self.token
            self.token = page.get("nextForwardToken", self.token)
            if same or not page["events"]:
                return


def _print_job(
    batch: Any, logs: Any, console: Console, job_id: str, prefix: str, follow: bool, interval: float
) -> dict[str, Any]:
    """Print the job's output (until it ends with ``follow``); return its last description."""
    readers: dict[str, StreamReader] = {}
    while True:
        job = batch.describe_jobs(jobs=[job_id])["jobs"][0]
        for stream in streams_of(job):
            reader = readers.setdefault(stream, StreamReader(logs, stream))
            for message in reader.poll():
                console.print(f"{prefix}{escape(message)}", highlight=False)
        if not follow or job["status"] in TERMINAL:
            if follow:
                for reader in readers.values():
                    for message in reader.poll():
                        console.print(f"{prefix}{escape(message)}", highlight=False)
            return dict(job)
        time.sleep(interval)


def run(args: argparse.Namespace) -> int:
    batch = client(args, "batch")
    logs = client(args, "logs")
    console = make_console()
    job_id = f"{args.job_id}:{args.index}" if args.index is not None else args.job_id
    jobs = batch.describe_jobs(jobs=[job_id])["jobs"]
    if not jobs:
        raise CommandError(f"job {job_id} not found")
    size = jobs[0].get("arrayProperties", {}).get("size")
    if size and args.index is None:
        for index in range(size):
            _print_job(
                batch,
                logs,
                console,
                f"{job_id}:{index}",
                f"[dim]\\[{index}][/dim] ",
                args.follow,
                args.interval,
            )
        return 0
    job = _print_job(batch, logs, console, job_id, "", args.follow, args.interval)
    if not streams_of(job) and job["status"] not in TERMINAL and not args.follow:
        make_console(stderr=True).print(
            f"[dim]job {job_id} is {job['status']} and has no output yet; --follow waits for it[/dim]"
        )
    return 0
