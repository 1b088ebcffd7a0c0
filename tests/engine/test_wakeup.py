"""The engine's wake-up signal: one wake resumes the sleeper; a wake with nobody asleep is kept."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from batchbridge.engine import wakeup
from batchbridge.store.db import Database


def test_wait_times_out_without_a_wake(tmp_path: Path) -> None:
    db = Database.open(tmp_path / "db.sqlite3")
    began = time.monotonic()
    assert asyncio.run(wakeup.wait(db, 0.05)) is False
    assert time.monotonic() - began >= 0.04


def test_a_wake_before_the_wait_is_remembered_once(tmp_path: Path) -> None:
    db = Database.open(tmp_path / "db.sqlite3")
    wakeup.wake(db)

    async def twice() -> tuple[bool, bool]:
        return await wakeup.wait(db, 1.0), await wakeup.wait(db, 0.02)

    assert asyncio.run(twice()) == (True, False)


def test_a_wake_from_another_thread_resumes_the_sleeper_at_once(tmp_path: Path) -> None:
    db = Database.open(tmp_path / "db.sqlite3")

    async def sleeper() -> tuple[bool, float]:
        began = time.monotonic()
        threading.Timer(0.05, wakeup.wake, args=(db,)).start()
        woke = await wakeup.wait(db, 5.0)
        return woke, time.monotonic() - began

    woke, took = asyncio.run(sleeper())
    assert woke is True
    assert took < 2.0
