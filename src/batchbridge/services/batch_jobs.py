"""AWS Batch job operations: SubmitJob, DescribeJobs, ListJobs, CancelJob, TerminateJob.

``BatchJobsMixin`` is composed into ``BatchService``, which provides ``self.db`` (the
:class:`~batchbridge.store.db.Database`) and ``self.settings``.  Each operation is one
transaction; SubmitJob answers only after its commit, so an accepted job survives a crash.

Semantics (SubmitJob/DescribeJobs/ListJobs/CancelJob/TerminateJob references, spec §3-5):

* SubmitJob writes the job (and, for an array, the parent plus every child ``<id>:<i>`` born
  PENDING, in one ``executemany``) and its dependency edges.  No event is written: AWS sends none
  for the initial submission.  A dependency on an unknown job id is refused
  (``Dependency job <id> not found.``, wording not published by AWS).
* DescribeJobs takes at most 100 ids (AWS's text, two spaces included); unknown ids are omitted.
* ListJobs needs exactly one of ``jobQueue`` / ``arrayJobId`` (``multiNodeJobId`` lists nothing:
  no multi-node jobs exist here); without filters it lists ``jobStatus`` (default RUNNING) in
  submission order; with a filter (one at most) any status, newest first.
* CancelJob fails jobs that were not placed yet (a PENDING job with open dependencies is marked
  and fails once they are done); STARTING/RUNNING/terminal jobs are untouched (still HTTP 200).
  TerminateJob also stops STARTING/RUNNING attempts (the engine stops the process; the job ends
  FAILED with the reason, never retried).  On an array parent both act on every child.
  An unknown job id is refused with ``Job <id> not found.`` (AWS's behaviour is unpublished).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from batchbridge.config import Settings
from batchbridge.domain.arns import batch_arn, new_uuid
from batchbridge.domain.job_events import job_detail, job_summary
from batchbridge.domain.job_submit import (
    build_container,
    check_array_size,
    check_depends_on,
    check_job_name,
    check_overrides,
    check_tags,
    check_timeout,
    effective_retry,
    merged_parameters,
    wrapped,
)
from batchbridge.domain.jobs import Job, child_job_id, resource_demand
from batchbridge.domain.lifecycle import JobKind, JobStatus, initial_status, is_terminal
from batchbridge.engine import wakeup
from batchbridge.engine.transitions import JobWriter, now_ms
from batchbridge.errors import ClientException
from batchbridge.services.context import RequestContext
from batchbridge.store import jobs as job_store
from batchbridge.store import outbox
from batchbridge.store.db import Database
from batchbridge.store.paging import check_max_results, decode_token, encode_token, split_page
from batchbridge.store.resolve import resolve_job_definition, resolve_job_queue

MAX_DESCRIBE = 100
FAIR_SHARE_ONLY = (
    "Job with shareIdentifier or schedulingPriority can onlybe submitted to job queue with fair share"
    " scheduling policy."
)


def _reason(params: dict[str, Any]) -> str:
    reason = params.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ClientException("reason must be a non-empty string")
    if len(reason) > 1024:
        raise ClientException("reason must be at most 1024 characters")
    return reason


class BatchJobsMixin:
    """Job operations of the Batch service (composed into ``BatchService``)."""

    db: Database
    settings: Settings

    # --- SubmitJob ------------------------------------------------------------------------------

    def SubmitJob(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = check_job_name(params.get("jobName"), ctx.request_id)
        size = check_array_size(params.get("arrayProperties"), ctx.request_id)
        if params.get("shareIdentifier") is not None or params.get("schedulingPriorityOverride") is not None:
            raise ClientException(FAIR_SHARE_ONLY)
        for unsupported in ("nodeOverrides", "eksPropertiesOverride", "ecsPropertiesOverride"):
            if params.get(unsupported):
                raise ClientException(f"{unsupported} is not supported: only container jobs run here")
        depends_on = check_depends_on(params.get("dependsOn"), size)
        overrides = check_overrides(params.get("containerOverrides"))
        tags = check_tags(params.get("tags"))
        queue = resolve_job_queue(self.db, ctx.region, ctx.account_id, str(params.get("jobQueue", "")))
        if not queue.enabled:
            raise ClientException(f"JobQueue {queue.name} is not in ENABLED state")
        definition = resolve_job_definition(
            self.db, ctx.region, ctx.account_id, str(params.get("jobDefinition", ""))
        )
        if definition.type != "container" or not definition.container_properties:
            raise ClientException(f"JobDefinition {definition.arn} is not a container job definition")
        parameters = merged_parameters(definition.detail, params.get("parameters"))
        container = build_container(definition.container_properties, overrides, parameters)
        retry = effective_retry(definition.detail, params.get("retryStrategy"))
        timeout = check_timeout(
            params.get("timeout") if params.get("timeout") else definition.timeout,
            self.settings.min_timeout_seconds,
        )
        propagate = params.get("propagateTags")
        vcpus, memory, gpus = resource_demand(container)
        job_id = new_uuid()
        now = now_ms()
        parent = Job(
            job_id=job_id,
            job_arn=batch_arn(ctx.region, ctx.account_id, "job", job_id),
            name=name,
            kind=JobKind.ARRAY_PARENT if size else JobKind.SINGLE,
            status=JobStatus.SUBMITTED,
            queue_arn=queue.arn,
            queue_name=queue.name,
            definition_arn=definition.arn,
            definition_name=definition.name,
            created_at=now,
            container=container,
            parameters=parameters,
            depends_on=depends_on,
            retry_strategy=retry,
            timeout=timeout,
            tags=tags,
            propagate_tags=bool(definition.propagate_tags if propagate is None else propagate),
            platform_capabilities=definition.platform_capabilities,
            array_size=size,
            sequential=any(d.get("type") == "SEQUENTIAL" and "jobId" not in d for d in depends_on),
            vcpus=vcpus,
            memory_mib=memory,
            gpus=gpus,
        )
        with self.db.transaction() as conn:
            targets = self._dependency_targets(conn, depends_on, size)
            if size:
                self._insert_array(conn, parent, targets)
            else:
                waiting = self._open_edges(conn, job_id, [t for t, _ in targets])
                job_store.insert_jobs(conn, [parent], {job_id: waiting})
        wakeup.wake(self.db)
        return {"jobArn": parent.job_arn, "jobName": name, "jobId": job_id}

    def _dependency_targets(
        self, conn: sqlite3.Connection, depends_on: list[dict[str, str]], size: int | None
    ) -> list[tuple[str, str | None]]:
        """``(job id, type)`` of each dependency on another job, after checking they exist."""
        targets: list[tuple[str, str | None]] = []
        for position, dep in enumerate(depends_on):
            dep_id = dep.get("jobId")
            if dep_id is None:
                continue
            found = job_store.get_job(conn, dep_id)
            if found is None:
                raise ClientException(f"dependsOn[{position}]: Dependency job {dep_id} not found.")
            if dep.get("type") == "N_TO_N" and found.array_size != size:
                raise ClientException(
                    f"dependsOn[{position}]: N_TO_N needs an array job of the same size ({size})"
                )
            targets.append((dep_id, dep.get("type")))
        return targets

    @staticmethod
    def _open_edges(conn: sqlite3.Connection, job_id: str, targets: list[str]) -> int:
        """Insert edges to dependencies not yet SUCCEEDED; return how many stay open."""
        current = job_store.statuses(conn, targets)
        open_targets = sorted({t for t in targets if current.get(t) is not JobStatus.SUCCEEDED})
        job_store.insert_dependencies(conn, [(job_id, t) for t in open_targets])
        return len(open_targets)

    def _insert_array(
        self, conn: sqlite3.Connection, parent: Job, targets: list[tuple[str, str | None]]
    ) -> None:
        size = parent.array_size or 0
        first = Job(
            **{
                **parent.__dict__,
                "job_id": child_job_id(parent.job_id, 0),
                "job_arn": f"{parent.job_arn}:0",
                "kind": JobKind.ARRAY_CHILD,
                "status": initial_status(JobKind.ARRAY_CHILD),
                "parent_id": parent.job_id,
                "parent_arn": parent.job_arn,
                "array_index": 0,
                "attempts": [],
                "run": type(parent.run)(),
            }
        )
        kids = [child_job_id(parent.job_id, index) for index in range(size)]
        current = job_store.statuses(conn, [t for t, _ in targets])
        edges: list[tuple[str, str]] = []
        for target, dep_type in targets:
            if current.get(target) is JobStatus.SUCCEEDED:
                continue
            for index, kid in enumerate(kids):
                edges.append((kid, child_job_id(target, index) if dep_type == "N_TO_N" else target))
        if parent.sequential:
            edges.extend((kids[i], kids[i - 1]) for i in range(1, size))
        waiting: dict[str, int] = {}
        for waiter, _ in edges:
            waiting[waiter] = waiting.get(waiter, 0) + 1
        job_store.insert_jobs(conn, [parent], waiting)
        job_store.insert_children(conn, first, size, waiting)
        job_store.insert_dependencies(conn, edges)
        job_store.init_counts(conn, parent.job_id, first.status, size)

    # --- DescribeJobs ---------------------------------------------------------------------------

    def DescribeJobs(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ids = [str(i) for i in params.get("jobs") or []]
        if len(ids) > MAX_DESCRIBE:
            raise ClientException(
                wrapped(f"Maximum number of jobs supported is  {MAX_DESCRIBE}", ctx.request_id)
            )
        with self.db.read() as conn:
            found = job_store.get_jobs(conn, ids)
            out: list[dict[str, Any]] = []
            seen: set[str] = set()
            for job_id in ids:
                job = found.get(job_id)
                if job is None or job_id in seen:
                    continue
                seen.add(job_id)
                summary = job_store.array_counts(conn, job_id) if job.kind is JobKind.ARRAY_PARENT else None
                out.append(job_detail(job, summary, for_event=False))
        return {"jobs": out}

    # --- ListJobs -------------------------------------------------------------------------------

    def ListJobs(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        selectors = [k for k in ("jobQueue", "arrayJobId", "multiNodeJobId") if params.get(k)]
        if len(selectors) != 1:
            raise ClientException("Exactly one of jobQueue, arrayJobId or multiNodeJobId must be specified")
        filters = list(params.get("filters") or [])
        if len(filters) > 1:
            raise ClientException("filters can have at most one entry")
        limit = check_max_results(params.get("maxResults"), high=100 if filters else 1000) or 100
        if selectors[0] == "multiNodeJobId":
            return {"jobSummaryList": []}
        query: dict[str, Any] = {}
        if selectors[0] == "jobQueue":
            query["queue_arn"] = resolve_job_queue(
                self.db, ctx.region, ctx.account_id, str(params["jobQueue"])
            ).arn
        else:
            query["parent_id"] = str(params["arrayJobId"])
        if filters:
            query.update(self._filter_query(ctx, filters[0]))
            query["newest_first"] = True
        else:
            status = params.get("jobStatus") or "RUNNING"
            try:
                query["status"] = JobStatus(status)
            except ValueError:
                raise ClientException(f"jobStatus {status} is not a valid job status") from None
        scope = "batch:ListJobs"
        token = params.get("nextToken")
        if token:
            query["after_seq"] = int(decode_token(str(token), scope)[0])
        with self.db.read() as conn:
            rows = job_store.list_jobs(conn, limit=limit + 1, **query)
            page, more = split_page(rows, limit)
            summaries = [
                job_summary(
                    job,
                    job_store.array_counts(conn, job.job_id) if job.kind is JobKind.ARRAY_PARENT else None,
                )
                for _, job in page
            ]
        result: dict[str, Any] = {"jobSummaryList": summaries}
        if more and page:
            result["nextToken"] = encode_token(scope, [page[-1][0]])
        return result

    @staticmethod
    def _filter_query(ctx: RequestContext, flt: dict[str, Any]) -> dict[str, Any]:
        name = flt.get("name")
        values = list(flt.get("values") or [])
        if len(values) != 1:
            raise ClientException(f"filters: {name} needs exactly one value")
        value = str(values[0])
        if name == "JOB_NAME":
            return {"name_prefix": value[:-1]} if value.endswith("*") else {"name_exact": value}
        if name == "JOB_DEFINITION":
            if value.startswith("arn:"):
                return {"definition_arn": value}
            prefix = batch_arn(ctx.region, ctx.account_id, "job-definition", "")
            if value.endswith("*"):
                return {"definition_prefix": prefix + value[:-1]}
            if ":" in value:
                return {"definition_arn": prefix + value}
            return {"definition_prefix": f"{prefix}{value}:"}
        if name in ("BEFORE_CREATED_AT", "AFTER_CREATED_AT"):
            if not value.isdigit():
                raise ClientException(f"filters: {name} value must be epoch milliseconds; got {value}")
            return {"before" if name == "BEFORE_CREATED_AT" else "after": int(value)}
        if name == "SHARE_IDENTIFIER":
            return {"name_exact": "\0"}
        raise ClientException(
            f"filters: name must be JOB_NAME, JOB_DEFINITION, BEFORE_CREATED_AT, AFTER_CREATED_AT or"
            f" SHARE_IDENTIFIER; got {name}"
        )

    # --- hooks of the resource operations ------------------------------------------------------

    def _job_exists(self, conn: sqlite3.Connection, ctx: RequestContext, job_id: str) -> bool:
        """TagResource accepts job ARNs; child ARNs (``<id>:<index>``) are not taggable on AWS."""
        job = job_store.get_job(conn, job_id)
        return job is not None and job.kind is not JobKind.ARRAY_CHILD

    def _on_job_queue_deleted(self, conn: sqlite3.Connection, ctx: RequestContext, queue: Any) -> None:
        """AWS terminates the jobs of a deleted queue; done here in DeleteJobQueue's transaction."""
        writer = JobWriter(conn)
        for status in (
            JobStatus.SUBMITTED,
            JobStatus.PENDING,
            JobStatus.RUNNABLE,
            JobStatus.STARTING,
            JobStatus.RUNNING,
        ):
            for job in job_store.jobs_in_status(conn, status, limit=1_000_000):
                if job.queue_arn == queue.arn and job.kind is not JobKind.ARRAY_PARENT:
                    stop_one(conn, writer, job, "Job queue deleted", terminate=True)
        writer.finish()

    # --- CancelJob / TerminateJob ---------------------------------------------------------------

    def CancelJob(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        reason = _reason(params)
        self._stop(str(params.get("jobId", "")), reason, terminate=False)
        return {}

    def TerminateJob(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        reason = _reason(params)
        self._stop(str(params.get("jobId", "")), reason, terminate=True)
        return {}

    def _stop(self, job_id: str, reason: str, *, terminate: bool) -> None:
        with self.db.transaction() as conn:
            job = job_store.get_job(conn, job_id)
            if job is None:
                raise ClientException(f"Job {job_id} not found.")
            writer = JobWriter(conn)
            if job.kind is JobKind.ARRAY_PARENT:
                if not is_terminal(job.status):
                    job.cancel_reason = reason
                    job.is_cancelled = job.is_cancelled or not terminate
                    job.is_terminated = job.is_terminated or terminate
                    job_store.update_job(conn, job, job.status)
                    for child in job_store.children(conn, job_id):
                        stop_one(conn, writer, child, reason, terminate=terminate)
            else:
                stop_one(conn, writer, job, reason, terminate=terminate)
            writer.finish()
        outbox.notify(self.db)
        wakeup.wake(self.db)


def stop_one(conn: sqlite3.Connection, writer: JobWriter, job: Job, reason: str, *, terminate: bool) -> None:
    """Cancel or terminate one job that runs containers, per its state (spec §4.3)."""
    status = job.status
    if is_terminal(status):
        return
    if status in (JobStatus.STARTING, JobStatus.RUNNING):
        if not terminate:
            return
        job.cancel_reason = reason
        job.is_terminated = True
        if job_store.update_job(conn, job, status):
            job_store.request_stop(conn, job.job_id)
        return
    if status is JobStatus.PENDING and not terminate and job_store.open_dependencies(conn, job.job_id):
        job.cancel_reason = reason
        job_store.update_job(conn, job, status)
        return
    writer.fail(job, reason, cancelled=not terminate, terminated=terminate)
