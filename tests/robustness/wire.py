"""A raw HTTP client that lays out any parameters the way a service model places them.

botocore's own serialiser refuses (or silently converts) values of the wrong type, so the fuzzer
uses this one: every member goes where its ``location`` trait says (URI label, query string,
header, payload or JSON body) and its value goes out untouched, whatever its type.  Blobs and
timestamps are expected already in their JSON wire form (base64 text, epoch seconds).
"""

from __future__ import annotations

import base64
import http.client
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from botocore.model import OperationModel


@dataclass
class WireRequest:
    """One HTTP request, ready to send."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    label: str = ""


@dataclass
class WireAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value)


def _header_safe(text: str) -> str:
    """``text`` without CR and LF (http.client refuses them) nor NUL.

    A NUL in a header is refused by the HTTP parser with a plain 400 before batchbridge sees
    the request (logged as one line; see test_http_limits), so it has no AWS envelope to check.
    """
    return text.replace("\r", " ").replace("\n", " ").replace("\x00", " ")


def _quote_label(value: Any, greedy: bool) -> str:
    return quote(_text(value), safe="/~" if greedy else "~")


def build_request(operation: OperationModel, params: dict[str, Any], label: str = "") -> WireRequest:
    """Lay ``params`` (keyed by member name) out as ``operation``'s protocol wants them."""
    model = operation.service_model
    shape = operation.input_shape
    if model.protocol == "json":
        target = f"{model.metadata['targetPrefix']}.{operation.name}"
        version = model.metadata.get("jsonVersion", "1.1")
        body = {}
        if shape is not None:
            for name, value in params.items():
                member = shape.members.get(name)
                wire = member.serialization.get("name", name) if member is not None else name
                body[wire] = value
        else:
            body = dict(params)
        headers = {"X-Amz-Target": target, "Content-Type": f"application/x-amz-json-{version}"}
        return WireRequest("POST", "/", headers, json.dumps(body).encode(), label)
    http = operation.http
    uri = str(http.get("requestUri", "/"))
    path, _, fixed_query = uri.partition("?")
    query: list[tuple[str, str]] = []
    headers = {"Content-Type": "application/json"}
    body_doc: dict[str, Any] = {}
    raw_body: bytes | None = None
    payload = shape.serialization.get("payload") if shape is not None else None
    for name, value in params.items():
        member = shape.members.get(name) if shape is not None else None
        if member is None:
            body_doc[name] = value
            continue
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri":
            for token, greedy in ((f"{{{wire}+}}", True), (f"{{{wire}}}", False)):
                if token in path:
                    path = path.replace(token, _quote_label(value, greedy))
        elif location == "querystring":
            if isinstance(value, list):
                query.extend((wire, _text(item)) for item in value)
            elif isinstance(value, dict) and member.type_name == "map":
                query.extend((str(k), _text(v)) for k, v in value.items())
            else:
                query.append((wire, _text(value)))
        elif location == "header":
            if member.serialization.get("jsonvalue"):
                headers[wire] = base64.b64encode(json.dumps(value).encode()).decode()
            elif isinstance(value, list):
                headers[wire] = ",".join(_text(item) for item in value)
            else:
                headers[wire] = _text(value)
        elif location == "headers":
            if isinstance(value, dict):
                headers.update({f"{wire}{k}": _text(v) for k, v in value.items()})
        elif name == payload:
            if member.type_name == "blob" and isinstance(value, str):
                try:
                    raw_body = base64.b64decode(value)
                except ValueError:
                    raw_body = value.encode()
            elif member.type_name in ("blob", "string"):
                raw_body = _text(value).encode()
            else:
                raw_body = json.dumps(value).encode()
        else:
            body_doc[wire] = value
    for token in [part for part in path.split("/") if part.startswith("{")]:
        path = path.replace(token, "missing")
    if fixed_query:
        query.insert(0, tuple(fixed_query.split("=", 1)) if "=" in fixed_query else (fixed_query, ""))  # type: ignore[arg-type]
    if query:
        path += "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query)
    body = raw_body if raw_body is not None else json.dumps(body_doc).encode()
    return WireRequest(str(http.get("method", "POST")), path, headers, body, label)


def send(port: int, request: WireRequest, timeout: float = 30.0) -> WireAnswer:
    """Send ``request`` to ``127.0.0.1:port`` and read the whole answer."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Length": str(len(request.body)), **request.headers}
        connection.putrequest(request.method, request.path, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, _header_safe(value).encode("utf-8", "surrogateescape"))
        connection.endheaders(request.body)
        response = connection.getresponse()
        return WireAnswer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()
