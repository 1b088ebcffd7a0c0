"""The AWS-recorded corpus: every case must behave as AWS did."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from batchbridge.errors import PatternError
from batchbridge.patterns import RuleMatcher, matches, validate
from batchbridge.patterns.parse import ERROR_PREFIX

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "event-patterns-aws-validated.jsonl"

if not CORPUS.is_file() and not os.environ.get("CI"):
    # The corpus lives beside the repository in the project's workspace (and in CI, where its
    # absence fails the run below); a clone on its own has only the project's own cases.
    pytest.skip(f"AWS-recorded corpus not present at {CORPUS}", allow_module_level=True)


def _cases() -> list[dict[str, Any]]:
    with CORPUS.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


CASES = _cases()


def test_corpus_is_complete() -> None:
    assert len(CASES) == 173


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_corpus_case(case: dict[str, Any]) -> None:
    pattern = case["pattern"]
    if case.get("invalid"):
        with pytest.raises(PatternError) as info:
            validate(pattern)
        assert ERROR_PREFIX + info.value.reason == case["aws_error"]
    else:
        assert matches(pattern, case["event"]) is case["match"]


@pytest.mark.parametrize("case", [c for c in CASES if not c.get("invalid")], ids=lambda c: c["id"])
def test_corpus_case_through_rule_matcher(case: dict[str, Any]) -> None:
    matcher = RuleMatcher()
    matcher.add("r", case["pattern"])
    matcher.add("always", {"id": [{"exists": True}]})
    matcher.add("never", {"source": ["no-such-source-anywhere"]})
    got = matcher.match(case["event"])
    assert ("r" in got) is case["match"]
    assert "never" not in got
