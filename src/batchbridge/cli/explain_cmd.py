"""``batchbridge explain``: why a rule matches an event, or why not, field by field.

Two forms:

* ``explain --pattern FILE --event FILE``: any pattern against any event;
* ``explain --rule NAME [--bus B] --job JOB_ID [--status S]``: a rule on the server against the
  ``Batch Job State Change`` events the job produced (all of them, or the one with status S).

The explanation is followed by the pattern engine's lint warnings, for instance that a rule on
terminal Batch statuses fires once for every child of an array job as well as for the parent.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console

from batchbridge.cli.common import add_client_options, client, extension_get, read_json_file
from batchbridge.patterns import explain, lint


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "explain", help="explain why a rule matches an event or not", description=__doc__
    )
    parser.add_argument("--pattern", help="a file holding the event pattern")
    parser.add_argument("--event", help="a file holding the event")
    parser.add_argument("--rule", help="the name of a rule on the server")
    parser.add_argument("--bus", default="default", help="the rule's event bus (default %(default)s)")
    parser.add_argument("--job", help="a job id whose events to test")
    parser.add_argument("--status", help="only the job's event with this status")
    parser.add_argument("--json", action="store_true", help="print the explanations as JSON")
    add_client_options(parser)
    parser.set_defaults(func=run)


def _job_events(args: argparse.Namespace) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = extension_get(args, f"/_batchbridge/jobs/{args.job}/events")["events"]
    if args.status:
        events = [event for event in events if event["detail"].get("status") == args.status]
    return events


def run(args: argparse.Namespace) -> int:
    console = Console()
    err = Console(stderr=True)
    if args.rule:
        if not args.job:
            err.print("[red]--rule needs --job[/red]")
            return 2
        rule = client(args, "events").describe_rule(Name=args.rule, EventBusName=args.bus)
        if not rule.get("EventPattern"):
            err.print(f"[red]rule {args.rule} has no event pattern[/red]")
            return 2
        pattern: Any = json.loads(rule["EventPattern"])
        events = _job_events(args)
        if not events:
            which = f" with status {args.status}" if args.status else ""
            err.print(f"[red]job {args.job} produced no event{which}[/red]")
            return 2
    elif args.pattern and args.event:
        pattern = read_json_file(args.pattern)
        events = [read_json_file(args.event)]
    else:
        err.print("[red]give --pattern and --event, or --rule and --job[/red]")
        return 2
    results = [explain(pattern, event) for event in events]
    warnings = lint(pattern)
    if args.json:
        print(
            json.dumps(
                {"explanations": [r.to_dict() for r in results], "warnings": [w.message for w in warnings]},
                indent=2,
            )
        )
        return 0
    for event, result in zip(events, results, strict=True):
        detail = event.get("detail", {})
        title = f"{detail.get('jobId', event.get('id', 'event'))} {detail.get('status', '')}".strip()
        verdict = "[green]MATCHES[/green]" if result.matched else "[red]DOES NOT MATCH[/red]"
        console.print(f"[bold]{title}[/bold]: {verdict}")
        console.print(result.render(), highlight=False, markup=False)
    if warnings:
        console.print("[bold yellow]warnings[/bold yellow]")
        for warning in warnings:
            console.print(f"[yellow]- {warning.message}[/yellow]", highlight=False)
    return 0
