"""Applying job status changes: table check, compare-and-set, event, follow-ups, one transaction.

Every status change of a job, wherever it is decided (scheduler, exit handling, CancelJob,
TerminateJob, reconcile), goes through :class:`JobWriter.move`:

1. the lifecycle table allows it (:func:`~batchbridge.domain.lifecycle.check_transition`);
2. the row is updated only if it still holds the status that was read (compare-and-set);
3. the ``Batch Job State Change`` event is built from the job as it now is and written to the
   outbox in the same transaction (AWS sends one per change, never for the initial submission;
   array children are born PENDING without an event, treated like a submission);
4. follow-ups run in the same transaction: a child's move updates its parent's ``statusSummary``
   counts; a terminal job releases or fails its dependents (``Dependent Job failed``); the last
   child to end rolls the parent up to SUCCEEDED (all succeeded) or FAILED.

Dependents that the caller asked to cancel while they waited (CancelJob on PENDING completes only
once the dependencies are done, per the CancelJob reference) end FAILED with the caller's reason.
The parent's statusReason is left absent on roll-up (open point of the spec) and is the caller's
reason when the array was cancelled or terminated.
"""

from __future__ import annotations

import collections
import sqlite3
import time
from collections.abc import Callable, Sequence

from batchbridge.domain.arns import new_ordered_uuid, parse_arn
from batchbridge.domain.event_text import encode_state_change
from batchbridge.domain.job_events import DETAIL_TYPE, SOURCE, final_status_of_array
from batchbridge.domain.jobs import Job
from batchbridge.domain.lifecycle import JobKind, JobStatus, check_transition, is_terminal
from batchbridge.store import jobs as job_store
from batchbridge.store import outbox

DEPENDENT_FAILED = "Dependent Job failed"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class JobWriter:
    """Applies moves inside one open transaction; call :meth:`finish` before the commit."""

    def __init__(self, conn: sqlite3.Connection, clock: Callable[[], int] = now_ms) -> None:
        self.conn = conn
        self.clock = clock
        #: The events of this writer's moves, as outbox rows (see :func:`outbox.append_encoded`).
        self.events: list[tuple[str, str, str, str, str | None]] = []
        self.moved: list[Job] = []
        self._terminal: collections.deque[Job] = collections.deque()
        self._counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self._places: dict[str, tuple[str, str]] = {}

    def move(self, job: Job, target: JobStatus, mutate: Callable[[Job], None] | None = None) -> bool:
        """Move ``job`` to ``target`` (applying ``mutate`` first); ``False`` if someone moved it first."""
        check_transition(job.kind, job.status, target)
        old = job.status
        job.status = target
        if mutate is not None:
            mutate(job)
        if not job_store.update_job(self.conn, job, old):
            job.status = old
            return False
        summary = self.array_counts(job.job_id) if job.kind is JobKind.ARRAY_PARENT else None
        self.events.append(self._event(job, summary))
        self._moved(job, old)
        return True

    def move_through(self, job: Job, steps: Sequence[tuple[JobStatus, Callable[[Job], None] | None]]) -> bool:
        """Several moves of one job (not an array parent) with one write: an event per step.

        Each ``(target, mutate)`` step is checked against the table and its event built from the
        job as that step leaves it; the row is then written once, compare-and-set against the
        status it had before the first step.  An attempt that ran and ended within one pass
        (STARTING -> RUNNING -> SUCCEEDED) costs one row write instead of two.  ``False``, with no
        event kept, if someone moved the job first.
        """
        if job.kind is JobKind.ARRAY_PARENT:
            raise ValueError("an array parent moves one step at a time")
        start = job.status
        events = []
        for target, mutate in steps:
            check_transition(job.kind, job.status, target)
            job.status = target
            if mutate is not None:
                mutate(job)
            events.append(self._event(job, None))
        if not job_store.update_job(self.conn, job, start):
            job.status = start
            return False
        self.events.extend(events)
        self._moved(job, start)
        return True

    def _moved(self, job: Job, old: JobStatus) -> None:
        """Book a written move from ``old``: the parent's child counts, the follow-ups of an end."""
        if job.kind is JobKind.ARRAY_CHILD and job.parent_id is not None:
            self._counts[(job.parent_id, old.value)] -= 1
            self._counts[(job.parent_id, job.status.value)] += 1
        self.moved.append(job)
        if is_terminal(job.status):
            self._terminal.append(job)

    def array_counts(self, parent_id: str) -> dict[str, int]:
        """Children of ``parent_id`` by status, including the moves of this writer so far.

        Child moves add up their count changes in memory and write them in one statement when
        the counts are read or at :meth:`finish`, still inside the same transaction.
        """
        self._flush_counts()
        return job_store.array_counts(self.conn, parent_id)

    def _flush_counts(self) -> None:
        if self._counts:
            job_store.add_counts(self.conn, self._counts)
            self._counts.clear()

    def _place(self, job_arn: str) -> tuple[str, str]:
        """(account, region) of a job ARN, parsed once per account and region."""
        prefix = job_arn.split("/", 1)[0]
        found = self._places.get(prefix)
        if found is None:
            arn = parse_arn(job_arn)
            found = (arn.account, arn.region) if arn else ("", "")
            self._places[prefix] = found
        return found

    def _event(self, job: Job, summary: dict[str, int] | None) -> tuple[str, str, str, str, str | None]:
        account, region = self._place(job.job_arn)
        event_id = new_ordered_uuid()
        body = encode_state_change(
            job, event_id=event_id, account=account, region=region, at_ms=self.clock(), summary=summary
        )
        return (event_id, SOURCE, DETAIL_TYPE, body, job.job_id)

    def fail(self, job: Job, reason: str, *, cancelled: bool = False, terminated: bool = False) -> bool:
        """Move a job that did not (or no longer) run to FAILED with ``reason``."""
        stamp = self.clock()

        def apply(j: Job) -> None:
            j.status_reason = reason
            j.stopped_at = stamp
            j.is_cancelled = j.is_cancelled or cancelled
            j.is_terminated = j.is_terminated or terminated

        return self.move(job, JobStatus.FAILED, apply)

    def finish(self) -> list[Job]:
        """Run the follow-ups of terminal moves and write every event; return the jobs moved."""
        while self._terminal:
            job = self._terminal.popleft()
            if job.status is JobStatus.SUCCEEDED:
                self._release_dependents(job)
            else:
                self._fail_dependents(job)
            if job.kind is JobKind.ARRAY_CHILD and job.parent_id is not None:
                self._roll_up(job.parent_id)
        self._flush_counts()
        if self.events:
            outbox.append_encoded(self.conn, self.events)
        return self.moved

    def _release_dependents(self, job: Job) -> None:
        ready = job_store.resolve_edges_to(self.conn, job.job_id)
        for dependent in job_store.get_jobs(self.conn, ready).values():
            if dependent.status is not JobStatus.PENDING:
                continue
            if dependent.cancel_reason is not None:
                self.fail(dependent, dependent.cancel_reason, cancelled=True)
            else:
                self.move(dependent, JobStatus.RUNNABLE)

    def _fail_dependents(self, job: Job) -> None:
        waiting = job_store.dependents_of(self.conn, job.job_id)
        for dependent in job_store.get_jobs(self.conn, waiting).values():
            if dependent.status not in (JobStatus.SUBMITTED, JobStatus.PENDING):
                continue
            if dependent.cancel_reason is not None:
                self.fail(dependent, dependent.cancel_reason, cancelled=True)
            else:
                self.fail(dependent, DEPENDENT_FAILED)

    def _roll_up(self, parent_id: str) -> None:
        counts = self.array_counts(parent_id)
        ended = counts.get(JobStatus.SUCCEEDED.value, 0) + counts.get(JobStatus.FAILED.value, 0)
        if ended < sum(counts.values()):
            return
        parent = job_store.get_job(self.conn, parent_id)
        if parent is None or is_terminal(parent.status) or parent.array_size is None:
            return
        final = final_status_of_array(counts, parent.array_size)
        if final is None:
            return
        stamp = self.clock()

        def apply(j: Job) -> None:
            j.stopped_at = stamp
            if final is JobStatus.FAILED and j.cancel_reason is not None:
                j.status_reason = j.cancel_reason

        self.move(parent, final, apply)
