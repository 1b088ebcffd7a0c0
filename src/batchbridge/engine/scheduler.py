"""The scheduler pass: SUBMITTED and ready PENDING jobs move on, RUNNABLE jobs are placed.

AWS Batch rules emulated (User Guide "Job states", "Job scheduling", "Array jobs"):

* SUBMITTED -> PENDING when the job waits on dependencies, -> RUNNABLE when it has none; a job
  whose dependency already FAILED goes through PENDING to FAILED with ``Dependent Job failed``.
  An array parent goes SUBMITTED -> PENDING in the first pass after submission (its children
  exist by then).
* PENDING jobs (array children are born there) with no open dependency -> RUNNABLE.
* RUNNABLE jobs are placed queue by queue, highest ``priority`` first, each queue in submission
  order (FIFO), into the queue's ENABLED compute environments in ``order``, within each
  environment's vCPUs, memory and GPUs.  DISABLED queues and environments get nothing new.  A job
  larger than every environment of its queue stays RUNNABLE with the statusReason
  ``MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - ...`` (no status change, so no event).
* An executor that runs some compute environments elsewhere (a Ray cluster) is a
  :class:`Placement`: it bounds those environments by what the cluster offers and tells whether a
  single node could ever hold the job; a job no node can hold stays RUNNABLE with the same reason.

Start-ahead (only for an executor that supports it, see
:func:`batchbridge.executors.base.supports_start_ahead`): a compute environment also takes
RUNNABLE jobs into STARTING beyond its vCPUs, up to :func:`lookahead_vcpus` more (more when
its attempts are short and many slots free up between two passes).  In AWS Batch
STARTING means the job was placed on a host and its container is being created; here the launch is
committed with its event and handed to the executor, which starts it as soon as the compute
environment's *running* vCPUs leave room, so maxvCpus still bounds what runs.  Memory and GPUs get
no lookahead: STARTING and RUNNING jobs together stay within them.  A job taken ahead keeps its
place even if a higher-priority queue of the same compute environment gets a job meanwhile (at most
``lookahead`` vCPUs are committed this way; AWS does not promise strict priority across queues
either).

Every pass works in batches (``batch`` rows per step) inside the caller's transaction.
"""

from __future__ import annotations

import dataclasses
import math
import sqlite3
from collections.abc import Callable, Iterator
from typing import Protocol, runtime_checkable

from batchbridge.domain.jobs import Job
from batchbridge.domain.lifecycle import JobKind, JobStatus
from batchbridge.engine.attempts import place
from batchbridge.engine.transitions import DEPENDENT_FAILED, JobWriter
from batchbridge.executors.base import Capacity
from batchbridge.store import jobs as job_store
from batchbridge.store.resolve import SchedulingQueue

TOO_BIG = (
    "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - The job resource requirement (vCPU/memory/GPU) is higher"
    " than that can be met by the CE(s) attached to the job queue."
)


@runtime_checkable
class Placement(Protocol):
    """Per compute environment capacity and fit, answered by a routing executor."""

    def capacity_for(
        self, compute_environment: str, vcpus: float, memory_mib: int, gpus: int
    ) -> Capacity: ...

    def fits(self, compute_environment: str, vcpus: float, memory_mib: int | None, gpus: int) -> bool: ...


#: Upper bound of start-ahead, in vCPUs beyond a compute environment's capacity.
MAX_LOOKAHEAD_VCPUS = 64.0


def lookahead_vcpus(capacity_vcpus: float, released_vcpus: float = 0.0) -> float:
    """Extra vCPUs of STARTING jobs a compute environment may hold.

    ``max(2, capacity)``, or twice the vCPUs its attempts released since the previous pass when
    that is more (at most :data:`MAX_LOOKAHEAD_VCPUS`).  Enough that every slot that frees before
    the next pass has a successor waiting at the executor (the server's round trip leaves the
    critical path); for long attempts that is one wave, so a cancel or a new higher-priority job
    loses little; only a stream of short attempts takes more ahead.

    The release-driven term is rounded down to whole vCPUs: a fractional allowance would leave a
    compute environment with room for no whole-vCPU job yet not full, and every pass would then
    read the whole RUNNABLE backlog looking for a job small enough.
    """
    return max(2.0, capacity_vcpus, float(math.floor(min(2.0 * released_vcpus, MAX_LOOKAHEAD_VCPUS))))


def placement_of(executor: object) -> Placement | None:
    return executor if isinstance(executor, Placement) else None


def _bounded(queues: list[SchedulingQueue], placement: Placement) -> list[SchedulingQueue]:
    result = []
    for sq in queues:
        targets = []
        for t in sq.targets:
            cap = t.capacity
            c = placement.capacity_for(t.compute_environment.name, cap.vcpus, cap.memory_mib, cap.gpus)
            targets.append(dataclasses.replace(t, capacity=type(cap)(c.vcpus, c.memory_mib, c.gpus)))
        result.append(dataclasses.replace(sq, targets=targets))
    return result


@dataclasses.dataclass
class Usage:
    """vCPUs, MiB and GPUs held by STARTING/RUNNING attempts in one compute environment."""

    vcpus: float = 0.0
    memory_mib: int = 0
    gpus: int = 0

    def add(self, job: Job, sign: int = 1) -> None:
        self.vcpus += sign * job.vcpus
        self.memory_mib += sign * job.memory_mib
        self.gpus += sign * job.gpus


def advance_submitted(conn: sqlite3.Connection, writer: JobWriter, batch: int) -> int:
    """Move SUBMITTED jobs on; return how many were looked at."""
    ids = job_store.ids_in_status(conn, JobStatus.SUBMITTED, limit=batch)
    for job in job_store.get_jobs(conn, ids).values():
        targets = [d["jobId"] for d in job.depends_on if "jobId" in d]
        failed = any(s is JobStatus.FAILED for s in job_store.statuses(conn, targets).values())
        if job.kind is JobKind.ARRAY_PARENT:
            writer.move(job, JobStatus.PENDING)
            if failed:
                for child in job_store.children(conn, job.job_id):
                    if child.status is JobStatus.PENDING:
                        writer.fail(child, DEPENDENT_FAILED)
            continue
        if failed:
            if writer.move(job, JobStatus.PENDING):
                writer.fail(job, DEPENDENT_FAILED)
        elif job_store.open_dependencies(conn, job.job_id):
            writer.move(job, JobStatus.PENDING)
        else:
            writer.move(job, JobStatus.RUNNABLE)
    return len(ids)


def release_ready(conn: sqlite3.Connection, writer: JobWriter, batch: int) -> int:
    """PENDING jobs with no open dependency -> RUNNABLE (or FAILED if cancelled meanwhile)."""
    ids = job_store.ids_in_status(conn, JobStatus.PENDING, ready_only=True, limit=batch)
    moved = 0
    for job in job_store.get_jobs(conn, ids).values():
        if job.kind is JobKind.ARRAY_PARENT:
            continue
        if job.cancel_reason is not None:
            writer.fail(job, job.cancel_reason, cancelled=True)
        else:
            writer.move(job, JobStatus.RUNNABLE)
        moved += 1
    return moved


def place_runnable(
    conn: sqlite3.Connection,
    writer: JobWriter,
    queues: list[SchedulingQueue],
    usage: dict[str, Usage],
    batch: int,
    placement: Placement | None = None,
    lookahead: Callable[[str, float], float] | None = None,
) -> list[Job]:
    """Place RUNNABLE jobs where capacity allows; return the jobs moved to STARTING.

    ``lookahead(compute_environment_arn, capacity_vcpus)``, when given, is how many vCPUs beyond
    capacity each compute environment may take into STARTING (start-ahead).
    """
    placed: list[Job] = []
    ahead = lookahead or _no_lookahead
    if placement is not None:
        queues = _bounded(queues, placement)
    for sq in queues:
        if not sq.targets:
            continue
        for job in _runnable(conn, sq, usage, batch, ahead):
            chosen = None
            for target in sq.targets:
                ce = target.compute_environment
                cap = target.capacity
                used = usage.setdefault(ce.arn, Usage())
                if (
                    used.vcpus + job.vcpus <= cap.vcpus + ahead(ce.arn, cap.vcpus) + 1e-9
                    and used.memory_mib + job.memory_mib <= cap.memory_mib
                    and used.gpus + job.gpus <= cap.gpus
                    and (placement is None or placement.fits(ce.name, job.vcpus, job.memory_mib, job.gpus))
                ):
                    chosen = target
                    break
            if chosen is None:
                never = all(
                    job.vcpus > t.capacity.vcpus + 1e-9
                    or job.memory_mib > t.capacity.memory_mib
                    or job.gpus > t.capacity.gpus
                    or (
                        placement is not None
                        and not placement.fits(
                            t.compute_environment.name, job.vcpus, job.memory_mib, job.gpus
                        )
                    )
                    for t in sq.targets
                )
                if never and job.status_reason != TOO_BIG:
                    job.status_reason = TOO_BIG
                    job_store.update_job(conn, job, job.status)
                if all(
                    _full(
                        usage.get(t.compute_environment.arn),
                        t.capacity.vcpus + ahead(t.compute_environment.arn, t.capacity.vcpus),
                    )
                    for t in sq.targets
                ):
                    break
                continue
            ce = chosen.compute_environment
            ce_uuid = ce.detail.get("uuid")

            def apply(j: Job, ce_arn: str = ce.arn, name: str = ce.name, cu: object = ce_uuid) -> None:
                j.status_reason = None
                place(j, ce_arn, name, str(cu) if cu else None)

            if writer.move(job, JobStatus.STARTING, apply):
                usage[ce.arn].add(job)
                placed.append(job)
    return placed


def _no_lookahead(compute_environment_arn: str, capacity_vcpus: float) -> float:
    return 0.0


def _runnable(
    conn: sqlite3.Connection,
    sq: SchedulingQueue,
    usage: dict[str, Usage],
    batch: int,
    ahead: Callable[[str, float], float] = _no_lookahead,
) -> Iterator[Job]:
    """RUNNABLE jobs of ``sq`` in FIFO order, read in pages while any CE has room.

    A page holds about as many jobs as the room left takes at one vCPU each (at least 4, at most
    512), so a pass reads little more than it places.
    """
    after = 0
    seen = 0
    while seen < batch:
        room = 0.0
        for t in sq.targets:
            used = usage.get(t.compute_environment.arn)
            limit = t.capacity.vcpus + ahead(t.compute_environment.arn, t.capacity.vcpus)
            room += max(0.0, limit - (used.vcpus if used is not None else 0.0))
        if room < 1e-9:
            return
        page = max(4, min(512, math.ceil(room)))
        jobs = job_store.runnable_in_queue(conn, sq.queue.arn, page, after)
        if not jobs:
            return
        for job in jobs:
            after = job.run.seq
            seen += 1
            yield job


def _full(used: Usage | None, vcpus: float) -> bool:
    return used is not None and used.vcpus >= vcpus - 1e-9
