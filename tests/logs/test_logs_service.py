"""The Logs service called in-process with a real database: AWS's rules and error texts."""

from __future__ import annotations

from typing import Any

import pytest

from batchbridge.errors import ResourceAlreadyExistsException, ResourceNotFoundException, ServiceError
from batchbridge.services.context import RequestContext
from batchbridge.services.logs import LogsService, parse_filter_pattern

from .conftest import T0, FakeClock

NOW_MS = int(T0 * 1000)


def _setup(logs: LogsService, ctx: RequestContext, group: str = "/aws/batch/job", stream: str = "s") -> None:
    logs.CreateLogGroup(ctx, {"logGroupName": group})
    logs.CreateLogStream(ctx, {"logGroupName": group, "logStreamName": stream})


def _put(logs: LogsService, ctx: RequestContext, messages: list[str], **kw: Any) -> dict[str, Any]:
    events = [{"timestamp": NOW_MS + i, "message": m} for i, m in enumerate(messages)]
    params = {"logGroupName": kw.get("group", "/aws/batch/job"), "logStreamName": kw.get("stream", "s")}
    return logs.PutLogEvents(ctx, {**params, "logEvents": events})


def test_create_group_twice_is_resource_already_exists(logs: LogsService, ctx: RequestContext) -> None:
    logs.CreateLogGroup(ctx, {"logGroupName": "app"})
    with pytest.raises(ResourceAlreadyExistsException) as err:
        logs.CreateLogGroup(ctx, {"logGroupName": "app"})
    assert err.value.message == "The specified log group already exists"


@pytest.mark.parametrize(
    ("op", "params", "message"),
    [
        ("DeleteLogGroup", {"logGroupName": "nope"}, "The specified log group does not exist."),
        (
            "CreateLogStream",
            {"logGroupName": "nope", "logStreamName": "s"},
            "The specified log group does not exist.",
        ),
        (
            "GetLogEvents",
            {"logGroupName": "app", "logStreamName": "nope"},
            "The specified log stream does not exist.",
        ),
        (
            "DeleteLogStream",
            {"logGroupName": "app", "logStreamName": "nope"},
            "The specified log stream does not exist.",
        ),
        (
            "PutLogEvents",
            {
                "logGroupName": "app",
                "logStreamName": "nope",
                "logEvents": [{"timestamp": NOW_MS, "message": "m"}],
            },
            "The specified log stream does not exist.",
        ),
    ],
)
def test_missing_resources_answer_aws_texts(
    logs: LogsService, ctx: RequestContext, op: str, params: dict[str, Any], message: str
) -> None:
    logs.CreateLogGroup(ctx, {"logGroupName": "app"})
    with pytest.raises(ResourceNotFoundException) as err:
        getattr(logs, op)(ctx, params)
    assert err.value.message == message


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"logGroupName": "bad name"}, "logGroupName"),
        ({"logGroupName": "x" * 513}, "logGroupName"),
        ({"logGroupName": "ok", "logStreamName": "a:b"}, "logStreamName"),
        ({"logGroupName": "ok", "logStreamName": "a*"}, "logStreamName"),
    ],
)
def test_bad_names_are_invalid_parameter_naming_the_field(
    logs: LogsService, ctx: RequestContext, params: dict[str, Any], field: str
) -> None:
    op = logs.CreateLogStream if "logStreamName" in params else logs.CreateLogGroup
    if "logStreamName" in params:
        logs.CreateLogGroup(ctx, {"logGroupName": "ok"})
    with pytest.raises(ServiceError) as err:
        op(ctx, params)
    assert err.value.code == "InvalidParameterException"
    assert f"at '{field}'" in err.value.message


def test_describe_log_groups_prefix_and_paging(logs: LogsService, ctx: RequestContext) -> None:
    for name in ["/aws/lambda/a", "/aws/lambda/b", "/aws/lambda/c", "/aws/batch/job"]:
        logs.CreateLogGroup(ctx, {"logGroupName": name})
    page = logs.DescribeLogGroups(ctx, {"logGroupNamePrefix": "/aws/lambda/", "limit": 2})
    assert [g["logGroupName"] for g in page["logGroups"]] == ["/aws/lambda/a", "/aws/lambda/b"]
    assert page["logGroups"][0]["arn"] == "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/a:*"
    rest = logs.DescribeLogGroups(
        ctx, {"logGroupNamePrefix": "/aws/lambda/", "limit": 2, "nextToken": page["nextToken"]}
    )
    assert [g["logGroupName"] for g in rest["logGroups"]] == ["/aws/lambda/c"]
    assert "nextToken" not in rest
    with pytest.raises(ServiceError) as err:
        logs.DescribeLogGroups(ctx, {"nextToken": "garbage"})
    assert err.value.code == "InvalidParameterException" and "nextToken" in err.value.message


def test_describe_log_streams_orders_and_pages(
    logs: LogsService, ctx: RequestContext, clock: FakeClock
) -> None:
    logs.CreateLogGroup(ctx, {"logGroupName": "g"})
    for name, offset in [("b", 3), ("a", 5), ("c", 1)]:
        logs.CreateLogStream(ctx, {"logGroupName": "g", "logStreamName": name})
        _put(logs, ctx, ["x"] * offset, group="g", stream=name)
    by_name = logs.DescribeLogStreams(ctx, {"logGroupName": "g"})
    assert [s["logStreamName"] for s in by_name["logStreams"]] == ["a", "b", "c"]
    assert by_name["logStreams"][0]["lastEventTimestamp"] == NOW_MS + 4
    by_time = logs.DescribeLogStreams(
        ctx, {"logGroupName": "g", "orderBy": "LastEventTime", "descending": True}
    )
    assert [s["logStreamName"] for s in by_time["logStreams"]] == ["a", "b", "c"]
    first = logs.DescribeLogStreams(ctx, {"logGroupName": "g", "orderBy": "LastEventTime", "limit": 2})
    assert [s["logStreamName"] for s in first["logStreams"]] == ["c", "b"]
    second = logs.DescribeLogStreams(
        ctx, {"logGroupName": "g", "orderBy": "LastEventTime", "limit": 2, "nextToken": first["nextToken"]}
    )
    assert [s["logStreamName"] for s in second["logStreams"]] == ["a"]
    with pytest.raises(ServiceError) as err:
        logs.DescribeLogStreams(
            ctx, {"logGroupName": "g", "orderBy": "LastEventTime", "logStreamNamePrefix": "a"}
        )
    assert err.value.code == "InvalidParameterException"


def test_put_log_events_rejects_unordered_batches(logs: LogsService, ctx: RequestContext) -> None:
    _setup(logs, ctx)
    events = [{"timestamp": NOW_MS + 5, "message": "b"}, {"timestamp": NOW_MS, "message": "a"}]
    with pytest.raises(ServiceError) as err:
        logs.PutLogEvents(ctx, {"logGroupName": "/aws/batch/job", "logStreamName": "s", "logEvents": events})
    assert err.value.code == "InvalidParameterException"
    assert "chronological order" in err.value.message


def test_put_log_events_rejects_a_span_over_24_hours(logs: LogsService, ctx: RequestContext) -> None:
    _setup(logs, ctx)
    events = [
        {"timestamp": NOW_MS - 25 * 3600 * 1000, "message": "old"},
        {"timestamp": NOW_MS, "message": "new"},
    ]
    with pytest.raises(ServiceError) as err:
        logs.PutLogEvents(ctx, {"logGroupName": "/aws/batch/job", "logStreamName": "s", "logEvents": events})
    assert "cannot span more than 24 hours" in err.value.message


def test_put_log_events_rejects_more_than_a_megabyte(logs: LogsService, ctx: RequestContext) -> None:
    _setup(logs, ctx)
    events = [{"timestamp": NOW_MS, "message": "x" * 200_000} for _ in range(6)]
    with pytest.raises(ServiceError) as err:
        logs.PutLogEvents(ctx, {"logGroupName": "/aws/batch/job", "logStreamName": "s", "logEvents": events})
    assert err.value.message.startswith("Upload too large: 1200156 bytes")


def test_put_log_events_reports_too_new_and_too_old(
    logs: LogsService, ctx: RequestContext, clock: FakeClock
) -> None:
    _setup(logs, ctx)
    clock.now = T0 + 14 * 86400 + 60
    now = int(clock.now * 1000)
    old = [
        {"timestamp": NOW_MS - 1000, "message": "too old"},
        {"timestamp": NOW_MS + 61_000, "message": "kept 1"},
    ]
    out = logs.PutLogEvents(ctx, {"logGroupName": "/aws/batch/job", "logStreamName": "s", "logEvents": old})
    assert out["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 0}
    assert out["nextSequenceToken"]
    new = [
        {"timestamp": now, "message": "kept 2"},
        {"timestamp": now + 3 * 3600 * 1000, "message": "too new"},
    ]
    out = logs.PutLogEvents(ctx, {"logGroupName": "/aws/batch/job", "logStreamName": "s", "logEvents": new})
    assert out["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 1}
    got = logs.GetLogEvents(ctx, {"logGroupName": "/aws/batch/job", "logStreamName": "s"})
    assert [e["message"] for e in got["events"]] == ["kept 1", "kept 2"]


def test_retention_rejects_expired_events_and_validates_days(
    logs: LogsService, ctx: RequestContext, clock: FakeClock
) -> None:
    _setup(logs, ctx)
    logs.PutRetentionPolicy(ctx, {"logGroupName": "/aws/batch/job", "retentionInDays": 1})
    clock.now = T0 + 86400 + 10
    events = [{"timestamp": NOW_MS, "message": "expired"}, {"timestamp": NOW_MS + 20_000, "message": "ok"}]
    out = logs.PutLogEvents(
        ctx, {"logGroupName": "/aws/batch/job", "logStreamName": "s", "logEvents": events}
    )
    assert out["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 0}
    groups = logs.DescribeLogGroups(ctx, {})["logGroups"]
    assert groups[0]["retentionInDays"] == 1
    with pytest.raises(ServiceError) as err:
        logs.PutRetentionPolicy(ctx, {"logGroupName": "/aws/batch/job", "retentionInDays": 4})
    assert err.value.code == "InvalidParameterException" and "retentionInDays" in err.value.message
    logs.DeleteRetentionPolicy(ctx, {"logGroupName": "/aws/batch/job"})
    assert "retentionInDays" not in logs.DescribeLogGroups(ctx, {})["logGroups"][0]


def test_sequence_token_advances(logs: LogsService, ctx: RequestContext) -> None:
    _setup(logs, ctx)
    a = _put(logs, ctx, ["1"])["nextSequenceToken"]
    b = _put(logs, ctx, ["2"])["nextSequenceToken"]
    assert a != b and int(b) > int(a)


def test_get_log_events_tokens(logs: LogsService, ctx: RequestContext) -> None:
    _setup(logs, ctx)
    _put(logs, ctx, [f"m{i}" for i in range(6)])
    base = {"logGroupName": "/aws/batch/job", "logStreamName": "s", "limit": 4}
    tail = logs.GetLogEvents(ctx, base)
    assert [e["message"] for e in tail["events"]] == ["m2", "m3", "m4", "m5"]
    assert tail["events"][0]["ingestionTime"] == NOW_MS
    head = logs.GetLogEvents(ctx, {**base, "startFromHead": True})
    assert [e["message"] for e in head["events"]] == ["m0", "m1", "m2", "m3"]
    back = logs.GetLogEvents(ctx, {**base, "nextToken": tail["nextBackwardToken"]})
    assert [e["message"] for e in back["events"]] == ["m0", "m1"]
    end = logs.GetLogEvents(ctx, {**base, "nextToken": tail["nextForwardToken"]})
    assert end["events"] == [] and end["nextForwardToken"] == tail["nextForwardToken"]
    with pytest.raises(ServiceError) as err:
        logs.GetLogEvents(ctx, {**base, "nextToken": "nonsense"})
    assert err.value.code == "InvalidParameterException" and "nextToken" in err.value.message


def test_get_log_events_accepts_group_identifier_arn(logs: LogsService, ctx: RequestContext) -> None:
    _setup(logs, ctx)
    _put(logs, ctx, ["hello"])
    arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/batch/job"
    got = logs.GetLogEvents(ctx, {"logGroupIdentifier": arn, "logStreamName": "s"})
    assert [e["message"] for e in got["events"]] == ["hello"]
    with pytest.raises(ServiceError) as err:
        logs.GetLogEvents(ctx, {"logStreamName": "s"})
    assert err.value.code == "InvalidParameterException"


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("", ["ERROR disk full", "WARN slow", "INFO ok", "ERROR Exiting now"]),
        ("ERROR", ["ERROR disk full", "ERROR Exiting now"]),
        ("ERROR -Exiting", ["ERROR disk full"]),
        ('"disk full"', ["ERROR disk full"]),
        ("?WARN ?INFO", ["WARN slow", "INFO ok"]),
        ("ERROR full", ["ERROR disk full"]),
        ("error", []),
    ],
)
def test_filter_log_events_terms(
    logs: LogsService, ctx: RequestContext, pattern: str, expected: list[str]
) -> None:
    _setup(logs, ctx)
    _put(logs, ctx, ["ERROR disk full", "WARN slow", "INFO ok", "ERROR Exiting now"])
    out = logs.FilterLogEvents(ctx, {"logGroupName": "/aws/batch/job", "filterPattern": pattern})
    assert [e["message"] for e in out["events"]] == expected
    assert out["searchedLogStreams"] == [{"logStreamName": "s", "searchedCompletely": True}]


@pytest.mark.parametrize("pattern", ['{ $.level = "ERROR" }', "[ip, user]", "%ERR.*%", '"unbalanced'])
def test_unsupported_filter_syntax_is_invalid_parameter(pattern: str) -> None:
    with pytest.raises(ServiceError) as err:
        parse_filter_pattern(pattern)
    assert err.value.code == "InvalidParameterException"
    assert "filter pattern" in err.value.message


def test_filter_log_events_streams_time_and_paging(logs: LogsService, ctx: RequestContext) -> None:
    _setup(logs, ctx, stream="job-1")
    logs.CreateLogStream(ctx, {"logGroupName": "/aws/batch/job", "logStreamName": "job-2"})
    logs.CreateLogStream(ctx, {"logGroupName": "/aws/batch/job", "logStreamName": "other"})
    for stream in ["job-1", "job-2", "other"]:
        _put(logs, ctx, [f"{stream} {i}" for i in range(5)], stream=stream)
    base = {"logGroupName": "/aws/batch/job", "logStreamNamePrefix": "job-", "limit": 4}
    first = logs.FilterLogEvents(ctx, base)
    assert len(first["events"]) == 4 and "nextToken" in first
    assert {s["logStreamName"] for s in first["searchedLogStreams"]} == {"job-1", "job-2"}
    second = logs.FilterLogEvents(ctx, {**base, "nextToken": first["nextToken"]})
    third = logs.FilterLogEvents(ctx, {**base, "nextToken": second["nextToken"]})
    assert "nextToken" not in third
    messages = [e["message"] for page in (first, second, third) for e in page["events"]]
    assert messages == [f"job-1 {i}" for i in range(5)] + [f"job-2 {i}" for i in range(5)]
    timed = logs.FilterLogEvents(
        ctx, {"logGroupName": "/aws/batch/job", "logStreamNames": ["other"], "startTime": NOW_MS + 3}
    )
    assert [e["message"] for e in timed["events"]] == ["other 3", "other 4"]
    assert timed["events"][0]["logStreamName"] == "other"


def test_tags_both_families(logs: LogsService, ctx: RequestContext) -> None:
    logs.CreateLogGroup(ctx, {"logGroupName": "g", "tags": {"team": "a"}})
    logs.TagLogGroup(ctx, {"logGroupName": "g", "tags": {"env": "dev"}})
    assert logs.ListTagsLogGroup(ctx, {"logGroupName": "g"})["tags"] == {"team": "a", "env": "dev"}
    arn = "arn:aws:logs:us-east-1:123456789012:log-group:g"
    logs.UntagResource(ctx, {"resourceArn": arn, "tagKeys": ["team"]})
    logs.TagResource(ctx, {"resourceArn": arn, "tags": {"x": "1"}})
    assert logs.ListTagsForResource(ctx, {"resourceArn": arn})["tags"] == {"env": "dev", "x": "1"}
    with pytest.raises(ResourceNotFoundException):
        logs.ListTagsLogGroup(ctx, {"logGroupName": "missing"})


def test_delete_stream_then_group(logs: LogsService, ctx: RequestContext) -> None:
    _setup(logs, ctx)
    _put(logs, ctx, ["x"])
    logs.DeleteLogStream(ctx, {"logGroupName": "/aws/batch/job", "logStreamName": "s"})
    assert logs.DescribeLogStreams(ctx, {"logGroupName": "/aws/batch/job"})["logStreams"] == []
    logs.DeleteLogGroup(ctx, {"logGroupName": "/aws/batch/job"})
    assert logs.DescribeLogGroups(ctx, {})["logGroups"] == []
