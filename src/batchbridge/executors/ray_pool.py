"""The pool of warm actors: which actor takes an attempt, when the pool grows and shrinks.

AWS rule emulated: a compute environment scales its instances between ``minvCpus`` and
``maxvCpus`` with the jobs it is given, and instances that have nothing to run are scaled in.
Here the "instances" are warm Ray actors (:mod:`batchbridge.executors.ray_warm`), one per running
attempt, grouped by resource *shape* (vCPUs, MiB, GPUs and custom resources):

* an attempt goes to an idle actor of its shape (most recently used first, so a small pool stays
  hot), else a new actor is placed: the pool grows on demand; the engine's scheduler already keeps
  the attempts under way within the compute environment's ``maxvCpus`` and the cluster's size;
* before a new actor is placed, if no node that could hold its shape has room left beside this
  pool's actors, idle actors of *other* shapes on such nodes are ended (least recently used first),
  so actors kept warm for one shape never keep another shape from being placed;
* an actor idle for longer than the pool's ``idle_seconds`` is ended: the pool shrinks.

This module holds the bookkeeping only (no Ray calls), so its rules are testable on their own.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping
from typing import Any

from batchbridge.executors.base import LaunchSpec
from batchbridge.executors.ray_cluster import MIB, NodeResources

#: vCPUs, MiB (or None), GPUs and the sorted custom resources an attempt asks Ray for.
Shape = tuple[float, int | None, int, tuple[tuple[str, float], ...]]


def shape_of(spec: LaunchSpec, labels: Mapping[str, float]) -> Shape:
    """The resource shape of an attempt in a compute environment carrying ``labels``."""
    return (float(spec.vcpus), spec.memory_mib, int(spec.gpus), tuple(sorted(labels.items())))


def shape_to_json(shape: Shape) -> list[Any]:
    return [shape[0], shape[1], shape[2], [list(item) for item in shape[3]]]


def shape_from_json(data: Any) -> Shape | None:
    """The shape an actor reports, or None when it is not one."""
    try:
        vcpus, memory, gpus, labels = data
        return (
            float(vcpus),
            None if memory is None else int(memory),
            int(gpus),
            tuple((str(name), float(amount)) for name, amount in labels),
        )
    except (TypeError, ValueError):
        return None


def ray_options(shape: Shape) -> dict[str, Any]:
    """The resource options of an actor of ``shape``."""
    vcpus, memory, gpus, labels = shape
    options: dict[str, Any] = {"num_cpus": vcpus, "num_gpus": gpus}
    if memory is not None:
        options["memory"] = memory * MIB
    if labels:
        options["resources"] = dict(labels)
    return options


@dataclasses.dataclass(eq=False)
class Slot:
    """One warm actor: its name, its handle, its shape, where it runs and what it holds."""

    name: str
    handle: Any
    shape: Shape
    node_id: str = ""
    node_ip: str = ""
    attempt_id: str | None = None
    idle_since: float = dataclasses.field(default_factory=time.monotonic)
    dead: bool = False


class Pool:
    """The warm actors of one executor."""

    def __init__(self, idle_seconds: float) -> None:
        self.idle_seconds = idle_seconds
        self.slots: dict[str, Slot] = {}
        self._idle: dict[Shape, list[Slot]] = {}

    def add(self, slot: Slot) -> None:
        self.slots[slot.name] = slot

    def take_idle(self, shape: Shape) -> Slot | None:
        """An idle live actor of ``shape`` (the most recently used), removed from the idle list."""
        idle = self._idle.get(shape)
        while idle:
            slot = idle.pop()
            if not slot.dead and slot.name in self.slots:
                return slot
        return None

    def park(self, slot: Slot) -> None:
        """``slot`` finished its attempt: it waits for the next one of its shape."""
        slot.attempt_id = None
        slot.idle_since = time.monotonic()
        if not slot.dead and slot.name in self.slots:
            self._idle.setdefault(slot.shape, []).append(slot)

    def drop(self, slot: Slot) -> None:
        """Forget ``slot`` (its actor died or was ended)."""
        slot.dead = True
        self.slots.pop(slot.name, None)
        idle = self._idle.get(slot.shape)
        if idle and slot in idle:
            idle.remove(slot)

    def idle_slots(self) -> list[Slot]:
        return [slot for slots in self._idle.values() for slot in slots if not slot.dead]

    def expired(self, now: float | None = None) -> list[Slot]:
        """Idle actors unused for ``idle_seconds`` or more (the caller ends and drops them)."""
        moment = time.monotonic() if now is None else now
        return [s for s in self.idle_slots() if moment - s.idle_since >= self.idle_seconds]

    def on_nodes(self, node_ids: Iterable[str]) -> list[Slot]:
        wanted = set(node_ids)
        return [slot for slot in self.slots.values() if slot.node_id in wanted]

    def evictions_for(self, shape: Shape, nodes: Iterable[NodeResources]) -> list[Slot]:
        """Idle actors of other shapes to end so that some node can place an actor of ``shape``.

        Empty when a node already has room beside this pool's actors, or when no node could ever
        hold ``shape`` (ending actors would not help).
        """
        vcpus, memory, gpus, labels = shape
        fitting = [n for n in nodes if n.fits(vcpus, memory, gpus, dict(labels))]
        if not fitting:
            return []
        held: dict[str, list[float]] = {}
        for slot in self.slots.values():
            used = held.setdefault(slot.node_id, [0.0, 0.0, 0.0])
            used[0] += slot.shape[0]
            used[1] += (slot.shape[1] or 0) * MIB
            used[2] += slot.shape[2]

        def room(node: NodeResources, used: list[float]) -> bool:
            return (
                used[0] + vcpus <= node.cpus + 1e-9
                and used[1] + (memory or 0) * MIB <= node.memory_bytes
                and used[2] + gpus <= node.gpus + 1e-9
            )

        if any(room(n, held.get(n.node_id, [0.0, 0.0, 0.0])) for n in fitting):
            return []
        best: list[Slot] | None = None
        for node in fitting:
            used = list(held.get(node.node_id, [0.0, 0.0, 0.0]))
            candidates = sorted(
                (s for s in self.idle_slots() if s.node_id == node.node_id and s.shape != shape),
                key=lambda s: s.idle_since,
            )
            chosen: list[Slot] = []
            for slot in candidates:
                if room(node, used):
                    break
                chosen.append(slot)
                used[0] -= slot.shape[0]
                used[1] -= (slot.shape[1] or 0) * MIB
                used[2] -= slot.shape[2]
            if room(node, used) and (best is None or len(chosen) < len(best)):
                best = chosen
        return best or []
