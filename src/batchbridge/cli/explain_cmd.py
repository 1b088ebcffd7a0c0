"""``batchbridge explain``: why a rule matches an event, or why not, field by field.

Two forms (exit status 0 when the pattern matches an event, 1 when it matches none, as grep):

* ``explain --pattern FILE --event FILE``: any pattern against any event;
* ``explain --rule NAME [--bus B] --job JOB_ID [--status S]``: a rule on the server against the
  ``Batch Job State Change`` events the job produced (all of them, or the one with status S).

The explanation is followed by the pattern engine's lint warnings, for instance that a rule on
terminal Batch statuses fires once for every child of an array job as well as for the parent.
"""

from __future__ import annotations

import argparse
import json
import urllib.parse
from typing import Any

from rich.markup import escape

from batchbridge.cli.common import (
    CommandError,
    add_client_options,
    client,
    extension_get,
    make_console,
    read_json_file,
)
from batchbridge.patterns import Explanation, explain, lint


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="explain why a rule matches an event or not",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--pattern", help="a file holding the event pattern")
    parser.add_argument("--event", help="a file holding the event")
    parser.add_argument("--rule", help="the name of a rule on the server")
    parser.add_argument("--bus", default="default", help="the rule's event bus (default %(default)s)")
    parser.add_argument("--job", help="a job id whose events to test (JOB_ID:INDEX for an array child)")
    parser.add_argument("--status", help="only the job's event with this status, e.g. SUCCEEDED")
    parser.add_argument("--json", action="store_true", help="print the explanations as JSON")
    add_client_options(parser)
    parser.set_defaults(func=run)


def _job_events(args: argparse.Namespace) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = extension_get(
        args, f"/_batchbridge/jobs/{urllib.parse.quote(args.job, safe=':')}/events"
    )["events"]
    if args.status:
        events = [event for event in events if event["detail"].get("status") == args.status]
    return events


def because(result: Explanation) -> str:
    """One line naming the fields that failed, with what the event holds there."""
    return "; ".join(f"{check.path}: {check.reason}" for check in result.failures)


def _inputs(args: argparse.Namespace) -> tuple[Any, list[dict[str, Any]]]:
    if args.rule:
        if not args.job:
            raise CommandError("--rule needs --job JOB_ID (and optionally --status)")
        rule = client(args, "events").describe_rule(Name=args.rule, EventBusName=args.bus)
        if not rule.get("EventPattern"):
            raise CommandError(f"rule {args.rule} has no event pattern (a schedule rule?)")
        events = _job_events(args)
        if not events:
            which = f" with status {args.status}" if args.status else ""
            raise CommandError(f"job {args.job} produced no Batch Job State Change event{which}")
        return json.loads(rule["EventPattern"]), events
    if args.pattern and args.event:
        event = read_json_file(args.event, "event file")
        if not isinstance(event, dict):
            raise CommandError(f"event file {args.event} must hold one JSON object")
        return read_json_file(args.pattern, "pattern file"), [event]
    raise CommandError("give --pattern FILE and --event FILE, or --rule NAME and --job JOB_ID")


def run(args: argparse.Namespace) -> int:
    console = make_console()
    pattern, events = _inputs(args)
    results = [explain(pattern, event) for event in events]
    warnings = lint(pattern)
    status = 0 if any(result.matched for result in results) else 1
    if args.json:
        print(
            json.dumps(
                {"explanations": [r.to_dict() for r in results], "warnings": [w.message for w in warnings]},
                indent=2,
            )
        )
        return status
    for event, result in zip(events, results, strict=True):
        detail = event.get("detail", {})
        title = escape(f"{detail.get('jobId', event.get('id', 'event'))} {detail.get('status', '')}".strip())
        verdict = "[green]MATCHES[/green]" if result.matched else "[red]DOES NOT MATCH[/red]"
        console.print(f"[bold]{title}[/bold]: {verdict}", highlight=False)
        if not result.matched:
            console.print(f"  because {because(result)}", highlight=False, markup=False)
        console.print(result.render(), highlight=False, markup=False)
    if warnings:
        console.print("[bold yellow]warnings[/bold yellow]")
        for warning in warnings:
            console.print(f"[yellow]- {escape(warning.message)}[/yellow]", highlight=False)
    return status
