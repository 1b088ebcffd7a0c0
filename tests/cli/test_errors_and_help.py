"""What a new user trips on: no server, AWS errors, bad files, ``--help``; and ``demo`` end to end."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from batchbridge.cli.main import build_parser, command_modules, main

from .conftest import Done

CLIENT_COMMANDS = [
    ["wait", "some-job"],
    ["logs", "some-job"],
    ["events", "tail", "--count", "1"],
    ["explain", "--rule", "r", "--job", "some-job"],
    ["rules", "lint"],
]


@pytest.fixture
def dead_url() -> Iterator[str]:
    """A loopback URL where nothing listens: the port is held bound (not listening) meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize("args", CLIENT_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_no_server_gives_one_clear_line(args: list[str], run_cli: Callable[..., Done], dead_url: str) -> None:
    url = dead_url
    done = run_cli(*args, endpoint=url, timeout=30)
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == f"batchbridge: cannot reach batchbridge at {url}: start it with 'batchbridge server'"
    )
    assert done.stdout == ""


def test_the_endpoint_comes_from_the_environment(run_cli: Callable[..., Done], dead_url: str) -> None:
    url = dead_url
    done = run_cli("rules", "lint", endpoint=None, BATCHBRIDGE_ENDPOINT=url)
    assert done.returncode == 2
    assert f"cannot reach batchbridge at {url}" in done.stderr


def test_every_command_module_is_a_subcommand_with_help(capsys: pytest.CaptureFixture[str]) -> None:
    names = {name.removesuffix("_cmd") for name in command_modules()}
    assert names >= {"server", "demo", "wait", "logs", "events", "explain", "rules"}
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for name in names:
        assert name in text
    assert "BATCHBRIDGE_ENDPOINT" in text


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["wait", "--help"], "Exit status: 0 when the job SUCCEEDED, 1 when it FAILED"),
        (["logs", "--help"], "--follow"),
        (["events", "tail", "--help"], "temporary SQS queue"),
        (["explain", "--help"], "--rule NAME"),
        (["rules", "lint", "--help"], "once for the parent"),
        (["server", "--help"], "--image IMAGE=COMMAND"),
        (["demo", "--help"], "demo ok"),
    ],
)
def test_each_command_has_help(args: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert " ".join(expected.split()) in text
    if args[0] not in ("server", "demo"):
        assert "BATCHBRIDGE_ENDPOINT" in text


def test_parser_requires_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([])
    assert exit_info.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_an_aws_error_is_one_line_with_its_code(server: Any, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["explain", "--rule", "no-such-rule", "--job", "j", "--endpoint", server.url])
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith("batchbridge: ResourceNotFoundException: Rule no-such-rule does not exist")
    assert "Traceback" not in err


def test_a_missing_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.json"
    status = main(["explain", "--pattern", str(missing), "--event", str(missing)])
    assert status == 2
    assert f"cannot read event file {missing}" in capsys.readouterr().err


def test_an_invalid_pattern_file_gets_awss_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pattern = tmp_path / "pattern.json"
    pattern.write_text(json.dumps({"source": []}))
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"source": "a"}))
    status = main(["explain", "--pattern", str(pattern), "--event", str(event)])
    assert status == 2
    assert "invalid event pattern: Empty arrays are not allowed" in capsys.readouterr().err


def test_malformed_json_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pattern = tmp_path / "pattern.json"
    pattern.write_text("{not json")
    status = main(["explain", "--pattern", str(pattern), "--event", str(pattern)])
    assert status == 2
    assert f"event file {pattern} is not valid JSON" in capsys.readouterr().err


def test_explain_needs_its_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--pattern", "p.json"]) == 2
    assert "give --pattern FILE and --event FILE, or --rule NAME and --job JOB_ID" in capsys.readouterr().err
    assert main(["explain", "--rule", "r"]) == 2
    assert "--rule needs --job" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_plays_the_scenario_and_says_ok(run_cli: Callable[..., Done]) -> None:
    done = run_cli("demo", endpoint=None, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "demo ok: step 1 ran the handler 8 times, step 3 once"
    text = done.stdout
    for step in (
        "step 1: the naive rule",
        "step 2: tell parent and child events apart",
        "step 3: the parent-only rule",
    ):
        assert step in text
    assert "child 3: My favorite color of the rainbow is green." in text
    assert "handler: root" in text
    assert "so the parent-only pattern does not match" in text
    assert "Traceback" not in done.stderr


def test_server_on_a_port_in_use_says_so(run_cli: Callable[..., Done], tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli("server", "--port", str(port), "--data-dir", str(tmp_path / "data"), endpoint=None)
    assert done.returncode == 2
    assert f"batchbridge: server: 127.0.0.1:{port} is already in use" in done.stderr
    assert "Traceback" not in done.stderr


def test_server_with_a_malformed_image_mapping_says_so(run_cli: Callable[..., Done], tmp_path: Path) -> None:
    done = run_cli("server", "--image", "no-equals-sign", "--data-dir", str(tmp_path / "data"), endpoint=None)
    assert done.returncode == 2
    assert "image mapping must look like IMAGE=COMMAND" in done.stderr
