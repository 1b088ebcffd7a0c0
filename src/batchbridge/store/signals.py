"""In-process wake-ups tied to one :class:`Database`: "a commit just gave you work".

Producers call :meth:`Signal.fire` after the commit that created work (from any thread);
consumers running on an asyncio loop ``await`` :meth:`Signal.wait` between passes, so work is
looked at at once instead of after a polling interval.  A fire with nobody waiting is
remembered until the next wait.  Listeners are plain callbacks run by :meth:`fire` (for
consumers that are not coroutines).  Signals are per (database, topic) and live as long as the
database object.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable

from batchbridge.store.db import Database


def _resolve(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)


class Signal:
    """A remembered wake-up shared by producers on any thread and asyncio waiters."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending = False
        self.waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[bool]]] = []
        self.listeners: list[Callable[[], None]] = []

    def add_listener(self, callback: Callable[[], None]) -> None:
        with self.lock:
            self.listeners.append(callback)

    def fire(self) -> None:
        """Wake every waiter (on its own loop) and run the listeners."""
        with self.lock:
            self.pending = True
            waiters = list(self.waiters)
            listeners = list(self.listeners)
        if waiters:
            try:
                running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            for loop, future in waiters:
                if running is loop:
                    _resolve(future, True)
                elif not loop.is_closed():
                    loop.call_soon_threadsafe(_resolve, future, True)
        for listener in listeners:
            listener()

    async def wait(self, timeout: float | None = None) -> bool:
        """Sleep until :meth:`fire` (``True``) or ``timeout`` seconds pass (``False``).

        The sleeper is a bare future resolved by :meth:`fire` or by a timer, so a wake-up
        resumes the waiter in the very next pass of its event loop.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        entry = (loop, future)
        with self.lock:
            if self.pending:
                self.pending = False
                return True
            self.waiters.append(entry)
        timer = loop.call_later(timeout, _resolve, future, False) if timeout is not None else None
        try:
            return await future
        finally:
            if timer is not None:
                timer.cancel()
            with self.lock:
                self.waiters.remove(entry)
                self.pending = False


_SIGNALS: weakref.WeakKeyDictionary[Database, dict[str, Signal]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def signal_for(db: Database, topic: str) -> Signal:
    """The signal of ``topic`` (for example ``"outbox"`` or ``"engine"``) on ``db``."""
    with _LOCK:
        topics = _SIGNALS.get(db)
        if topics is None:
            topics = _SIGNALS[db] = {}
        signal = topics.get(topic)
        if signal is None:
            signal = topics[topic] = Signal()
        return signal
