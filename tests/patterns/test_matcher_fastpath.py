"""The matcher's fast path: events read along the path trie, sealed tables, memos and field order."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchbridge.patterns import RuleMatcher, compile_pattern, matches
from batchbridge.patterns.machine import MEMO_LIMIT, ordered
from batchbridge.patterns.pathtrie import build_trie, guarded_paths, read
from batchbridge.patterns.values import flatten, value_key

SCALARS = st.one_of(
    st.sampled_from(["x", "xy", "X", "", "aws.batch", "Batch Job State Change", "10.0.0.1"]),
    st.integers(min_value=-2, max_value=2),
    st.sampled_from([1.0, 0.5]),
    st.booleans(),
    st.none(),
)
KEYS = ["source", "detail-type", "a", "a.b", "a.c", "z"]
CONDITIONS = st.one_of(
    SCALARS,
    st.sampled_from(
        [
            {"prefix": "x"},
            {"suffix": "y"},
            {"equals-ignore-case": "x"},
            {"numeric": [">", 0]},
            {"numeric": ["=", 1]},
            {"anything-but": "x"},
            {"exists": True},
            {"exists": False},
            {"wildcard": "*Change"},
            {"cidr": "10.0.0.0/24"},
        ]
    ),
)


def _nest(path: str, value: Any) -> dict[str, Any]:
    head, _, rest = path.partition(".")
    return {head: _nest(rest, value) if rest else value}


def _merge(into: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value
    return into


@st.composite
def patterns(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=3, unique=True))
    if "a" in keys and ("a.b" in keys or "a.c" in keys):
        keys.remove("a")
    body: dict[str, Any] = {}
    for key in keys:
        _merge(body, _nest(key, draw(st.lists(CONDITIONS, min_size=1, max_size=3))))
    return body


event_values = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.lists(st.lists(SCALARS, max_size=2), max_size=2),
)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {}
    for key in ("source", "detail-type", "z"):
        if draw(st.integers(0, 3)) > 0:
            event[key] = draw(event_values)
    shape = draw(st.integers(0, 4))
    if shape == 1:
        event["a"] = {"b": draw(event_values), "c": draw(event_values)}
    elif shape == 2:
        event["a.b"] = draw(event_values)
        event["a"] = {"c": draw(event_values)}
    elif shape == 3:
        event["a"] = draw(
            st.lists(
                st.one_of(SCALARS, st.dictionaries(st.sampled_from(["b", "c"]), event_values, max_size=2)),
                max_size=3,
            )
        )
    elif shape == 4:
        event["a"] = draw(event_values)
    return event


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(patterns(), min_size=1, max_size=8), st.lists(events(), min_size=1, max_size=4))
def test_matcher_agrees_with_matches_on_envelope_fields(
    rule_patterns: list[dict[str, Any]], evs: list[dict[str, Any]]
) -> None:
    matcher = RuleMatcher()
    matcher.add_many((f"r{i}", p) for i, p in enumerate(rule_patterns))
    for event in evs:
        expected = [f"r{i}" for i, p in enumerate(rule_patterns) if matches(p, event)]
        assert matcher.match(event) == expected
        assert matcher.match(event) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(patterns(), min_size=1, max_size=4), events())
def test_trie_reading_equals_flatten_when_no_memberships_are_needed(
    rule_patterns: list[dict[str, Any]], event: dict[str, Any]
) -> None:
    compiled = [compile_pattern(p) for p in rule_patterns]
    paths = frozenset().union(*(c.paths for c in compiled))
    guarded = set().union(*(guarded_paths(b) for c in compiled for b in c.branches))
    got = read(event, build_trie(paths, guarded))
    full = flatten(event, paths)
    if got is None:
        assert _containers_in_array_at(event, "", guarded)
        return
    assert {path: Counter(v if isinstance(v, list) else [v]) for path, v in got.items()} == {
        path: Counter(value_key(v) for v, _ in leaves) for path, leaves in full.items()
    }


def _containers_in_array_at(obj: dict[str, Any], base: str, guarded: set[str]) -> bool:
    """Whether an array holding an object or an array sits at one of the ``guarded`` paths."""
    for key, value in obj.items():
        path = base + key
        if isinstance(value, dict) and _containers_in_array_at(value, path + ".", guarded):
            return True
        if isinstance(value, list):
            if path in guarded and any(isinstance(item, dict | list) for item in value):
                return True
            for item in value:
                if isinstance(item, dict) and _containers_in_array_at(item, path + ".", guarded):
                    return True
    return False


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (["a.b", "a.c"], {"a"}),
        (["a", "a.b"], {"a"}),
        (["ab", "a.b"], set()),
        (["x.y.z", "x.y.w", "q"], {"x", "x.y"}),
        (["source", "detail-type", "detail.status"], set()),
        (["detail.status", "detail.attempts.container.exitCode"], {"detail"}),
    ],
)
def test_guarded_paths_are_the_shared_prefixes_of_two_fields(paths: list[str], expected: set[str]) -> None:
    (branch,) = compile_pattern({path: ["v"] for path in paths}).branches
    assert guarded_paths(branch) == expected


def test_array_of_objects_under_one_field_is_read_without_memberships() -> None:
    rule = {"source": ["aws.batch"], "detail": {"attempts": {"container": {"exitCode": [0]}}}}
    compiled = compile_pattern(rule)
    guarded = set().union(*(guarded_paths(b) for b in compiled.branches))
    event = {
        "source": "aws.batch",
        "detail": {"attempts": [{"container": {"exitCode": 1}}, {"container": {"exitCode": 0}}]},
    }
    leaves = read(event, build_trie(compiled.paths, guarded))
    assert leaves == {"source": "aws.batch", "detail.attempts.container.exitCode": [1, 0]}
    matcher = RuleMatcher()
    matcher.add("r", rule)
    assert matcher.match(event) == ["r"]


def test_array_consistency_takes_the_general_walk() -> None:
    rule = {"source": ["app"], "items": {"k": ["x"], "m": ["y"]}}
    compiled = compile_pattern(rule)
    guarded = set().union(*(guarded_paths(b) for b in compiled.branches))
    assert guarded == {"items"}
    split = {"source": "app", "items": [{"k": "x"}, {"m": "y"}]}
    together = {"source": "app", "items": [{"k": "x", "m": "z"}, {"k": "x", "m": "y"}]}
    assert read(split, build_trie(compiled.paths, guarded)) is None
    matcher = RuleMatcher()
    matcher.add("r", rule)
    assert matcher.match(split) == []
    assert matcher.match(together) == ["r"]


def test_dotted_event_keys_read_as_the_nested_form() -> None:
    matcher = RuleMatcher()
    matcher.add("r", {"detail": {"state": {"status": ["OK"]}, "kind": ["k"]}})
    assert matcher.match({"detail.state.status": "OK", "detail": {"kind": "k"}}) == ["r"]
    assert matcher.match({"detail": {"state.status": "OK", "kind": "k"}}) == ["r"]
    assert matcher.match({"detail": {"state.status": "NO", "kind": "k"}}) == []


def test_machine_order_puts_source_and_detail_type_first() -> None:
    pattern = compile_pattern(
        {"account": ["1"], "detail": {"x": [1]}, "detail-type": ["T"], "region": ["r"], "source": ["s"]}
    )
    (branch,) = pattern.branches
    assert [f.path for f in ordered(branch)] == ["source", "detail-type", "account", "detail.x", "region"]


def test_memo_keeps_booleans_apart_from_numbers() -> None:
    matcher = RuleMatcher()
    matcher.add("positive", {"a": [{"numeric": [">", 0]}, {"prefix": "x"}]})
    matcher.add("true", {"a": [True, {"prefix": "x"}]})
    for _ in range(2):
        assert matcher.match({"a": True}) == ["true"]
        assert matcher.match({"a": 1}) == ["positive"]
        assert matcher.match({"a": 1.0}) == ["positive"]
        assert matcher.match({"a": "xa"}) == ["positive", "true"]
        assert matcher.match({"a": None}) == []


def test_memo_stays_bounded_and_right_with_many_distinct_values() -> None:
    matcher = RuleMatcher()
    matcher.add("even-prefix", {"name": [{"prefix": "job-"}], "n": [{"numeric": [">=", 0]}]})
    root = matcher._snap.root
    (test,) = root.tests
    _, memo_table, memo, _ = test
    assert memo is not None
    for i in range(MEMO_LIMIT + 500):
        name = f"job-{i}" if i % 2 == 0 else f"other-{i}"
        assert matcher.match({"name": name, "n": i}) == (["even-prefix"] if i % 2 == 0 else [])
        assert len(memo_table) <= MEMO_LIMIT


def test_tables_follow_replaced_and_removed_rules() -> None:
    matcher = RuleMatcher()
    matcher.add("a", {"source": ["s"], "detail": {"status": ["OK"]}})
    matcher.add("b", {"source": ["s"], "detail": {"status": ["OK", "KO"]}})
    event = {"source": "s", "detail": {"status": "OK"}}
    assert matcher.match(event) == ["a", "b"]
    matcher.add("a", {"source": ["s"], "detail": {"status": ["KO"]}})
    assert matcher.match(event) == ["b"]
    assert matcher.match({"source": "s", "detail": {"status": "KO"}}) == ["a", "b"]
    matcher.remove("b")
    assert matcher.match(event) == []
    matcher.add("b", {"source": [{"prefix": "s"}], "detail": {"status": ["OK"]}})
    assert matcher.match(event) == ["b"]
    matcher.remove("b")
    assert matcher.match(event) == []
    matcher.add("c", {"source": ["s"]})
    assert matcher.match(event) == ["c"]
