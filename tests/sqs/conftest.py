"""Fixtures for the SQS tests: a real SQLite database and the service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from batchbridge.config import Settings
from batchbridge.services.context import RequestContext
from batchbridge.services.sqs import SqsService
from batchbridge.store.db import Database


class FakeClock:
    """A settable clock: the only fake these tests use."""

    def __init__(self, now: float = 1_704_067_200.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database.open(tmp_path / "sqs.sqlite3")
    yield database
    database.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(host="127.0.0.1", port=4566, data_dir=tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sqs(db: Database, settings: Settings, clock: FakeClock) -> SqsService:
    return SqsService(db, settings, clock=clock)


@pytest.fixture
def ctx() -> RequestContext:
    return RequestContext(account_id="123456789012", region="us-east-1", request_id="req-1")
