"""One HTTP request through the wire layer: authenticate, route, parse and validate, call the
service, serialise, and map every error to the protocol's envelope.

A service is any object whose methods are named like the AWS operations and take
``(ctx, params)``; an operation of the model that the service object lacks answers
``UnknownOperationException`` (HTTP 501) naming it.  An unknown ``X-Amz-Target`` answers
``UnknownOperationException`` (400), an unknown rest path the same code with 404, as AWS's
front ends do.  An unexpected exception answers the service's internal-error code with HTTP 500;
its traceback goes to the server's log, never to the client.  Every answer carries
``x-amzn-RequestId``.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from batchbridge.api.auth import Authenticator
from batchbridge.api.catalog import Catalog, OperationSpec, ServiceSpec
from batchbridge.api.faults import (
    error_response,
    internal_error,
    malformed_body_error,
    not_implemented_error,
    validation_error,
)
from batchbridge.api.parsing import MalformedBody, parse_json_request, parse_rest_request
from batchbridge.api.serialization import WireResponse, serialize_result
from batchbridge.api.validation import Violation
from batchbridge.errors import ServiceError, UnknownOperationException
from batchbridge.services.context import RequestContext

log = logging.getLogger("batchbridge.api")


@dataclasses.dataclass(frozen=True)
class WireContext(RequestContext):
    """The request context plus the endpoint the client addressed (``http://host:port``).

    SQS builds queue URLs from the endpoint the caller used, as AWS does from its own host name.
    """

    endpoint_url: str = ""


access_log = logging.getLogger("batchbridge.access")


class Dispatcher:
    """Turns HTTP requests into service calls for every service of ``catalog``."""

    def __init__(
        self,
        catalog: Catalog,
        services: Mapping[str, object],
        authenticator: Authenticator,
        account_id: str,
        log_requests: bool = True,
    ) -> None:
        self.catalog = catalog
        self.services = services
        self.authenticator = authenticator
        self.account_id = account_id
        self.log_requests = log_requests

    def _route(
        self, request: web.Request, target: str | None, path: str
    ) -> tuple[ServiceSpec, OperationSpec, dict[str, str]]:
        if target is not None:
            operation = self.catalog.by_target.get(target)
            if operation is None:
                prefix = target.partition(".")[0]
                raise UnknownOperationException(
                    f"The operation {target} is not recognised by any service of batchbridge"
                    if prefix not in self.catalog.json_prefixes
                    else f"The operation {target.partition('.')[2] or target} is not an operation of "
                    f"{self.catalog.json_prefixes[prefix].name}"
                )
            return operation.service, operation, {}
        found = self.catalog.router.match(request.method, path, request.query)
        if found is None:
            raise UnknownOperationException(
                f"No operation of batchbridge matches {request.method} {path}", status=404
            )
        operation, labels = found
        return operation.service, operation, labels

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The aiohttp handler for every AWS API request."""
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        target = request.headers.get("X-Amz-Target")
        path, _, raw_query = request.raw_path.partition("?")
        service: ServiceSpec | None = None
        operation: OperationSpec | None = None
        try:
            body = await request.read()
            caller = self.authenticator.authenticate(
                request.method, path, raw_query, request.headers, body, target is not None
            )
            service, operation, labels = self._route(request, target, path)
            wire = await self._call(request, service, operation, labels, body, caller.region, request_id)
        except ServiceError as error:
            wire = error_response(error, service, operation, json_protocol=target is not None)
        except web.HTTPRequestEntityTooLarge:
            too_large = ServiceError(
                "Request must be smaller than the server's maximum request size.",
                code="RequestEntityTooLargeException",
                status=413,
            )
            wire = error_response(too_large, service, operation, json_protocol=target is not None)
        except Exception:
            log.exception("request %s failed inside batchbridge", request_id)
            name = service.name if service else None
            wire = error_response(internal_error(name, request_id), service, operation, target is not None)
        response = web.Response(status=wire.status, body=wire.body, headers=wire.headers)
        response.headers["Content-Type"] = wire.content_type
        response.headers["x-amzn-RequestId"] = request_id
        if self.log_requests:
            access_log.info(
                "%s %s %d %.1fms %s",
                request.method,
                target or path,
                wire.status,
                (time.perf_counter() - started) * 1000.0,
                request_id,
            )
        return response

    async def _call(
        self,
        request: web.Request,
        service: ServiceSpec,
        operation: OperationSpec,
        labels: dict[str, str],
        body: bytes,
        region: str,
        request_id: str,
    ) -> WireResponse:
        errors: list[Violation] = []
        try:
            if service.protocol == "json":
                params = parse_json_request(operation.input, body, errors)
            else:
                params = parse_rest_request(
                    operation.input, labels, request.query, request.headers, body, errors
                )
        except MalformedBody as exc:
            raise malformed_body_error(service.name, str(exc)) from None
        if errors:
            raise validation_error(service.name, errors)
        implementation = self.services.get(service.name)
        method = getattr(implementation, operation.name, None) if implementation is not None else None
        if method is None:
            raise not_implemented_error(operation)
        ctx = WireContext(
            account_id=self.account_id,
            region=region,
            request_id=request_id,
            endpoint_url=f"{request.scheme}://{request.host}",
        )
        result: Any = method(ctx, params)
        if inspect.isawaitable(result):
            result = await result
        return serialize_result(operation, result)
