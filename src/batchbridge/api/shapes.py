"""Shapes of botocore's service models, compiled once into small, fast nodes.

botocore's ``Shape`` objects resolve their traits lazily through dictionaries; the wire layer
walks a request's shape on every call, so each shape is compiled once, at start-up or on the
first call of its operation, into a :class:`Node` carrying exactly what parsing, validation
and serialisation need: the type, members with their HTTP location and wire name, the
``required`` list, ``enum``, ``min``/``max``, the ``pattern`` compiled for a whole-string
match, and the timestamp format.

Model patterns are Java regular expressions.  Those that Python's ``re`` cannot compile (for
example ``\\p{L}`` classes) are dropped: the member is then checked for type and length only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

#: Default timestamp format of each place a value travels, as botocore's serialisers use them.
BODY_TIMESTAMP_FORMAT = "unixTimestamp"
HEADER_TIMESTAMP_FORMAT = "rfc822"
QUERY_TIMESTAMP_FORMAT = "iso8601"


@dataclass(slots=True)
class Member:
    """One member of a structure: its model name, wire name, HTTP location and shape."""

    name: str
    wire: str
    node: Node
    location: str | None = None
    json_value: bool = False
    timestamp_format: str | None = None


@dataclass(slots=True, eq=False)
class Node:
    """A compiled shape."""

    name: str
    type: str
    members: dict[str, Member] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    member: Node | None = None
    key: Node | None = None
    value: Node | None = None
    enum: frozenset[str] | None = None
    enum_text: str = ""
    enum_folded: frozenset[str] | None = None
    min: float | None = None
    max: float | None = None
    pattern: re.Pattern[str] | None = None
    pattern_text: str = ""
    timestamp_format: str | None = None
    payload: str | None = None
    streaming: bool = False
    document: bool = False
    #: members serialised in the JSON body (no HTTP location), keyed by wire name.
    body_members: dict[str, Member] = field(default_factory=dict)
    #: members with an HTTP location (uri, querystring, header, headers, statusCode).
    located_members: tuple[Member, ...] = ()


def compile_pattern(pattern: str) -> re.Pattern[str] | None:
    """Compile a model pattern for a whole-string match, or ``None`` when ``re`` cannot."""
    try:
        return re.compile(pattern)
    except re.error:
        return None


class ShapeCompiler:
    """Compiles botocore shapes of one service into :class:`Node` objects, each shape once.

    ``case_insensitive_enums`` names shapes whose enum values the service accepts in any case
    (AWS Batch's ``RetryAction``: ``RETRY``/``EXIT`` are matched case-insensitively).
    """

    def __init__(self, case_insensitive_enums: frozenset[str] = frozenset()) -> None:
        self._cache: dict[str, Node] = {}
        self._case_insensitive = case_insensitive_enums

    def compile(self, shape: Any) -> Node:
        cached = self._cache.get(shape.name)
        if cached is not None:
            return cached
        meta = shape.metadata
        node = Node(name=shape.name, type=shape.type_name)
        self._cache[shape.name] = node
        if "min" in meta:
            node.min = meta["min"]
        if "max" in meta:
            node.max = meta["max"]
        enum = meta.get("enum")
        if enum:
            node.enum = frozenset(enum)
            node.enum_text = "[" + ", ".join(enum) + "]"
            if shape.name in self._case_insensitive:
                node.enum_folded = frozenset(value.upper() for value in enum)
        pattern = meta.get("pattern")
        if pattern and node.type == "string":
            node.pattern = compile_pattern(pattern)
            node.pattern_text = pattern
        node.timestamp_format = shape.serialization.get("timestampFormat")
        node.streaming = bool(shape.serialization.get("eventstream") or meta.get("streaming"))
        node.document = bool(getattr(shape, "is_document_type", False))
        if node.type == "structure":
            self._compile_structure(shape, node)
        elif node.type == "list":
            node.member = self.compile(shape.member)
        elif node.type == "map":
            node.key = self.compile(shape.key)
            node.value = self.compile(shape.value)
        return node

    def _compile_structure(self, shape: Any, node: Node) -> None:
        node.required = tuple(shape.required_members)
        node.payload = shape.serialization.get("payload")
        located: list[Member] = []
        for name, member_shape in shape.members.items():
            ser = member_shape.serialization
            member = Member(
                name=name,
                wire=ser.get("name", name),
                node=self.compile(member_shape),
                location=ser.get("location"),
                json_value=bool(ser.get("jsonvalue")),
                timestamp_format=ser.get("timestampFormat"),
            )
            node.members[name] = member
            if member.location is None:
                node.body_members[member.wire] = member
            else:
                located.append(member)
        node.located_members = tuple(located)
