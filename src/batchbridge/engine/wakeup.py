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
        self.waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[bool]]] = []


_SIGNALS: weakref.WeakKeyDictionary[Database, _Signal] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _signal(db: Database) -> _Signal:
    with _LOCK:
        sig = _SIGNALS.get(db)
        if sig is None:
            sig = _SIGNALS[db] = _Signal()
        return sig


def _resolve(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)


def wake(db: Database) -> None:
    """Tell the engine working on ``db`` that there is something to do."""
    sig = _signal(db)
    with sig.lock:
        sig.pending = True
        waiters = list(sig.waiters)
    if not waiters:
        return
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    for loop, future in waiters:
        if running is loop:
            _resolve(future, True)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(_resolve, future, True)


async def wait(db: Database, timeout: float) -> bool:
    """Sleep until :func:`wake` (``True``) or ``timeout`` seconds (``False``).

    The sleeper is a bare future resolved by :func:`wake` or by a timer, so a wake-up resumes
    the engine in the very next pass of the event loop.
    """
    sig = _signal(db)
    loop = asyncio.get_running_loop()
    future: asyncio.Future[bool] = loop.create_future()
    entry = (loop, future)
    with sig.lock:
        if sig.pending:
            sig.pending = False
            return True
        sig.waiters.append(entry)
    timer = loop.call_later(timeout, _resolve, future, False)
    try:
        return await future
    finally:
        timer.cancel()
        with sig.lock:
            sig.waiters.remove(entry)
            sig.pending = False
