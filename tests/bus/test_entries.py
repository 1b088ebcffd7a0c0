"""PutEvents entry validation and envelopes."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from batchbridge.bus.entries import (
    MAX_TOTAL_BYTES,
    check_entry,
    check_request,
    entry_size,
    event_from_entry,
    scheduled_event,
)
from batchbridge.errors import ValidationException

GOOD = {"Source": "my.app", "DetailType": "thing", "Detail": '{"a": 1}'}


@pytest.mark.parametrize("missing", ["Source", "DetailType", "Detail"])
def test_missing_member_is_invalid_argument(missing: str) -> None:
    entry = {k: v for k, v in GOOD.items() if k != missing}
    error = check_entry(entry)
    assert error is not None
    assert error.to_result() == {
        "ErrorCode": "InvalidArgument",
        "ErrorMessage": f"Parameter {missing} is not valid. Reason: {missing} is a required argument.",
    }


@pytest.mark.parametrize("detail", ["detail", "[1, 2]", '"text"', "3"])
def test_detail_must_be_a_json_object(detail: str) -> None:
    error = check_entry({**GOOD, "Detail": detail})
    assert error is not None and (error.code, error.message) == ("MalformedDetail", "Detail is malformed.")


def test_aws_sources_are_reserved() -> None:
    error = check_entry({**GOOD, "Source": "aws.batch"})
    assert error is not None and error.code == "NotAuthorizedForSourceException"


def test_valid_entry() -> None:
    assert check_entry(GOOD) is None


def test_entry_size_as_aws_computes_it() -> None:
    entry = {**GOOD, "Resources": ["arn:x", "é"], "Time": datetime(2024, 1, 1, tzinfo=UTC)}
    assert entry_size(entry) == 14 + 6 + 5 + 8 + 5 + 2


def test_request_limits() -> None:
    check_request([GOOD] * 10)
    with pytest.raises(ValidationException, match="less than or equal to 10"):
        check_request([GOOD] * 11)
    with pytest.raises(ValidationException, match="greater than or equal to 1"):
        check_request([])
    big = {**GOOD, "Detail": json.dumps({"x": "y" * (MAX_TOTAL_BYTES // 2)})}
    with pytest.raises(ValidationException, match="over the limit"):
        check_request([big, big])


def test_envelope_shape_and_order() -> None:
    now = datetime(2024, 5, 6, 7, 8, 9, 999_000, tzinfo=UTC)
    event = event_from_entry({**GOOD, "Resources": ["r1"]}, "123456789012", "eu-west-1", now)
    assert list(event) == [
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    ]
    assert event["time"] == "2024-05-06T07:08:09Z"
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", event["id"])
    assert (event["version"], event["account"], event["region"]) == ("0", "123456789012", "eu-west-1")
    assert event["resources"] == ["r1"] and event["detail"] == {"a": 1}


def test_entry_time_is_converted_to_utc() -> None:
    when = datetime(2024, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    event = event_from_entry({**GOOD, "Time": when}, "1", "r", datetime.now(UTC))
    assert event["time"] == "2024-01-01T10:00:00Z"


def test_scheduled_event() -> None:
    event = scheduled_event("arn:rule", "1", "r", datetime(2024, 1, 1, tzinfo=UTC))
    assert (event["source"], event["detail-type"], event["resources"], event["detail"]) == (
        "aws.events",
        "Scheduled Event",
        ["arn:rule"],
        {},
    )
