"""Waking the job engine right after a commit that gives it work.

SubmitJob, CancelJob and TerminateJob call :func:`wake` after their commit; the engine's loop
awaits :func:`wait` between ticks, so a new job is looked at at once instead of at the next
``Settings.scheduler_interval``.  The signal is per :class:`~batchbridge.store.db.Database` and
in-process; a wake-up with nobody waiting is remembered until the next :func:`wait`.
"""

from __future__ import annotations

import asyncio
import threading
import weakref

from batchbridge.store.db import Database


class _Signal:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending = False
        self.waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []


_SIGNALS: weakref.WeakKeyDictionary[Database, _Signal] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _signal(db: Database) -> _Signal:
    with _LOCK:
        sig = _SIGNALS.get(db)
        if sig is None:
            sig = _SIGNALS[db] = _Signal()
        return sig


def wake(db: Database) -> None:
    """Tell the engine working on ``db`` that there is something to do."""
    sig = _signal(db)
    with sig.lock:
        sig.pending = True
        waiters = list(sig.waiters)
    for loop, event in waiters:
        try:
            same = asyncio.get_running_loop() is loop
        except RuntimeError:
            same = False
        if same:
            event.set()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(event.set)


async def wait(db: Database, timeout: float) -> bool:
    """Sleep until :func:`wake` (``True``) or ``timeout`` seconds (``False``)."""
    sig = _signal(db)
    event = asyncio.Event()
    entry = (asyncio.get_running_loop(), event)
    with sig.lock:
        if sig.pending:
            sig.pending = False
            return True
        sig.waiters.append(entry)
    try:
        await asyncio.wait_for(event.wait(), timeout)
        return True
    except TimeoutError:
        return False
    finally:
        with sig.lock:
            sig.waiters.remove(entry)
            sig.pending = False
