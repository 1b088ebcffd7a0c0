"""Every target kind through the assembled server, with real boto3 clients.

EventBridge targets emulated (user guide "Targets", "Input transformation", "Event retry policy"):
Lambda, SQS, a Batch job queue (``BatchParameters``), a CloudWatch Logs group and another event
bus; ``Input``, ``InputPath`` and ``InputTransformer`` with the predefined ``aws.events.*``
variables; a failing Lambda retried within ``RetryPolicy`` and then dead-lettered with AWS's
message attributes.
"""

from __future__ import annotations

import json
import time
from typing import Any

from serverkit import unique, wait_for, zip_source

from batchbridge.bus.retry import Backoff

from .conftest import (
    ROLE,
    E2EServer,
    bodies,
    drain_queue,
    group_messages,
    handler_prints,
    make_queue,
    register_command,
    wait_job,
)


def sqs_queue(server: E2EServer, name: str | None = None) -> tuple[str, str]:
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName=name or unique("q"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return str(url), str(arn)


def function(server: E2EServer, source: str, **kwargs: Any) -> tuple[str, str]:
    name = unique("fn")
    out = server.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="lambda_function.handler",
        Code={"ZipFile": zip_source(source)},
        **kwargs,
    )
    return name, str(out["FunctionArn"])


def put_one(server: E2EServer, source: str, detail: dict[str, Any], bus: str = "default") -> str:
    out = server.client("events").put_events(
        Entries=[{"Source": source, "DetailType": "e2e", "Detail": json.dumps(detail), "EventBusName": bus}]
    )
    assert out["FailedEntryCount"] == 0, out
    return str(out["Entries"][0]["EventId"])


def rule(server: E2EServer, source: str, targets: list[dict[str, Any]], bus: str = "default") -> str:
    events = server.client("events")
    name = unique("rule")
    arn = events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps({"source": [source]}))[
        "RuleArn"
    ]
    assert events.put_targets(Rule=name, EventBusName=bus, Targets=targets)["FailedEntryCount"] == 0
    return str(arn)


def test_lambda_target_runs_the_handler_with_the_event(e2e_server: E2EServer) -> None:
    source = unique("e2e.lambda")
    name, arn = function(e2e_server, "def handler(event, context):\n    print('got', event['detail']['n'])\n")
    rule(e2e_server, source, [{"Id": "fn", "Arn": arn}])
    put_one(e2e_server, source, {"n": 41})
    logs = e2e_server.client("logs")
    assert wait_for(lambda: handler_prints(group_messages(logs, f"/aws/lambda/{name}"))) == ["got 41"]


def test_sqs_target_with_input_path_and_constant_input(e2e_server: E2EServer) -> None:
    source = unique("e2e.sqs")
    url, arn = sqs_queue(e2e_server)
    rule(
        e2e_server,
        source,
        [
            {"Id": "path", "Arn": arn, "InputPath": "$.detail"},
            {"Id": "const", "Arn": arn, "Input": '{"fixed": true}'},
        ],
    )
    put_one(e2e_server, source, {"colour": "red"})
    received = bodies(drain_queue(e2e_server.client("sqs"), url, expect=2))
    assert sorted(received, key=json.dumps) == sorted([{"colour": "red"}, {"fixed": True}], key=json.dumps)


def test_input_transformer_with_predefined_variables(e2e_server: E2EServer) -> None:
    source = unique("e2e.transform")
    url, arn = sqs_queue(e2e_server)
    template = (
        '{"rule": <aws.events.rule-name>, "arn": <aws.events.rule-arn>, '
        '"colour": <colour>, "text": "colour is <colour>", "event": <aws.events.event.json>}'
    )
    rule_arn = rule(
        e2e_server,
        source,
        [
            {
                "Id": "t",
                "Arn": arn,
                "InputTransformer": {
                    "InputPathsMap": {"colour": "$.detail.colour"},
                    "InputTemplate": template,
                },
            }
        ],
    )
    event_id = put_one(e2e_server, source, {"colour": "blue"})
    (body,) = bodies(drain_queue(e2e_server.client("sqs"), url, expect=1))
    assert body["rule"] == rule_arn.rsplit("/", 1)[1]
    assert body["arn"] == rule_arn
    assert body["colour"] == "blue" and body["text"] == "colour is blue"
    assert body["event"]["id"] == event_id and body["event"]["detail"] == {"colour": "blue"}


def test_logs_group_target_writes_the_event(e2e_server: E2EServer) -> None:
    source = unique("e2e.logs")
    logs = e2e_server.client("logs")
    group = f"/aws/events/{unique('g')}"
    logs.create_log_group(logGroupName=group)
    arn = f"arn:aws:logs:us-east-1:123456789012:log-group:{group}:*"
    rule(e2e_server, source, [{"Id": "logs", "Arn": arn}])
    event_id = put_one(e2e_server, source, {"k": "v"})
    messages = wait_for(lambda: group_messages(logs, group))
    assert [json.loads(m)["id"] for m in messages] == [event_id]
    assert logs.describe_log_streams(logGroupName=group)["logStreams"][0]["logStreamName"] == event_id


def test_event_bus_target_forwards_to_another_bus(e2e_server: E2EServer) -> None:
    events = e2e_server.client("events")
    source = unique("e2e.bus")
    other = unique("bus")
    bus_arn = events.create_event_bus(Name=other)["EventBusArn"]
    url, queue_arn = sqs_queue(e2e_server)
    rule(e2e_server, source, [{"Id": "q", "Arn": queue_arn}], bus=other)
    rule(e2e_server, source, [{"Id": "bus", "Arn": bus_arn}])
    event_id = put_one(e2e_server, source, {"hop": 1})
    (body,) = bodies(drain_queue(e2e_server.client("sqs"), url, expect=1))
    assert body["id"] == event_id and body["detail"] == {"hop": 1}


def test_batch_job_queue_target_submits_a_follow_up_when_the_array_ends(e2e_server: E2EServer) -> None:
    batch = e2e_server.client("batch")
    queue = make_queue(batch)
    work = register_command(batch, ["sh", "-c", "exit 0"])
    follow_up = register_command(batch, ["sh", "-c", "echo follow-up $AWS_BATCH_JOB_ARRAY_INDEX"])
    pattern = {
        "source": ["aws.batch"],
        "detail-type": ["Batch Job State Change"],
        "detail": {
            "jobDefinition": [work],
            "status": ["SUCCEEDED"],
            "container": {"containerInstanceArn": [{"exists": False}]},
        },
    }
    events = e2e_server.client("events")
    name = unique("then")
    events.put_rule(Name=name, EventPattern=json.dumps(pattern))
    events.put_targets(
        Rule=name,
        Targets=[
            {
                "Id": "next",
                "Arn": queue,
                "RoleArn": ROLE,
                "BatchParameters": {
                    "JobDefinition": follow_up,
                    "JobName": "follow-up",
                    "ArrayProperties": {"Size": 2},
                    "RetryStrategy": {"Attempts": 2},
                },
            }
        ],
    )
    parent = batch.submit_job(jobName="work", jobQueue=queue, jobDefinition=work, arrayProperties={"size": 3})
    assert wait_job(batch, parent["jobId"])["status"] == "SUCCEEDED"

    def submitted() -> list[dict[str, Any]]:
        listed = batch.list_jobs(jobQueue=queue, filters=[{"name": "JOB_NAME", "values": ["follow-up"]}])
        return list(listed["jobSummaryList"])

    (summary,) = wait_for(submitted)
    job = wait_job(batch, summary["jobId"])
    assert job["status"] == "SUCCEEDED"
    assert job["jobDefinition"] == follow_up
    assert job["arrayProperties"]["size"] == 2
    assert job["retryStrategy"]["attempts"] == 2
    time.sleep(0.5)
    assert len(submitted()) == 1


def test_failing_handler_is_retried_then_dead_lettered(e2e_server: E2EServer) -> None:
    assert e2e_server.app.parts is not None
    e2e_server.app.parts.eventbridge.dispatcher.backoff = Backoff(base=0.02, cap=0.05)
    source = unique("e2e.dlq")
    name, arn = function(
        e2e_server, "def handler(event, context):\n    print('try')\n    raise ValueError('no colour')\n"
    )
    dlq_url, dlq_arn = sqs_queue(e2e_server)
    rule_arn = rule(
        e2e_server,
        source,
        [
            {
                "Id": "fn",
                "Arn": arn,
                "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 60},
                "DeadLetterConfig": {"Arn": dlq_arn},
            }
        ],
    )
    event_id = put_one(e2e_server, source, {"bad": True})
    (message,) = drain_queue(e2e_server.client("sqs"), dlq_url, settle=1.0, expect=1)
    assert json.loads(message["Body"])["id"] == event_id
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "FunctionError"
    assert attributes["ERROR_MESSAGE"] == "ValueError: no colour"
    assert attributes["RULE_ARN"] == rule_arn
    assert attributes["TARGET_ARN"] == arn
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttemptsExhausted"
    assert attributes["RETRY_ATTEMPTS"] == "2"
    logs = e2e_server.client("logs")
    assert handler_prints(group_messages(logs, f"/aws/lambda/{name}")).count("try") == 3
