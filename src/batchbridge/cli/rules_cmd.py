"""``batchbridge rules lint [--bus B]``: the pattern engine's warnings for every rule of a bus."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from batchbridge.cli.common import add_client_options, client
from batchbridge.patterns import lint


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("rules", help="inspect the rules of an event bus", description=__doc__)
    actions = parser.add_subparsers(dest="action", required=True)
    lint_parser = actions.add_parser("lint", help="lint warnings for every rule", description=__doc__)
    lint_parser.add_argument("--bus", default="default", help="the event bus (default %(default)s)")
    add_client_options(lint_parser)
    lint_parser.set_defaults(func=run_lint)


def run_lint(args: argparse.Namespace) -> int:
    events = client(args, "events")
    table = Table("rule", "warning", show_lines=True)
    count = 0
    for page in events.get_paginator("list_rules").paginate(EventBusName=args.bus):
        for rule in page["Rules"]:
            if not rule.get("EventPattern"):
                continue
            for warning in lint(json.loads(rule["EventPattern"])):
                table.add_row(rule["Name"], warning.message)
                count += 1
    console = Console()
    if count:
        console.print(table)
    console.print(f"{count} warning{'s' if count != 1 else ''} on bus {args.bus}")
    return 0
