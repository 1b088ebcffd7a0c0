"""The Lambda API (rest-json ``2015-03-31``) over the warm-worker runtime.

Operations: CreateFunction, GetFunction, GetFunctionConfiguration, ListFunctions,
UpdateFunctionCode, UpdateFunctionConfiguration, DeleteFunction, Invoke, AddPermission,
RemovePermission, GetPolicy, Put/Get/DeleteFunctionConcurrency, TagResource, UntagResource,
ListTags.  Behaviour follows the Lambda API reference:

* ``FunctionName`` may be a name, a partial ARN (``123456789012:function:name``) or a full ARN;
  an unknown function is ``ResourceNotFoundException`` (HTTP 404) ``Function not found: <arn>``.
* Only ``.zip`` packages given inline (``Code.ZipFile``) and ``python3.x`` runtimes run here; S3
  and container-image packages are refused with ``InvalidParameterValueException`` naming the
  member, since nothing outside this machine can be fetched.
* ``Invoke`` with ``RequestResponse`` answers 200 with the handler's result (``X-Amz-Function-Error:
  Unhandled`` and Lambda's error document when it raised or timed out); ``Event`` answers 202 and
  runs the invocation in the background; ``DryRun`` answers 204 after checking the function
  exists.  ``LogType=Tail`` returns the last 4 KB of the invocation's log, base64-encoded.
* Resource policies from AddPermission are kept and returned by GetPolicy, not enforced.

Invocations (``Invoke`` and EventBridge deliveries) take the function's :class:`FunctionSpec` from
a cache filled from the store on first use and emptied by every operation of this service that
writes a function (create, update, delete, concurrency, policy, tags), so a delivery costs no
database read and no re-validation.  Choice: the cache belongs to this process, which is the only
writer of the functions table while the server runs.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from batchbridge.config import Settings
from batchbridge.domain.arns import make_arn, new_uuid, parse_arn
from batchbridge.errors import ResourceNotFoundException, ServiceError
from batchbridge.functions import FunctionRuntime, InvocationResult
from batchbridge.functions.code import FunctionCode
from batchbridge.functions.errors import InvalidParameterValueException
from batchbridge.functions.spec import LATEST, FunctionSpec
from batchbridge.services.context import RequestContext
from batchbridge.store import functions as store
from batchbridge.store.db import Database
from batchbridge.store.logs import append_log_events
from batchbridge.store.paging import decode_token, encode_token

_NAME_FORMS = re.compile(
    r"^(?:arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):)?(?:(?P<account>\d{12}):function:)?"
    r"(?P<name>[a-zA-Z0-9-_]{1,64})(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9-_]+))?$"
)
TAIL_BYTES = 4096


class ResourceConflictException(ServiceError):
    """Lambda's answer to a name or statement id that already exists (HTTP 409)."""

    code = "ResourceConflictException"
    status = 409


def _not_found(arn: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Function not found: {arn}", status=404)


def _now_iso() -> str:
    """Lambda's ``LastModified`` format: ``2024-05-01T12:00:00.000+0000``."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


class LambdaService:
    """The ``lambda`` service: function records in the store, invocations on the runtime."""

    def __init__(self, db: Database, settings: Settings, runtime: FunctionRuntime) -> None:
        self.db = db
        self.settings = settings
        self.runtime = runtime
        self.code_root = runtime.code_root
        self._background: set[asyncio.Task[None]] = set()
        self._specs: dict[tuple[str, str, str], FunctionSpec] = {}
        self._specs_by_arn: dict[str, FunctionSpec] = {}

    # ------------------------------------------------------------------ helpers

    def _function_arn(self, ctx: RequestContext, name: str) -> str:
        return make_arn("lambda", ctx.region, ctx.account_id, f"function:{name}")

    def _name(self, ctx: RequestContext, value: str) -> str:
        match = _NAME_FORMS.match(value)
        if match is None:
            raise InvalidParameterValueException(
                f"1 validation error detected: Value '{value}' at 'functionName' failed to satisfy "
                "constraint: Member must satisfy regular expression pattern: "
                "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?"
                "(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
            )
        qualifier = match.group("qualifier")
        if qualifier not in (None, LATEST):
            raise _not_found(self._function_arn(ctx, match.group("name")) + f":{qualifier}")
        return match.group("name")

    def _load(self, ctx: RequestContext, value: str) -> store.FunctionRecord:
        name = self._name(ctx, value)
        with self.db.read() as conn:
            record = store.get_function(conn, ctx.account_id, ctx.region, name)
        if record is None:
            raise _not_found(self._function_arn(ctx, name))
        return record

    def _forget_specs(self) -> None:
        """Drop every cached spec; called by each operation that writes a function."""
        self._specs.clear()
        self._specs_by_arn.clear()

    def _cached_spec(self, ctx: RequestContext, value: str) -> FunctionSpec:
        """The spec of the function ``value`` names, from the cache or the store."""
        name = self._name(ctx, value)
        key = (ctx.account_id, ctx.region, name)
        spec = self._specs.get(key)
        if spec is None:
            spec = self._spec(self._load(ctx, name))
            self._specs[key] = spec
        return spec

    def _spec(self, record: store.FunctionRecord) -> FunctionSpec:
        config = record.config
        return FunctionSpec(
            name=record.name,
            arn=config["FunctionArn"],
            handler=config["Handler"],
            code_dir=Path(record.code_dir),
            runtime=config["Runtime"],
            timeout_seconds=float(config["Timeout"]),
            memory_mb=int(config["MemorySize"]),
            environment=dict(config.get("Environment", {}).get("Variables", {})),
            reserved_concurrency=record.reserved_concurrency,
            region=record.region,
            account_id=record.account,
            revision_id=config["RevisionId"],
            code_sha256=config["CodeSha256"],
        )

    def _extract(self, zip_bytes: Any, operation: str) -> FunctionCode:
        if not isinstance(zip_bytes, bytes | bytearray):
            raise InvalidParameterValueException(
                "Code.ZipFile is required: batchbridge runs .zip packages given inline "
                "(S3Bucket/S3Key and ImageUri cannot be fetched here)"
            )
        return FunctionCode.from_zip(bytes(zip_bytes), self.code_root, operation=operation)

    def _check_runtime(self, params: dict[str, Any], *, required: bool) -> None:
        runtime = params.get("Runtime")
        if runtime is None:
            if required:
                raise InvalidParameterValueException("Runtime and Handler are mandatory parameters for .zip")
            return
        if not str(runtime).startswith("python3."):
            raise InvalidParameterValueException(
                f"Value {runtime} at 'runtime' is not supported: batchbridge runs python3.x functions"
            )

    def write_log(self, group: str, stream: str, events: list[tuple[int, str]]) -> None:
        """The runtime's log sink: invocation output into ``/aws/lambda/<name>``."""
        with self.db.transaction() as conn:
            append_log_events(conn, group, stream, events)

    # ------------------------------------------------------------------ functions

    def CreateFunction(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["FunctionName"]
        if not re.fullmatch(r"[a-zA-Z0-9-_]{1,64}", name):
            name = self._name(ctx, name)
        if params.get("PackageType", "Zip") != "Zip":
            raise InvalidParameterValueException(
                "PackageType Image is not supported: batchbridge runs .zip packages"
            )
        self._check_runtime(params, required=True)
        if not params.get("Handler"):
            raise InvalidParameterValueException("Runtime and Handler are mandatory parameters for .zip")
        code = self._extract(params["Code"].get("ZipFile"), "CreateFunction")
        arn = self._function_arn(ctx, name)
        config: dict[str, Any] = {
            "FunctionName": name,
            "FunctionArn": arn,
            "Runtime": params["Runtime"],
            "Role": params["Role"],
            "Handler": params["Handler"],
            "CodeSize": code.code_size,
            "Description": params.get("Description", ""),
            "Timeout": params.get("Timeout", 3),
            "MemorySize": params.get("MemorySize", 128),
            "LastModified": _now_iso(),
            "CodeSha256": code.code_sha256,
            "Version": LATEST,
            "Environment": {"Variables": dict(params.get("Environment", {}).get("Variables", {}))},
            "TracingConfig": {"Mode": params.get("TracingConfig", {}).get("Mode", "PassThrough")},
            "RevisionId": new_uuid(),
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "PackageType": "Zip",
            "Architectures": list(params.get("Architectures", ["x86_64"])),
            "EphemeralStorage": {"Size": params.get("EphemeralStorage", {}).get("Size", 512)},
            "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"},
            "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        }
        if "DeadLetterConfig" in params:
            config["DeadLetterConfig"] = params["DeadLetterConfig"]
        record = store.FunctionRecord(
            account=ctx.account_id,
            region=ctx.region,
            name=name,
            config=config,
            code_dir=str(code.code_dir),
            policy=[],
            tags=dict(params.get("Tags", {})),
            reserved_concurrency=None,
        )
        self._spec(record)
        with self.db.transaction() as conn:
            if not store.insert_function(conn, record):
                raise ResourceConflictException(f"Function already exist: {name}")
        self._forget_specs()
        return config

    def GetFunction(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        record = self._load(ctx, params["FunctionName"])
        answer: dict[str, Any] = {
            "Configuration": record.config,
            "Code": {"RepositoryType": "S3", "Location": Path(record.code_dir).as_uri()},
        }
        if record.tags:
            answer["Tags"] = record.tags
        if record.reserved_concurrency is not None:
            answer["Concurrency"] = {"ReservedConcurrentExecutions": record.reserved_concurrency}
        return answer

    def GetFunctionConfiguration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._load(ctx, params["FunctionName"]).config

    def ListFunctions(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        limit = params.get("MaxItems") or 50
        after = 0
        if params.get("Marker"):
            after = int(
                decode_token(
                    params["Marker"],
                    "lambda:ListFunctions",
                    field="Marker",
                    error=InvalidParameterValueException,
                )[0]
            )
        with self.db.read() as conn:
            rows = store.list_functions(conn, ctx.account_id, ctx.region, after_seq=after, limit=limit + 1)
        answer: dict[str, Any] = {"Functions": [row.config for row in rows[:limit]]}
        if len(rows) > limit:
            answer["NextMarker"] = encode_token("lambda:ListFunctions", [rows[limit - 1].seq])
        return answer

    async def _retire(self, name: str) -> None:
        await self.runtime.evict(name)

    async def UpdateFunctionCode(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        record = self._load(ctx, params["FunctionName"])
        code = self._extract(params.get("ZipFile"), "UpdateFunctionCode")
        if params.get("DryRun"):
            return record.config
        record.code_dir = str(code.code_dir)
        record.config.update(
            CodeSha256=code.code_sha256,
            CodeSize=code.code_size,
            LastModified=_now_iso(),
            RevisionId=new_uuid(),
        )
        with self.db.transaction() as conn:
            store.update_function(conn, record)
        self._forget_specs()
        await self._retire(record.name)
        return record.config

    async def UpdateFunctionConfiguration(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        record = self._load(ctx, params["FunctionName"])
        self._check_runtime(params, required=False)
        config = record.config
        for member in (
            "Role",
            "Handler",
            "Description",
            "Timeout",
            "MemorySize",
            "Runtime",
            "DeadLetterConfig",
        ):
            if member in params:
                config[member] = params[member]
        if "Environment" in params:
            config["Environment"] = {"Variables": dict(params["Environment"].get("Variables", {}))}
        config.update(LastModified=_now_iso(), RevisionId=new_uuid())
        self._spec(record)
        with self.db.transaction() as conn:
            store.update_function(conn, record)
        self._forget_specs()
        await self._retire(record.name)
        return config

    async def DeleteFunction(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        record = self._load(ctx, params["FunctionName"])
        with self.db.transaction() as conn:
            store.delete_function(conn, record.account, record.region, record.name)
        self._forget_specs()
        await self._retire(record.name)
        return {}

    # ------------------------------------------------------------------ invoke

    async def invoke_function(self, arn: str, payload: bytes) -> InvocationResult:
        """Run ``arn`` synchronously for an EventBridge target; raises when it does not exist."""
        spec = self._specs_by_arn.get(arn)
        if spec is None:
            parsed = parse_arn(arn)
            if parsed is None or not parsed.resource.startswith("function:"):
                raise _not_found(arn)
            ctx = RequestContext(parsed.account, parsed.region, "")
            spec = self._cached_spec(ctx, parsed.resource.split(":", 1)[1])
            self._specs_by_arn[arn] = spec
        return await self.runtime.invoke_queued(spec, payload)

    async def Invoke(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        spec = self._cached_spec(ctx, params["FunctionName"])
        payload = params.get("Payload") or b""
        if payload:
            try:
                json.loads(payload)
            except ValueError as exc:
                raise ServiceError(
                    f"Could not parse request body into json: Could not parse payload into json: {exc}",
                    code="InvalidRequestContentException",
                ) from exc
        else:
            payload = b"{}"
        kind = params.get("InvocationType", "RequestResponse")
        if kind == "DryRun":
            return {"StatusCode": 204}
        if kind == "Event":
            task = asyncio.get_running_loop().create_task(self._invoke_quietly(spec, payload))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return {"StatusCode": 202}
        result = await self.runtime.invoke(spec, payload, tail=params.get("LogType") == "Tail")
        answer: dict[str, Any] = {"StatusCode": 200, "Payload": result.payload, "ExecutedVersion": LATEST}
        if result.function_error:
            answer["FunctionError"] = result.function_error
        if params.get("LogType") == "Tail":
            tail = result.log_tail.encode()[-TAIL_BYTES:]
            answer["LogResult"] = base64.b64encode(tail).decode()
        return answer

    async def _invoke_quietly(self, spec: FunctionSpec, payload: bytes) -> None:
        try:
            await self.runtime.invoke(spec, payload)
        except ServiceError:
            return

    # ------------------------------------------------------------------ policy, concurrency, tags

    def AddPermission(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        record = self._load(ctx, params["FunctionName"])
        sid = params["StatementId"]
        if any(statement["Sid"] == sid for statement in record.policy):
            raise ResourceConflictException(
                f"The statement id ({sid}) provided already exists. Please provide a new statement id, "
                "or remove the existing statement."
            )
        principal = params["Principal"]
        statement: dict[str, Any] = {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": {"Service": principal} if "." in principal else {"AWS": principal},
            "Action": params["Action"],
            "Resource": record.config["FunctionArn"],
        }
        if params.get("SourceArn"):
            statement["Condition"] = {"ArnLike": {"AWS:SourceArn": params["SourceArn"]}}
        record.policy.append(statement)
        with self.db.transaction() as conn:
            store.update_function(conn, record)
        self._forget_specs()
        return {"Statement": json.dumps(statement)}

    def RemovePermission(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        record = self._load(ctx, params["FunctionName"])
        kept = [statement for statement in record.policy if statement["Sid"] != params["StatementId"]]
        if len(kept) == len(record.policy):
            raise ResourceNotFoundException(
                f"Statement {params['StatementId']} is not found in resource policy.", status=404
            )
        record.policy = kept
        with self.db.transaction() as conn:
            store.update_function(conn, record)
        self._forget_specs()
        return {}

    def GetPolicy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        record = self._load(ctx, params["FunctionName"])
        if not record.policy:
            raise ResourceNotFoundException("The resource you requested does not exist.", status=404)
        policy = {"Version": "2012-10-17", "Id": "default", "Statement": record.policy}
        return {"Policy": json.dumps(policy), "RevisionId": record.config["RevisionId"]}

    async def PutFunctionConcurrency(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        record = self._load(ctx, params["FunctionName"])
        record.reserved_concurrency = int(params["ReservedConcurrentExecutions"])
        with self.db.transaction() as conn:
            store.update_function(conn, record)
        self._forget_specs()
        await self._retire(record.name)
        return {"ReservedConcurrentExecutions": record.reserved_concurrency}

    def GetFunctionConcurrency(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        record = self._load(ctx, params["FunctionName"])
        if record.reserved_concurrency is None:
            return {}
        return {"ReservedConcurrentExecutions": record.reserved_concurrency}

    async def DeleteFunctionConcurrency(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        record = self._load(ctx, params["FunctionName"])
        record.reserved_concurrency = None
        with self.db.transaction() as conn:
            store.update_function(conn, record)
        self._forget_specs()
        await self._retire(record.name)
        return {}

    def _by_resource(self, ctx: RequestContext, arn: str) -> store.FunctionRecord:
        return self._load(ctx, arn)

    def TagResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        record = self._by_resource(ctx, params["Resource"])
        record.tags.update(params["Tags"])
        with self.db.transaction() as conn:
            store.update_function(conn, record)
        self._forget_specs()
        return {}

    def UntagResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        record = self._by_resource(ctx, params["Resource"])
        keys: Sequence[str] = params["TagKeys"]
        record.tags = {key: value for key, value in record.tags.items() if key not in keys}
        with self.db.transaction() as conn:
            store.update_function(conn, record)
        self._forget_specs()
        return {}

    def ListTags(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"Tags": self._by_resource(ctx, params["Resource"]).tags}

    async def close(self) -> None:
        """Wait for background ``Event`` invocations, then stop every worker."""
        if self._background:
            await asyncio.wait(list(self._background), timeout=5)
        await self.runtime.close()
