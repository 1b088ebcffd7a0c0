"""Shared fixtures: a real batchbridge server on loopback, boto3 clients and the real ``aws`` CLI.

Servers
    ``server``
        Session-scoped, in-process: the application runs in a thread with its own event loop on
        a free loopback port, data in a temporary folder.  Fast; shared by every test of the
        session, so tests must use unique resource names.  Attributes: ``url``, ``port``,
        ``data_dir``, ``settings`` and ``app`` (the :class:`batchbridge.app.Application`, for
        ``app.register_service(name, obj)`` or ``app.add_background_task``).
    ``fresh_server``
        The same, function-scoped, with its own empty data folder.
    ``start_server``
        Factory for in-process servers with chosen settings:
        ``start_server(require_auth=True, credentials={"AKID": "secret"}, services={...})``;
        stopped at the end of the test.
    ``server_process``
        Factory for ``python -m batchbridge server`` subprocesses:
        ``proc = server_process("--require-auth", "--credentials", path)``; returns a handle
        with ``url``, ``port``, ``data_dir``, ``process`` (:class:`subprocess.Popen`) and
        ``terminate() -> int`` (SIGTERM, then the exit code).  Killed at the end of the test if
        still running.

Clients
    ``boto_client(service, endpoint=None, **kwargs)``
        A boto3 client bound to ``endpoint`` (default: the ``server`` fixture's URL) with dummy
        credentials ``test``/``test``, region ``us-east-1`` and no retries.
    ``aws_cli(*args, endpoint=None, env=None) -> CliResult``
        Runs the real ``aws`` CLI (``<venv>/bin/aws``) with ``--endpoint-url`` and a clean
        environment (``AWS_ACCESS_KEY_ID=test``, no ``~/.aws``); ``CliResult`` has
        ``returncode``, ``stdout``, ``stderr`` and ``json()``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from serverkit import REGION, free_port, loopback_settings, make_client, server_command, wait_healthy

from batchbridge.app import Application
from batchbridge.config import Settings
from batchbridge.server import ThreadedServer

VENV_BIN = Path(sys.executable).parent


@dataclass
class InProcessServer:
    """A started in-process server."""

    threaded: ThreadedServer
    data_dir: Path

    @property
    def url(self) -> str:
        return self.threaded.url

    @property
    def port(self) -> int:
        return self.threaded.port

    @property
    def app(self) -> Application:
        return self.threaded.app

    @property
    def settings(self) -> Settings:
        return self.threaded.settings


def _start_in_process(
    data_dir: Path, services: dict[str, object] | None = None, **overrides: Any
) -> InProcessServer:
    settings = loopback_settings(data_dir, **{"port": free_port(), **overrides})
    app = Application(settings, services=services)
    return InProcessServer(ThreadedServer(settings, app).start(), data_dir)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    running = _start_in_process(tmp_path_factory.mktemp("batchbridge-session"))
    yield running
    running.threaded.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[InProcessServer]:
    running = _start_in_process(tmp_path / "data")
    yield running
    running.threaded.stop()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., InProcessServer]]:
    started: list[InProcessServer] = []

    def start(services: dict[str, object] | None = None, **overrides: Any) -> InProcessServer:
        running = _start_in_process(tmp_path / f"data-{len(started)}", services=services, **overrides)
        started.append(running)
        return running

    yield start
    for running in started:
        running.threaded.stop()


@dataclass
class ServerProcess:
    """A ``batchbridge server`` subprocess."""

    process: subprocess.Popen[str]
    port: int
    data_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def terminate(self, timeout: float = 20.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def start(*flags: str) -> ServerProcess:
        port = free_port()
        data_dir = tmp_path / f"proc-{len(started)}"
        command, env = server_command(data_dir, port, *flags)
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        handle = ServerProcess(process, port, data_dir)
        started.append(handle)
        wait_healthy(handle.url, process)
        return handle

    yield start
    for handle in started:
        if handle.process.poll() is None:
            handle.process.kill()
            handle.process.wait(10)
        for stream in (handle.process.stdout, handle.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def boto_client(request: pytest.FixtureRequest) -> Callable[..., Any]:
    def factory(service: str, endpoint: str | None = None, **kwargs: Any) -> Any:
        if endpoint is None:
            endpoint = request.getfixturevalue("server").url
        return make_client(service, endpoint, **kwargs)

    return factory


@dataclass
class CliResult:
    """Outcome of one ``aws`` CLI run."""

    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def cli_environment(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(home / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials"),
        "AWS_PAGER": "",
        "AWS_MAX_ATTEMPTS": "1",
    }
    if extra:
        env.update(extra)
    return env


@pytest.fixture
def aws_cli(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., CliResult]:
    executable = VENV_BIN / "aws"
    home = tmp_path / "cli-home"
    home.mkdir(exist_ok=True)

    def run(
        *args: str, endpoint: str | None = None, env: dict[str, str] | None = None, timeout: float = 60
    ) -> CliResult:
        if endpoint is None:
            endpoint = request.getfixturevalue("server").url
        base = [str(executable)] if executable.exists() else [sys.executable, "-m", "awscli"]
        command = [*base, "--endpoint-url", endpoint, "--output", "json", *args]
        done = subprocess.run(
            command,
            env=cli_environment(home, env),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=tmp_path,
        )
        return CliResult(done.returncode, done.stdout, done.stderr)

    return run
