"""The services we speak, loaded from botocore's bundled models once at start-up.

Routing follows the model of each service:

* rest-json (Batch, Lambda): the HTTP method and the operation's ``requestUri`` template.
  ``{Label}`` matches one path segment, ``{Label+}`` (greedy) the rest of the path; labels are
  matched on the raw path and then percent-decoded, so ``/v1/tags/arn%3Aaws%3A...%2Fq1`` is one
  label.  A query string inside ``requestUri`` (``/2018-10-31/layers?find=LayerVersion``) is a
  literal the request must carry.  Among templates that match, the one with the most literal
  characters wins.
* JSON 1.0/1.1 (EventBridge, Logs, SQS): the ``X-Amz-Target`` header, ``<targetPrefix>.<Op>``.

All services share one port.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import parse_qsl, unquote

import botocore.session

from batchbridge.api.shapes import Node, ShapeCompiler

SERVICE_NAMES: tuple[str, ...] = ("batch", "events", "logs", "lambda", "sqs")

#: Enum shapes a service matches case-insensitively, by service.
CASE_INSENSITIVE_ENUMS: dict[str, frozenset[str]] = {"batch": frozenset({"RetryAction"})}

_LABEL = re.compile(r"\{([^}]+)\}")


@dataclass(eq=False)
class OperationSpec:
    """One operation of one service: its name, HTTP binding and compiled shapes."""

    service: ServiceSpec
    name: str
    model: Any
    method: str
    request_uri: str
    status: int

    @cached_property
    def input(self) -> Node | None:
        shape = self.model.input_shape
        return None if shape is None else self.service.compiler.compile(shape)

    @cached_property
    def output(self) -> Node | None:
        shape = self.model.output_shape
        return None if shape is None else self.service.compiler.compile(shape)

    @cached_property
    def error_status(self) -> dict[str, int]:
        """HTTP status of each modelled error of this operation, by error code."""
        statuses: dict[str, int] = {}
        for shape in self.model.error_shapes:
            error = shape.metadata.get("error") or {}
            status = error.get("httpStatusCode")
            if status:
                statuses[shape.name] = int(status)
                if error.get("code"):
                    statuses[error["code"]] = int(status)
        return statuses


@dataclass(eq=False)
class ServiceSpec:
    """One service: botocore's model plus our index of its operations."""

    name: str
    model: Any
    protocol: str
    json_version: str
    target_prefix: str
    signing_name: str
    compiler: ShapeCompiler
    operations: dict[str, OperationSpec] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        if self.protocol == "json":
            return f"application/x-amz-json-{self.json_version}"
        return "application/json"


@dataclass(frozen=True, slots=True)
class RestRoute:
    """A compiled ``requestUri`` template."""

    operation: OperationSpec
    regex: re.Pattern[str] | None
    literal_path: str | None
    labels: tuple[tuple[str, str], ...]
    required_query: tuple[tuple[str, str], ...]
    weight: tuple[int, int]

    def query_matches(self, query: Mapping[str, str]) -> bool:
        return all(query.get(key) == value for key, value in self.required_query)


def compile_route(operation: OperationSpec) -> RestRoute:
    """Compile an operation's ``requestUri`` into a route."""
    path, _, query = operation.request_uri.partition("?")
    required_query = tuple(parse_qsl(query, keep_blank_values=True))
    if "{" not in path:
        weight = (len(path), len(required_query))
        return RestRoute(operation, None, path, (), required_query, weight)
    labels: list[tuple[str, str]] = []
    pattern = ["^"]
    position = 0
    literal = 0
    for index, match in enumerate(_LABEL.finditer(path)):
        text = path[position : match.start()]
        literal += len(text)
        pattern.append(re.escape(text))
        name = match.group(1)
        group = f"g{index}"
        if name.endswith("+"):
            name = name[:-1]
            pattern.append(f"(?P<{group}>.+)")
        else:
            pattern.append(f"(?P<{group}>[^/]+)")
        labels.append((group, name))
        position = match.end()
    tail = path[position:]
    literal += len(tail)
    pattern.append(re.escape(tail) + "$")
    regex = re.compile("".join(pattern))
    return RestRoute(operation, regex, None, tuple(labels), required_query, (literal, len(required_query)))


class RestRouter:
    """Finds the rest-json operation for a method and raw path."""

    def __init__(self, routes: Iterable[RestRoute]) -> None:
        self._literal: dict[tuple[str, str], list[RestRoute]] = {}
        self._templates: dict[str, list[RestRoute]] = {}
        for route in routes:
            method = route.operation.method
            if route.literal_path is not None:
                self._literal.setdefault((method, route.literal_path), []).append(route)
            else:
                self._templates.setdefault(method, []).append(route)
        for candidates in self._literal.values():
            candidates.sort(key=lambda r: r.weight, reverse=True)
        for candidates in self._templates.values():
            candidates.sort(key=lambda r: r.weight, reverse=True)

    def match(
        self, method: str, raw_path: str, query: Mapping[str, str]
    ) -> tuple[OperationSpec, dict[str, str]] | None:
        """Return the operation and its percent-decoded URI labels, or ``None``."""
        for route in self._literal.get((method, raw_path), ()):
            if route.query_matches(query):
                return route.operation, {}
        if raw_path.endswith("/") and len(raw_path) > 1:
            for route in self._literal.get((method, raw_path[:-1]), ()):
                if route.query_matches(query):
                    return route.operation, {}
        for route in self._templates.get(method, ()):
            assert route.regex is not None
            found = route.regex.match(raw_path)
            if found is not None and route.query_matches(query):
                labels = {name: unquote(found.group(group)) for group, name in route.labels}
                return route.operation, labels
        return None


class Catalog:
    """Every service's model and the routing tables built from them."""

    def __init__(self, services: dict[str, ServiceSpec]) -> None:
        self.services = services
        self.by_target: dict[str, OperationSpec] = {}
        self.json_prefixes: dict[str, ServiceSpec] = {}
        routes: list[RestRoute] = []
        for service in services.values():
            if service.protocol == "json":
                self.json_prefixes[service.target_prefix] = service
                for operation in service.operations.values():
                    self.by_target[f"{service.target_prefix}.{operation.name}"] = operation
            else:
                routes.extend(compile_route(op) for op in service.operations.values())
        self.router = RestRouter(routes)

    def operation(self, service: str, name: str) -> OperationSpec:
        return self.services[service].operations[name]


def load_service(session: Any, name: str) -> ServiceSpec:
    """Load one service model and index its operations."""
    model = session.get_service_model(name)
    metadata = model.metadata
    protocol = "json" if model.protocol == "json" else model.protocol
    if protocol not in ("json", "rest-json"):
        raise ValueError(f"service {name} uses protocol {model.protocol}, which batchbridge does not speak")
    service = ServiceSpec(
        name=name,
        model=model,
        protocol=protocol,
        json_version=str(metadata.get("jsonVersion", "1.1")),
        target_prefix=str(metadata.get("targetPrefix", "")),
        signing_name=str(metadata.get("signingName") or metadata.get("endpointPrefix") or name),
        compiler=ShapeCompiler(CASE_INSENSITIVE_ENUMS.get(name, frozenset())),
    )
    for op_name in model.operation_names:
        op_model = model.operation_model(op_name)
        http = op_model.http
        service.operations[op_name] = OperationSpec(
            service=service,
            name=op_name,
            model=op_model,
            method=str(http.get("method", "POST")),
            request_uri=str(http.get("requestUri", "/")),
            status=int(http.get("responseCode", 200)),
        )
    return service


_CATALOGS: dict[tuple[str, ...], Catalog] = {}


def load_catalog(names: Iterable[str] = SERVICE_NAMES) -> Catalog:
    """Load (once per process) the catalog of the named services."""
    key = tuple(names)
    cached = _CATALOGS.get(key)
    if cached is None:
        session = botocore.session.get_session()
        cached = Catalog({name: load_service(session, name) for name in key})
        _CATALOGS[key] = cached
    return cached
