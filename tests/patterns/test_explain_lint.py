"""explain() and lint(), including the seed scenario's naive and parent-only rules."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from batchbridge.errors import PatternError
from batchbridge.patterns import explain, lint, matches

DATA = json.loads((Path(__file__).parent / "cases" / "batch_events.json").read_text())
JD = DATA["job_definition_arn"]
CHILD: dict[str, Any] = DATA["child"]
PARENT: dict[str, Any] = DATA["parent"]
NAIVE: dict[str, Any] = {
    "source": ["aws.batch"],
    "detail-type": ["Batch Job State Change"],
    "detail": {"jobDefinition": [JD], "status": ["SUCCEEDED"]},
}
PARENT_ONLY = copy.deepcopy(NAIVE)
PARENT_ONLY["detail"]["container"] = {"containerInstanceArn": [{"exists": False}]}


def test_seed_naive_rule_matches_child_and_parent_and_lint_warns_per_child() -> None:
    assert matches(NAIVE, CHILD) and matches(NAIVE, PARENT)
    exp = explain(NAIVE, CHILD)
    assert exp.matched
    assert all(f.held for f in exp.branches[0].fields)
    codes = [w.code for w in lint(NAIVE)]
    assert codes == ["batch-array-fanout"]
    warning = lint(NAIVE)[0]
    assert '"arrayProperties": {"size": [{"exists": true}]}' in warning.message
    assert "containerInstanceArn" in warning.message and "Fargate" in warning.message


def test_seed_parent_only_rule_fails_on_child_because_container_instance_exists() -> None:
    assert matches(PARENT_ONLY, PARENT)
    exp = explain(PARENT_ONLY, CHILD)
    assert not exp.matched
    [failure] = exp.failures
    assert failure.path == "detail.container.containerInstanceArn"
    assert failure.present and failure.values == (CHILD["detail"]["container"]["containerInstanceArn"],)
    assert '{"exists": false}' in failure.reason
    text = exp.render()
    assert text.startswith("NO MATCH")
    assert "[NO ] detail.container.containerInstanceArn: present" in text
    assert "[ok ] source" in text
    assert lint(PARENT_ONLY) == []
    assert json.loads(json.dumps(exp.to_dict()))["matched"] is False


def test_parent_or_child_restrictions_silence_the_fanout_warning() -> None:
    for extra in (
        {"arrayProperties": {"size": [{"exists": True}]}},
        {"arrayProperties": {"index": [{"exists": True}]}},
    ):
        pattern = copy.deepcopy(NAIVE)
        pattern["detail"].update(extra)
        assert lint(pattern) == []
    safe = copy.deepcopy(NAIVE)
    safe["detail"]["arrayProperties"] = {"size": [{"exists": True}]}
    assert matches(safe, PARENT) and not matches(safe, CHILD)


def test_fanout_warning_only_for_terminal_statuses() -> None:
    running = {"source": ["aws.batch"], "detail": {"status": ["RUNNING"]}}
    assert lint(running) == []
    no_status = {"source": ["aws.batch"]}
    assert [w.code for w in lint(no_status)] == ["batch-array-fanout"]
    assert lint({"source": ["aws.ec2"]}) == []


def test_lint_batch_mistakes() -> None:
    pattern = {
        "source": ["aws.batch"],
        "detail-type": ["Batch Job State Change"],
        "detail": {
            "status": ["succeeded", "DONE", "RUNNING"],
            "jobQueue": ["print-color-queue"],
            "jobDefinition": ["print-color"],
            "jobId": [{"numeric": [">", 0]}],
            "container": {"exitCode": ["0"]},
        },
    }
    warnings = {(w.code, w.path) for w in lint(pattern)}
    assert ("unknown-status", "detail.status") in warnings
    assert ("bare-name", "detail.jobQueue") in warnings
    assert ("bare-name", "detail.jobDefinition") in warnings
    assert ("numeric-on-string", "detail.jobId") in warnings
    assert ("string-on-number", "detail.container.exitCode") in warnings
    messages = " ".join(w.message for w in lint(pattern))
    assert 'did you mean "SUCCEEDED"' in messages


def test_lint_wrong_case_source_and_detail_type() -> None:
    warnings = lint({"source": ["aws.Batch"], "detail-type": ["Batch job state change"]})
    assert {w.code for w in warnings} == {"wrong-case-source", "wrong-case-detail-type"}
    assert not matches({"source": ["aws.Batch"]}, CHILD)


def test_explain_or_branches_say_which_matched() -> None:
    pattern = {"$or": [{"source": ["aws.ec2"]}, {"detail": {"status": ["SUCCEEDED"]}}]}
    exp = explain(pattern, CHILD)
    assert exp.matched
    assert [b.matched for b in exp.branches] == [False, True]
    assert "does not match" in exp.branches[0].fields[0].reason
    assert "$or branch 2 of 2: matched" in exp.render()


def test_explain_absence_shapes() -> None:
    event = {"a": {}, "b": [], "c": {"d": 1}}
    exp = explain({"a": ["x"], "b": ["x"], "c": ["x"], "z": ["x"]}, event)
    reasons = {f.path: f.reason for f in exp.branches[0].fields}
    assert reasons["a"].startswith("an empty object")
    assert reasons["b"].startswith("an empty array")
    assert reasons["c"].startswith("an object, not a value")
    assert reasons["z"].startswith("absent from the event")


def test_explain_array_consistency_note() -> None:
    pattern = {"items": {"k": ["a"], "m": ["b"]}}
    event = {"items": [{"k": "a", "m": "x"}, {"k": "y", "m": "b"}]}
    exp = explain(pattern, event)
    assert not exp.matched and not matches(pattern, event)
    assert "same array" in exp.branches[0].note
    assert matches(pattern, {"items": [{"k": "a", "m": "x"}, {"k": "a", "m": "b"}]})


def test_explain_and_lint_reject_invalid_patterns() -> None:
    with pytest.raises(PatternError):
        explain({"a": []}, CHILD)
    with pytest.raises(PatternError):
        lint("{")
