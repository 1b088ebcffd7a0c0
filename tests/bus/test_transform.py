"""Target input forms, with the examples of AWS's input transformation guide."""

from __future__ import annotations

import json
from typing import Any

import pytest

from batchbridge.bus.transform import RuleInfo, render_input, render_template, select, validate_target_input
from batchbridge.errors import ValidationException

EC2_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "123456789012",
    "time": "2015-11-11T21:29:54Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
    "detail": {"instance-id": "i-0123456789", "state": "RUNNING"},
}
RULE = RuleInfo("arn:aws:events:us-east-1:123456789012:rule/my-rule", "my-rule")
PATHS = {"instance": "$.detail.instance-id", "state": "$.detail.state"}


def render(template: str, paths: dict[str, str] | None = None) -> str:
    return render_template(
        template, PATHS if paths is None else paths, EC2_EVENT, RULE, "2015-11-11T21:29:55Z"
    )


def test_string_template_inserts_raw_text() -> None:
    assert render('"instance <instance> is in <state>"') == '"instance i-0123456789 is in RUNNING"'


def test_json_template_quotes_unquoted_strings() -> None:
    out = render('{"instance": <instance>, "state": <state>}')
    assert json.loads(out) == {"instance": "i-0123456789", "state": "RUNNING"}


def test_json_template_mixing_quoted_and_unquoted() -> None:
    out = render('{"myInstance": <instance>,"myStatus": "<instance> is in state \\"<state>\\""}')
    assert json.loads(out) == {"myInstance": "i-0123456789", "myStatus": 'i-0123456789 is in state "RUNNING"'}


def test_object_in_string_loses_inner_quotes() -> None:
    out = render('"Detail is <detail>"', {"detail": "$.detail"})
    assert out == '"Detail is {instance-id:i-0123456789,state:RUNNING}"'


def test_object_as_value_is_json() -> None:
    out = render('{"d": <detail>}', {"detail": "$.detail"})
    assert json.loads(out) == {"d": EC2_EVENT["detail"]}


def test_predefined_variables() -> None:
    out = render(
        '{"arn": <aws.events.rule-arn>, "name": "<aws.events.rule-name>",'
        ' "t": <aws.events.event.ingestion-time>,'
        ' "e": <aws.events.event>, "j": <aws.events.event.json>}',
        {},
    )
    data = json.loads(out)
    assert data["arn"] == RULE.arn and data["name"] == "my-rule" and data["t"] == "2015-11-11T21:29:55Z"
    assert "detail" not in data["e"] and data["e"]["id"] == EC2_EVENT["id"]
    assert data["j"] == EC2_EVENT


def test_missing_path_is_null_outside_and_empty_inside_strings() -> None:
    out = render('{"a": <gone>, "b": "x<gone>y"}', {"gone": "$.detail.nothing"})
    assert json.loads(out) == {"a": None, "b": "xy"}


def test_unknown_placeholder_is_left_as_written() -> None:
    assert render('"<nope> and <state>"') == '"<nope> and RUNNING"'


def test_numbers_and_booleans_keep_their_type() -> None:
    event = {"detail": {"n": 3, "ok": True}}
    out = render_template(
        '{"n": <n>, "s": "<n>", "ok": <ok>}', {"n": "$.detail.n", "ok": "$.detail.ok"}, event, RULE, "t"
    )
    assert json.loads(out) == {"n": 3, "s": "3", "ok": True}


def test_select_subset() -> None:
    assert select("$", EC2_EVENT) is EC2_EVENT
    assert select("$.resources[0]", EC2_EVENT) == EC2_EVENT["resources"][0]
    assert select("$.detail.instance-id", EC2_EVENT) == "i-0123456789"


def test_render_input_forms() -> None:
    assert json.loads(render_input({}, EC2_EVENT, RULE, "t")) == EC2_EVENT
    assert render_input({"Input": '{"k": 1}'}, EC2_EVENT, RULE, "t") == b'{"k": 1}'
    assert json.loads(render_input({"InputPath": "$.detail"}, EC2_EVENT, RULE, "t")) == EC2_EVENT["detail"]
    assert render_input({"InputPath": "$.detail.none"}, EC2_EVENT, RULE, "t") == b"null"
    transformer = {"InputTransformer": {"InputPathsMap": PATHS, "InputTemplate": '"<instance>"'}}
    assert render_input(transformer, EC2_EVENT, RULE, "t") == b'"i-0123456789"'


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        ({"Input": "{}", "InputPath": "$"}, "Only one of Input, InputPath, or InputTransformer"),
        ({"Input": "{not json"}, "Targets[0].Input"),
        ({"InputPath": "detail"}, "Targets[0].InputPath"),
        ({"InputTransformer": {"InputTemplate": ""}}, "InputTemplate"),
        ({"InputTransformer": {"InputTemplate": "x", "InputPathsMap": {"aws.x": "$"}}}, "aws.x"),
        ({"InputTransformer": {"InputTemplate": "x", "InputPathsMap": {"a": "$..b"}}}, "$..b"),
        (
            {"InputTransformer": {"InputTemplate": "x", "InputPathsMap": {f"k{i}": "$" for i in range(101)}}},
            "at most 100",
        ),
    ],
)
def test_invalid_target_input_names_the_field(target: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationException) as info:
        validate_target_input(target, "Targets[0]")
    assert fragment in info.value.message
