"""What a Ray cluster offers: the lazy Ray import, the connection and the nodes' resources.

AWS rule emulated: a compute environment's capacity is the sum of its instances, yet a job is
placed on one instance only, so a job that needs more vCPUs, memory or GPUs than the largest
instance offers can never start.  AWS Batch leaves such a job RUNNABLE (the console shows it as
stuck; the AWS troubleshooting guide's "Jobs stuck in a RUNNABLE status"); the engine asks
:func:`fits_any_node` to tell it apart and give it a reason.

Ray is an optional dependency (``pip install 'batchbridge[ray]'``): it is imported here, lazily,
and a missing Ray is reported as a :class:`~batchbridge.errors.ClientException` naming the compute
environment.
"""

from __future__ import annotations

import dataclasses
import importlib
import socket
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

from batchbridge.errors import ClientException
from batchbridge.executors.base import Capacity

MIB = 2**20
#: Resources Ray defines for itself, not labels a job may ask for.
_BUILTIN = {"CPU", "GPU", "memory", "object_store_memory"}


def import_ray(compute_environment: str) -> ModuleType:
    """``import ray``, or a ClientException telling how to install it."""
    try:
        return importlib.import_module("ray")
    except ImportError:
        raise ClientException(
            f"Compute environment {compute_environment} is bound to a Ray cluster but Ray is not "
            "installed: pip install 'batchbridge[ray]'"
        ) from None


@dataclasses.dataclass(frozen=True)
class NodeResources:
    """One alive node: its id, its IP and its total resources (memory in bytes, as Ray counts)."""

    node_id: str
    ip: str
    cpus: float
    memory_bytes: float
    gpus: float
    custom: Mapping[str, float]

    @classmethod
    def from_ray(cls, node: Mapping[str, Any]) -> NodeResources:
        resources: Mapping[str, float] = node.get("Resources", {})
        custom = {
            name: float(value)
            for name, value in resources.items()
            if name not in _BUILTIN
            and not name.startswith("node:")
            and not name.startswith("accelerator_type")
        }
        return cls(
            node_id=str(node["NodeID"]),
            ip=str(node.get("NodeManagerAddress", "")),
            cpus=float(resources.get("CPU", 0.0)),
            memory_bytes=float(resources.get("memory", 0.0)),
            gpus=float(resources.get("GPU", 0.0)),
            custom=custom,
        )

    def fits(self, vcpus: float, memory_mib: int | None, gpus: int, labels: Mapping[str, float]) -> bool:
        if vcpus > self.cpus + 1e-9 or gpus > self.gpus + 1e-9:
            return False
        if memory_mib is not None and memory_mib * MIB > self.memory_bytes:
            return False
        return all(self.custom.get(name, 0.0) >= amount for name, amount in labels.items())


def alive_nodes(raw_nodes: Iterable[Mapping[str, Any]]) -> list[NodeResources]:
    """The alive nodes of ``ray.nodes()``."""
    return [NodeResources.from_ray(node) for node in raw_nodes if node.get("Alive")]


def total_capacity(nodes: Iterable[NodeResources], labels: Mapping[str, float]) -> Capacity:
    """What the nodes that carry every label offer together (vCPUs, MiB, GPUs)."""
    usable = [n for n in nodes if all(n.custom.get(k, 0.0) >= v for k, v in labels.items())]
    return Capacity(
        vcpus=sum(n.cpus for n in usable),
        memory_mib=int(sum(n.memory_bytes for n in usable) // MIB),
        gpus=int(sum(n.gpus for n in usable)),
    )


def fits_any_node(
    nodes: Iterable[NodeResources],
    vcpus: float,
    memory_mib: int | None,
    gpus: int,
    labels: Mapping[str, float],
) -> bool:
    """True when one node alone could hold the attempt (ignoring what currently runs there)."""
    return any(node.fits(vcpus, memory_mib, gpus, labels) for node in nodes)


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast, with the address in the message, when nothing listens at a ``host:port`` address.

    ``ray.init`` would otherwise retry for minutes.  Other address forms (``auto``, ``ray://``)
    are left to Ray.
    """
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or "/" in host:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as error:
        raise ClientException(
            f"Cannot connect to the Ray cluster at {address}: {error.strerror or error}"
        ) from None


def connect(ray: ModuleType, address: str, namespace: str) -> None:
    """Connect this process to the cluster as a Ray driver (a no-op when already connected)."""
    if ray.is_initialized():
        return
    check_reachable(address)
    try:
        ray.init(address=address, namespace=namespace, ignore_reinit_error=True, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise ClientException(f"Cannot connect to the Ray cluster at {address}: {error}") from None
