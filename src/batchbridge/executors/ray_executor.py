"""The Ray executor: a compute environment whose attempts run on the nodes of a Ray cluster.

When one machine is not enough, a compute environment is bound to a Ray cluster; scripts, rules
and handlers stay the same.  Usage, on its own::

    executor = RayExecutor("127.0.0.1:6379", data_dir, namespace="batchbridge")
    await executor.start()                      # ray.init(address=..., namespace=...)
    info = await executor.launch(spec)          # AttemptInfo: node IP, node id, pid, startedAt
    async for event in executor.events():       # OutputLine ..., then one AttemptExit per attempt
        ...
        await executor.acknowledge(attempt_id)  # after the exit is recorded: the actor is free
    executor.capacity()                         # the cluster's total vCPUs, MiB and GPUs
    executor.fits_any_node(vcpus, memory_mib, gpus)

Options: ``compute_environment`` names the compute environment in error messages;
``resources`` (e.g. ``{"gpu-pool": 1}``) are Ray custom resources every attempt also asks for, so
a compute environment can be bound to the nodes started with them (``ray start --resources``);
``node_dir`` is the folder each node keeps its attempt records in (default
``$TMPDIR/batchbridge-ray-<uid>`` on the node); ``idle_seconds`` is how long a warm actor with
nothing to run is kept; ``settle_seconds`` how long a launch waits on the actor for an early exit
(0: never).  A ``host:port`` address that nothing listens on fails
:meth:`RayExecutor.start` at once with a ClientException naming the address.

Every node needs batchbridge and Ray installed in the same Python (``pip install
'batchbridge[ray]'``); the cluster runs the attempt's command, so the programs it names must exist
on the nodes, and the launch spec's working folder is created on the node that runs it.

Placement (AWS Batch places a job on one instance whose free vCPUs, memory and GPUs cover its
resource requirements): attempts run in warm, detached Ray actors
(:class:`~batchbridge.executors.ray_warm.WarmRunner`) created with ``num_cpus`` = vCPUs,
``memory`` = MiB * 2**20 and ``num_gpus`` = GPUs (plus the executor's ``resources`` labels), so
Ray picks the node and gives GPU attempts their own ``CUDA_VISIBLE_DEVICES``.  An actor runs one
attempt at a time and stays placed for the next attempt of the same shape: launching an attempt
on a warm actor is one actor call, while placing a new actor costs Ray a worker process.  The pool
(:mod:`batchbridge.executors.ray_pool`) grows on demand, ends idle actors of other shapes when a
new shape needs their room, and shrinks after ``idle_seconds``.  Actors are named
``bb-<installation>-w<slot>`` in the namespace, where ``<installation>`` is a random id kept in
``<data_dir>/ray/installation.json``, so two servers sharing a cluster and namespace never take
each other's actors.  An attempt holds its actor until its exit is acknowledged.

Identity: :class:`~batchbridge.executors.base.AttemptInfo` carries the node's IP as ``host_id`` and
the Ray node id as ``container_instance_id`` (the engine's ``containerInstanceArn``).

Output and exit: the launch call waits up to :data:`SETTLE_SECONDS` on the actor and brings back
the output and exit of an attempt that ended by then (one actor call from launch to exit); for a
longer attempt a follower long-polls its actor (``poll(after_seq)``, batched) and delivers the
lines in order while the attempt runs, then exactly one exit with the local executor's exit codes
and reasons.

:meth:`RayExecutor.launch` returns once Ray has placed the actor and the command runs; while the
cluster has no room for it, the launch waits (the engine launches only what ``capacity()`` and
``fits_any_node`` allow).

Failures: an actor that dies before delivering its exit (its node was lost, its worker killed)
ends the attempt with ``host_lost`` and ``Host EC2 (instance <node id>) terminated.``; the node
guard kills its processes.  An idle actor found dead when an attempt is handed to it is replaced
by a new one for that attempt.  Restart: :meth:`RayExecutor.recover` lists the installation's
actors and asks each which attempt it holds; a running one keeps delivering after the engine's
last ``seq``, a finished one delivers its exit, an attempt no actor holds is unknown, and an
attempt the engine does not know is stopped and its actor kept warm.  Blocking Ray calls run in a
worker thread; awaiting an actor call does not block the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
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
    drain_events,
    host_lost_reason,
    now_ms,
)
from batchbridge.executors.protocol import STREAM_NAMES
from batchbridge.executors.ray_cluster import (
    NodeResources,
    alive_nodes,
    connect,
    import_ray,
    total_capacity,
)
from batchbridge.executors.ray_cluster import fits_any_node as _fits_any_node
from batchbridge.executors.ray_pool import (
    Pool,
    Shape,
    Slot,
    ray_options,
    shape_from_json,
    shape_of,
    shape_to_json,
)
from batchbridge.executors.ray_warm import WarmRunner

#: Seconds one poll waits on the actor for new output before answering empty.
POLL_WAIT = 1.0
#: Seconds between two refreshes of the cluster's node list (and of the pool's idle check).
NODE_REFRESH = 2.0
#: Seconds ``recover`` waits for an actor to describe itself before calling it unknown.
DESCRIBE_TIMEOUT = 15.0
#: Seconds a warm actor with nothing to run is kept by default.
IDLE_SECONDS = 30.0
#: Seconds the launch call waits on the actor for the attempt's exit, so that an attempt that ends
#: at once (``true``) is launched and delivered in one actor call; a longer one is followed by polls.
SETTLE_SECONDS = 0.01
#: Concurrent calls one warm actor serves (its attempt's launch, polls, stop, describe).
ACTOR_CONCURRENCY = 64


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
        idle_seconds: float = IDLE_SECONDS,
        settle_seconds: float = SETTLE_SECONDS,
    ) -> None:
        self.address = address
        self.data_dir = Path(data_dir)
        self.namespace = namespace
        self.resources = dict(resources or {})
        self.node_dir = node_dir
        self.settle_seconds = settle_seconds
        self._ray: ModuleType = import_ray(compute_environment or address)
        self._actor_class: Any = None
        self.installation = ""
        self.host_id = ""
        self.container_instance_id = ""
        self.pool = Pool(idle_seconds)
        self._nodes: list[NodeResources] = []
        self._events: asyncio.Queue[ExecutorEvent | None] = asyncio.Queue()
        self._running: dict[str, Slot] = {}
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
            self._actor_class = self._ray.remote(max_restarts=0, max_concurrency=ACTOR_CONCURRENCY)(
                WarmRunner
            )
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
            self.shrink()

    def shrink(self) -> int:
        """End idle actors past ``idle_seconds`` and forget actors of nodes that are gone."""
        alive = {node.node_id for node in self._nodes}
        ended = 0
        for slot in self.pool.expired():
            self._end(slot)
            ended += 1
        for slot in list(self.pool.slots.values()):
            if slot.node_id and slot.node_id not in alive and slot.attempt_id is None:
                self.pool.drop(slot)
        return ended

    def _end(self, slot: Slot) -> None:
        self.pool.drop(slot)
        with contextlib.suppress(Exception):
            self._ray.kill(slot.handle, no_restart=True)

    async def close(self) -> None:
        """Stop following attempts (they keep running and are found by ``recover``); end idle actors."""
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
        for slot in self.pool.idle_slots():
            self._end(slot)
        self._running.clear()
        self._events.put_nowait(None)

    # -- naming ----------------------------------------------------------------------------

    @property
    def _prefix(self) -> str:
        return f"bb-{self.installation}-"

    def _attempt_key(self, attempt_id: str) -> str:
        """The name of an attempt's records on its node."""
        return self._prefix + attempt_id

    def _named_actors(self) -> set[str]:
        listed = self._ray.util.list_named_actors(all_namespaces=True)
        return {
            entry["name"]
            for entry in listed
            if entry.get("namespace") == self.namespace
            and str(entry.get("name", "")).startswith(self._prefix)
        }

    def _get_actor(self, name: str) -> Any:
        try:
            return self._ray.get_actor(name, namespace=self.namespace)
        except ValueError:
            return None

    # -- the pool --------------------------------------------------------------------------

    async def _new_slot(self, shape: Shape) -> Slot:
        for slot in self.pool.evictions_for(shape, self._nodes):
            self._end(slot)
        name = f"{self._prefix}w{uuid.uuid4().hex[:10]}"
        options = ray_options(shape)
        options.update(name=name, namespace=self.namespace, lifetime="detached")
        handle = await asyncio.to_thread(
            lambda: self._actor_class.options(**options).remote(name, shape_to_json(shape), self.node_dir)
        )
        slot = Slot(name, handle, shape)
        self.pool.add(slot)
        return slot

    # -- the executor contract -------------------------------------------------------------

    async def launch(self, spec: LaunchSpec) -> AttemptInfo:
        """Hand the attempt to a warm actor of its shape (placing one if none is idle).

        The command runs at normal CPU priority whatever the spec asks: a Ray node's CPUs are the
        compute environment's, as an AWS host's are its containers'.
        """
        spec = dataclasses.replace(spec, cpu_priority="normal")
        aid = spec.attempt_id
        current = self._running.get(aid)
        if current is not None:
            described: dict[str, Any] = await current.handle.run.remote(
                spec.to_json(), self._attempt_key(aid)
            )
            return self._info(aid, current, described)
        shape = shape_of(spec, self.resources)
        errors = self._ray.exceptions
        for _ in range(2):
            slot = self.pool.take_idle(shape)
            reused = slot is not None
            if slot is None:
                slot = await self._new_slot(shape)
            slot.attempt_id = aid
            self._running[aid] = slot
            run_ref = slot.handle.run.remote(spec.to_json(), self._attempt_key(aid), self.settle_seconds)
            try:
                described = await run_ref
            except errors.RayError as error:
                self._running.pop(aid, None)
                self.pool.drop(slot)
                if reused and isinstance(error, errors.RayActorError):
                    continue
                self._emit_host_lost(aid, slot.node_id or None)
                return AttemptInfo(aid, "", "", None, None)
            early: Mapping[str, Any] | None = described.get("early")
            if early is None:
                return self._follow(aid, slot, described, 0)
            after_seq, ended = self._deliver(aid, early, 0)
            if ended:
                return self._info(aid, slot, described)
            return self._follow(aid, slot, described, after_seq)
        self._emit_host_lost(aid, None)
        return AttemptInfo(aid, "", "", None, None)

    def _info(self, aid: str, slot: Slot, described: Mapping[str, Any]) -> AttemptInfo:
        slot.node_id = str(described.get("node_id") or slot.node_id)
        slot.node_ip = str(described.get("node_ip") or slot.node_ip)
        return AttemptInfo(
            aid, slot.node_ip, slot.node_id, described.get("started_at_ms"), described.get("pid")
        )

    def _follow(
        self, aid: str, slot: Slot, described: Mapping[str, Any], after_seq: int, first: Any = None
    ) -> AttemptInfo:
        info = self._info(aid, slot, described)
        previous = self._followers.get(aid)
        if previous is None or previous.done():
            self._followers[aid] = asyncio.create_task(self._pump(aid, slot, after_seq, first))
        return info

    async def _pump(self, aid: str, slot: Slot, after_seq: int, first: Any) -> None:
        """Deliver the attempt's lines after ``after_seq`` as they come, then its exit."""
        errors = self._ray.exceptions
        ref = first
        try:
            while True:
                if ref is None:
                    ref = slot.handle.poll.remote(aid, after_seq, POLL_WAIT)
                try:
                    reply: dict[str, Any] = await ref
                except errors.ActorUnavailableError:
                    ref = None
                    await asyncio.sleep(0.2)
                    continue
                except errors.RayError:
                    if not self._closing:
                        self.pool.drop(slot)
                        self._emit_host_lost(aid, slot.node_id or None)
                    return
                ref = None
                if reply.get("gone"):
                    self._emit_host_lost(aid, slot.node_id or None)
                    return
                after_seq, ended = self._deliver(aid, reply, after_seq)
                if ended:
                    return
        finally:
            if self._followers.get(aid) is asyncio.current_task():
                del self._followers[aid]

    def _deliver(self, aid: str, reply: Mapping[str, Any], after_seq: int) -> tuple[int, bool]:
        """Queue a poll's lines, then its exit; returns the last ``seq`` and whether it ended."""
        for seq, stamp, stream, text in reply["lines"]:
            self._events.put_nowait(OutputLine(aid, stamp, STREAM_NAMES[stream], text, seq))
            after_seq = seq
        if reply["exit"] is not None:
            self._events.put_nowait(AttemptExit.from_json(reply["exit"]))
            return after_seq, True
        return after_seq, False

    def _emit_host_lost(self, attempt_id: str, node_id: str | None) -> None:
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
        slot = self._running.get(attempt_id)
        if slot is not None and not slot.dead:
            slot.handle.stop.remote(attempt_id, reason)

    def events(self) -> AsyncIterator[ExecutorEvent]:
        return drain_events(self._events)

    async def acknowledge(self, attempt_id: str) -> None:
        """The exit is recorded: the actor drops the attempt's records and takes the next attempt."""
        slot = self._running.pop(attempt_id, None)
        if slot is None or slot.dead:
            return
        slot.handle.release.remote(attempt_id)
        self.pool.park(slot)

    async def recover(self, known: Mapping[str, int]) -> dict[str, RecoveredAttempt]:
        """Ask every actor of this installation which attempt it holds; re-attach the known ones."""
        names = await asyncio.to_thread(self._named_actors)
        handles = await asyncio.to_thread(lambda: {n: self._get_actor(n) for n in sorted(names)})
        described = await asyncio.gather(*(self._describe(h) for h in handles.values()))
        result: dict[str, RecoveredAttempt] = {}
        for (name, handle), found in zip(handles.items(), described, strict=True):
            if handle is None or found is None:
                continue
            shape = shape_from_json(found.get("shape"))
            if shape is None:
                handle.finish.remote()
                continue
            slot = self.pool.slots.get(name) or Slot(name, handle, shape)
            slot.node_id = str(found.get("node_id") or "")
            slot.node_ip = str(found.get("node_ip") or "")
            self.pool.add(slot)
            aid = found.get("attempt_id")
            attempt = found.get("attempt")
            if aid is None or attempt is None:
                if slot.attempt_id is None:
                    self.pool.park(slot)
                continue
            if aid not in known:
                handle.release.remote(aid)
                self.pool.park(slot)
                continue
            slot.attempt_id = aid
            self._running[aid] = slot
            info = self._follow(aid, slot, attempt, int(known[aid]))
            if attempt.get("exit") is not None:
                result[aid] = RecoveredAttempt(
                    AttemptState.EXITED, AttemptExit.from_json(attempt["exit"]), info
                )
            else:
                result[aid] = RecoveredAttempt(AttemptState.RUNNING, None, info)
        for aid in known:
            result.setdefault(aid, RecoveredAttempt(AttemptState.UNKNOWN))
        return result

    async def _describe(self, handle: Any) -> dict[str, Any] | None:
        if handle is None:
            return None
        try:
            found: dict[str, Any] = await asyncio.wait_for(handle.describe.remote(), DESCRIBE_TIMEOUT)
        except (self._ray.exceptions.RayError, TimeoutError):
            return None
        return found

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
