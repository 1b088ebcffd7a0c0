"""``batchbridge events tail [--bus B] [--pattern FILE]``: print events as they reach a bus.

It uses nothing but the public APIs, so it works against AWS too: a temporary SQS queue, a
temporary rule on the bus (the given pattern, or one that matches every event) targeting that
queue, and a long-polling receive loop.  The rule, its target and the queue are removed on exit,
also after Ctrl-C.  Like every EventBridge target, it sees only events put after the rule exists.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from typing import Any

from rich.console import Console

from batchbridge.cli.common import add_client_options, client, make_console, read_json_file

MATCH_EVERYTHING = {"source": [{"prefix": ""}]}


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "events",
        help="watch the events put on a bus",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    tail = actions.add_parser(
        "tail",
        help="print events as they are put on a bus",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tail.add_argument("--bus", default="default", help="the event bus (default %(default)s)")
    tail.add_argument("--pattern", help="a file holding an event pattern to filter with")
    tail.add_argument("--count", type=int, default=0, help="stop after this many events (0: never)")
    tail.add_argument("--timeout", type=float, default=0, help="stop after this many seconds (0: never)")
    tail.add_argument("--compact", action="store_true", help="one line per event")
    add_client_options(tail)
    tail.set_defaults(func=run_tail)


def compact_line(event: dict[str, Any]) -> str:
    """``time source detail-type`` then the job id and status of a Batch event, else the detail."""
    detail = event.get("detail", {})
    head = f"{event.get('time')} {event.get('source')} {event.get('detail-type')}"
    if isinstance(detail, dict) and "jobId" in detail:
        return f"{head} {detail['jobId']} {detail.get('status', '')}".rstrip()
    return f"{head} {json.dumps(detail, separators=(',', ':'))}"


def _show(console: Console, event: dict[str, Any], compact: bool) -> None:
    if compact:
        console.print(compact_line(event), highlight=False, markup=False)
    else:
        console.print_json(json.dumps(event))


def run_tail(args: argparse.Namespace) -> int:
    events = client(args, "events")
    sqs = client(args, "sqs")
    console = make_console()
    pattern = read_json_file(args.pattern, "pattern file") if args.pattern else MATCH_EVERYTHING
    name = f"batchbridge-tail-{uuid.uuid4().hex[:12]}"
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    rule_made = False
    try:
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        queue_arn = attributes["Attributes"]["QueueArn"]
        events.put_rule(Name=name, EventBusName=args.bus, EventPattern=json.dumps(pattern), State="ENABLED")
        rule_made = True
        events.put_targets(Rule=name, EventBusName=args.bus, Targets=[{"Id": "tail", "Arn": queue_arn}])
        make_console(stderr=True).print(f"[dim]tailing bus {args.bus} (rule {name}); Ctrl-C to stop[/dim]")
        _receive(sqs, queue_url, console, args)
    except KeyboardInterrupt:
        pass
    finally:
        if rule_made:
            events.remove_targets(Rule=name, EventBusName=args.bus, Ids=["tail"])
            events.delete_rule(Name=name, EventBusName=args.bus)
        sqs.delete_queue(QueueUrl=queue_url)
    return 0


def _receive(sqs: Any, queue_url: str, console: Console, args: argparse.Namespace) -> None:
    seen = 0
    deadline = time.monotonic() + args.timeout if args.timeout else None
    while (not args.count or seen < args.count) and (deadline is None or time.monotonic() < deadline):
        wait = 20 if deadline is None else max(0, min(20, int(deadline - time.monotonic())))
        wanted = 10 if not args.count else max(1, min(10, args.count - seen))
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=wanted, WaitTimeSeconds=wait)
        for message in messages.get("Messages", []):
            try:
                event = json.loads(message["Body"])
            except ValueError:
                event = {"detail": message["Body"]}
            _show(console, event, args.compact)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            seen += 1
