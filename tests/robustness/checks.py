"""What every answer must satisfy: botocore parses it, errors are AWS envelopes, nothing is missing.

``check_answer`` is the oracle of the fuzzer and of the "done when" tests: an answer below 500,
an error envelope botocore reads as a code plus a message, and a success whose required output
members are all present (checked recursively against the output shape).
"""

from __future__ import annotations

import logging
from typing import Any

from botocore.model import OperationModel, Shape
from botocore.parsers import create_parser

from .wire import WireAnswer

#: Required by the model, yet absent in AWS's own answers: DescribeJobs omits ``startedAt`` until a
#: job has started (aws-batch.md, "Timestamps"; getmoto/moto#2202, tested against AWS).
AWS_OMITS = frozenset({("JobDetail", "startedAt")})


def missing_required(shape: Shape | None, value: Any, path: str = "") -> list[str]:
    """Paths of required members absent from ``value`` (a parsed botocore response)."""
    if shape is None:
        return []
    kind = shape.type_name
    found: list[str] = []
    if kind == "structure" and isinstance(value, dict):
        for name in shape.required_members:
            if name not in value and (shape.name, name) not in AWS_OMITS:
                found.append(f"{path}.{name}" if path else name)
        for name, member in shape.members.items():
            if name in value:
                found += missing_required(member, value[name], f"{path}.{name}" if path else name)
    elif kind == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            found += missing_required(shape.member, item, f"{path}[{index}]")
    elif kind == "map" and isinstance(value, dict):
        for key, item in value.items():
            found += missing_required(shape.value, item, f"{path}.{key}")
    return found


def parse_answer(operation: OperationModel, answer: WireAnswer) -> dict[str, Any]:
    """The answer as botocore's parser for the operation's protocol reads it."""
    parser = create_parser(operation.service_model.protocol)
    response = {"status_code": answer.status, "headers": answer.headers, "body": answer.body}
    parsed: dict[str, Any] = parser.parse(response, operation.output_shape)
    return parsed


def problems(operation: OperationModel | None, answer: WireAnswer, protocol: str) -> list[str]:
    """What is wrong with ``answer``; an empty list when it is acceptable."""
    found: list[str] = []
    if answer.status >= 500:
        found.append(f"HTTP {answer.status}: {answer.body[:300]!r}")
        return found
    if not answer.headers.get("x-amzn-requestid"):
        found.append("no x-amzn-RequestId header")
    if answer.status >= 300:
        parser = create_parser(protocol)
        response = {"status_code": answer.status, "headers": answer.headers, "body": answer.body}
        shape = operation.output_shape if operation is not None else None
        error = parser.parse(response, shape).get("Error", {})
        if not error.get("Code"):
            found.append(f"error without a code: {answer.body[:300]!r}")
        if not error.get("Message"):
            found.append(f"error without a message: {answer.body[:300]!r}")
        return found
    if operation is not None:
        parsed = parse_answer(operation, answer)
        missing = missing_required(operation.output_shape, parsed)
        if missing:
            found.append(f"required output members missing: {missing}")
    return found


class TracebackCatcher(logging.Handler):
    """Collects every log record that carries a traceback or is logged at ERROR or above."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.records.append(record)

    def take(self) -> list[str]:
        """The collected records, formatted, and forget them."""
        taken, self.records = self.records, []
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        return [formatter.format(record) for record in taken]


WATCHED_LOGGERS = ("batchbridge", "aiohttp", "asyncio")
