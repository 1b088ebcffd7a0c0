"""Fixtures for EventBridge tests: a real SQLite database in tmp_path and the service over it."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

from batchbridge.bus.rules import RuleRegistry
from batchbridge.services.context import RequestContext
from batchbridge.services.events import EventsService
from batchbridge.store.db import Database

ACCOUNT = "123456789012"
REGION = "us-east-1"


@pytest.fixture
def ctx() -> RequestContext:
    return RequestContext(ACCOUNT, REGION, "req-1")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "batchbridge.sqlite3"


@pytest.fixture
def db(db_path: Path) -> Iterator[Database]:
    database = Database.open(db_path)
    yield database
    database.close()


@pytest.fixture
def registry() -> RuleRegistry:
    return RuleRegistry()


@pytest.fixture
def events(db: Database, registry: RuleRegistry) -> EventsService:
    return EventsService(db, registry)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests of this folder on a fresh asyncio loop."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    asyncio.run(pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names}))
    return True
