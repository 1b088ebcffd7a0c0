"""FunctionSpec validation names the member, as Lambda's errors do."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from batchbridge.functions import FunctionSpec, InvalidParameterValueException


def _spec(**overrides: Any) -> FunctionSpec:
    options: dict[str, Any] = {
        "name": "fn",
        "arn": "arn:aws:lambda:us-east-1:000000000000:function:fn",
        "handler": "app.handler",
        "code_dir": Path("/tmp/code"),
    }
    options.update(overrides)
    return FunctionSpec(**options)


def test_defaults_are_lambdas() -> None:
    spec = _spec()
    assert (spec.version, spec.timeout_seconds, spec.memory_mb) == ("$LATEST", 3.0, 128)
    assert spec.log_group_name == "/aws/lambda/fn"


def test_single_letter_keys_are_refused_as_on_aws() -> None:
    with pytest.raises(InvalidParameterValueException):
        _spec(environment={"A": "1"})


@pytest.mark.parametrize(
    ("overrides", "member"),
    [
        ({"timeout_seconds": 0}, "'timeout'"),
        ({"timeout_seconds": 901}, "'timeout'"),
        ({"memory_mb": 64}, "'memorySize'"),
        ({"memory_mb": 10241}, "'memorySize'"),
        ({"handler": "nodot"}, "'handler'"),
        ({"handler": "a b.c"}, "'handler'"),
        ({"runtime": "nodejs20.x"}, "'runtime'"),
        ({"name": "bad name"}, "'functionName'"),
        ({"reserved_concurrency": -1}, "'reservedConcurrentExecutions'"),
        ({"environment": {"1BAD": "x"}}, "'environment.variables'"),
    ],
)
def test_bad_values_name_the_member(overrides: dict[str, Any], member: str) -> None:
    with pytest.raises(InvalidParameterValueException) as caught:
        _spec(**overrides)
    assert member in caught.value.message
    assert caught.value.code == "InvalidParameterValueException"


def test_fingerprint_changes_with_any_update() -> None:
    spec = _spec(environment={"AB": "1"})
    assert spec.fingerprint == _spec(environment={"AB": "1"}).fingerprint
    for change in (
        {"environment": {"AB": "2"}},
        {"memory_mb": 256},
        {"code_dir": Path("/tmp/other")},
        {"revision_id": "r2"},
        {"handler": "app.other"},
    ):
        assert dataclasses.replace(spec, **change).fingerprint != spec.fingerprint
