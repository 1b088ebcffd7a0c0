"""Routing executor: each compute environment's attempts go to the executor bound to it.

AWS rule emulated: the compute environments of one account are independent fleets: a job runs on
an instance of the compute environment it was placed in, and the others never see it.  Here a
compute environment is either local (the default executor, this machine) or bound to a Ray
cluster (``--ray CE=ADDRESS``); :class:`RoutingExecutor` presents them to the engine as one
:class:`~batchbridge.executors.base.Executor`:

* ``launch`` goes to the executor named for ``spec.compute_environment`` (the default otherwise);
  stop and acknowledge follow the attempt to the executor that launched or recovered it;
* ``events`` merges every executor's stream (each attempt's order is its executor's order);
* ``recover(known)`` first asks every bound executor: the attempts one reports running or exited
  are its own; every other attempt goes to the default executor's ``recover``;
* :meth:`capacity_for` and :meth:`fits` answer per compute environment: a bound executor that
  knows its nodes (``capacity()`` and ``fits_any_node``) bounds the environment by its cluster,
  so a job no node could ever hold stays RUNNABLE with AWS's
  ``MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT`` reason.

Bound executors are built by factories when the router starts, so Ray is imported only when a
binding exists.  A factory or start that fails (Ray not installed, cluster unreachable) leaves that
compute environment without an executor: its launches fail with the ClientException's message
(the job's attempt ends as ``Task failed to start``), the others run as usual, and the start is
tried again at most every :data:`RETRY_START_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from batchbridge.errors import ClientException, ServiceError
from batchbridge.executors.base import (
    AttemptInfo,
    AttemptState,
    Capacity,
    Executor,
    ExecutorEvent,
    LaunchSpec,
    RecoveredAttempt,
    drain_events,
)

ExecutorFactory = Callable[[], Executor]

#: Seconds between two tries to start a bound executor that failed to start.
RETRY_START_SECONDS = 10.0


class RoutingExecutor:
    """The executor seen by the engine: a default executor plus executors per compute environment."""

    def __init__(self, default: Executor, bound: Mapping[str, ExecutorFactory]) -> None:
        """``bound`` maps compute environment names to factories; names given the same factory
        object share one executor (one Ray cluster connection)."""
        self.default = default
        self._factories: dict[str, ExecutorFactory] = dict(bound)
        self._bound: dict[str, Executor] = {}
        self._errors: dict[str, ServiceError] = {}
        self._tried_at: dict[str, float] = {}
        self._owner: dict[str, Executor] = {}
        self._events: asyncio.Queue[ExecutorEvent | None] = asyncio.Queue()
        self._readers: dict[int, asyncio.Task[None]] = {}
        self._started = False

    # -- connection ------------------------------------------------------------------------

    @property
    def host_id(self) -> str:
        return str(getattr(self.default, "host_id", ""))

    @property
    def container_instance_id(self) -> str:
        return str(getattr(self.default, "container_instance_id", ""))

    @property
    def compute_environments(self) -> list[str]:
        """The compute environments bound to an executor other than the default."""
        return sorted(self._factories)

    async def start(self) -> None:
        """Start the default executor and every bound one (a bound one may fail; see the module)."""
        await self.default.start()
        self._read(self.default)
        self._started = True
        for name in self._factories:
            await self._start_bound(name)

    async def _start_bound(self, name: str) -> Executor | None:
        self._tried_at[name] = time.monotonic()
        source = self._factories[name]
        shared = next((e for n, e in self._bound.items() if self._factories[n] is source), None)
        try:
            if shared is None:
                executor = source()
                await executor.start()
                self._read(executor)
            else:
                executor = shared
        except ServiceError as error:
            self._errors[name] = error
            return None
        except Exception as error:
            self._errors[name] = ClientException(
                f"Compute environment {name} cannot use its executor: {error}"
            )
            return None
        self._errors.pop(name, None)
        self._bound[name] = executor
        return executor

    def _read(self, executor: Executor) -> None:
        key = id(executor)
        if key not in self._readers:
            self._readers[key] = asyncio.create_task(self._pump(executor))

    async def _pump(self, executor: Executor) -> None:
        async for event in executor.events():
            self._events.put_nowait(event)

    def bound(self, compute_environment: str) -> Executor | None:
        """The started executor of a bound compute environment (None when local or not started)."""
        return self._bound.get(compute_environment)

    def error_for(self, compute_environment: str) -> ServiceError | None:
        """Why a bound compute environment has no executor (None when it has one or is local)."""
        return self._errors.get(compute_environment)

    async def close(self) -> None:
        """Close every executor; running attempts carry on and are found by ``recover``."""
        closed: set[int] = set()
        for executor in [self.default, *self._bound.values()]:
            if id(executor) not in closed:
                closed.add(id(executor))
                await executor.close()
        for task in self._readers.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 5)
        self._readers.clear()
        self._bound.clear()
        self._owner.clear()
        self._events.put_nowait(None)

    # -- routing ---------------------------------------------------------------------------

    async def _executor_for(self, compute_environment: str) -> Executor:
        if compute_environment not in self._factories:
            return self.default
        executor = self._bound.get(compute_environment)
        if executor is not None:
            return executor
        waited = time.monotonic() - self._tried_at.get(compute_environment, 0.0)
        if waited >= RETRY_START_SECONDS:
            executor = await self._start_bound(compute_environment)
            if executor is not None:
                return executor
        raise self._errors.get(compute_environment) or ClientException(
            f"Compute environment {compute_environment} has no executor"
        )

    async def launch(self, spec: LaunchSpec) -> AttemptInfo:
        """Launch on the executor bound to ``spec.compute_environment`` (the default otherwise)."""
        executor = await self._executor_for(spec.compute_environment)
        self._owner[spec.attempt_id] = executor
        return await executor.launch(spec)

    async def stop(self, attempt_id: str, reason: str) -> None:
        await self._owner.get(attempt_id, self.default).stop(attempt_id, reason)

    def events(self) -> AsyncIterator[ExecutorEvent]:
        return drain_events(self._events)

    async def acknowledge(self, attempt_id: str) -> None:
        await self._owner.pop(attempt_id, self.default).acknowledge(attempt_id)

    async def recover(self, known: Mapping[str, int]) -> dict[str, RecoveredAttempt]:
        """Bound executors claim the attempts they hold; the default recovers the rest."""
        result: dict[str, RecoveredAttempt] = {}
        asked: set[int] = set()
        for executor in self._bound.values():
            if id(executor) in asked:
                continue
            asked.add(id(executor))
            found = await executor.recover({a: s for a, s in known.items() if a not in result})
            for attempt_id, recovered in found.items():
                if recovered.state is not AttemptState.UNKNOWN:
                    result[attempt_id] = recovered
                    self._owner[attempt_id] = executor
        rest = {a: s for a, s in known.items() if a not in result}
        result.update(await self.default.recover(rest))
        return result

    # -- capacity --------------------------------------------------------------------------

    def capacity(self) -> Capacity:
        """The default executor's host."""
        return self.default.capacity()

    def _nodes_of(self, compute_environment: str) -> Any:
        executor = self._bound.get(compute_environment)
        if executor is None or not hasattr(executor, "fits_any_node"):
            return None
        return executor

    def capacity_for(self, compute_environment: str, vcpus: float, memory_mib: int, gpus: int) -> Capacity:
        """What the scheduler may hand out in ``compute_environment`` at once.

        ``vcpus``, ``memory_mib`` and ``gpus`` are what the environment is configured with
        (``maxvCpus`` and so on).  For an environment on a cluster: its ``maxvCpus`` bounded by
        the cluster's vCPUs, and the cluster's memory and GPUs.
        """
        executor = self._nodes_of(compute_environment)
        if executor is None:
            return Capacity(vcpus, memory_mib, gpus)
        cluster = executor.capacity()
        return Capacity(min(vcpus, cluster.vcpus), cluster.memory_mib, cluster.gpus)

    def fits(self, compute_environment: str, vcpus: float, memory_mib: int | None, gpus: int) -> bool:
        """False when ``compute_environment`` runs on a cluster none of whose nodes could hold
        the attempt; True otherwise (a local environment is judged by its configured capacity)."""
        executor = self._nodes_of(compute_environment)
        if executor is None:
            return True
        return bool(executor.fits_any_node(vcpus, memory_mib or None, gpus))
