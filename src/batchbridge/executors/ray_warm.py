"""The warm Ray actor: placed once for a resource shape, then runs one attempt after another.

AWS rule emulated: an ECS container instance stays in the compute environment between tasks, so
a job placed on an instance that is already up starts in about the time its container takes.
Under Ray the equivalent of the instance is a detached actor holding the attempt's resources
(``num_cpus`` = VCPU, ``memory`` = MEMORY, ``num_gpus`` = GPU and the compute environment's custom
resources).  Starting an actor costs a new Ray worker process (hundreds of milliseconds); handing
an attempt to an actor that is already placed costs one actor method call.

Each warm actor runs at most one attempt at a time, through the per-attempt supervision of
:class:`~batchbridge.executors.ray_actor.AttemptRunner` (own process group, environment, working
folder, timeout, MEMORY enforcement, AWS's exit reasons, node guard records).  The attempt's
output and exit stay with the actor until the executor releases it (after the engine recorded the
exit), so a restarted server finds both again: :meth:`WarmRunner.describe` names the attempt the
actor holds.  A GPU actor keeps the GPUs Ray assigned to it, and every attempt it runs receives
them as ``CUDA_VISIBLE_DEVICES``.

An actor left without a server (the server stopped for good) ends itself after ``orphan_seconds``
without an attempt, freeing its resources.

Ray is imported only inside the methods; the executor turns the class into an actor with
``ray.remote(WarmRunner)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import time
from typing import Any

from batchbridge.executors.ray_actor import AttemptRunner

#: Seconds an actor may hold no attempt before it ends itself (no server has used it meanwhile).
ORPHAN_SECONDS = 600.0


class BusyError(RuntimeError):
    """The actor already runs another attempt."""


class WarmRunner:
    """The body of a warm actor.  Every method runs on the actor's event loop."""

    def __init__(
        self, name: str, shape: list[Any], node_root: str | None, orphan_seconds: float = ORPHAN_SECONDS
    ) -> None:
        self.name = name
        self.shape = list(shape)
        self.node_root = node_root
        self.orphan_seconds = orphan_seconds
        self.attempt_id: str | None = None
        self.runner: AttemptRunner | None = None
        self.node_id = ""
        self.node_ip = ""
        self.runs = 0
        self._idle_since = time.monotonic()
        self._watch: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()

    def _locate(self) -> None:
        if self.node_id:
            return
        ray: Any = importlib.import_module("ray")
        self.node_id = str(ray.get_runtime_context().get_node_id())
        self.node_ip = str(ray.util.get_node_ip_address())
        self._watch = asyncio.get_running_loop().create_task(self._orphan_watch())

    async def ready(self) -> dict[str, Any]:
        """Where the actor was placed (answered once Ray has placed it)."""
        self._locate()
        return self.describe_now()

    async def run(self, spec: dict[str, Any], key: str, settle_seconds: float = 0.0) -> dict[str, Any]:
        """Start ``spec`` (the previous attempt, if any, is released first); idempotent per attempt.

        With ``settle_seconds``, the answer also carries under ``"early"`` what a first poll would
        (its lines and, if it ended within that time, its exit), so that an attempt as short as
        ``true`` costs one actor call from launch to exit.
        """
        self._locate()
        attempt_id = str(spec["attempt_id"])
        if self.runner is not None and self.attempt_id == attempt_id:
            return self.runner.describe_now()
        if self.runner is not None:
            if self.runner.exit is None and self.runner.attempt is not None:
                raise BusyError(f"{self.name} runs attempt {self.attempt_id}")
            self.runner.cleanup()
        runner = AttemptRunner(spec, self.node_root, key, (self.node_id, self.node_ip))
        self.runner = runner
        self.attempt_id = attempt_id
        self.runs += 1
        self._arrived.set()
        described = await runner.start()
        if settle_seconds > 0:
            described["early"] = await runner.settle(settle_seconds)
        return described

    async def poll(self, attempt_id: str, after_seq: int, wait_seconds: float) -> dict[str, Any]:
        """The attempt's lines after ``after_seq`` and, once all are out, its exit (long poll).

        ``gone`` is set when the actor no longer holds that attempt.
        """
        if self.attempt_id != attempt_id:
            await self._arrival(attempt_id, wait_seconds)
        runner = self.runner
        if runner is None or self.attempt_id != attempt_id:
            return {"lines": [], "exit": None, "gone": True}
        return await runner.poll(after_seq, wait_seconds)

    async def _arrival(self, attempt_id: str, wait_seconds: float) -> None:
        """Wait for ``attempt_id``'s run: the first poll leaves with the run and may come first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while self.attempt_id != attempt_id and loop.time() < deadline:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), max(deadline - loop.time(), 0.0))

    async def stop(self, attempt_id: str, reason: str) -> None:
        """SIGTERM the attempt's group, SIGKILL after its grace; the exit carries ``reason``."""
        if self.runner is not None and self.attempt_id == attempt_id:
            await self.runner.stop(reason)

    async def release(self, attempt_id: str) -> None:
        """The attempt's exit is recorded (or the attempt is abandoned): kill what is left of it,
        drop its records and wait for the next attempt."""
        if self.runner is None or self.attempt_id != attempt_id:
            return
        self.runner.cleanup()
        self.runner = None
        self.attempt_id = None
        self._idle_since = time.monotonic()

    def describe_now(self) -> dict[str, Any]:
        runner = self.runner
        return {
            "slot": self.name,
            "shape": self.shape,
            "node_id": self.node_id,
            "node_ip": self.node_ip,
            "runs": self.runs,
            "attempt_id": self.attempt_id,
            "attempt": runner.describe_now() if runner is not None else None,
        }

    async def describe(self) -> dict[str, Any]:
        """The actor's slot, shape, node and the attempt it holds (used by ``recover``)."""
        self._locate()
        return self.describe_now()

    async def _orphan_watch(self) -> None:
        while True:
            await asyncio.sleep(min(self.orphan_seconds, 30.0))
            if self.runner is None and time.monotonic() - self._idle_since >= self.orphan_seconds:
                ray: Any = importlib.import_module("ray")
                with contextlib.suppress(Exception):
                    ray.kill(ray.get_runtime_context().current_actor, no_restart=True)
                return
