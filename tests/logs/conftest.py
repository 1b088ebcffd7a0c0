"""Fixtures for the CloudWatch Logs tests: a real SQLite database and a service with a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from batchbridge.services.context import RequestContext
from batchbridge.services.logs import LogsService
from batchbridge.store.db import Database

#: 2024-01-01T00:00:00Z, in seconds.
T0 = 1_704_067_200.0


class FakeClock:
    """A settable clock: the only fake these tests use."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database.open(tmp_path / "logs.sqlite3")
    yield database
    database.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def logs(db: Database, clock: FakeClock) -> LogsService:
    return LogsService(db, clock=clock)


@pytest.fixture
def ctx() -> RequestContext:
    return RequestContext(account_id="123456789012", region="us-east-1", request_id="req-1")
