"""The Ray executor: a compute environment whose attempts run on the nodes of a Ray cluster.

When one machine is not enough, a compute environment is bound to a Ray cluster; scripts, rules
and handlers stay the same.  Usage, on its own::

    executor = RayExecutor("127.0.0.1:6379", data_dir, namespace="batchbridge")
    await executor.start()                      # ray.init(address=..., namespace=...)
    info = await executor.launch(spec)          # AttemptInfo: node IP, node id, pid, startedAt
    async for event in executor.events():       # OutputLine ..., then one AttemptExit per attempt
        ...
        await executor.acknowledge(attempt_id)  # after the exit is recorded: the actor ends
    executor.capacity()                         # the cluster's total vCPUs, MiB and GPUs
    executor.fits_any_node(vcpus, memory_mib, gpus)

Options: ``compute_environment`` names the compute environment in error messages;
``resources`` (e.g. ``{"gpu-pool": 1}``) are Ray custom resources every attempt also asks for, so
a compute environment can be bound to the nodes started with them (``ray start --resources``);
``node_dir`` is the folder each node keeps its attempt records in (default
``$TMPDIR/batchbridge-ray-<uid>`` on the node).  A ``host:port`` address that nothing listens on
fails :meth:`RayExecutor.start` at once with a ClientException naming the address.

Every node needs batchbridge and Ray installed in the same Python (``pip install
'batchbridge[ray]'``); the cluster runs the attempt's command, so the programs it names must exist
on the nodes, and the launch spec's working folder is created on the node that runs it.

Placement (AWS Batch places a job on one instance whose free vCPUs, memory and GPUs cover its
resource requirements): each attempt is a named, detached Ray actor
(:class:`~batchbridge.executors.ray_actor.AttemptRunner`) created with ``num_cpus`` = vCPUs,
``memory`` = MiB * 2**20 and ``num_gpus`` = GPUs (plus the executor's ``resources`` labels, which
restrict a compute environment to the nodes that carry them), so Ray picks the node and gives GPU
jobs their own ``CUDA_VISIBLE_DEVICES``.  The actor is named ``bb-<installation>-<attemptId>`` in
the namespace, where ``<installation>`` is a random id kept in ``<data_dir>/ray/installation.json``
so that two servers sharing a cluster and namespace never take each other's attempts.  An attempt
holds its resources until its exit is acknowledged.

Identity: :class:`~batchbridge.executors.base.AttemptInfo` carries the node's IP as ``host_id`` and
the Ray node id as ``container_instance_id`` (the engine's ``containerInstanceArn``).

Output and exit: a follower task per attempt long-polls the actor (``poll(after_seq)``, batched)
and delivers the lines in order while the attempt runs, then exactly one exit with the local
executor's exit codes and reasons.

:meth:`RayExecutor.launch` returns once Ray has placed the actor and the command runs; while the
cluster has no room for it, the launch waits (the engine launches only what ``capacity()`` and
``fits_any_node`` allow).  Cost: an actor per attempt means a new Ray worker process per attempt,
a few hundred milliseconds on a small machine; in ``bench/ray_dispatch.py`` an attempt costs about
as much as a bare actor created, called once and killed.

Failures: an actor that dies before delivering its exit (its node was lost, its worker killed)
ends the attempt with ``host_lost`` and ``Host EC2 (instance <node id>) terminated.``; the node
guard kills its processes.  Restart: :meth:`RayExecutor.recover` finds attempts again by their
actor names; a running one keeps delivering after the engine's last ``seq``, a finished one
delivers its exit, a missing one is unknown.  Blocking Ray calls run in a worker thread; awaiting
an actor call does not block the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from batchbridge.executors.base import (
    AttemptExit,
    AttemptInfo,
    AttemptState,
    Capacity,
    ExecutorEvent,
    LaunchSpec,
    OutputLine,
    RecoveredAttempt,
    host_lost_reason,
    now_ms,
)
from batchbridge.executors.protocol import STREAM_NAMES
from batchbridge.executors.ray_actor import AttemptRunner
from batchbridge.executors.ray_cluster import (
    NodeResources,
    alive_nodes,
    connect,
    import_ray,
    total_capacity,
)
from batchbridge.executors.ray_cluster import fits_any_node as _fits_any_node

#: Seconds one poll waits on the actor for new output before answering empty.
POLL_WAIT = 1.0
#: Seconds between two refreshes of the cluster's node list.
NODE_REFRESH = 2.0
#: Seconds ``recover`` waits for an actor to describe itself before calling it unknown.
DESCRIBE_TIMEOUT = 15.0


class RayExecutor:
    """The :class:`~batchbridge.executors.base.Executor` that runs attempts on a Ray cluster."""

    def __init__(
        self,
        address: str,
        data_dir: Path,
        *,
        namespace: str = "batchbridge",
        compute_environment: str | None = None,
        resources: Mapping[str, float] | None = None,
        node_dir: str | None = None,
    ) -> None:
        self.address = address
        self.data_dir = Path(data_dir)
        self.namespace = namespace
        self.resources = dict(resources or {})
        self.node_dir = node_dir
        self._ray: ModuleType = import_ray(compute_environment or address)
        self._actor_class: Any = None
        self.installation = ""
        self.host_id = ""
        self.container_instance_id = ""
        self._nodes: list[NodeResources] = []
        self._events: asyncio.Queue[ExecutorEvent | None] = asyncio.Queue()
        self._actors: dict[str, Any] = {}
        self._nodes_of: dict[str, str] = {}
        self._followers: dict[str, asyncio.Task[None]] = {}
        self._refresher: asyncio.Task[None] | None = None
        self._closing = False

    # -- connection ------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect to the cluster and read its nodes."""
        self._closing = False
        self.installation = self._installation_id()
        await asyncio.to_thread(connect, self._ray, self.address, self.namespace)
        if self._actor_class is None:
            self._actor_class = self._ray.remote(max_restarts=0, max_concurrency=1000)(AttemptRunner)
        await self.refresh_nodes()
        self.container_instance_id = f"ray-{self.installation}"
        self.host_id = self.address
        if self._refresher is None:
            self._refresher = asyncio.create_task(self._refresh_loop())

    def _installation_id(self) -> str:
        folder = self.data_dir / "ray"
        path = folder / "installation.json"
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            return str(json.loads(path.read_text())["installation"])
        folder.mkdir(parents=True, exist_ok=True)
        installation = uuid.uuid4().hex[:12]
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"installation": installation}))
        tmp.replace(path)
        return installation

    async def refresh_nodes(self) -> None:
        """Re-read the cluster's alive nodes (done every few seconds in the background)."""
        raw = await asyncio.to_thread(self._ray.nodes)
        self._nodes = alive_nodes(raw)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(NODE_REFRESH)
            with contextlib.suppress(Exception):
                await self.refresh_nodes()

    async def close(self) -> None:
        """Stop following attempts; they keep running in the cluster and are found by ``recover``."""
        self._closing = True
        tasks = list(self._followers.values())
        if self._refresher is not None:
            tasks.append(self._refresher)
            self._refresher = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._followers.clear()
        self._actors.clear()
        self._events.put_nowait(None)

    # -- naming ----------------------------------------------------------------------------

    @property
    def _prefix(self) -> str:
        return f"bb-{self.installation}-"

    def actor_name(self, attempt_id: str) -> str:
        """The detached actor that runs ``attempt_id`` in the namespace."""
        return self._prefix + attempt_id

    def _lookup(self, attempt_id: str) -> Any:
        try:
            return self._ray.get_actor(self.actor_name(attempt_id), namespace=self.namespace)
        except ValueError:
            return None

    async def _handle(self, attempt_id: str) -> Any:
        handle = self._actors.get(attempt_id)
        if handle is None:
            handle = await asyncio.to_thread(self._lookup, attempt_id)
        return handle

    # -- the executor contract -------------------------------------------------------------

    async def launch(self, spec: LaunchSpec) -> AttemptInfo:
        """Create the attempt's actor, wait until Ray placed it and its command runs."""
        handle = await asyncio.to_thread(self._create, spec)
        self._actors[spec.attempt_id] = handle
        try:
            described: dict[str, Any] = await handle.start.remote()
        except self._ray.exceptions.RayError as error:
            self._actors.pop(spec.attempt_id, None)
            self._emit_host_lost(spec.attempt_id, None, type(error).__name__)
            return AttemptInfo(spec.attempt_id, "", "", None, None)
        return self._follow(spec.attempt_id, handle, described, 0)

    def _create(self, spec: LaunchSpec) -> Any:
        options: dict[str, Any] = {
            "name": self.actor_name(spec.attempt_id),
            "namespace": self.namespace,
            "lifetime": "detached",
            "num_cpus": spec.vcpus,
            "num_gpus": spec.gpus,
        }
        if spec.memory_mib is not None:
            options["memory"] = spec.memory_mib * 2**20
        if self.resources:
            options["resources"] = dict(self.resources)
        try:
            return self._actor_class.options(**options).remote(
                spec.to_json(), self.node_dir, self._prefix + spec.attempt_id
            )
        except ValueError:
            existing = self._lookup(spec.attempt_id)
            if existing is None:
                raise
            return existing

    def _follow(
        self, attempt_id: str, handle: Any, described: Mapping[str, Any], after_seq: int
    ) -> AttemptInfo:
        node_id = str(described.get("node_id") or "")
        self._nodes_of[attempt_id] = node_id
        previous = self._followers.get(attempt_id)
        if previous is None or previous.done():
            task = asyncio.create_task(self._pump(attempt_id, handle, after_seq))
            self._followers[attempt_id] = task
        return AttemptInfo(
            attempt_id,
            str(described.get("node_ip") or ""),
            node_id,
            described.get("started_at_ms"),
            described.get("pid"),
        )

    async def _pump(self, attempt_id: str, handle: Any, after_seq: int) -> None:
        """Deliver the attempt's lines after ``after_seq`` as they come, then its exit."""
        errors = self._ray.exceptions
        try:
            while True:
                try:
                    reply: dict[str, Any] = await handle.poll.remote(after_seq, POLL_WAIT)
                except errors.ActorUnavailableError:
                    await asyncio.sleep(0.2)
                    continue
                except errors.RayError as error:
                    if not self._closing:
                        self._emit_host_lost(attempt_id, self._nodes_of.get(attempt_id), type(error).__name__)
                    return
                for seq, stamp, stream, text in reply["lines"]:
                    self._events.put_nowait(OutputLine(attempt_id, stamp, STREAM_NAMES[stream], text, seq))
                    after_seq = seq
                if reply["exit"] is not None:
                    self._events.put_nowait(AttemptExit.from_json(reply["exit"]))
                    return
        finally:
            if self._followers.get(attempt_id) is asyncio.current_task():
                del self._followers[attempt_id]

    def _emit_host_lost(self, attempt_id: str, node_id: str | None, cause: str) -> None:
        self._events.put_nowait(
            AttemptExit(
                attempt_id=attempt_id,
                exit_code=None,
                reason=None,
                status_reason=host_lost_reason(node_id or "unknown"),
                started_at_ms=None,
                stopped_at_ms=now_ms(),
                host_lost=True,
            )
        )

    async def stop(self, attempt_id: str, reason: str) -> None:
        """SIGTERM the remote process group, SIGKILL after the grace; the exit reports ``reason``."""
        handle = await self._handle(attempt_id)
        if handle is not None:
            handle.stop.remote(reason)

    def events(self) -> AsyncIterator[ExecutorEvent]:
        return self._stream()

    async def _stream(self) -> AsyncIterator[ExecutorEvent]:
        while True:
            event = await self._events.get()
            if event is None:
                return
            yield event

    async def acknowledge(self, attempt_id: str) -> None:
        """The exit is recorded: the actor drops its records and exits, freeing its resources."""
        handle = self._actors.pop(attempt_id, None)
        self._nodes_of.pop(attempt_id, None)
        if handle is None:
            handle = await asyncio.to_thread(self._lookup, attempt_id)
        if handle is not None:
            handle.finish.remote()

    async def recover(self, known: Mapping[str, int]) -> dict[str, RecoveredAttempt]:
        """Find the attempts again by their actor names; stop and forget the ones not in ``known``."""
        names = await asyncio.to_thread(self._named_actors)
        result: dict[str, RecoveredAttempt] = {}
        found = await asyncio.gather(*(self._recover_one(a, int(s), names) for a, s in known.items()))
        for attempt_id, recovered in zip(known, found, strict=True):
            result[attempt_id] = recovered
        for name in names:
            attempt_id = name[len(self._prefix) :]
            if attempt_id not in known:
                handle = await asyncio.to_thread(self._lookup, attempt_id)
                if handle is not None:
                    handle.finish.remote()
        return result

    def _named_actors(self) -> set[str]:
        listed = self._ray.util.list_named_actors(all_namespaces=True)
        return {
            entry["name"]
            for entry in listed
            if entry.get("namespace") == self.namespace
            and str(entry.get("name", "")).startswith(self._prefix)
        }

    async def _recover_one(self, attempt_id: str, last_seq: int, names: set[str]) -> RecoveredAttempt:
        if self.actor_name(attempt_id) not in names:
            return RecoveredAttempt(AttemptState.UNKNOWN)
        handle = await asyncio.to_thread(self._lookup, attempt_id)
        if handle is None:
            return RecoveredAttempt(AttemptState.UNKNOWN)
        try:
            described: dict[str, Any] = await asyncio.wait_for(handle.describe.remote(), DESCRIBE_TIMEOUT)
        except (self._ray.exceptions.RayError, TimeoutError):
            return RecoveredAttempt(AttemptState.UNKNOWN)
        self._actors[attempt_id] = handle
        info = self._follow(attempt_id, handle, described, last_seq)
        if described.get("exit") is not None:
            return RecoveredAttempt(AttemptState.EXITED, AttemptExit.from_json(described["exit"]), info)
        return RecoveredAttempt(AttemptState.RUNNING, None, info)

    # -- capacity --------------------------------------------------------------------------

    def capacity(self) -> Capacity:
        """The cluster's total resources (of the nodes carrying this executor's labels)."""
        return total_capacity(self._nodes, self.resources)

    def fits_any_node(self, vcpus: float, memory_mib: int | None, gpus: int) -> bool:
        """Whether some single alive node could ever hold an attempt of this size."""
        return _fits_any_node(self._nodes, vcpus, memory_mib, gpus, self.resources)

    @property
    def nodes(self) -> list[NodeResources]:
        """The alive nodes as last read."""
        return list(self._nodes)
