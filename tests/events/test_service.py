"""EventBridge operations called in-process: buses, rules, targets, tags, PutEvents, TestEventPattern."""

from __future__ import annotations

import json
from typing import Any

import pytest

from batchbridge.errors import ServiceError
from batchbridge.services.context import RequestContext
from batchbridge.services.events import EventsService
from batchbridge.store import deliveries as ds
from batchbridge.store.db import Database

PATTERN = json.dumps({"source": ["my.app"]})
LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:f"


def error_of(call: Any, *args: Any) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        call(*args)
    return info.value


def test_default_bus_exists_and_cannot_be_deleted(events: EventsService, ctx: RequestContext) -> None:
    bus = events.DescribeEventBus(ctx, {})
    assert bus["Name"] == "default"
    assert bus["Arn"] == "arn:aws:events:us-east-1:123456789012:event-bus/default"
    err = error_of(events.DeleteEventBus, ctx, {"Name": "default"})
    assert (err.code, err.message) == ("ValidationException", "Cannot delete event bus default.")


def test_custom_bus_lifecycle(events: EventsService, ctx: RequestContext) -> None:
    out = events.CreateEventBus(
        ctx, {"Name": "orders", "Description": "d", "Tags": [{"Key": "k", "Value": "v"}]}
    )
    assert out["EventBusArn"].endswith(":event-bus/orders")
    err = error_of(events.CreateEventBus, ctx, {"Name": "orders"})
    assert (err.code, err.message) == ("ResourceAlreadyExistsException", "Event bus orders already exists.")
    names = [b["Name"] for b in events.ListEventBuses(ctx, {})["EventBuses"]]
    assert names == ["default", "orders"]
    assert events.ListTagsForResource(ctx, {"ResourceARN": out["EventBusArn"]})["Tags"] == [
        {"Key": "k", "Value": "v"}
    ]
    by_arn = events.DescribeEventBus(ctx, {"Name": out["EventBusArn"]})
    assert by_arn["Name"] == "orders" and by_arn["Description"] == "d"
    events.DeleteEventBus(ctx, {"Name": "orders"})
    err = error_of(events.DescribeEventBus, ctx, {"Name": "orders"})
    assert (err.code, err.message) == ("ResourceNotFoundException", "Event bus orders does not exist.")


def test_put_rule_requires_pattern_or_schedule(events: EventsService, ctx: RequestContext) -> None:
    err = error_of(events.PutRule, ctx, {"Name": "r"})
    assert err.message == "Parameter(s) EventPattern or ScheduleExpression must be specified."


def test_bad_pattern_and_schedule_answers(events: EventsService, ctx: RequestContext) -> None:
    err = error_of(events.PutRule, ctx, {"Name": "r", "EventPattern": '{"source": []}'})
    assert err.code == "InvalidEventPatternException"
    assert err.message.startswith("Event pattern is not valid. Reason: ")
    err = error_of(events.PutRule, ctx, {"Name": "r", "ScheduleExpression": "rate(1 minutes)"})
    assert (err.code, err.message) == ("ValidationException", "Parameter ScheduleExpression is not valid.")
    events.CreateEventBus(ctx, {"Name": "b"})
    err = error_of(
        events.PutRule, ctx, {"Name": "r", "EventBusName": "b", "ScheduleExpression": "rate(5 minutes)"}
    )
    assert err.message == "ScheduleExpression is supported only on the default event bus."


def test_rule_arns_describe_and_state(events: EventsService, ctx: RequestContext) -> None:
    arn = events.PutRule(ctx, {"Name": "r1", "EventPattern": PATTERN, "Description": "x"})["RuleArn"]
    assert arn == "arn:aws:events:us-east-1:123456789012:rule/r1"
    events.CreateEventBus(ctx, {"Name": "b"})
    other = events.PutRule(ctx, {"Name": "r1", "EventBusName": "b", "EventPattern": PATTERN})["RuleArn"]
    assert other == "arn:aws:events:us-east-1:123456789012:rule/b/r1"
    described = events.DescribeRule(ctx, {"Name": "r1"})
    assert described["EventPattern"] == PATTERN and described["State"] == "ENABLED"
    assert described["EventBusName"] == "default" and described["Description"] == "x"
    events.DisableRule(ctx, {"Name": "r1"})
    assert events.DescribeRule(ctx, {"Name": "r1"})["State"] == "DISABLED"
    events.EnableRule(ctx, {"Name": "r1"})
    assert events.DescribeRule(ctx, {"Name": "r1"})["State"] == "ENABLED"
    err = error_of(events.DescribeRule, ctx, {"Name": "nope"})
    assert (err.code, err.message) == (
        "ResourceNotFoundException",
        "Rule nope does not exist on EventBus default.",
    )
    err = error_of(events.DisableRule, ctx, {"Name": "nope", "EventBusName": "b"})
    assert err.message == "Rule nope does not exist on EventBus b."


def test_list_rules_pages_in_creation_order(events: EventsService, ctx: RequestContext) -> None:
    for name in ["c", "a", "b", "x1", "x2"]:
        events.PutRule(ctx, {"Name": name, "EventPattern": PATTERN})
    first = events.ListRules(ctx, {"Limit": 2})
    assert [r["Name"] for r in first["Rules"]] == ["c", "a"]
    second = events.ListRules(ctx, {"Limit": 2, "NextToken": first["NextToken"]})
    assert [r["Name"] for r in second["Rules"]] == ["b", "x1"]
    third = events.ListRules(ctx, {"Limit": 2, "NextToken": second["NextToken"]})
    assert [r["Name"] for r in third["Rules"]] == ["x2"] and "NextToken" not in third
    assert [r["Name"] for r in events.ListRules(ctx, {"NamePrefix": "x"})["Rules"]] == ["x1", "x2"]
    err = error_of(events.ListRules, ctx, {"NextToken": "garbage"})
    assert err.code == "ValidationException" and "NextToken" in err.message


def test_targets_and_delete_rule(events: EventsService, ctx: RequestContext) -> None:
    events.PutRule(ctx, {"Name": "r", "EventPattern": PATTERN})
    out = events.PutTargets(
        ctx,
        {
            "Rule": "r",
            "Targets": [
                {"Id": "t1", "Arn": LAMBDA, "InputPath": "$.detail"},
                {"Id": "t2", "Arn": LAMBDA, "RetryPolicy": {"MaximumRetryAttempts": 3}},
            ],
        },
    )
    assert out == {"FailedEntryCount": 0, "FailedEntries": []}
    listed = events.ListTargetsByRule(ctx, {"Rule": "r"})["Targets"]
    assert listed == [
        {"Id": "t1", "Arn": LAMBDA, "InputPath": "$.detail"},
        {"Id": "t2", "Arn": LAMBDA, "RetryPolicy": {"MaximumRetryAttempts": 3}},
    ]
    assert events.ListRuleNamesByTarget(ctx, {"TargetArn": LAMBDA})["RuleNames"] == ["r"]
    err = error_of(events.DeleteRule, ctx, {"Name": "r"})
    assert (err.code, err.message) == ("ValidationException", "Rule can't be deleted since it has targets.")
    events.RemoveTargets(ctx, {"Rule": "r", "Ids": ["t1", "t2"]})
    events.DeleteRule(ctx, {"Name": "r"})
    assert events.ListRules(ctx, {})["Rules"] == []


def test_put_targets_validation(events: EventsService, ctx: RequestContext) -> None:
    err = error_of(events.PutTargets, ctx, {"Rule": "none", "Targets": [{"Id": "t", "Arn": LAMBDA}]})
    assert err.message == "Rule none does not exist on EventBus default."
    events.PutRule(ctx, {"Name": "r", "EventPattern": PATTERN})
    bad_input = {"Rule": "r", "Targets": [{"Id": "t", "Arn": LAMBDA, "Input": "{x"}]}
    assert "Targets[0].Input" in error_of(events.PutTargets, ctx, bad_input).message
    bad_retry = {
        "Rule": "r",
        "Targets": [{"Id": "t", "Arn": LAMBDA, "RetryPolicy": {"MaximumRetryAttempts": 200}}],
    }
    assert "maximumRetryAttempts" in error_of(events.PutTargets, ctx, bad_retry).message
    six = {"Rule": "r", "Targets": [{"Id": f"t{i}", "Arn": LAMBDA} for i in range(6)]}
    assert error_of(events.PutTargets, ctx, six).code == "LimitExceededException"


def test_test_event_pattern(events: EventsService, ctx: RequestContext) -> None:
    event = {
        "id": "1",
        "account": "123456789012",
        "source": "my.app",
        "time": "2024-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail-type": "x",
        "detail": {},
    }
    assert events.TestEventPattern(ctx, {"EventPattern": PATTERN, "Event": json.dumps(event)}) == {
        "Result": True
    }
    other = {**event, "source": "other"}
    assert events.TestEventPattern(ctx, {"EventPattern": PATTERN, "Event": json.dumps(other)}) == {
        "Result": False
    }
    partial = {k: v for k, v in event.items() if k != "region"}
    err = error_of(events.TestEventPattern, ctx, {"EventPattern": PATTERN, "Event": json.dumps(partial)})
    assert (err.code, err.message) == ("ValidationException", "Parameter Event is not valid.")


def test_put_events_records_good_entries_only(
    events: EventsService, ctx: RequestContext, db: Database
) -> None:
    out = events.PutEvents(
        ctx,
        {
            "Entries": [
                {"Source": "my.app", "DetailType": "t", "Detail": '{"a": 1}'},
                {"Source": "my.app", "DetailType": "t"},
                {"Source": "my.app", "DetailType": "t", "Detail": "{}", "EventBusName": "missing"},
            ]
        },
    )
    assert out["FailedEntryCount"] == 2
    assert set(out["Entries"][0]) == {"EventId"}
    assert out["Entries"][1]["ErrorCode"] == "InvalidArgument"
    assert out["Entries"][2] == {
        "ErrorCode": "ResourceNotFoundException",
        "ErrorMessage": "Event bus missing does not exist.",
    }
    with db.read() as conn:
        logged = ds.recent_events(conn, "default", 0, 10)
    assert [e.event["id"] for e in logged] == [out["Entries"][0]["EventId"]]
    assert logged[0].event["detail"] == {"a": 1} and logged[0].event["account"] == "123456789012"


def test_tags_on_rules(events: EventsService, ctx: RequestContext) -> None:
    arn = events.PutRule(ctx, {"Name": "r", "EventPattern": PATTERN, "Tags": [{"Key": "a", "Value": "1"}]})[
        "RuleArn"
    ]
    events.TagResource(ctx, {"ResourceARN": arn, "Tags": [{"Key": "b", "Value": "2"}]})
    events.UntagResource(ctx, {"ResourceARN": arn, "TagKeys": ["a"]})
    assert events.ListTagsForResource(ctx, {"ResourceARN": arn})["Tags"] == [{"Key": "b", "Value": "2"}]
    missing = arn.replace("rule/r", "rule/zz")
    err = error_of(events.ListTagsForResource, ctx, {"ResourceARN": missing})
    assert err.message == "Rule zz does not exist on EventBus default."
