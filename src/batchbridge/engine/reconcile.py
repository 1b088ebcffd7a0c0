"""Start-up reconcile: nothing lost, nothing run twice unknowingly, no event written twice.

Every job the store shows in STARTING or RUNNING had an attempt handed to the executor (or about
to be).  On start the engine asks :meth:`Executor.recover` about each attempt, passing the last
output ``seq`` it stored, and then:

* still running ⇒ keep watching it (capacity stays held; a STARTING job that in fact runs moves to
  RUNNING); a STARTING attempt the executor holds but has not started yet (a start-ahead launch
  waiting for room, or one being spawned) is launched again: the executor starts nothing new for an
  attempt it holds and answers once the process runs, so it moves to RUNNING then;
* exited while the server was away ⇒ record that exit now (a repeat delivery of the same exit is
  ignored, because the job no longer holds that attempt);
* unknown to the executor (host restarted, agent killed, or the server died between placing and
  launching) ⇒ the attempt fails with AWS's ``Host EC2 (instance <id>) terminated.`` and the job's
  retry strategy decides between RUNNABLE and FAILED, as AWS does for a reclaimed host.

Transitions go through :class:`~batchbridge.engine.transitions.JobWriter`, so each one writes its
event exactly once, in the same transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from batchbridge.domain.lifecycle import JobStatus
from batchbridge.engine.attempts import attempt_id, mark_running
from batchbridge.engine.scheduler import Usage
from batchbridge.engine.transitions import JobWriter, now_ms
from batchbridge.executors.base import AttemptExit, AttemptState, host_lost_reason
from batchbridge.store import jobs as job_store
from batchbridge.store import outbox

if TYPE_CHECKING:
    from batchbridge.engine.runner import JobEngine


async def reconcile(engine: JobEngine) -> int:
    """Re-attach or settle every STARTING/RUNNING attempt; return how many were found."""
    db = engine.db
    with db.read() as conn:
        active = []
        for status in (JobStatus.STARTING, JobStatus.RUNNING):
            active.extend(job_store.jobs_in_status(conn, status, limit=1_000_000))
        known = job_store.output_seqs(conn, [attempt_id(j) for j in active])
    engine.usage.clear()
    if not active:
        return 0
    recovered = await engine.executor.recover(known)
    acks: list[str] = []
    waiting = []
    instance = str(getattr(engine.executor, "container_instance_id", "") or "unknown")
    with db.transaction() as conn:
        writer = JobWriter(conn)
        for job in active:
            aid = attempt_id(job)
            found = recovered.get(aid)
            ce = job.run.compute_environment_arn or ""
            if found is not None and found.state is AttemptState.RUNNING:
                if found.info is not None:
                    engine._infos[aid] = found.info
                    if job.status is JobStatus.STARTING and found.info.started_at_ms is not None:
                        mark_running(writer, job, found.info.started_at_ms, found.info.container_instance_id)
                if job.status is JobStatus.STARTING:
                    waiting.append(job)
                engine.usage.setdefault(ce, Usage()).add(job)
                continue
            if found is not None and found.state is AttemptState.EXITED and found.exit is not None:
                if found.info is not None:
                    engine._infos[aid] = found.info
                exit = found.exit
                acks.append(aid)
            else:
                exit = AttemptExit(
                    aid,
                    None,
                    None,
                    host_lost_reason(instance),
                    job.run.attempt_started_at,
                    now_ms(),
                    host_lost=True,
                )
            engine.usage.setdefault(ce, Usage()).add(job)
            engine.apply_exit(writer, job, exit)
        writer.finish()
    outbox.notify(db)
    for aid in acks:
        await engine.executor.acknowledge(aid)
    for job in waiting:
        engine.start_launch(job, gated=False)
    return len(active)
