"""Waking the job engine right after a commit that gives it work.

SubmitJob, CancelJob and TerminateJob call :func:`wake` after their commit; the engine's loop
awaits :func:`wait` between ticks, so a new job is looked at at once instead of at the next
``Settings.scheduler_interval``.  The signal is per :class:`~batchbridge.store.db.Database` and
in-process; a wake-up with nobody waiting is remembered until the next :func:`wait`.
"""

from __future__ import annotations

from batchbridge.store.db import Database
from batchbridge.store.signals import signal_for

TOPIC = "engine"


def wake(db: Database) -> None:
    """Tell the engine working on ``db`` that there is something to do."""
    signal_for(db, TOPIC).fire()


async def wait(db: Database, timeout: float) -> bool:
    """Sleep until :func:`wake` (``True``) or ``timeout`` seconds (``False``)."""
    return await signal_for(db, TOPIC).wait(timeout)
