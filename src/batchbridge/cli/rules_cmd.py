"""``batchbridge rules lint [--bus B]``: the pattern engine's warnings for every rule of a bus.

A warning is a pattern that is valid but probably not what its author meant.  The one that
matters most for array jobs: a rule on terminal ``Batch Job State Change`` events fires once for
every child of an array *and* once for the parent (N + 1 times for an array of N), with the
pattern that fires only for the parent.  Others: numeric conditions on string fields, statuses
AWS Batch never sends, wrong-case ``source``/``detail-type``, bare names where events carry ARNs.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.table import Table

from batchbridge.cli.common import add_client_options, client, make_console
from batchbridge.patterns import lint


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rules",
        help="inspect the rules of an event bus",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    lint_parser = actions.add_parser(
        "lint",
        help="warnings for every rule of a bus",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lint_parser.add_argument("--bus", default="default", help="the event bus (default %(default)s)")
    lint_parser.add_argument("--json", action="store_true", help="print the warnings as JSON")
    add_client_options(lint_parser)
    lint_parser.set_defaults(func=run_lint)


def run_lint(args: argparse.Namespace) -> int:
    events = client(args, "events")
    found: list[dict[str, str]] = []
    for page in events.get_paginator("list_rules").paginate(EventBusName=args.bus):
        for rule in page["Rules"]:
            if not rule.get("EventPattern"):
                continue
            for warning in lint(json.loads(rule["EventPattern"])):
                found.append({"rule": rule["Name"], **warning.to_dict()})
    if args.json:
        print(json.dumps({"bus": args.bus, "warnings": found}, indent=2))
        return 0
    console = make_console()
    if found:
        table = Table("rule", "warning", show_lines=True)
        for item in found:
            table.add_row(item["rule"], f"[bold]{item['code']}[/bold] at {item['path']}: {item['message']}")
        console.print(table, soft_wrap=False)
    console.print(f"{len(found)} warning{'s' if len(found) != 1 else ''} on bus {args.bus}", highlight=False)
    return 0
