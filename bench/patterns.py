"""Throughput of batchbridge.patterns.RuleMatcher against moto's and LocalStack's matchers.

Run: ``.venv/bin/python bench/patterns.py [--seed N] [--seconds S] [--peer-seconds S]``

For 1, 10, 100 and 1000 rules of realistic variety (AWS Batch rules mixed with rules for aws.ec2,
aws.s3 and custom sources; every operator represented; generated deterministically from the seed),
it measures events per second for one ``Batch Job State Change`` child event and one parent event,
for our matcher and for the two peers, which try every rule in turn.  The peers are time-boxed.
Before timing, it checks that the three engines return the same set of matching rules for each
event and reports any disagreement.  Then it reports memory (tracemalloc) and the time to add
10,000 rules.

Every rate, ours and the peers' alike, is the best of five windows sharing the measurement's time,
so that a burst of load from other processes on the machine does not decide a row.  The ratio of
our rate at 1000 rules to our rate at 1 rule is measured separately, the two matchers alternating
window by window, because the table's two rows are taken half a minute apart.

The first rule of every set is the seed scenario's parent-only rule (source, detail-type, the job
definition, SUCCEEDED, no ``container.containerInstanceArn``); the sets of 10, 100 and 1000 add the
first 9, 99 and 999 generated rules.  So the 1-rule row is one realistic rule for these events:
the rule a team puts on a bus for its array jobs, which the events exercise field by field.  The
first generated rule (an aws.s3 rule) used to be that row; a Batch event rejects it at its first
field, so it measured little more than the call itself.  Its rate is still printed below the
table, with the ratio against it, so both baselines stay visible.

The table's events repeat, as a bus's Batch events largely do in the fields rules name (source,
detail type, status, job definition, queue).  The matcher remembers, per field, which transitions
a value takes for operators that cannot be hashed (prefix, numeric, wildcard, ...), so a last line
also measures child events whose job name and id are new each time, where those lookups miss.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from typing import Any

from batchbridge.patterns import RuleMatcher

WINDOWS = 5
ACCOUNT = "123456789012"
REGION = "us-east-1"
PARENT_ID = "9d1c6c2e-5e0b-4a8e-9a43-0f5a3c2b7e10"
JD = f"arn:aws:batch:{REGION}:{ACCOUNT}:job-definition/print-color:1"
QUEUE = f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/print-color-queue"
STATUSES = ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"]


def batch_events() -> tuple[dict[str, Any], dict[str, Any]]:
    """A child and a parent terminal event shaped as in spec aws-batch.md section 6.7."""

    def envelope(job_id: str, detail: dict[str, Any]) -> dict[str, Any]:
        return {
            "version": "0",
            "id": "0b0c2f1e-7c1a-4c43-9f55-1d2f8d0a1c11",
            "detail-type": "Batch Job State Change",
            "source": "aws.batch",
            "account": ACCOUNT,
            "time": "2025-01-01T00:00:05Z",
            "region": REGION,
            "resources": [f"arn:aws:batch:{REGION}:{ACCOUNT}:job/{job_id}"],
            "detail": detail,
        }

    container = {
        "image": "print-color",
        "command": [],
        "volumes": [],
        "environment": [],
        "mountPoints": [],
        "ulimits": [],
        "networkInterfaces": [],
        "resourceRequirements": [{"value": "250", "type": "MEMORY"}, {"value": "1", "type": "VCPU"}],
        "secrets": [],
    }
    common = {
        "jobName": "print-color",
        "jobQueue": QUEUE,
        "status": "SUCCEEDED",
        "createdAt": 1735689600500,
        "dependsOn": [],
        "jobDefinition": JD,
        "parameters": {},
        "tags": {"resourceArn": f"arn:aws:batch:{REGION}:{ACCOUNT}:job/{PARENT_ID}"},
        "propagateTags": False,
        "platformCapabilities": [],
        "eksAttempts": [],
    }
    instance = f"arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/c1/7f3e"
    task = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/c1/91ab"
    child_container = dict(
        container,
        exitCode=0,
        containerInstanceArn=instance,
        taskArn=task,
        logStreamName="print-color/default/91ab",
    )
    child = envelope(
        f"{PARENT_ID}:1",
        dict(
            common,
            jobArn=f"arn:aws:batch:{REGION}:{ACCOUNT}:job/{PARENT_ID}:1",
            jobId=f"{PARENT_ID}:1",
            attempts=[
                {
                    "container": {
                        "containerInstanceArn": instance,
                        "taskArn": task,
                        "exitCode": 0,
                        "logStreamName": "print-color/default/91ab",
                        "networkInterfaces": [],
                    },
                    "startedAt": 1735689601000,
                    "stoppedAt": 1735689604000,
                    "statusReason": "Essential container in task exited",
                }
            ],
            statusReason="Essential container in task exited",
            startedAt=1735689601000,
            stoppedAt=1735689604000,
            container=child_container,
            arrayProperties={"statusSummary": {}, "index": 1},
        ),
    )
    summary = {
        "STARTING": 0,
        "FAILED": 0,
        "RUNNING": 0,
        "SUCCEEDED": 2,
        "RUNNABLE": 0,
        "SUBMITTED": 0,
        "PENDING": 0,
    }
    parent = envelope(
        PARENT_ID,
        dict(
            common,
            jobArn=f"arn:aws:batch:{REGION}:{ACCOUNT}:job/{PARENT_ID}",
            jobId=PARENT_ID,
            attempts=[],
            statusReason="",
            container=copy.deepcopy(container),
            arrayProperties={"statusSummary": summary, "size": 2},
        ),
    )
    return child, parent


def _batch_rule(rng: random.Random, i: int) -> dict[str, Any]:
    names = ["print-color", "render", "etl", "train", "score"]
    name = rng.choice(names) if rng.random() < 0.7 else f"job-{i}"
    jd = f"arn:aws:batch:{REGION}:{ACCOUNT}:job-definition/{name}:{rng.randint(1, 3)}"
    queue = f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/{rng.choice(['print-color-queue', 'gpu', 'spot'])}"
    detail: dict[str, Any] = {}
    kind = rng.randrange(10)
    if kind == 0:
        detail["status"] = rng.sample(STATUSES, rng.randint(1, 2))
    elif kind == 1:
        detail["status"] = ["SUCCEEDED", "FAILED"]
        detail["arrayProperties"] = {"size": [{"exists": True}]}
    elif kind == 2:
        detail["status"] = ["SUCCEEDED"]
        detail["container"] = {"containerInstanceArn": [{"exists": False}]}
    elif kind == 3:
        detail["status"] = [{"anything-but": ["SUCCEEDED", "FAILED"]}]
    elif kind == 4:
        detail["jobName"] = [{"prefix": name[:3]}]
    elif kind == 5:
        detail["jobQueue"] = [{"wildcard": f"arn:aws:batch:{REGION}:*:job-queue/{queue.rsplit('/', 1)[1]}"}]
    elif kind == 6:
        detail["container"] = {"exitCode": [{"numeric": [">", 0]}]}
    elif kind == 7:
        detail["jobName"] = [{"equals-ignore-case": name.upper()}]
    elif kind == 8:
        detail["jobDefinition"] = [{"suffix": f"/{name}:1"}]
    else:
        detail["$or"] = [{"status": ["FAILED"]}, {"container": {"exitCode": [{"numeric": ["=", 0]}]}}]
    if rng.random() < 0.6:
        detail["jobDefinition"] = [jd]
    if rng.random() < 0.3:
        detail["jobQueue"] = [queue]
    rule: dict[str, Any] = {"source": ["aws.batch"], "detail": detail}
    if rng.random() < 0.8:
        rule["detail-type"] = ["Batch Job State Change"]
    return rule


def _ec2_rule(rng: random.Random, i: int) -> dict[str, Any]:
    return {
        "source": ["aws.ec2"],
        "detail-type": ["EC2 Instance State-change Notification"],
        "detail": {
            "state": rng.sample(["pending", "running", "stopping", "stopped", "terminated"], 2),
            "instance-id": [{"prefix": f"i-{i % 16:x}"}],
        },
    }


def _s3_rule(rng: random.Random, i: int) -> dict[str, Any]:
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [f"bucket-{i % 50}"]},
            "object": {
                "key": [{"suffix": rng.choice([".csv", ".png", ".json"])}],
                "size": [{"numeric": [">=", rng.randint(0, 1000), "<", 10_000_000]}],
            },
        },
    }


def _custom_rule(rng: random.Random, i: int) -> dict[str, Any]:
    app = f"com.example.app{i % 40}"
    variant = rng.randrange(4)
    if variant == 0:
        return {"source": [app], "detail": {"sourceIp": [{"cidr": f"10.{i % 200}.0.0/16"}]}}
    if variant == 1:
        return {
            "source": [{"prefix": "com.example."}],
            "detail-type": [f"Order {i % 7}"],
            "detail": {"amount": [{"numeric": [">", 100]}]},
        }
    if variant == 2:
        return {
            "source": [app],
            "detail": {"region": [{"anything-but": {"prefix": "us-"}}], "tier": ["gold", "silver"]},
        }
    return {"account": [ACCOUNT], "source": [app], "detail": {"flag": [True], "owner": [None, ""]}}


def generate_rules(count: int, seed: int) -> list[tuple[str, dict[str, Any]]]:
    """Deterministic rules: about a quarter each for Batch, EC2, S3 and custom sources."""
    rng = random.Random(seed)
    makers: list[Callable[[random.Random, int], dict[str, Any]]] = [
        _batch_rule,
        _ec2_rule,
        _s3_rule,
        _custom_rule,
    ]
    return [(f"rule-{i:05d}", makers[rng.randrange(4)](rng, i)) for i in range(count)]


def _load_localstack() -> tuple[Callable[[Any, Any], bool] | None, str]:
    try:
        from localstack.utils.event_matcher import matches_event
    except ImportError as exc:  # pragma: no cover - reported in the output
        return None, f"unavailable ({exc})"
    return matches_event, "imported normally"


def seed_rule() -> dict[str, Any]:
    """The seed scenario's parent-only rule (spec seed-scenario.md, step 3)."""
    return {
        "source": ["aws.batch"],
        "detail-type": ["Batch Job State Change"],
        "detail": {
            "jobDefinition": [JD],
            "status": ["SUCCEEDED"],
            "container": {"containerInstanceArn": [{"exists": False}]},
        },
    }


def fresh_children(child: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """Copies of ``child`` whose job name, id and ARN are new in each copy."""
    out = []
    for i in range(count):
        event = copy.deepcopy(child)
        detail = event["detail"]
        detail["jobName"] = f"print-color-{i}"
        detail["jobId"] = f"{PARENT_ID[:-4]}{i:04d}:1"
        detail["jobArn"] = f"arn:aws:batch:{REGION}:{ACCOUNT}:job/{detail['jobId']}"
        out.append(event)
    return out


def _moto_all(rules: list[tuple[str, Any]], event: dict[str, Any]) -> list[bool]:
    return [pattern.matches_event(event) for _, pattern in rules]


def _localstack_all(
    match: Callable[[Any, Any], bool], texts: list[tuple[str, str]], event_text: str
) -> list[bool]:
    return [match(text, event_text) for _, text in texts]


def _rate(fn: Callable[[], object], seconds: float, windows: int = WINDOWS) -> float:
    """Calls per second of ``fn``: the best of ``windows`` windows sharing ``seconds`` (>= 1 call each)."""
    best = 0.0
    for _ in range(windows):
        calls = 0
        start = time.perf_counter()
        deadline = start + seconds / windows
        while True:
            fn()
            calls += 1
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, calls / (now - start))
    return best


def _paired_rates(
    first: Callable[[], object], second: Callable[[], object], seconds: float
) -> tuple[float, float]:
    """Best rates of two functions measured in alternating windows, for a ratio load cannot skew."""
    a = b = 0.0
    for _ in range(WINDOWS):
        a = max(a, _rate(first, seconds / WINDOWS, windows=1))
        b = max(b, _rate(second, seconds / WINDOWS, windows=1))
    return a, b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement of our matcher")
    parser.add_argument("--peer-seconds", type=float, default=1.5, help="time box per peer measurement")
    args = parser.parse_args()

    from moto.events.models import EventPattern

    localstack_match, localstack_note = _load_localstack()
    print(f"LocalStack matcher: {localstack_note}")
    child, parent = batch_events()
    events = {"child": child, "parent": parent}
    all_rules = [("seed-parent-only", seed_rule()), *generate_rules(999, args.seed)]
    results: dict[tuple[int, str], dict[str, float]] = {}
    disagreements: list[str] = []
    matchers: dict[int, RuleMatcher] = {}

    for count in (1, 10, 100, 1000):
        rules = all_rules[:count]
        matcher = RuleMatcher()
        matcher.add_many(rules)
        matchers[count] = matcher
        texts = [(rid, json.dumps(p)) for rid, p in rules]
        moto_rules: list[tuple[str, Any]] = [(rid, EventPattern.load(text)) for rid, text in texts]
        for label, event in events.items():
            event_text = json.dumps(event)
            ours = set(matcher.match(event))
            moto_set = {rid for rid, p in moto_rules if p.matches_event(event)}
            engines = {"moto": moto_set}
            if localstack_match is not None:
                engines["localstack"] = {rid for rid, text in texts if localstack_match(text, event_text)}
            for name, got in engines.items():
                if got != ours:
                    disagreements.append(
                        f"{count} rules, {label} event: {name} differs (only ours: {sorted(ours - got)[:5]}, "
                        f"only {name}: {sorted(got - ours)[:5]})"
                    )
            row = {"matched": float(len(ours))}
            row["ours"] = _rate(partial(matcher.match, event), args.seconds)
            row["moto"] = _rate(partial(_moto_all, moto_rules, event), args.peer_seconds)
            if localstack_match is not None:
                row["localstack"] = _rate(
                    partial(_localstack_all, localstack_match, texts, event_text), args.peer_seconds
                )
            results[(count, label)] = row

    print()
    print(
        f"{'rules':>6} {'event':>7} {'matched':>7} {'ours ev/s':>12} {'moto ev/s':>11} "
        f"{'localstack ev/s':>16}"
    )
    for (count, label), row in results.items():
        ls = f"{row['localstack']:16.1f}" if "localstack" in row else f"{'n/a':>16}"
        print(f"{count:>6} {label:>7} {int(row['matched']):>7} {row['ours']:12.0f} {row['moto']:11.1f} {ls}")
    print()
    for label in events:
        at_1000 = results[(1000, label)]
        ratio = at_1000["ours"] / at_1000["moto"]
        event = events[label]
        one, thousand_rate = _paired_rates(
            partial(matchers[1].match, event), partial(matchers[1000].match, event), args.seconds
        )
        flat = thousand_rate / one
        line = f"{label}: ours/moto at 1000 rules = {ratio:,.0f}x (target >= 1000x); "
        line += f"ours at 1000 rules / ours at 1 rule = {flat:.2f} (target >= 0.25, measured interleaved)"
        if "localstack" in at_1000:
            line += f"; ours/localstack at 1000 rules = {at_1000['ours'] / at_1000['localstack']:,.0f}x"
        print(line)
    s3_only = RuleMatcher()
    s3_only.add_many(generate_rules(1, args.seed))
    print()
    for label, event in events.items():
        rate_s3, rate_1000 = _paired_rates(
            partial(s3_only.match, event), partial(matchers[1000].match, event), args.seconds
        )
        print(
            f"{label}: former 1-rule baseline (first generated rule, aws.s3) {rate_s3:,.0f} ev/s; "
            f"ours at 1000 rules / that = {rate_1000 / rate_s3:.2f} (interleaved)"
        )
    thousand = RuleMatcher()
    thousand.add_many(all_rules)
    fresh = fresh_children(child, 20_000)
    position = [0]

    def next_fresh() -> object:
        i = position[0]
        position[0] = i + 1 if i + 1 < len(fresh) else 0
        return thousand.match(fresh[i])

    fresh_rate = _rate(next_fresh, args.seconds)
    print(f"child events with a new job name and id each time, 1000 rules: {fresh_rate:,.0f} ev/s")
    print("engines agree on every matching set" if not disagreements else "DISAGREEMENTS:")
    for item in disagreements:
        print("  " + item)

    big = generate_rules(10_000, args.seed + 1)
    matcher = RuleMatcher()
    start = time.perf_counter()
    for rid, pattern in big:
        matcher.add(rid, pattern)
    add_one = time.perf_counter() - start
    start = time.perf_counter()
    RuleMatcher().add_many(big)
    add_many = time.perf_counter() - start
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    held = RuleMatcher()
    held.add_many(big)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    rate = _rate(lambda: held.match(child), args.seconds)
    print()
    print(
        f"10,000 rules: add() one by one {add_one:.2f} s, add_many() {add_many:.2f} s, "
        f"memory {(after - before) / 2**20:.1f} MiB (tracemalloc), child event {rate:,.0f} ev/s"
    )


if __name__ == "__main__":
    main()
