"""Resolve the names and ARNs callers give for Batch resources, with AWS's error texts.

AWS Batch accepts a name or an ARN wherever it needs a compute environment or a job queue, and
several forms of job definition reference (spec §1.4):

* ``name`` — the latest ACTIVE revision; none ⇒
  ``JobDefinition name <name> does not exist or is not in ACTIVE status``;
* ``name:revision`` and ``arn:...:job-definition/name:revision`` — that revision, which must exist
  (``JobDefinition <arn> not found.``) and be ACTIVE (``JobDefinition <arn> is not in ACTIVE status``;
  for the short form the message shows the ARN it stands for);
* ``arn:...:job-definition/name`` — the latest ACTIVE revision; none ⇒ ``JobDefinition <arn> not found.``

A queue that is missing answers ``JobQueue <ref> not found.`` (real AWS text for SubmitJob);
a compute environment ``ComputeEnvironment <arn> does not exist`` (AWS's wording is unpublished;
spec §3.4 only says it matches ``compute-environment/.* does not exist``).  An ARN of another
region or account names nothing here.

Every function takes a ``sqlite3.Connection`` (inside the caller's transaction) or a
:class:`Database` (read outside a transaction).  The scheduler's view of queues and compute
environments is :func:`list_job_queues_for_scheduling`.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from batchbridge.domain.arns import batch_arn, parse_arn
from batchbridge.domain.resources import Capacity, ComputeEnvironment, JobDefinition, JobQueue, capacity
from batchbridge.errors import ClientException
from batchbridge.store.db import Database
from batchbridge.store.resources import (
    compute_environments_by_arn,
    enabled_job_queues,
    get_compute_environment,
    get_job_definition,
    get_job_queue,
    latest_active_job_definition,
    placement_version,
)

ConnOrDb = sqlite3.Connection | Database


@contextmanager
def _connection(source: ConnOrDb) -> Iterator[sqlite3.Connection]:
    if isinstance(source, Database):
        with source.read() as conn:
            yield conn
    else:
        yield source


def resource_arn(region: str, account: str, kind: str, ref: str) -> str | None:
    """The ARN ``ref`` stands for: ``ref`` itself if it is a Batch ARN of ``kind`` in this
    region and account, the ARN built from it if it is a bare name, ``None`` otherwise."""
    if ref.startswith("arn:"):
        arn = parse_arn(ref)
        if arn is None or arn.service != "batch" or not arn.resource.startswith(f"{kind}/"):
            return None
        if arn.region != region or arn.account != account:
            return None
        return ref
    if not ref or "/" in ref or ":" in ref:
        return None
    return batch_arn(region, account, kind, ref)


def find_compute_environment(
    source: ConnOrDb, region: str, account: str, ref: str
) -> ComputeEnvironment | None:
    """The compute environment named by ``ref`` (name or ARN), or ``None``."""
    arn = resource_arn(region, account, "compute-environment", ref)
    if arn is None:
        return None
    with _connection(source) as conn:
        return get_compute_environment(conn, arn)


def resolve_compute_environment(source: ConnOrDb, region: str, account: str, ref: str) -> ComputeEnvironment:
    """Like :func:`find_compute_environment`, raising ``ClientException`` when it does not exist."""
    found = find_compute_environment(source, region, account, ref)
    if found is None:
        shown = ref if ref.startswith("arn:") else batch_arn(region, account, "compute-environment", ref)
        raise ClientException(f"ComputeEnvironment {shown} does not exist")
    return found


def find_job_queue(source: ConnOrDb, region: str, account: str, ref: str) -> JobQueue | None:
    """The job queue named by ``ref`` (name or ARN), or ``None``."""
    arn = resource_arn(region, account, "job-queue", ref)
    if arn is None:
        return None
    with _connection(source) as conn:
        return get_job_queue(conn, arn)


def resolve_job_queue(source: ConnOrDb, region: str, account: str, ref: str) -> JobQueue:
    """Like :func:`find_job_queue`, raising ``JobQueue <ref> not found.`` when it does not exist."""
    found = find_job_queue(source, region, account, ref)
    if found is None:
        raise ClientException(f"JobQueue {ref} not found.")
    return found


def _split_revision(text: str) -> tuple[str, int | None] | None:
    """``name`` → (name, None); ``name:rev`` → (name, rev); anything else → None."""
    name, sep, rev = text.partition(":")
    if not name or "/" in name:
        return None
    if not sep:
        return name, None
    if not rev.isdigit() or int(rev) < 1:
        return None
    return name, int(rev)


def resolve_job_definition(source: ConnOrDb, region: str, account: str, ref: str) -> JobDefinition:
    """The ACTIVE job definition revision ``ref`` names, per the rules in the module docstring."""
    with _connection(source) as conn:
        if ref.startswith("arn:"):
            arn = parse_arn(ref)
            prefix = "job-definition/"
            parts = (
                _split_revision(arn.resource[len(prefix) :])
                if arn is not None
                and arn.service == "batch"
                and arn.resource.startswith(prefix)
                and (arn.region, arn.account) == (region, account)
                else None
            )
            if parts is None:
                raise ClientException(f"JobDefinition {ref} not found.")
            name, revision = parts
            if revision is None:
                latest = latest_active_job_definition(conn, account, region, name)
                if latest is None:
                    raise ClientException(f"JobDefinition {ref} not found.")
                return latest
            return _exact_revision(conn, ref)
        parts = _split_revision(ref)
        if parts is None:
            raise ClientException(f"JobDefinition name {ref} does not exist or is not in ACTIVE status")
        name, revision = parts
        if revision is None:
            latest = latest_active_job_definition(conn, account, region, name)
            if latest is None:
                raise ClientException(f"JobDefinition name {name} does not exist or is not in ACTIVE status")
            return latest
        return _exact_revision(conn, batch_arn(region, account, "job-definition", ref))


def _exact_revision(conn: sqlite3.Connection, arn: str) -> JobDefinition:
    found = get_job_definition(conn, arn)
    if found is None:
        raise ClientException(f"JobDefinition {arn} not found.")
    if not found.active:
        raise ClientException(f"JobDefinition {arn} is not in ACTIVE status")
    return found


@dataclasses.dataclass(frozen=True)
class PlacementTarget:
    """One compute environment a queue may place jobs in, with what it can hold."""

    compute_environment: ComputeEnvironment
    capacity: Capacity


@dataclasses.dataclass(frozen=True)
class SchedulingQueue:
    """An ENABLED queue and its ENABLED compute environments in ``computeEnvironmentOrder``."""

    queue: JobQueue
    targets: list[PlacementTarget]


_SchedulingKey = tuple[int, int, int]
_SCHEDULING: weakref.WeakKeyDictionary[Database, tuple[_SchedulingKey, list[SchedulingQueue]]] = (
    weakref.WeakKeyDictionary()
)


def list_job_queues_for_scheduling(source: ConnOrDb, memory_mib: int = 0) -> list[SchedulingQueue]:
    """What the scheduler may place jobs in, across every account and region.

    Queues come highest ``priority`` first (AWS evaluates queues sharing a compute environment in
    descending priority), ties in creation order; within a queue, compute environments come in
    ascending ``order``.  DISABLED queues and DISABLED compute environments are left out: AWS
    places no new jobs there, while jobs already started keep running.  ``memory_mib`` is
    ``Settings.memory_mib`` (0: the machine's memory).

    Read through a :class:`Database`, the list is kept until a compute environment or queue is
    written in this process (:func:`~batchbridge.store.resources.placement_version`) or another
    connection commits to the file (``PRAGMA data_version``), so a scheduler pass with nothing
    changed costs one pragma instead of two queries and their JSON.
    """
    if not isinstance(source, Database):
        return _read_scheduling(source, memory_mib)
    with source.read() as conn:
        key = (placement_version(), int(conn.execute("PRAGMA data_version").fetchone()[0]), memory_mib)
        cached = _SCHEDULING.get(source)
        if cached is not None and cached[0] == key:
            return list(cached[1])
        result = _read_scheduling(conn, memory_mib)
    _SCHEDULING[source] = (key, result)
    return list(result)


def _read_scheduling(conn: sqlite3.Connection, memory_mib: int) -> list[SchedulingQueue]:
    queues = enabled_job_queues(conn)
    wanted = sorted({arn for queue in queues for arn in queue.compute_environment_arns})
    envs = compute_environments_by_arn(conn, wanted)
    result: list[SchedulingQueue] = []
    for queue in queues:
        targets = [
            PlacementTarget(envs[arn], capacity(envs[arn], memory_mib))
            for arn in queue.compute_environment_arns
            if arn in envs and envs[arn].enabled
        ]
        result.append(SchedulingQueue(queue, targets))
    return result
