"""Generated input for every operation the server implements, sent over raw HTTP.

For each operation of each service whose service object has a method of that name, the
requests are built from botocore's model (:mod:`.model_values`): a few valid inputs with
awkward values, then one-fault mutations of the first (wrong types, missing required members,
out-of-range integers, over-long strings, unknown enums, huge lists, garbage tokens), then
protocol faults (malformed JSON, a JSON array, invalid UTF-8, a wrong content type).  Every
answer must be below 500, parse in botocore (an error with a code and a message, or an output
with every required member), and the server must log no traceback.  Seeds are fixed per
operation, so a run is reproducible; the whole module is bounded to well under a minute.
"""

from __future__ import annotations

import random
import zlib
from typing import Any

import botocore.session
import pytest
from botocore.model import OperationModel

from batchbridge.services.batch import BatchService
from batchbridge.services.events import EventsService
from batchbridge.services.functions import LambdaService
from batchbridge.services.logs import LogsService
from batchbridge.services.sqs import SqsService

from .checks import problems
from .conftest import WatchedServer, build_pool
from .model_values import Generator, mutations
from .wire import WireRequest, build_request, send

MAX_MUTATIONS = 150
VALID_INPUTS = 12
MUTATED_INPUTS = 3
#: The server accepts request lines up to 64 KiB (``server.MAX_LINE_BYTES``).
MAX_PATH = 60000


_SESSION = botocore.session.get_session()


def operation_model(service: str, name: str) -> OperationModel:
    return _SESSION.get_service_model(service).operation_model(name)


SERVICE_CLASSES: dict[str, type] = {
    "batch": BatchService,
    "events": EventsService,
    "logs": LogsService,
    "lambda": LambdaService,
    "sqs": SqsService,
}


def implemented_operations() -> list[tuple[str, str]]:
    """(service, operation) for every operation of the model that the service class defines."""
    return [
        (service, name)
        for service, cls in SERVICE_CLASSES.items()
        for name in _SESSION.get_service_model(service).operation_names
        if callable(getattr(cls, name, None))
    ]


def protocol_faults(request: WireRequest) -> list[WireRequest]:
    """The same request with a broken body or content type."""
    faults = [
        WireRequest(request.method, request.path, request.headers, b"{not json", "malformed JSON body"),
        WireRequest(request.method, request.path, request.headers, b"[1, 2]", "JSON array body"),
        WireRequest(request.method, request.path, request.headers, b'{"a": "\xff\xfe"}', "invalid UTF-8"),
        WireRequest(request.method, request.path, request.headers, b"\x00" * 64, "binary body"),
        WireRequest(request.method, request.path, request.headers, b'{"a": ' * 5000, "deep nesting"),
        WireRequest(
            request.method,
            request.path,
            {**request.headers, "Content-Type": "text/plain"},
            request.body,
            "text/plain content type",
        ),
        WireRequest(
            request.method,
            request.path,
            {**request.headers, "Content-Type": "application/xml"},
            b"<a/>",
            "XML body",
        ),
    ]
    return faults


def exercise(server: WatchedServer, operation: OperationModel, requests: list[WireRequest]) -> list[str]:
    """Send every request; the problems found, each labelled with the request that caused it."""
    protocol = operation.service_model.protocol
    failures: list[str] = []
    for request in requests:
        try:
            answer = send(server.port, request)
        except Exception as exc:  # a dropped connection is a failure to report, not to raise
            failures.append(f"{request.label}: no answer ({exc!r})")
            continue
        for problem in problems(operation, answer, protocol):
            failures.append(f"{request.label}: {problem}")
        for record in server.catcher.take():
            failures.append(f"{request.label}: server logged {record}")
    return failures


def requests_for(server: WatchedServer, operation: OperationModel) -> list[WireRequest]:
    seed = zlib.crc32(f"{operation.service_model.service_name}.{operation.name}".encode())
    generator = Generator(seed, server.pool)
    shape = operation.input_shape
    requests: list[WireRequest] = []
    bases: list[dict[str, Any]] = []
    for attempt in range(VALID_INPUTS):
        params = generator.value(shape) if shape is not None else {}
        bases.append(params)
        requests.append(build_request(operation, params, f"valid input {attempt}: {params!r}"[:400]))
    if shape is not None:
        rng = random.Random(seed)
        faulty = [item for base in bases[:MUTATED_INPUTS] for item in mutations(shape, base, rng)]
        if len(faulty) > MAX_MUTATIONS:
            faulty = rng.sample(faulty, MAX_MUTATIONS)
        requests += [build_request(operation, params, f"{what}: {params!r}"[:400]) for what, params in faulty]
    requests += protocol_faults(requests[0])
    return [request for request in requests if len(request.path) <= MAX_PATH]


@pytest.mark.parametrize(("service", "name"), implemented_operations(), ids=str)
def test_generated_input_never_breaks_the_server(
    watched_server: WatchedServer, service: str, name: str
) -> None:
    watched_server.pool = build_pool(watched_server)
    operation = operation_model(service, name)
    failures = exercise(watched_server, operation, requests_for(watched_server, operation))
    assert not failures, "\n".join(failures[:20])
