"""Fixtures of the wire-layer tests: one in-process server answering with the fake services."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serverkit import loopback_settings

from batchbridge.app import Application
from batchbridge.server import ThreadedServer

from .fakes import fake_services


class FakeServer:
    def __init__(self, threaded: ThreadedServer, services: dict[str, Any]) -> None:
        self.threaded = threaded
        self.services = services

    @property
    def url(self) -> str:
        return self.threaded.url


def start_fake_server(data_dir: Path, **overrides: Any) -> FakeServer:
    services = fake_services()
    settings = loopback_settings(data_dir, **overrides)
    app = Application(settings, services=services, open_store=False)
    app.services.clear()
    app.services.update(services)
    return FakeServer(ThreadedServer(settings, app).start(), services)


@pytest.fixture(scope="module")
def fake_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeServer]:
    running = start_fake_server(tmp_path_factory.mktemp("fake"))
    yield running
    running.threaded.stop()
