"""Executors run job attempts: the :class:`Executor` seam and its local, crash-safe implementation.

``batchbridge.executors.base`` holds the contract (import it freely); ``batchbridge.executors.local``
holds :class:`~batchbridge.executors.local.LocalExecutor`, whose host agent is
``batchbridge.executors.agent``.
"""

from batchbridge.executors.base import (
    AttemptExit,
    AttemptInfo,
    AttemptState,
    Capacity,
    Executor,
    ExecutorEvent,
    LaunchSpec,
    OutputLine,
    RecoveredAttempt,
)

__all__ = [
    "AttemptExit",
    "AttemptInfo",
    "AttemptState",
    "Capacity",
    "Executor",
    "ExecutorEvent",
    "LaunchSpec",
    "OutputLine",
    "RecoveredAttempt",
]
