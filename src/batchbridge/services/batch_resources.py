"""AWS Batch compute environments, job queues, job definitions and tags (spec §2-3).

Each public method is one AWS operation with the service contract's signature; each runs in one
store transaction.  Responses carry ARNs built from the caller's region and account.  AWS's exact
texts are used where the spec has them (``Cannot delete, found existing JobQueue relationship``,
the job definition resolution texts); elsewhere the message names the field and the value.

Choices where the spec is open (§11):

* duplicate names answer ``<Kind> <name> already exists``;
* ``DeregisterJobDefinition`` with a bare name or an ARN without revision deregisters the latest
  ACTIVE revision; deregistering an INACTIVE revision again is a no-op;
* ``DescribeJobDefinitions.jobDefinitions`` also accepts bare names (all their revisions);
* a queue's compute environments must all be EC2-family (EC2, SPOT, UNMANAGED) or all
  Fargate-family, as AWS documents; names are accepted in ``computeEnvironmentOrder``.

Extension points for the job operations (``services/batch_jobs.py``): override
:meth:`BatchResourcesMixin._job_exists` so that TagResource accepts job ARNs, and
:meth:`BatchResourcesMixin._on_job_queue_deleted` to terminate the jobs of a deleted queue.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from batchbridge.config import Settings
from batchbridge.domain.arns import batch_arn, new_uuid, parse_arn
from batchbridge.domain.resources import (
    CE_DETAIL_ORDER,
    CE_HEALTHY,
    DEFINITION_DETAIL_ORDER,
    QUEUE_DETAIL_ORDER,
    QUEUE_HEALTHY,
    ComputeEnvironment,
    JobDefinition,
    JobQueue,
    container_properties_view,
    describe,
    ecs_cluster_arn,
    in_model_order,
)
from batchbridge.domain.validation import (
    TAGS_MAX,
    validate_choice,
    validate_container_properties,
    validate_int_range,
    validate_name,
    validate_retry_strategy,
    validate_string_list,
    validate_tag_key,
    validate_tags,
    validate_time_limit_actions,
    validate_vcpus,
)
from batchbridge.errors import ClientException
from batchbridge.services.context import RequestContext
from batchbridge.store import resources as store
from batchbridge.store import tags as tag_store
from batchbridge.store.db import Database
from batchbridge.store.paging import check_max_results, decode_token, encode_token
from batchbridge.store.resolve import (
    find_compute_environment,
    find_job_queue,
    resolve_compute_environment,
    resolve_job_queue,
    resource_arn,
)

Params = dict[str, Any]
STATES = ("ENABLED", "DISABLED")
PROVISIONING = ("EC2", "SPOT", "FARGATE", "FARGATE_SPOT")
MAX_QUEUE_CES = 3
MAX_DEFINITION_BYTES = 24 * 1024
DEFAULT_PAGE = 100


def _page_start(params: Params, scope: str, names_field: str) -> tuple[int, int]:
    """Where a Describe page starts and how long it is.

    AWS refuses a name list together with ``maxResults`` (real text:
    ``Error executing request, Exception : ComputeEnvironments and MaxResults cannot both be set``).
    """
    if params.get(names_field) is not None and params.get("maxResults") is not None:
        label = names_field[0].upper() + names_field[1:]
        raise ClientException(
            f"Error executing request, Exception : {label} and MaxResults cannot both be set"
        )
    limit = check_max_results(params.get("maxResults")) or DEFAULT_PAGE
    token = params.get("nextToken")
    if token is None or token == "":
        return 0, limit
    position = decode_token(str(token), scope)
    if len(position) != 1 or not isinstance(position[0], int):
        raise ClientException("Invalid nextToken: the token is not one this server returned for this request")
    return position[0], limit


def _page_out(items: list[Any], limit: int, scope: str, key: str, rendered: list[Any]) -> Params:
    out: Params = {key: rendered[:limit]}
    if len(items) > limit:
        out["nextToken"] = encode_token(scope, [items[limit - 1].seq])
    return out


class BatchResourcesMixin:
    """The resource half of :class:`batchbridge.services.batch.BatchService`."""

    db: Database
    settings: Settings

    # -- extension points ------------------------------------------------------------------------

    def _job_exists(self, conn: sqlite3.Connection, ctx: RequestContext, job_id: str) -> bool:
        """Whether a (non-child) job with this id exists; the job operations override this."""
        return False

    def _on_job_queue_deleted(self, conn: sqlite3.Connection, ctx: RequestContext, queue: JobQueue) -> None:
        """Called inside DeleteJobQueue's transaction; AWS eventually terminates the queue's jobs."""

    # -- compute environments --------------------------------------------------------------------

    def CreateComputeEnvironment(self, ctx: RequestContext, params: Params) -> Params:
        """Create a compute environment straight into ``VALID``; MANAGED needs computeResources."""
        name = validate_name(params.get("computeEnvironmentName"), "computeEnvironmentName")
        kind = validate_choice(params.get("type"), "type", ("MANAGED", "UNMANAGED"))
        state = validate_choice(params.get("state", "ENABLED"), "state", STATES)
        resources = params.get("computeResources")
        if kind == "MANAGED":
            if not isinstance(resources, dict):
                raise ClientException("computeResources is required for a MANAGED compute environment")
            validate_choice(resources.get("type"), "computeResources.type", PROVISIONING)
            if "maxvCpus" not in resources:
                raise ClientException(
                    "computeResources.maxvCpus is required for a MANAGED compute environment"
                )
            validate_vcpus(resources)
        elif resources is not None:
            raise ClientException("computeResources is not applicable to an UNMANAGED compute environment")
        unmanaged = params.get("unmanagedvCpus")
        if unmanaged is not None:
            if kind != "UNMANAGED":
                raise ClientException("unmanagedvCpus is only supported for an UNMANAGED compute environment")
            validate_int_range(unmanaged, "unmanagedvCpus", 0)
        tags = validate_tags(params["tags"]) if "tags" in params else {}
        arn = batch_arn(ctx.region, ctx.account_id, "compute-environment", name)
        ce_uuid = new_uuid()
        detail: Params = {
            "computeEnvironmentName": name,
            "computeEnvironmentArn": arn,
            "unmanagedvCpus": unmanaged,
            "ecsClusterArn": ecs_cluster_arn(ctx.region, ctx.account_id, name, ce_uuid),
            "type": kind,
            "state": state,
            "status": "VALID",
            "statusReason": CE_HEALTHY,
            "computeResources": resources,
            "serviceRole": params.get("serviceRole"),
            "eksConfiguration": params.get("eksConfiguration"),
            "containerOrchestrationType": "EKS" if params.get("eksConfiguration") else "ECS",
            "uuid": ce_uuid,
            "context": params.get("context"),
            "ecsSettings": params.get("ecsSettings"),
        }
        detail = in_model_order({k: v for k, v in detail.items() if v is not None}, CE_DETAIL_ORDER)
        with self.db.transaction() as conn:
            if store.get_compute_environment(conn, arn) is not None:
                raise ClientException(f"ComputeEnvironment {name} already exists")
            store.insert_compute_environment(
                conn, ctx.account_id, ctx.region, ComputeEnvironment(arn, name, detail)
            )
            if tags:
                tag_store.put_tags(conn, arn, tags)
        return {"computeEnvironmentName": name, "computeEnvironmentArn": arn}

    def UpdateComputeEnvironment(self, ctx: RequestContext, params: Params) -> Params:
        """Change ``state``, ``computeResources`` (maxvCpus, ...), ``unmanagedvCpus``, ``serviceRole``."""
        ref = _required_str(params, "computeEnvironment")
        with self.db.transaction() as conn:
            ce = resolve_compute_environment(conn, ctx.region, ctx.account_id, ref)
            detail = dict(ce.detail)
            if "state" in params:
                detail["state"] = validate_choice(params["state"], "state", STATES)
            if params.get("computeResources") is not None:
                if ce.type != "MANAGED":
                    raise ClientException(
                        "computeResources can only be updated on a MANAGED compute environment"
                    )
                update = params["computeResources"]
                if "type" in update:
                    validate_choice(update["type"], "computeResources.type", PROVISIONING)
                merged = {**(detail.get("computeResources") or {}), **update}
                merged.pop("updateToLatestImageVersion", None)
                validate_vcpus(merged)
                detail["computeResources"] = merged
            if params.get("unmanagedvCpus") is not None:
                if ce.type != "UNMANAGED":
                    raise ClientException(
                        "unmanagedvCpus is only supported for an UNMANAGED compute environment"
                    )
                detail["unmanagedvCpus"] = validate_int_range(params["unmanagedvCpus"], "unmanagedvCpus", 0)
            for key in ("serviceRole", "updatePolicy", "context", "ecsSettings", "eksConfiguration"):
                if params.get(key) is not None:
                    detail[key] = params[key]
            store.update_compute_environment(conn, ComputeEnvironment(ce.arn, ce.name, detail))
        return {"computeEnvironmentName": ce.name, "computeEnvironmentArn": ce.arn}

    def DeleteComputeEnvironment(self, ctx: RequestContext, params: Params) -> Params:
        """Delete a DISABLED compute environment that no job queue uses any more."""
        ref = _required_str(params, "computeEnvironment")
        with self.db.transaction() as conn:
            ce = resolve_compute_environment(conn, ctx.region, ctx.account_id, ref)
            if ce.enabled:
                raise ClientException(
                    f"Cannot delete, computeEnvironment {ce.arn} is ENABLED; "
                    "update its state to DISABLED first"
                )
            if store.queues_using_compute_environment(conn, ce.arn):
                raise ClientException("Cannot delete, found existing JobQueue relationship")
            store.delete_compute_environment(conn, ce.arn)
        return {}

    def DescribeComputeEnvironments(self, ctx: RequestContext, params: Params) -> Params:
        """Describe the named compute environments (unknown names are omitted) or all, paged."""
        scope = "batch:DescribeComputeEnvironments"
        after, limit = _page_start(params, scope, "computeEnvironments")
        arns = self._arns(ctx, params, "computeEnvironments", "compute-environment")
        with self.db.read() as conn:
            items = store.list_compute_environments(
                conn, ctx.account_id, ctx.region, arns=arns, after_seq=after, limit=limit + 1
            )
        rendered = [describe(ce.detail, ce.tags, CE_DETAIL_ORDER) for ce in items]
        return _page_out(items, limit, scope, "computeEnvironments", rendered)

    # -- job queues ------------------------------------------------------------------------------

    def CreateJobQueue(self, ctx: RequestContext, params: Params) -> Params:
        """Create a job queue over 1..3 existing compute environments, returned with their ARNs."""
        name = validate_name(params.get("jobQueueName"), "jobQueueName")
        priority = validate_int_range(params.get("priority"), "priority", 0)
        state = validate_choice(params.get("state", "ENABLED"), "state", STATES)
        tags = validate_tags(params["tags"]) if "tags" in params else {}
        actions = validate_time_limit_actions(params.get("jobStateTimeLimitActions", []))
        arn = batch_arn(ctx.region, ctx.account_id, "job-queue", name)
        with self.db.transaction() as conn:
            if store.get_job_queue(conn, arn) is not None:
                raise ClientException(f"JobQueue {name} already exists")
            order = self._ce_order(conn, ctx, params.get("computeEnvironmentOrder"))
            detail: Params = {
                "jobQueueName": name,
                "jobQueueArn": arn,
                "state": state,
                "status": "VALID",
                "statusReason": QUEUE_HEALTHY,
                "priority": priority,
                "computeEnvironmentOrder": order,
                "jobStateTimeLimitActions": actions,
            }
            if params.get("schedulingPolicyArn") is not None:
                detail["schedulingPolicyArn"] = str(params["schedulingPolicyArn"])
            detail = in_model_order(detail, QUEUE_DETAIL_ORDER)
            store.insert_job_queue(conn, ctx.account_id, ctx.region, JobQueue(arn, name, detail))
            if tags:
                tag_store.put_tags(conn, arn, tags)
        return {"jobQueueName": name, "jobQueueArn": arn}

    def UpdateJobQueue(self, ctx: RequestContext, params: Params) -> Params:
        """Change ``state``, ``priority``, ``computeEnvironmentOrder`` and time-limit actions."""
        ref = _required_str(params, "jobQueue")
        with self.db.transaction() as conn:
            queue = resolve_job_queue(conn, ctx.region, ctx.account_id, ref)
            detail = dict(queue.detail)
            if "state" in params:
                detail["state"] = validate_choice(params["state"], "state", STATES)
            if params.get("priority") is not None:
                detail["priority"] = validate_int_range(params["priority"], "priority", 0)
            if params.get("computeEnvironmentOrder") is not None:
                detail["computeEnvironmentOrder"] = self._ce_order(
                    conn, ctx, params["computeEnvironmentOrder"]
                )
            if params.get("jobStateTimeLimitActions") is not None:
                detail["jobStateTimeLimitActions"] = validate_time_limit_actions(
                    params["jobStateTimeLimitActions"]
                )
            if params.get("schedulingPolicyArn") is not None:
                if "schedulingPolicyArn" not in detail:
                    raise ClientException(
                        "schedulingPolicyArn: a scheduling policy cannot be added to a FIFO job queue"
                    )
                detail["schedulingPolicyArn"] = str(params["schedulingPolicyArn"])
            store.update_job_queue(
                conn, JobQueue(queue.arn, queue.name, in_model_order(detail, QUEUE_DETAIL_ORDER))
            )
        return {"jobQueueName": queue.name, "jobQueueArn": queue.arn}

    def DeleteJobQueue(self, ctx: RequestContext, params: Params) -> Params:
        """Delete a DISABLED job queue (its compute environments need not be detached)."""
        ref = _required_str(params, "jobQueue")
        with self.db.transaction() as conn:
            queue = resolve_job_queue(conn, ctx.region, ctx.account_id, ref)
            if queue.enabled:
                raise ClientException(
                    f"Cannot delete, jobQueue {queue.arn} is ENABLED; update its state to DISABLED first"
                )
            self._on_job_queue_deleted(conn, ctx, queue)
            store.delete_job_queue(conn, queue.arn)
        return {}

    def DescribeJobQueues(self, ctx: RequestContext, params: Params) -> Params:
        """Describe the named job queues (unknown names are omitted) or all, paged."""
        scope = "batch:DescribeJobQueues"
        after, limit = _page_start(params, scope, "jobQueues")
        arns = self._arns(ctx, params, "jobQueues", "job-queue")
        with self.db.read() as conn:
            items = store.list_job_queues(
                conn, ctx.account_id, ctx.region, arns=arns, after_seq=after, limit=limit + 1
            )
        rendered = [describe(q.detail, q.tags, QUEUE_DETAIL_ORDER) for q in items]
        return _page_out(items, limit, scope, "jobQueues", rendered)

    # -- job definitions -------------------------------------------------------------------------

    def RegisterJobDefinition(self, ctx: RequestContext, params: Params) -> Params:
        """Register the next revision (1, 2, ... never reused) of a job definition, ACTIVE."""
        name = validate_name(params.get("jobDefinitionName"), "jobDefinitionName")
        kind = validate_choice(params.get("type"), "type", ("container", "multinode"))
        size = len(json.dumps(params, default=str).encode())
        if size > MAX_DEFINITION_BYTES:
            raise ClientException(f"RegisterJobDefinition request must be at most 24 KiB; got {size} bytes")
        container = params.get("containerProperties")
        if kind == "container" and not any(
            params.get(k) is not None for k in ("containerProperties", "ecsProperties", "eksProperties")
        ):
            raise ClientException("containerProperties is required for a job definition of type container")
        if kind == "multinode" and params.get("nodeProperties") is None:
            raise ClientException("nodeProperties is required for a job definition of type multinode")
        if container is not None:
            container = container_properties_view(
                validate_container_properties(container, "containerProperties")
            )
        parameters = params.get("parameters") or {}
        if not isinstance(parameters, dict) or not all(isinstance(v, str) for v in parameters.values()):
            raise ClientException("parameters must be a map of strings to strings")
        retry = params.get("retryStrategy")
        if retry is not None:
            retry = validate_retry_strategy(retry, "retryStrategy", ctx.request_id)
        timeout = params.get("timeout")
        if timeout is not None:
            if not isinstance(timeout, dict) or "attemptDurationSeconds" not in timeout:
                raise ClientException("timeout.attemptDurationSeconds is required when timeout is given")
            validate_int_range(
                timeout["attemptDurationSeconds"],
                "timeout.attemptDurationSeconds",
                self.settings.min_timeout_seconds,
            )
        if params.get("schedulingPriority") is not None:
            validate_int_range(params["schedulingPriority"], "schedulingPriority", 0, 9999)
        for index, capability in enumerate(params.get("platformCapabilities") or []):
            validate_choice(capability, f"platformCapabilities[{index}]", ("EC2", "FARGATE"))
        tags = validate_tags(params["tags"]) if "tags" in params else {}
        with self.db.transaction() as conn:
            revision = store.next_revision(conn, ctx.account_id, ctx.region, name)
            arn = batch_arn(ctx.region, ctx.account_id, "job-definition", f"{name}:{revision}")
            detail: Params = {
                "jobDefinitionName": name,
                "jobDefinitionArn": arn,
                "revision": revision,
                "status": "ACTIVE",
                "type": kind,
                "parameters": dict(parameters),
                "retryStrategy": retry,
                "containerProperties": container,
                "timeout": timeout,
                "containerOrchestrationType": "EKS" if params.get("eksProperties") else "ECS",
            }
            for key in (
                "schedulingPriority",
                "nodeProperties",
                "propagateTags",
                "platformCapabilities",
                "ecsProperties",
                "eksProperties",
                "consumableResourceProperties",
            ):
                detail[key] = params.get(key)
            detail = in_model_order(
                {k: v for k, v in detail.items() if v is not None}, DEFINITION_DETAIL_ORDER
            )
            store.insert_job_definition(
                conn, ctx.account_id, ctx.region, JobDefinition(arn, name, revision, detail)
            )
            if tags:
                tag_store.put_tags(conn, arn, tags)
        return {"jobDefinitionName": name, "jobDefinitionArn": arn, "revision": revision}

    def DeregisterJobDefinition(self, ctx: RequestContext, params: Params) -> Params:
        """Set a revision INACTIVE (for good: AWS has no re-activation)."""
        ref = _required_str(params, "jobDefinition")
        with self.db.transaction() as conn:
            definition = self._definition_for_deregister(conn, ctx, ref)
            if definition.active:
                store.set_job_definition_status(conn, definition, "INACTIVE")
        return {}

    def DescribeJobDefinitions(self, ctx: RequestContext, params: Params) -> Params:
        """Describe by ``jobDefinitions`` (ARNs or ``name:revision``), or by name and/or status."""
        scope = "batch:DescribeJobDefinitions"
        after, limit = _page_start(params, scope, "jobDefinitions")
        refs = params.get("jobDefinitions")
        name = params.get("jobDefinitionName")
        status = params.get("status")
        if refs is not None and (name is not None or status is not None):
            raise ClientException("jobDefinitions cannot be combined with jobDefinitionName or status")
        if status is not None:
            validate_choice(status, "status", ("ACTIVE", "INACTIVE"))
        arns: list[str] | None = None
        names: list[str] | None = None
        if refs is not None:
            arns, names = [], []
            for ref in validate_string_list(refs, "jobDefinitions", max_items=100):
                self._sort_definition_ref(ctx, ref, arns, names)
        elif name is not None:
            names = [str(name)]
        with self.db.read() as conn:
            items = store.list_job_definitions(
                conn,
                ctx.account_id,
                ctx.region,
                arns=arns,
                names=names,
                status=status,
                after_seq=after,
                limit=limit + 1,
            )
        rendered = [describe(d.detail, d.tags, DEFINITION_DETAIL_ORDER) for d in items]
        return _page_out(items, limit, scope, "jobDefinitions", rendered)

    # -- tags ------------------------------------------------------------------------------------

    def TagResource(self, ctx: RequestContext, params: Params) -> Params:
        """Add tags to a compute environment, job queue, job definition revision or job."""
        arn = _required_str(params, "resourceArn")
        tags = validate_tags(params.get("tags"))
        with self.db.transaction() as conn:
            self._check_taggable(conn, ctx, arn)
            existing = tag_store.get_tags(conn, arn)
            if len({**existing, **tags}) > TAGS_MAX:
                raise ClientException(f"tags: a resource can have at most {TAGS_MAX} tags")
            tag_store.put_tags(conn, arn, tags)
        return {}

    def UntagResource(self, ctx: RequestContext, params: Params) -> Params:
        """Remove tag keys; keys the resource does not have are ignored."""
        arn = _required_str(params, "resourceArn")
        keys = validate_string_list(params.get("tagKeys"), "tagKeys", max_items=TAGS_MAX)
        if not keys:
            raise ClientException("tagKeys must contain between 1 and 50 keys")
        for key in keys:
            validate_tag_key(key, "tagKeys")
        with self.db.transaction() as conn:
            self._check_taggable(conn, ctx, arn)
            tag_store.remove_tags(conn, arn, keys)
        return {}

    def ListTagsForResource(self, ctx: RequestContext, params: Params) -> Params:
        """The resource's tags (``{}`` when it has none)."""
        arn = _required_str(params, "resourceArn")
        with self.db.read() as conn:
            self._check_taggable(conn, ctx, arn)
            return {"tags": tag_store.get_tags(conn, arn)}

    # -- helpers ---------------------------------------------------------------------------------

    def _arns(self, ctx: RequestContext, params: Params, field: str, kind: str) -> list[str] | None:
        refs = params.get(field)
        if refs is None:
            return None
        found = (
            resource_arn(ctx.region, ctx.account_id, kind, r)
            for r in validate_string_list(refs, field, max_items=100)
        )
        return [arn for arn in dict.fromkeys(found) if arn is not None]

    def _ce_order(self, conn: sqlite3.Connection, ctx: RequestContext, entries: Any) -> list[Params]:
        field = "computeEnvironmentOrder"
        if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_QUEUE_CES:
            raise ClientException(f"{field} must contain between 1 and {MAX_QUEUE_CES} compute environments")
        orders: set[int] = set()
        out: list[Params] = []
        fargate: set[bool] = set()
        for index, entry in enumerate(entries):
            where = f"{field}[{index}]"
            if not isinstance(entry, dict):
                raise ClientException(f"{where} must be an {{order, computeEnvironment}} entry")
            order = validate_int_range(entry.get("order"), f"{where}.order", 0)
            if order in orders:
                raise ClientException(f"{where}.order {order} is used by more than one compute environment")
            orders.add(order)
            ref = entry.get("computeEnvironment")
            ce = (
                find_compute_environment(conn, ctx.region, ctx.account_id, ref)
                if isinstance(ref, str)
                else None
            )
            if ce is None:
                raise ClientException(f"{where}.computeEnvironment: ComputeEnvironment {ref} does not exist")
            if any(e["computeEnvironment"] == ce.arn for e in out):
                raise ClientException(f"{where}.computeEnvironment {ref} is listed more than once")
            fargate.add(ce.is_fargate)
            out.append({"order": order, "computeEnvironment": ce.arn})
        if len(fargate) > 1:
            raise ClientException(
                f"{field}: compute environments of a job queue must be all EC2 (EC2, SPOT, UNMANAGED) "
                "or all Fargate (FARGATE, FARGATE_SPOT); they can't be mixed"
            )
        return out

    def _sort_definition_ref(self, ctx: RequestContext, ref: str, arns: list[str], names: list[str]) -> None:
        if ref.startswith("arn:"):
            arn = parse_arn(ref)
            if arn is None or not arn.resource.startswith("job-definition/"):
                return
            tail = arn.resource[len("job-definition/") :]
            (arns if ":" in tail else names).append(ref if ":" in tail else tail)
        elif ":" in ref:
            arns.append(batch_arn(ctx.region, ctx.account_id, "job-definition", ref))
        else:
            names.append(ref)

    def _definition_for_deregister(
        self, conn: sqlite3.Connection, ctx: RequestContext, ref: str
    ) -> JobDefinition:
        arns: list[str] = []
        names: list[str] = []
        self._sort_definition_ref(ctx, ref, arns, names)
        shown = (
            ref if ref.startswith("arn:") else batch_arn(ctx.region, ctx.account_id, "job-definition", ref)
        )
        if arns:
            found = store.get_job_definition(conn, arns[0])
        elif names:
            found = store.latest_active_job_definition(conn, ctx.account_id, ctx.region, names[0])
        else:
            found = None
        if found is None:
            raise ClientException(f"JobDefinition {shown} not found.")
        return found

    def _check_taggable(self, conn: sqlite3.Connection, ctx: RequestContext, text: str) -> None:
        arn = parse_arn(text)
        missing = ClientException(f"resourceArn {text} does not name an existing AWS Batch resource")
        if arn is None or arn.service != "batch":
            raise ClientException(f"resourceArn {text} is not an AWS Batch ARN")
        if (arn.region, arn.account) != (ctx.region, ctx.account_id):
            raise missing
        kind, _, rest = arn.resource.partition("/")
        if kind == "compute-environment":
            exists = find_compute_environment(conn, ctx.region, ctx.account_id, text) is not None
        elif kind == "job-queue":
            exists = find_job_queue(conn, ctx.region, ctx.account_id, text) is not None
        elif kind == "job-definition":
            exists = ":" in rest and store.get_job_definition(conn, text) is not None
        elif kind == "job":
            if ":" in rest or "#" in rest:
                raise ClientException(
                    f"resourceArn {text}: tags are not supported on array or multi-node parallel child jobs"
                )
            exists = self._job_exists(conn, ctx, rest)
        else:
            exists = False
        if not exists:
            raise missing


def _required_str(params: Params, field: str) -> str:
    value = params.get(field)
    if not isinstance(value, str) or not value:
        raise ClientException(f"{field} is required")
    return value
