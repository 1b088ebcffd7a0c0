"""One attempt of a job: its identity, what it runs, and what its exit means.

* Placement (RUNNABLE -> STARTING) gives the attempt an ECS task id; the job shows
  ``taskArn`` ``arn:aws:ecs:{region}:{account}:task/AWSBatch-<ce>-<uuid>/<task id>`` from STARTING.
* Once the process runs (STARTING -> RUNNING) it shows ``containerInstanceArn``
  ``arn:aws:ecs:{region}:{account}:container-instance/AWSBatch-<ce>-<uuid>/<instance id>`` and
  ``logStreamName`` ``<definition name (first 200 chars)>/default/<task id>``; output lines go to the
  CloudWatch Logs group ``/aws/batch/job`` under that stream.  The container instance is known only
  from the executor's answer to the launch, hence RUNNING rather than STARTING for it.
* The process environment is the job's own variables plus ``AWS_BATCH_JOB_ID``,
  ``AWS_BATCH_JOB_ATTEMPT``, ``AWS_BATCH_JQ_NAME``, ``AWS_BATCH_CE_NAME`` and, for an array
  child, ``AWS_BATCH_JOB_ARRAY_INDEX`` and ``AWS_BATCH_JOB_ARRAY_SIZE``; none of these appear in
  ``container.environment``.  The working folder is ``<data>/jobs/<job id>/attempt-<n>``; the
  executor creates it when it spawns the process, so placing a job costs no file operation (the
  local executor reuses folders that earlier attempts left empty).
* Exit: 0 ⇒ SUCCEEDED; otherwise the retry strategy decides between RUNNABLE and FAILED
  (timeouts and terminate are never retried); each ended attempt is appended to ``attempts[]``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from batchbridge.domain.arns import make_arn, new_hex_id, parse_arn
from batchbridge.domain.images import effective_command
from batchbridge.domain.job_submit import user_environment
from batchbridge.domain.jobs import AttemptRecord, Job
from batchbridge.domain.lifecycle import JobKind, JobStatus
from batchbridge.domain.retry import should_retry
from batchbridge.engine.transitions import JobWriter
from batchbridge.executors.base import AttemptExit, AttemptInfo, LaunchSpec, base_environment

LOG_GROUP = "/aws/batch/job"


def attempt_id(job: Job) -> str:
    return f"{job.job_id}.{job.run.attempt}"


def split_attempt_id(value: str) -> tuple[str, int] | None:
    job_id, sep, number = value.rpartition(".")
    if not sep or not number.isdigit():
        return None
    return job_id, int(number)


def cluster_name(ce_arn: str, ce_name: str, ce_uuid: str | None) -> str:
    """``AWSBatch-<ce>-<uuid>``: the ECS cluster of a compute environment."""
    return f"AWSBatch-{ce_name}-{ce_uuid or uuid.uuid5(uuid.NAMESPACE_URL, ce_arn)}"


def place(job: Job, ce_arn: str, ce_name: str, ce_uuid: str | None) -> None:
    """Fill the run state of a new attempt placed in the compute environment ``ce_arn``."""
    arn = parse_arn(job.job_arn)
    region, account = (arn.region, arn.account) if arn else ("", "")
    task_id = new_hex_id()
    run = job.run
    run.attempt += 1
    run.compute_environment_arn = ce_arn
    run.compute_environment_name = ce_name
    run.task_id = task_id
    run.task_arn = make_arn(
        "ecs", region, account, f"task/{cluster_name(ce_arn, ce_name, ce_uuid)}/{task_id}"
    )
    run.container_instance_arn = None
    run.log_stream_name = None
    run.exit_code = None
    run.reason = None
    run.attempt_started_at = None


def launch_spec(
    job: Job,
    *,
    data_dir: Path,
    images: Mapping[str, Sequence[str]],
    kill_grace_seconds: float,
    gate_vcpus: float | None = None,
    base_env: Mapping[str, str] | None = None,
    cpu_priority: str = "normal",
) -> LaunchSpec:
    """The attempt's launch; ``gate_vcpus`` (start-ahead) is its compute environment's capacity.

    ``base_env`` is the host part of the environment (:func:`base_environment` when absent), which
    an engine reads once instead of once per launch.
    """
    env = dict(base_env) if base_env is not None else base_environment()
    env.update(user_environment(job.container))
    env["AWS_BATCH_JOB_ID"] = job.job_id
    env["AWS_BATCH_JOB_ATTEMPT"] = str(job.run.attempt)
    env["AWS_BATCH_JQ_NAME"] = job.queue_name
    env["AWS_BATCH_CE_NAME"] = job.run.compute_environment_name or ""
    if job.kind is JobKind.ARRAY_CHILD:
        env["AWS_BATCH_JOB_ARRAY_INDEX"] = str(job.array_index)
        env["AWS_BATCH_JOB_ARRAY_SIZE"] = str(job.array_size)
    command = effective_command(
        str(job.container.get("image", "")), job.container.get("command") or [], images
    )
    if not command:
        command = ["true"]
    folder = Path(f"{data_dir}/jobs/{job.job_id.replace(':', '_')}/attempt-{job.run.attempt}")
    return LaunchSpec(
        attempt_id=attempt_id(job),
        command=command,
        environment=env,
        vcpus=max(job.vcpus, 0.0001),
        memory_mib=job.memory_mib or None,
        gpus=job.gpus,
        workdir=folder,
        timeout_seconds=job.timeout_seconds,
        kill_grace_seconds=kill_grace_seconds,
        compute_environment=job.run.compute_environment_name or "",
        gate_vcpus=gate_vcpus,
        cpu_priority=cpu_priority,
    )


def _running(job: Job, info_started: int, container_instance_id: str | None) -> Callable[[Job], None]:
    """The STARTING -> RUNNING change: ``startedAt``, ``containerInstanceArn``, ``logStreamName``."""
    arn = parse_arn(job.job_arn)
    region, account = (arn.region, arn.account) if arn else ("", "")

    def apply(j: Job) -> None:
        run = j.run
        j.started_at = info_started
        run.attempt_started_at = info_started
        if container_instance_id and run.task_arn:
            cluster = run.task_arn.split("/")[-2]
            run.container_instance_arn = make_arn(
                "ecs", region, account, f"container-instance/{cluster}/{container_instance_id}"
            )
        run.log_stream_name = f"{j.definition_name[:200]}/default/{run.task_id}"

    return apply


def mark_running(writer: JobWriter, job: Job, info_started: int, container_instance_id: str | None) -> bool:
    """STARTING -> RUNNING: ``startedAt``, ``containerInstanceArn`` and ``logStreamName`` appear."""
    return writer.move(job, JobStatus.RUNNING, _running(job, info_started, container_instance_id))


def record_exit(writer: JobWriter, job: Job, exit: AttemptExit, info: AttemptInfo | None = None) -> bool:
    """Apply an attempt's exit to a STARTING or RUNNING job; ``False`` if it no longer applies.

    An attempt still STARTING that did run first moves to RUNNING; both moves (and their events)
    are written together.
    """
    steps: list[tuple[JobStatus, Callable[[Job], None] | None]] = []
    if job.status is JobStatus.STARTING and exit.started_at_ms is not None:
        instance = info.container_instance_id if info else None
        steps.append((JobStatus.RUNNING, _running(job, exit.started_at_ms, instance)))
    elif job.status not in (JobStatus.STARTING, JobStatus.RUNNING):
        return False
    terminated = exit.stopped and job.is_terminated
    status_reason = job.cancel_reason if terminated and job.cancel_reason else exit.status_reason

    def attempt_record(j: Job) -> AttemptRecord:
        run = j.run
        return AttemptRecord(
            started_at=exit.started_at_ms,
            stopped_at=exit.stopped_at_ms,
            status_reason=status_reason,
            exit_code=exit.exit_code,
            reason=exit.reason,
            task_arn=run.task_arn,
            container_instance_arn=run.container_instance_arn,
            log_stream_name=run.log_stream_name,
        )

    succeeded = exit.exit_code == 0 and not (exit.timed_out or exit.stopped or exit.host_lost)
    retry = not succeeded and should_retry(
        job.retry_strategy,
        job.run.attempt,
        exit_code=exit.exit_code,
        reason=exit.reason,
        status_reason=exit.status_reason,
        retryable=not (exit.timed_out or exit.stopped),
    )

    if retry:

        def back(j: Job) -> None:
            j.attempts.append(attempt_record(j))
            r = j.run
            r.task_arn = r.container_instance_arn = r.log_stream_name = None
            r.exit_code = None
            r.reason = None
            r.compute_environment_arn = None

        steps.append((JobStatus.RUNNABLE, back))
    else:

        def end(j: Job) -> None:
            j.attempts.append(attempt_record(j))
            j.status_reason = status_reason
            j.stopped_at = exit.stopped_at_ms
            j.run.exit_code = exit.exit_code
            j.run.reason = exit.reason

        steps.append((JobStatus.SUCCEEDED if succeeded else JobStatus.FAILED, end))
    if len(steps) == 1:
        return writer.move(job, *steps[0])
    return writer.move_through(job, steps)
