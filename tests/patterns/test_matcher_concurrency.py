"""The matcher's concurrency contract and the renumbering of rule ranks after heavy churn."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator

import pytest

from batchbridge.patterns import RuleMatcher
from batchbridge.patterns.matcher import COMPACT_SLACK

EVENT = {
    "source": "aws.batch",
    "detail-type": "Batch Job State Change",
    "detail": {"status": "SUCCEEDED", "jobName": "render-7", "container": {"exitCode": 0}},
}


@pytest.fixture
def fast_switching() -> Iterator[None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(before)


def test_readers_see_whole_snapshots_while_one_writer_changes_rules(fast_switching: None) -> None:
    matcher = RuleMatcher()
    matcher.add("stable", {"source": ["aws.batch"], "detail": {"status": ["SUCCEEDED"]}})
    matcher.add("swap", {"source": ["aws.batch"], "detail": {"jobName": [{"prefix": "render-"}]}})
    matcher.add("tail", {"detail": {"container": {"exitCode": [{"numeric": ["=", 0]}]}}})
    allowed = {
        ("stable", "swap", "tail"),
        ("stable", "swap", "tail", "flip"),
    }
    stop = threading.Event()
    seen: set[tuple[str, ...]] = set()
    errors: list[str] = []

    def read() -> None:
        while not stop.is_set():
            got = tuple(matcher.match(EVENT))
            if got not in allowed:
                errors.append(repr(got))
                return
            seen.add(got)

    def write() -> None:
        alternatives = [
            {"source": ["aws.batch"], "detail": {"jobName": ["render-7"]}},
            {"source": ["aws.batch"], "detail": {"jobName": [{"suffix": "-7"}]}},
        ]
        i = 0
        while not stop.is_set():
            matcher.add("swap", alternatives[i % 2])
            matcher.add_many([("flip", {"source": ["aws.batch"], "detail-type": [{"prefix": "Batch"}]})])
            matcher.add(f"other-{i}", {"source": [f"app-{i}"]})
            matcher.remove("flip")
            matcher.remove(f"other-{i}")
            i += 1

    readers = [threading.Thread(target=read) for _ in range(3)]
    writer = threading.Thread(target=write)
    for thread in [*readers, writer]:
        thread.start()
    time.sleep(1.0)
    stop.set()
    for thread in [*readers, writer]:
        thread.join()
    assert errors == []
    assert seen == allowed


def test_ranks_are_renumbered_after_churn_and_order_is_kept() -> None:
    matcher = RuleMatcher()
    matcher.add("first", {"source": ["s"]})
    churn = 3 * COMPACT_SLACK
    for i in range(churn):
        matcher.add(f"tmp-{i}", {"source": ["s"], "n": [i]})
        matcher.remove(f"tmp-{i}")
    matcher.add("second", {"source": [{"prefix": "s"}]})
    matcher.add("first", {"source": ["s"], "detail": {"x": [{"exists": False}]}})
    assert matcher.match({"source": "s"}) == ["first", "second"]
    assert matcher.match({"source": "s", "n": 5}) == ["first", "second"]
    assert len(matcher._snap.names) <= 2 * len(matcher) + COMPACT_SLACK
    assert list(matcher) == ["first", "second"]


def test_clear_then_add_starts_afresh() -> None:
    matcher = RuleMatcher()
    matcher.add("a", {"source": ["s"]})
    matcher.clear()
    assert matcher.match({"source": "s"}) == []
    matcher.add("b", {"source": ["s"]})
    matcher.add("a", {"source": ["s"]})
    assert matcher.match({"source": "s"}) == ["b", "a"]
