"""The executor seam: what the job engine asks of whatever really runs a job attempt.

The engine decides *what* runs; an executor runs it and reports back.  An executor knows nothing
of the Batch API: it is given a :class:`LaunchSpec` (a command already substituted, a complete
environment that already holds the ``AWS_BATCH_*`` variables, resource limits and a timeout) and
it delivers, per attempt and in order, the attempt's :class:`OutputLine` records and then exactly
one :class:`AttemptExit`.

The reasons an attempt ends carry AWS Batch's own texts (AWS Batch user guide, "Job states",
"Job timeouts" and the statusReason catalogue of the project spec, section 4.2):

* a normal exit, zero or not, and an out-of-memory kill: ``Essential container in task exited``;
  the OOM kill adds the container reason ``OutOfMemoryError: Container killed due to memory usage``
  and exit code 137;
* a timeout: ``Job attempt duration exceeded timeout`` (SIGTERM, then SIGKILL after the grace);
* a stop requested by the engine (TerminateJob): the caller's reason;
* a lost host: ``Host EC2 (instance <host>) terminated.``;
* a command that cannot be executed: ``Task failed to start`` with the container reason
  ``CannotStartContainerError: <detail>``.

Delivery contract.  Output and exits are at-least-once until acknowledged: the engine calls
:meth:`Executor.acknowledge` once it has durably recorded an exit, and must treat a second exit for
the same ``attempt_id`` (possible only after a crash before the acknowledgement) as a repeat.
Output lines carry a per-attempt ``seq`` starting at 1 with no gaps, so that after a restart the
engine hands :meth:`Executor.recover` the last ``seq`` it stored for each attempt and receives every
later line exactly once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import os
import re
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from batchbridge.errors import ClientException

ESSENTIAL_CONTAINER_EXITED = "Essential container in task exited"
TIMEOUT_STATUS_REASON = "Job attempt duration exceeded timeout"
TASK_FAILED_TO_START = "Task failed to start"
OOM_REASON = "OutOfMemoryError: Container killed due to memory usage"
CANNOT_START_PREFIX = "CannotStartContainerError: "
#: Exit code of a process killed by SIGKILL, as Docker and ECS report it (128 + 9).
SIGKILL_EXIT_CODE = 137

Stream = Literal["stdout", "stderr"]

_ATTEMPT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,254}$")


def host_lost_reason(host: str) -> str:
    """The statusReason AWS Batch gives an attempt whose EC2 host went away."""
    return f"Host EC2 (instance {host}) terminated."


def now_ms() -> int:
    """Wall-clock milliseconds since the epoch, the unit of Batch's ``startedAt``/``stoppedAt``."""
    return time.time_ns() // 1_000_000


def base_environment() -> dict[str, str]:
    """The host variables a local "container image" would carry (PATH, HOME, locale, TMPDIR).

    :attr:`LaunchSpec.environment` is passed to the process exactly as given; an engine that wants
    commands to find the host's tools merges this under the job's own variables.
    """
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "LOGNAME", "SHELL", "TZ")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.setdefault("PATH", os.defpath)
    return env


#: The values of :attr:`LaunchSpec.cpu_priority` (and of the server's ``job_cpu_priority``).
CPU_PRIORITIES: tuple[str, ...] = ("idle", "normal")


@dataclasses.dataclass(frozen=True)
class LaunchSpec:
    """One attempt to run: everything the executor needs, nothing about Batch resources.

    ``memory_mib`` is the job's MEMORY requirement and is enforced (the attempt is killed with
    SIGKILL when its whole process group uses more).  ``timeout_seconds`` is enforced by the
    executor itself so that it holds while the server is down.  ``vcpus`` and ``gpus`` are used
    for capacity accounting by the scheduler; the local executor does not pin processes.
    """

    attempt_id: str
    command: list[str]
    environment: dict[str, str]
    vcpus: float
    memory_mib: int | None
    gpus: int
    workdir: Path
    timeout_seconds: float | None = None
    kill_grace_seconds: float = 30.0
    #: The compute environment the attempt was placed in ("" when none is named); a routing
    #: executor sends the attempt to the executor bound to it.
    compute_environment: str = ""
    #: Set only for an executor that supports start-ahead (:func:`supports_start_ahead`): the
    #: compute environment's vCPU capacity.  The attempt may then be held by the executor until the
    #: running vCPUs of its compute environment leave room for it (see the agent's gate).
    gate_vcpus: float | None = None
    #: ``normal``, or ``idle`` to run the process under Linux's ``SCHED_IDLE`` policy (see
    #: :mod:`batchbridge.executors.process`).
    cpu_priority: str = "normal"

    def __post_init__(self) -> None:
        if not isinstance(self.attempt_id, str) or not _ATTEMPT_ID.match(self.attempt_id):
            raise ClientException(
                "attemptId must be 1-255 letters, digits, '_', '.', ':' or '-', starting with a letter"
                f" or digit; got {self.attempt_id!r}"
            )
        if not isinstance(self.command, list) or not self.command:
            raise ClientException("command must be a non-empty list of strings")
        if not all(isinstance(part, str) and "\0" not in part for part in self.command):
            raise ClientException("command must contain only strings without NUL characters")
        for name, value in self.environment.items():
            if not isinstance(name, str) or not name or "=" in name or "\0" in name:
                raise ClientException(f"environment variable name {name!r} is not valid")
            if not isinstance(value, str) or "\0" in value:
                raise ClientException(f"environment variable {name} must be a string without NUL")
        if not self.vcpus > 0:
            raise ClientException(f"vcpus must be greater than 0; got {self.vcpus!r}")
        if self.memory_mib is not None and not (isinstance(self.memory_mib, int) and self.memory_mib > 0):
            raise ClientException(f"memory must be a positive number of MiB; got {self.memory_mib!r}")
        if not (isinstance(self.gpus, int) and self.gpus >= 0):
            raise ClientException(f"gpus must be a non-negative integer; got {self.gpus!r}")
        if self.timeout_seconds is not None and not self.timeout_seconds > 0:
            raise ClientException(f"timeout must be greater than 0 seconds; got {self.timeout_seconds!r}")
        if not self.kill_grace_seconds >= 0:
            raise ClientException(f"kill grace must be 0 seconds or more; got {self.kill_grace_seconds!r}")
        if self.gate_vcpus is not None and not self.gate_vcpus > 0:
            raise ClientException(f"gate vcpus must be greater than 0; got {self.gate_vcpus!r}")
        if self.cpu_priority not in CPU_PRIORITIES:
            raise ClientException(f"cpu priority must be normal or idle; got {self.cpu_priority!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "attempt_id": self.attempt_id,
            "command": list(self.command),
            "environment": dict(self.environment),
            "vcpus": self.vcpus,
            "memory_mib": self.memory_mib,
            "gpus": self.gpus,
            "workdir": str(self.workdir),
            "timeout_seconds": self.timeout_seconds,
            "kill_grace_seconds": self.kill_grace_seconds,
            "compute_environment": self.compute_environment,
            "gate_vcpus": self.gate_vcpus,
            "cpu_priority": self.cpu_priority,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LaunchSpec:
        return cls(
            attempt_id=data["attempt_id"],
            command=list(data["command"]),
            environment=dict(data["environment"]),
            vcpus=float(data["vcpus"]),
            memory_mib=data.get("memory_mib"),
            gpus=int(data.get("gpus", 0)),
            workdir=Path(data["workdir"]),
            timeout_seconds=data.get("timeout_seconds"),
            kill_grace_seconds=float(data.get("kill_grace_seconds", 30.0)),
            compute_environment=str(data.get("compute_environment") or ""),
            gate_vcpus=None if data.get("gate_vcpus") is None else float(data["gate_vcpus"]),
            cpu_priority=str(data.get("cpu_priority") or "normal"),
        )


@dataclasses.dataclass(frozen=True)
class AttemptInfo:
    """Where an attempt was placed: the identity the engine puts into the job's ARNs.

    ``container_instance_id`` is stable for the host (the local executor keeps one per data folder)
    and becomes the ECS ``containerInstanceArn``; ``host_id`` names the machine.  ``started_at_ms``
    is set once the process runs; it is ``None`` when the command could not be started, in which
    case the attempt's ``Task failed to start`` exit follows on the event stream.
    """

    attempt_id: str
    host_id: str
    container_instance_id: str
    started_at_ms: int | None
    pid: int | None = None


@dataclasses.dataclass(frozen=True)
class OutputLine:
    """One line the attempt wrote, without its trailing newline; ``seq`` counts 1, 2, 3, ..."""

    attempt_id: str
    timestamp_ms: int
    stream: Stream
    message: str
    seq: int


@dataclasses.dataclass(frozen=True)
class AttemptExit:
    """How an attempt ended.  ``output_lines`` is the ``seq`` of its last output line (0 if none)."""

    attempt_id: str
    exit_code: int | None
    reason: str | None
    status_reason: str
    started_at_ms: int | None
    stopped_at_ms: int
    timed_out: bool = False
    oom: bool = False
    stopped: bool = False
    host_lost: bool = False
    output_lines: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "attempt_id": self.attempt_id,
            "exit_code": self.exit_code,
            "reason": self.reason,
            "status_reason": self.status_reason,
            "started_at_ms": self.started_at_ms,
            "stopped_at_ms": self.stopped_at_ms,
            "timed_out": self.timed_out,
            "oom": self.oom,
            "stopped": self.stopped,
            "host_lost": self.host_lost,
            "output_lines": self.output_lines,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AttemptExit:
        names = _EXIT_FIELDS
        return cls(**{key: value for key, value in data.items() if key in names})


_EXIT_FIELDS = frozenset(field.name for field in dataclasses.fields(AttemptExit))

ExecutorEvent = OutputLine | AttemptExit


async def drain_events(queue: asyncio.Queue[ExecutorEvent | None]) -> AsyncIterator[ExecutorEvent]:
    """The events put on ``queue``, in order, until the ``None`` an executor puts when it closes."""
    while True:
        event = await queue.get()
        if event is None:
            return
        yield event


class AttemptState(enum.Enum):
    """What :meth:`Executor.recover` found for an attempt the engine believed running."""

    #: Still running: its remaining output and its exit will be delivered.
    RUNNING = "running"
    #: Finished while the server was away: its exit (and missed output) will be delivered.
    EXITED = "exited"
    #: The executor has no trace of it (host restarted, agent killed): fail it and retry per strategy.
    UNKNOWN = "unknown"


@dataclasses.dataclass(frozen=True)
class RecoveredAttempt:
    """One entry of :meth:`Executor.recover`'s answer; ``exit`` is set when ``state`` is EXITED."""

    state: AttemptState
    exit: AttemptExit | None = None
    info: AttemptInfo | None = None


@dataclasses.dataclass(frozen=True)
class Capacity:
    """What one executor host offers to the scheduler."""

    vcpus: float
    memory_mib: int
    gpus: int


@runtime_checkable
class Executor(Protocol):
    """Runs attempts.  One consumer reads :meth:`events`; every method is called on one event loop."""

    async def start(self) -> None:
        """Connect to (or start) the machinery that runs attempts."""

    async def close(self) -> None:
        """Disconnect.  Running attempts are not stopped: they are found again by :meth:`recover`."""

    async def launch(self, spec: LaunchSpec) -> AttemptInfo:
        """Start one attempt; returns once the process runs (or has failed to start)."""
        ...

    async def stop(self, attempt_id: str, reason: str) -> None:
        """SIGTERM the attempt's processes, SIGKILL after its grace; its exit reports ``reason``."""

    def events(self) -> AsyncIterator[ExecutorEvent]:
        """Output lines and exits, in order per attempt (each attempt's lines, then its exit)."""
        ...

    async def acknowledge(self, attempt_id: str) -> None:
        """The engine has durably recorded this attempt's exit; the executor may forget it."""

    async def recover(self, known: Mapping[str, int]) -> dict[str, RecoveredAttempt]:
        """Re-attach after a restart.

        ``known`` maps each attempt the engine believes running (or whose exit it has not recorded)
        to the last output ``seq`` it stored (0 when none).  Attempts the executor holds that are
        not in ``known`` are stopped and forgotten.
        """
        ...

    def capacity(self) -> Capacity:
        """What this executor's host offers."""
        ...


def supports_start_ahead(executor: object) -> bool:
    """Whether ``executor`` holds gated launches until their compute environment has room.

    An executor opts in with a true ``supports_start_ahead`` attribute.  For such an executor the
    engine may commit RUNNABLE -> STARTING for a few jobs beyond a compute environment's capacity
    and send their launches with :attr:`LaunchSpec.gate_vcpus`; the executor starts a gated
    launch only while the running vCPUs of its compute environment stay within that capacity, and
    answers the launch once the process runs.  A stop of a held launch ends it without running it,
    and :meth:`Executor.recover` reports a held launch as running (with no start time).  Executors
    without the attribute get launches only within capacity, as before.
    """
    return bool(getattr(executor, "supports_start_ahead", False))
