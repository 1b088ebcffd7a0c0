"""How the parts become one server: services, the job engine, the Lambda runtime and the bus.

This is the one place that knows every layer.  It follows the data path of the architecture:

* Batch's job engine runs attempts through the executor and writes each transition with its
  ``Batch Job State Change`` event in one transaction (the outbox);
* the EventBridge dispatcher drains the outbox onto the ``default`` bus, matches every event
  against the bus's rules and delivers it to the rules' targets through the *invokers* below;
* the invokers are the only bridge from the bus back to the services, so the bus never imports
  them: a Lambda function, an SQS queue, a Batch job queue, a CloudWatch Logs group.

Target semantics (EventBridge user guide, "Targets"):

* **Lambda**: EventBridge invokes the function asynchronously on AWS, and the function's own
  retry policy then applies.  Here the invocation is synchronous from the bus's point of view,
  so a handler that raises (or times out) is a failed delivery: the *rule target's*
  ``RetryPolicy`` and ``DeadLetterConfig`` decide what happens next.  The error code recorded
  in the dead-letter message is ``FunctionError``, the message ``<errorType>: <errorMessage>``.
* **SQS**: the (transformed) event is the message body; ``MessageAttributes`` pass through.
* **Batch job queue**: ``BatchParameters`` give the definition, job name, array size and retry
  attempts of the SubmitJob call.  When the target's input is a JSON object holding
  ``Parameters`` or ``ContainerOverrides`` (an input transformer can build it), they are passed
  to SubmitJob, as EventBridge does for Batch targets.
* **CloudWatch Logs group**: the event is written to a stream named after the event id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from batchbridge.bus.delivery import Invoker
from batchbridge.config import Settings
from batchbridge.domain.arns import new_uuid, parse_arn
from batchbridge.engine.runner import JobEngine
from batchbridge.errors import ResourceNotFoundException, ServiceError
from batchbridge.executors.base import Executor
from batchbridge.executors.local import LocalExecutor
from batchbridge.executors.routing import RoutingExecutor
from batchbridge.functions import FunctionRuntime
from batchbridge.services.batch import BatchService
from batchbridge.services.context import RequestContext
from batchbridge.services.events import EventBridge, build_eventbridge
from batchbridge.services.functions import LambdaService
from batchbridge.services.logs import LogsService
from batchbridge.services.sqs import SqsService
from batchbridge.store.db import Database
from batchbridge.store.logs import append_log_events, now_ms


class Parts:
    """Everything one server runs, built from one :class:`Database` and :class:`Settings`."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.batch = BatchService(db, settings)
        self.logs = LogsService(db, settings)
        self.sqs = SqsService(db, settings)
        self.executor = build_executor(settings)
        self.engine = JobEngine(db, settings, self.executor)
        self.runtime = FunctionRuntime(
            Path(settings.data_dir) / "lambda", self._write_function_log, log_batch=db.transaction
        )
        self.functions = LambdaService(db, settings, self.runtime)
        self.eventbridge: EventBridge = build_eventbridge(db, self.invokers())

    def services(self) -> dict[str, object]:
        """The services table, keyed by botocore service name."""
        return {
            "batch": self.batch,
            "logs": self.logs,
            "sqs": self.sqs,
            "lambda": self.functions,
            "events": self.eventbridge.service,
        }

    def listening(self, endpoint_url: str) -> None:
        """Tell the parts where the server listens: handlers reach it with boto3 unchanged."""
        self.runtime.set_base_environment(
            {
                "AWS_ENDPOINT_URL": endpoint_url,
                "AWS_ACCESS_KEY_ID": "batchbridge",
                "AWS_SECRET_ACCESS_KEY": "batchbridge",
            }
        )

    def _write_function_log(self, group: str, stream: str, events: list[tuple[int, str]]) -> None:
        with self.db.transaction() as conn:
            append_log_events(conn, group, stream, events)

    # ---------------------------------------------------------------- target invokers

    def invokers(self) -> dict[str, Invoker]:
        return {
            "lambda": self._invoke_lambda,
            "sqs": self._invoke_sqs,
            "batch": self._invoke_batch,
            "logs": self._invoke_logs,
        }

    async def _invoke_lambda(
        self, target: Mapping[str, Any], payload: bytes, event: Mapping[str, Any]
    ) -> None:
        result = await self.functions.invoke_function(str(target["Arn"]), payload)
        if result.function_error:
            try:
                document = json.loads(result.payload or b"{}")
            except ValueError:
                document = {}
            kind = document.get("errorType", "Unhandled") if isinstance(document, dict) else "Unhandled"
            message = document.get("errorMessage", "") if isinstance(document, dict) else ""
            raise ServiceError(f"{kind}: {message}".rstrip(": "), code="FunctionError")

    async def _invoke_sqs(self, target: Mapping[str, Any], payload: bytes, event: Mapping[str, Any]) -> None:
        attributes = dict(target.get("MessageAttributes") or {})
        self.sqs.send_message_internal(str(target["Arn"]), payload.decode(), attributes)

    async def _invoke_batch(
        self, target: Mapping[str, Any], payload: bytes, event: Mapping[str, Any]
    ) -> None:
        queue_arn = str(target["Arn"])
        parsed = parse_arn(queue_arn)
        if parsed is None:
            raise ResourceNotFoundException(f"JobQueue {queue_arn} not found.")
        parameters = target.get("BatchParameters") or {}
        request: dict[str, Any] = {
            "jobName": parameters.get("JobName") or "eventbridge-job",
            "jobQueue": queue_arn,
            "jobDefinition": parameters.get("JobDefinition"),
        }
        size = (parameters.get("ArrayProperties") or {}).get("Size")
        if size:
            request["arrayProperties"] = {"size": int(size)}
        if parameters.get("RetryStrategy", {}).get("Attempts"):
            request["retryStrategy"] = {"attempts": int(parameters["RetryStrategy"]["Attempts"])}
        try:
            document = json.loads(payload or b"null")
        except ValueError:
            document = None
        if isinstance(document, dict):
            if isinstance(document.get("Parameters"), dict):
                request["parameters"] = {str(k): str(v) for k, v in document["Parameters"].items()}
            if isinstance(document.get("ContainerOverrides"), dict):
                request["containerOverrides"] = _lower_keys(document["ContainerOverrides"])
        ctx = RequestContext(parsed.account, parsed.region, new_uuid())
        self.batch.SubmitJob(ctx, request)

    async def _invoke_logs(self, target: Mapping[str, Any], payload: bytes, event: Mapping[str, Any]) -> None:
        parsed = parse_arn(str(target["Arn"]))
        if parsed is None or not parsed.resource.startswith("log-group:"):
            raise ResourceNotFoundException("The specified log group does not exist.")
        group = parsed.resource[len("log-group:") :].removesuffix(":*")
        stream = str(event.get("id") or new_uuid())
        with self.db.transaction() as conn:
            append_log_events(conn, group, stream, [(now_ms(), payload.decode())])

    async def close(self) -> None:
        """Stop the function workers; the job engine and the bus stop with their tasks."""
        await self.functions.close()


def build_executor(settings: Settings) -> Executor:
    """The local executor, or a :class:`RoutingExecutor` over it when compute environments are
    bound to a Ray cluster (``Settings.ray_bindings``).

    Ray is imported only when a binding exists, by the factory the router calls at start; every
    bound compute environment shares one :class:`~batchbridge.executors.ray_executor.RayExecutor`
    (one cluster connection per server).  When Ray is missing or the cluster cannot be reached,
    the router keeps the ClientException and fails that environment's launches with it.
    """
    local = LocalExecutor(Path(settings.data_dir), agent_idle_timeout=settings.agent_idle_seconds)
    if not settings.ray_bindings:
        return local
    names = sorted(settings.ray_bindings)
    address = settings.ray_bindings[names[0]]

    def ray_executor() -> Executor:
        from batchbridge.executors.ray_executor import RayExecutor

        return RayExecutor(address, Path(settings.data_dir), compute_environment=", ".join(names))

    return RoutingExecutor(local, dict.fromkeys(names, ray_executor))


def _lower_keys(value: Any) -> Any:
    """EventBridge spells container overrides in PascalCase; SubmitJob wants camelCase."""
    if isinstance(value, Mapping):
        return {key[:1].lower() + key[1:]: _lower_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_lower_keys(item) for item in value]
    return value
