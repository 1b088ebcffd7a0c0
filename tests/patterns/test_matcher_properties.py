"""Property: RuleMatcher.match returns exactly the rules for which matches() is true."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchbridge.patterns import RuleMatcher, matches

STRINGS = ["x", "xy", "X", "yx", "", "10.0.0.1", "10.0.0.200", "a*b", "ab"]
scalars = st.one_of(
    st.sampled_from(STRINGS),
    st.integers(min_value=-3, max_value=3),
    st.sampled_from([0.5, 2.0, 300.0]),
    st.booleans(),
    st.none(),
)
pattern_scalars = st.one_of(
    st.sampled_from(STRINGS), st.integers(min_value=-3, max_value=3), st.booleans(), st.none()
)
strings = st.sampled_from(STRINGS)

operators = st.one_of(
    pattern_scalars,
    st.builds(lambda s: {"prefix": s}, strings),
    st.builds(lambda s: {"suffix": s}, strings),
    st.builds(lambda s: {"prefix": {"equals-ignore-case": s}}, strings),
    st.builds(lambda s: {"suffix": {"equals-ignore-case": s}}, strings),
    st.builds(lambda s: {"equals-ignore-case": s}, strings),
    st.builds(lambda s: {"anything-but": s}, strings),
    st.builds(lambda n: {"anything-but": [n, n + 1]}, st.integers(-3, 3)),
    st.builds(lambda s: {"anything-but": {"prefix": s}}, st.sampled_from(["x", "1", "a"])),
    st.builds(lambda s: {"anything-but": {"equals-ignore-case": [s]}}, strings),
    st.builds(lambda n: {"numeric": [">", n]}, st.integers(-3, 3)),
    st.builds(lambda n: {"numeric": [">=", n, "<", n + 2]}, st.integers(-3, 3)),
    st.builds(lambda n: {"numeric": ["=", n]}, st.integers(-3, 3)),
    st.builds(lambda b: {"exists": b}, st.booleans()),
    st.sampled_from([{"wildcard": "x*"}, {"wildcard": "*y"}, {"wildcard": "a\\*b"}]),
    st.sampled_from([{"cidr": "10.0.0.0/25"}, {"cidr": "10.0.0.128/25"}]),
)

leaf_lists = st.lists(operators, min_size=1, max_size=3)
KEYS = ["a", "b", "c.d", "arr.k", "arr.m"]


def _pattern_body(draw: st.DrawFn, depth: int) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=2, unique=True))
    body: dict[str, Any] = {}
    for key in keys:
        if key == "c.d" and draw(st.booleans()):
            body["c"] = {"d": draw(leaf_lists)}
        else:
            body[key] = draw(leaf_lists)
    if depth < 2 and draw(st.integers(0, 4)) == 0:
        body["$or"] = [_pattern_body(draw, depth + 1), _pattern_body(draw, depth + 1)]
    return body


@st.composite
def patterns(draw: st.DrawFn) -> dict[str, Any]:
    return _pattern_body(draw, 0)


event_values = st.one_of(scalars, st.lists(scalars, max_size=3))


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {}
    for key in ("a", "b"):
        if draw(st.integers(0, 4)) > 0:
            event[key] = draw(event_values)
    choice = draw(st.integers(0, 3))
    if choice == 1:
        event["c"] = {"d": draw(event_values)}
    elif choice == 2:
        event["c.d"] = draw(event_values)
    elif choice == 3:
        event["c"] = {}
    if draw(st.integers(0, 3)) > 0:
        items = draw(
            st.lists(
                st.dictionaries(st.sampled_from(["k", "m"]), event_values, min_size=1, max_size=2), max_size=3
            )
        )
        event["arr"] = items
    return event


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(patterns(), min_size=1, max_size=8), st.lists(events(), min_size=1, max_size=4))
def test_matcher_agrees_with_matches(rule_patterns: list[dict[str, Any]], evs: list[dict[str, Any]]) -> None:
    matcher = RuleMatcher()
    for i, pattern in enumerate(rule_patterns):
        matcher.add(f"r{i}", pattern)
    for event in evs:
        expected = [f"r{i}" for i, p in enumerate(rule_patterns) if matches(p, event)]
        assert matcher.match(event) == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(["add", "add", "remove"]), st.integers(0, 5), patterns()),
        min_size=1,
        max_size=15,
    ),
    events(),
)
def test_add_remove_sequences(ops: list[tuple[str, int, dict[str, Any]]], event: dict[str, Any]) -> None:
    matcher = RuleMatcher()
    live: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for op, n, pattern in ops:
        rule_id = f"r{n}"
        if op == "add":
            matcher.add(rule_id, pattern)
            if rule_id not in live:
                order.append(rule_id)
            live[rule_id] = pattern
        else:
            matcher.remove(rule_id)
            if rule_id in live:
                del live[rule_id]
                order.remove(rule_id)
        assert len(matcher) == len(live)
        assert all(r in matcher for r in live)
        expected = [r for r in order if matches(live[r], event)]
        assert matcher.match(event) == expected
