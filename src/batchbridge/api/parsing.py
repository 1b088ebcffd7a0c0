"""Request parsing for the JSON 1.0/1.1 and rest-json protocols, driven by the input shape.

JSON protocols carry every member in the JSON body under its wire name.  rest-json spreads them
over the request, as the model's ``location`` trait says:

* ``uri``: a label of the ``requestUri`` template (already percent-decoded by the router);
* ``querystring``: a query parameter; a list member collects every repetition of its key
  (``tagKeys=a&tagKeys=b``), a map member collects the parameters no other member claims;
* ``header``: a header (a list is comma-separated, a ``jsonvalue`` header is base64 JSON);
* ``headers``: every header starting with the member's prefix, as a map;
* the operation's ``payload`` member: the raw body when it is a blob or string (Lambda
  ``Invoke``'s ``Payload``), the JSON body when it is a structure;
* every other member: the JSON body.

Text from the URI, query and headers is converted to the member's type here; the validation
pass (:mod:`batchbridge.api.validation`) then checks every value and reports what fails.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from multidict import MultiMapping

from batchbridge.api.shapes import Member, Node
from batchbridge.api.validation import Violation, check_structure


class MalformedBody(ValueError):
    """The request body is not the JSON object the protocol requires."""


def load_json_object(body: bytes) -> dict[str, Any]:
    """Decode a JSON request body; an empty body is an empty object.

    A body nested deeper than the decoder's recursion limit is malformed input, not a fault.
    """
    if not body or body.isspace():
        return {}
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedBody(f"The request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise MalformedBody("The request body is not valid JSON: it nests too deeply") from None
    if not isinstance(value, dict):
        raise MalformedBody("The request body must be a JSON object")
    return value


def parse_json_request(node: Node | None, body: bytes, errors: list[Violation]) -> dict[str, Any]:
    """Parse and check a JSON 1.0/1.1 request body against the input shape ``node``."""
    document = load_json_object(body)
    if node is None:
        return {}
    return check_structure(node, document, "", errors)


def text_to_type(node: Node, text: str) -> Any:
    """Convert text from a URI label, query parameter or header to the member's type.

    Text that does not convert is returned unchanged, for validation to report.
    """
    kind = node.type
    if kind in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            return text
    if kind in ("float", "double"):
        try:
            return float(text)
        except ValueError:
            return text
    if kind == "boolean":
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        return text
    return text


def _header(headers: Mapping[str, str], member: Member) -> Any:
    raw = headers.get(member.wire)
    if raw is None:
        return None
    node = member.node
    if member.json_value:
        try:
            return json.loads(base64.b64decode(raw))
        except (binascii.Error, ValueError):
            return raw
    if node.type == "list" and node.member is not None:
        item = node.member
        return [text_to_type(item, part.strip()) for part in raw.split(",") if part.strip()]
    return text_to_type(node, raw)


def _query(query: MultiMapping[str], member: Member, claimed: set[str]) -> Any:
    node = member.node
    if node.type == "list" and node.member is not None:
        values = query.getall(member.wire, [])
        if not values:
            return None
        return [text_to_type(node.member, value) for value in values]
    if node.type == "map" and node.value is not None:
        found: dict[str, Any] = {}
        for key, value in query.items():
            if key in claimed:
                continue
            if node.value.type == "list" and node.value.member is not None:
                found.setdefault(key, []).append(text_to_type(node.value.member, value))
            else:
                found.setdefault(key, text_to_type(node.value, value))
        return found or None
    single = query.get(member.wire)
    return None if single is None else text_to_type(node, single)


def parse_rest_request(
    node: Node | None,
    labels: Mapping[str, str],
    query: MultiMapping[str],
    headers: Mapping[str, str],
    body: bytes,
    errors: list[Violation],
) -> dict[str, Any]:
    """Parse and check a rest-json request against the input shape ``node``."""
    if node is None:
        return {}
    located: dict[str, Any] = {}
    claimed = {m.wire for m in node.located_members if m.location == "querystring"}
    for member in node.located_members:
        location = member.location
        value: Any = None
        if location == "uri":
            raw = labels.get(member.wire)
            value = None if raw is None else text_to_type(member.node, raw)
        elif location == "querystring":
            value = _query(query, member, claimed)
        elif location == "header":
            value = _header(headers, member)
        elif location == "headers":
            prefix = member.wire.lower()
            value = {
                name[len(prefix) :]: text for name, text in headers.items() if name.lower().startswith(prefix)
            } or None
        if value is not None:
            located[member.name] = value
    payload_name = node.payload
    if payload_name is not None:
        payload = node.members[payload_name]
        if payload.node.type in ("blob", "string"):
            if body:
                located[payload_name] = (
                    body if payload.node.type == "blob" else body.decode("utf-8", "replace")
                )
            return check_structure(node, {}, "", errors, located)
        document = load_json_object(body)
        if document:
            located[payload_name] = document
        return check_structure(node, {}, "", errors, located)
    return check_structure(node, load_json_object(body), "", errors, located)
