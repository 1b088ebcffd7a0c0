"""``batchbridge events tail [--bus B] [--pattern FILE]``: print events as they are put on a bus.

It uses nothing but the public APIs, so it works against AWS too: a temporary SQS queue, a
temporary rule on the bus (the given pattern, or one that matches every event) targeting that
queue, and a long-polling receive loop.  The rule, its target and the queue are removed on exit.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from typing import Any

from rich.console import Console

from batchbridge.cli.common import add_client_options, client, read_json_file

MATCH_EVERYTHING = {"source": [{"prefix": ""}]}


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("events", help="watch events on a bus", description=__doc__)
    actions = parser.add_subparsers(dest="action", required=True)
    tail = actions.add_parser("tail", help="print events as they are put on a bus", description=__doc__)
    tail.add_argument("--bus", default="default", help="the event bus (default %(default)s)")
    tail.add_argument("--pattern", help="a file holding an event pattern to filter with")
    tail.add_argument("--count", type=int, default=0, help="stop after this many events (0: never)")
    tail.add_argument("--timeout", type=float, default=0, help="stop after this many seconds (0: never)")
    tail.add_argument("--compact", action="store_true", help="one line per event")
    add_client_options(tail)
    tail.set_defaults(func=run_tail)


def run_tail(args: argparse.Namespace) -> int:
    events = client(args, "events")
    sqs = client(args, "sqs")
    console = Console()
    pattern = read_json_file(args.pattern) if args.pattern else MATCH_EVERYTHING
    name = f"batchbridge-tail-{uuid.uuid4().hex[:12]}"
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name=name, EventBusName=args.bus, EventPattern=json.dumps(pattern), State="ENABLED")
    events.put_targets(Rule=name, EventBusName=args.bus, Targets=[{"Id": "tail", "Arn": queue_arn}])
    Console(stderr=True).print(f"[dim]tailing bus {args.bus} (rule {name}); Ctrl-C to stop[/dim]")
    seen = 0
    deadline = time.monotonic() + args.timeout if args.timeout else None
    try:
        while (not args.count or seen < args.count) and (deadline is None or time.monotonic() < deadline):
            wait = 20 if deadline is None else max(0, min(20, int(deadline - time.monotonic())))
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait)
            for message in messages.get("Messages", []):
                event = json.loads(message["Body"])
                if args.compact:
                    detail = event.get("detail", {})
                    console.print(
                        f"{event.get('time')} {event.get('source')} {event.get('detail-type')} "
                        f"{detail.get('jobId', '')} {detail.get('status', '')}".rstrip(),
                        highlight=False,
                    )
                else:
                    console.print_json(json.dumps(event))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                seen += 1
    except KeyboardInterrupt:
        pass
    finally:
        events.remove_targets(Rule=name, EventBusName=args.bus, Ids=["tail"])
        events.delete_rule(Name=name, EventBusName=args.bus)
        sqs.delete_queue(QueueUrl=queue_url)
    return 0
