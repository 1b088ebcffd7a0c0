"""The AWS Batch job lifecycle: the one transition table every status change goes through.

AWS Batch (User Guide, "Job states"): ``SUBMITTED -> PENDING -> RUNNABLE -> STARTING -> RUNNING ->
SUCCEEDED | FAILED``.  A failed attempt with retries left sends ``RUNNING`` back to ``RUNNABLE``
("Automated job retries").  Cancel, terminate and a failed dependency move any non-terminal job to
``FAILED``.  A job without dependencies may go ``SUBMITTED -> RUNNABLE`` directly.  A job that
cannot start goes ``STARTING -> FAILED`` (or back to ``RUNNABLE`` when retries remain).

Array parents ("Array jobs") only ever show ``SUBMITTED``, ``PENDING``, ``SUCCEEDED`` and
``FAILED``; array children are born in ``PENDING`` and then move like any job.

Nobody assigns a status by hand: callers ask :func:`check_transition` and the store applies the
change as a compare-and-set on the previous status.
"""

from __future__ import annotations

import enum


class JobStatus(enum.StrEnum):
    """The seven statuses, in the enum order of the Batch service model."""

    SUBMITTED = "SUBMITTED"
    PENDING = "PENDING"
    RUNNABLE = "RUNNABLE"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class JobKind(enum.StrEnum):
    """What a job row is: a plain job, an array parent (a tracker) or an array child."""

    SINGLE = "SINGLE"
    ARRAY_PARENT = "ARRAY_PARENT"
    ARRAY_CHILD = "ARRAY_CHILD"


TERMINAL: frozenset[JobStatus] = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED})

#: The order of ``statusSummary`` keys in AWS's array-parent events and DescribeJobs answers.
SUMMARY_ORDER: tuple[JobStatus, ...] = (
    JobStatus.STARTING,
    JobStatus.FAILED,
    JobStatus.RUNNING,
    JobStatus.SUCCEEDED,
    JobStatus.RUNNABLE,
    JobStatus.SUBMITTED,
    JobStatus.PENDING,
)

_S = JobStatus

#: Allowed moves of a job that runs a container (a single job or an array child).
RUNNABLE_JOB_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    _S.SUBMITTED: frozenset({_S.PENDING, _S.RUNNABLE, _S.FAILED}),
    _S.PENDING: frozenset({_S.RUNNABLE, _S.FAILED}),
    _S.RUNNABLE: frozenset({_S.STARTING, _S.FAILED}),
    _S.STARTING: frozenset({_S.RUNNING, _S.RUNNABLE, _S.FAILED}),
    _S.RUNNING: frozenset({_S.SUCCEEDED, _S.FAILED, _S.RUNNABLE}),
    _S.SUCCEEDED: frozenset(),
    _S.FAILED: frozenset(),
}

#: Allowed moves of an array parent, which never runs anything itself.
ARRAY_PARENT_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    _S.SUBMITTED: frozenset({_S.PENDING, _S.FAILED}),
    _S.PENDING: frozenset({_S.SUCCEEDED, _S.FAILED}),
    _S.RUNNABLE: frozenset(),
    _S.STARTING: frozenset(),
    _S.RUNNING: frozenset(),
    _S.SUCCEEDED: frozenset(),
    _S.FAILED: frozenset(),
}


class IllegalTransition(ValueError):
    """A status change the lifecycle does not allow."""

    def __init__(self, kind: JobKind, current: JobStatus, target: JobStatus) -> None:
        super().__init__(f"{kind.value} job cannot move from {current.value} to {target.value}")
        self.kind = kind
        self.current = current
        self.target = target


def initial_status(kind: JobKind) -> JobStatus:
    """Jobs and array parents start in ``SUBMITTED``; array children are born ``PENDING``."""
    return JobStatus.PENDING if kind is JobKind.ARRAY_CHILD else JobStatus.SUBMITTED


def allowed(kind: JobKind, current: JobStatus, target: JobStatus) -> bool:
    """Whether ``current -> target`` is a legal move for a job of ``kind``."""
    table = ARRAY_PARENT_TRANSITIONS if kind is JobKind.ARRAY_PARENT else RUNNABLE_JOB_TRANSITIONS
    return target in table[current]


def check_transition(kind: JobKind, current: JobStatus, target: JobStatus) -> None:
    """Raise :class:`IllegalTransition` unless ``current -> target`` is allowed for ``kind``."""
    if not allowed(kind, current, target):
        raise IllegalTransition(kind, current, target)


def is_terminal(status: JobStatus) -> bool:
    return status in TERMINAL


def cancellable(status: JobStatus) -> bool:
    """CancelJob acts on jobs that have not been placed yet (before ``STARTING``)."""
    return status in (JobStatus.SUBMITTED, JobStatus.PENDING, JobStatus.RUNNABLE)
