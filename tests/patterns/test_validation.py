"""Validation: AWS's reason texts, Jackson-style locations, and the limits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from batchbridge.errors import PatternError
from batchbridge.patterns import (
    MAX_PATTERN_LENGTH,
    LocatedPatternError,
    compile_pattern,
    format_invalid_pattern_message,
    validate,
)

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "cases" / "invalid_patterns.json").read_text()
)


@pytest.mark.parametrize("case", CASES, ids=[c["reason"][:40] + " " + c["pattern"][:20] for c in CASES])
def test_reason_text(case: dict[str, Any]) -> None:
    with pytest.raises(PatternError) as info:
        validate(case["pattern"])
    assert info.value.reason == case["reason"]


def _located(text: str) -> LocatedPatternError:
    with pytest.raises(LocatedPatternError) as info:
        validate(text)
    return info.value


def test_location_after_closing_bracket() -> None:
    text = '{"resources": []}'
    err = _located(text)
    assert (err.line, err.column) == (1, 17)
    assert format_invalid_pattern_message(text, err) == (
        "Event pattern is not valid. Reason: Empty arrays are not allowed\n"
        ' at [Source: (String)"{"resources": []}"; line: 1, column: 17]'
    )


def test_location_of_a_string_value_is_after_its_opening_quote() -> None:
    # AWS answered this pattern with: "slug" must be an object or an array ... line: 5, column: 16
    text = (
        '{\n  "detail-type": [ "Build Started", "Build Finished" ],\n  "detail": {\n'
        '    "pipeline": {\n      "slug": "some-pipeline"\n    }\n  }\n}'
    )
    err = _located(text)
    assert err.reason == '"slug" must be an object or an array'
    assert (err.line, err.column) == (5, 16)


def test_location_after_a_read_string_value() -> None:
    err = _located('{"a": [{"cidr": "bad"}]}')
    assert err.reason == "Malformed CIDR, one '/' required"
    assert err.column == len('{"a": [{"cidr": "bad"') + 1


def test_location_of_a_number_value_is_after_the_number() -> None:
    err = _located('{"int": 42}')
    assert (err.reason, err.column) == ('"int" must be an object or an array', 11)


def test_long_source_is_truncated_like_jackson() -> None:
    text = '{"a": [' + ", ".join(['"x"'] * 200) + "]"
    err = _located(text)
    message = format_invalid_pattern_message(text, err)
    assert f"[truncated {len(text) - 500} chars]" in message
    assert text[:500] in message


def test_message_without_location_for_service_side_checks() -> None:
    text = json.dumps({"a": [{"wildcard": "*:*:*:*:*:event-bus/*"}]})
    with pytest.raises(PatternError) as info:
        validate(text)
    assert not isinstance(info.value, LocatedPatternError)
    assert format_invalid_pattern_message(text, info.value) == (
        "Event pattern is not valid. Reason: Rule is too complex - try using fewer wildcard characters "
        "or fewer repeating character sequences after a wildcard character"
    )


def test_pattern_length_limit() -> None:
    ok = '{"a": ["' + "x" * (MAX_PATTERN_LENGTH - 11) + '"]}'
    assert len(ok) == MAX_PATTERN_LENGTH
    validate(ok)
    with pytest.raises(PatternError) as info:
        validate('{"a": ["' + "x" * (MAX_PATTERN_LENGTH - 10) + '"]}')
    assert "4096" in info.value.reason


def test_or_combinations_limit() -> None:
    def ors(n: int) -> dict[str, Any]:
        return {"$or": [{f"k{n}a": ["x"]}, {f"k{n}b": ["y"]}]}

    nine = {f"l{i}": ors(i) for i in range(9)}  # 2**9 = 512 combinations
    assert len(compile_pattern(nine).branches) == 512
    ten = {f"l{i}": ors(i) for i in range(10)}  # 1024 combinations
    with pytest.raises(PatternError) as info:
        validate(ten)
    assert "1000" in info.value.reason


def test_trailing_text_after_the_pattern_is_ignored() -> None:
    validate('{"a": ["x"]} trailing')


def test_mapping_with_unserialisable_value_is_a_clear_error() -> None:
    with pytest.raises(PatternError) as info:
        validate({"a": [object()]})
    assert "not valid JSON" in info.value.reason


def test_duplicate_keys_last_wins_even_across_object_and_array() -> None:
    compiled = compile_pattern('{"a": {"b": ["x"]}, "a": ["y"]}')
    assert sorted(compiled.paths) == ["a", "a.b"]
    compiled = compile_pattern('{"a": ["x"], "a": ["y"]}')
    assert compiled.branches[0][0].conditions[0].describe() == '"y"'
