"""``logs``, ``explain`` and ``rules lint`` on the article's array: the two verdicts of issue 6.

The print-color definition's image stands for ``sh examples/print-color/print-color.sh`` through
the server's image map, so each child really prints the colour chosen by its array index.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from .conftest import Done, PrintColor

COLOURS = ["red", "orange", "yellow", "green", "blue", "indigo", "violet"]


def test_logs_index_prints_that_childs_colour(print_color: PrintColor, run_cli: Callable[..., Done]) -> None:
    done = run_cli("logs", print_color.parent, "--index", "3", endpoint=print_color.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "My favorite color of the rainbow is green."


def test_logs_of_the_parent_prints_every_child_with_its_index(
    print_color: PrintColor, run_cli: Callable[..., Done]
) -> None:
    done = run_cli("logs", print_color.parent, endpoint=print_color.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"[{i}] My favorite color of the rainbow is {colour}." for i, colour in enumerate(COLOURS)
    ]


def test_explain_naive_rule_matches_a_child_and_warns_it_fires_once_per_child(
    print_color: PrintColor, run_cli: Callable[..., Done]
) -> None:
    child = f"{print_color.parent}:2"
    done = run_cli(
        "explain",
        "--rule",
        "every-success",
        "--job",
        child,
        "--status",
        "SUCCEEDED",
        endpoint=print_color.url,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"{child} SUCCEEDED: MATCHES"
    assert '[ok ] detail.status: "SUCCEEDED" matches "SUCCEEDED"' in done.stdout
    assert "once for every child of an array job and once more for the parent" in done.stdout
    assert "N + 1 times" in done.stdout


def test_explain_parent_only_rule_fails_on_a_child_because_container_instance_exists(
    print_color: PrintColor, run_cli: Callable[..., Done]
) -> None:
    child = f"{print_color.parent}:2"
    child_event = print_color.child_event(2)
    arn = child_event["detail"]["container"]["containerInstanceArn"]
    done = run_cli(
        "explain", "--rule", "parent-only", "--job", child, "--status", "SUCCEEDED", endpoint=print_color.url
    )
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"{child} SUCCEEDED: DOES NOT MATCH"
    assert lines[1].startswith("  because detail.container.containerInstanceArn: present")
    assert f'[NO ] detail.container.containerInstanceArn: present ("{arn}")' in done.stdout
    assert 'the pattern requires [{"exists": false}]' in done.stdout
    assert "warnings" not in done.stdout


def test_explain_parent_only_rule_matches_the_parent(
    print_color: PrintColor, run_cli: Callable[..., Done]
) -> None:
    done = run_cli(
        "explain",
        "--rule",
        "parent-only",
        "--job",
        print_color.parent,
        "--status",
        "SUCCEEDED",
        endpoint=print_color.url,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"{print_color.parent} SUCCEEDED: MATCHES"
    assert "[ok ] detail.container.containerInstanceArn: absent" in done.stdout


def test_explain_pattern_and_event_files(
    print_color: PrintColor, run_cli: Callable[..., Done], tmp_path: Path
) -> None:
    event_file = tmp_path / "child.json"
    event_file.write_text(json.dumps(print_color.child_event(0)))
    pattern = Path(__file__).resolve().parents[2] / "examples" / "print-color" / "rule-parent-only.json"
    done = run_cli(
        "explain", "--pattern", str(pattern), "--event", f"file://{event_file}", "--json", endpoint=None
    )
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    [explanation] = report["explanations"]
    assert explanation["matched"] is False
    failed = [f for b in explanation["branches"] for f in b["fields"] if not f["held"]]
    assert [f["path"] for f in failed] == ["detail.container.containerInstanceArn"]


def test_explain_every_event_of_the_job_without_status(
    print_color: PrintColor, run_cli: Callable[..., Done]
) -> None:
    child = f"{print_color.parent}:4"
    done = run_cli("explain", "--rule", "every-success", "--job", child, "--json", endpoint=print_color.url)
    assert done.returncode == 0, done.stderr
    verdicts = [e["matched"] for e in json.loads(done.stdout)["explanations"]]
    assert len(verdicts) >= 4, "a child passes through several statuses"
    assert verdicts.count(True) == 1, "only the SUCCEEDED event matches"


def test_rules_lint_lists_the_per_child_warning_for_the_naive_rule(
    print_color: PrintColor, run_cli: Callable[..., Done]
) -> None:
    done = run_cli("rules", "lint", "--json", endpoint=print_color.url)
    assert done.returncode == 0, done.stderr
    warnings = json.loads(done.stdout)["warnings"]
    assert [(w["rule"], w["code"]) for w in warnings] == [("every-success", "batch-array-fanout")]
    table = run_cli("rules", "lint", endpoint=print_color.url)
    assert table.returncode == 0, table.stderr
    assert "every-success" in table.stdout
    assert "batch-array-fanout" in table.stdout
    assert "parent-only" not in table.stdout
    assert table.stdout.strip().endswith("1 warning on bus default")
