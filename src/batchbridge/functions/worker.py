"""A warm worker: ``python -u -m batchbridge.functions.worker`` runs one function's handler.

Emulates the AWS Lambda Python runtime (``awslambdaric`` bootstrap) inside one process:

* Init: the handler module named by ``_HANDLER`` (``module.function``, the module part may be a
  dotted path into a package or use ``/``) is imported once, with ``LAMBDA_TASK_ROOT`` first on
  ``sys.path`` and as working directory; module-level state then persists between invocations.
* Init errors carry AWS's types and texts: ``Runtime.MalformedHandlerName`` (``Bad handler 'x': ...``),
  ``Runtime.ImportModuleError`` (``Unable to import module 'm': No module named 'm'``),
  ``Runtime.UserCodeSyntaxError``, ``Runtime.HandlerNotFound`` (``Handler 'f' missing on module 'm'``);
  any other exception raised while importing keeps its own type name, as on AWS.
* Each invocation calls ``handler(event, context)`` with the JSON-decoded payload (``{}`` for an
  empty payload) and a context carrying AWS's attributes; the return value is JSON-encoded (bytes
  are returned as they are), a value that does not encode gives ``Runtime.MarshalError``.
* An exception gives AWS's error document ``{"errorMessage", "errorType", "requestId",
  "stackTrace"}`` and the ``[ERROR] Type: message`` log record with its traceback.
* The root logger gets Lambda's handler and format ``[LEVEL]\\t<UTC time>Z\\t<request id>\\t<message>``;
  its level is left at Python's default (WARNING) unless ``AWS_LAMBDA_LOG_LEVEL`` is set, as on AWS.

The control channel is two pipes named by environment variables that the worker removes before the
handler runs; they are not inherited by the handler's subprocesses.
"""

from __future__ import annotations

import contextlib
import decimal
import importlib
import json
import logging
import os
import resource
import sys
import time
import traceback
from types import TracebackType
from typing import Any

from batchbridge.functions import protocol

_NBSP = "\u00a0"
_current_request_id = ""


class FaultError(Exception):
    """A runtime fault reported with one of AWS's ``Runtime.*`` error types."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


class CognitoIdentity:
    """``context.identity``: present on every invocation, its ids ``None`` unless given."""

    def __init__(self, data: dict[str, Any] | None) -> None:
        data = data or {}
        self.cognito_identity_id: str | None = data.get("cognitoIdentityId")
        self.cognito_identity_pool_id: str | None = data.get("cognitoIdentityPoolId")


class ClientContext:
    """``context.client_context``: the mobile SDK's client context, ``None`` when not sent."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.custom: Any = data.get("custom")
        self.env: Any = data.get("env")
        self.client: Any = data.get("client")


_ENVIRONMENT: tuple[str | None, ...] = ()


def _environment() -> tuple[str | None, ...]:
    """The environment's identity as the context reports it, read once (the runtime's bootstrap
    reads it at start too): log group, log stream, function name, memory size, version."""
    global _ENVIRONMENT
    if not _ENVIRONMENT:
        _ENVIRONMENT = tuple(
            os.environ.get(name)
            for name in (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "AWS_LAMBDA_FUNCTION_NAME",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                "AWS_LAMBDA_FUNCTION_VERSION",
            )
        )
    return _ENVIRONMENT


class LambdaContext:
    """The handler's ``context``; ``memory_limit_in_mb`` is a string, as AWS's runtime reads it."""

    def __init__(self, request_id: str, header: dict[str, Any]) -> None:
        self.aws_request_id = request_id
        (
            self.log_group_name,
            self.log_stream_name,
            self.function_name,
            self.memory_limit_in_mb,
            self.function_version,
        ) = _environment()
        self.invoked_function_arn: str | None = header.get("functionArn")
        self.identity = CognitoIdentity(header.get("identity"))
        client_context = header.get("clientContext")
        self.client_context = ClientContext(client_context) if isinstance(client_context, dict) else None
        timeout_ms = header.get("timeoutMs")
        if timeout_ms is not None:
            self._deadline_ms = int(time.time() * 1000) + int(timeout_ms)
        else:
            self._deadline_ms = int(header.get("deadlineMs", 0))

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, msg: str) -> None:
        sys.stdout.write(str(msg))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn}])"
        )


class _LambdaLogHandler(logging.Handler):
    """Writes each record as one log event on fd 1, after anything printed before it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            os.write(1, protocol.encode_record(self.format(record)))
        except Exception:
            self.handleError(record)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _current_request_id
        return True


def setup_logging() -> None:
    """Configure the root logger as Lambda's Python runtime does (text format)."""
    logging.Formatter.converter = time.gmtime
    handler = _LambdaLogHandler()
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    if level in logging.getLevelNamesMapping():
        root.setLevel(level)
    root.addHandler(handler)


def make_error(message: str, error_type: str, trace: list[str], request_id: str) -> dict[str, Any]:
    """AWS's error document, in its member order."""
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": trace}


def _user_trace(tb: TracebackType | None) -> list[str]:
    frames = traceback.extract_tb(tb)
    while frames and frames[0].filename == __file__:
        frames.pop(0)
    return traceback.format_list(frames)


def log_error(error: dict[str, Any]) -> None:
    """The ``[ERROR] Type: message`` record with its traceback, one log event."""
    lines = [f"[ERROR] {error['errorType']}: {error['errorMessage']}", "Traceback (most recent call last):"]
    for element in error["stackTrace"]:
        for line in str(element).splitlines():
            stripped = line.lstrip(" ")
            lines.append(_NBSP * (len(line) - len(stripped)) + stripped)
    os.write(1, protocol.encode_record("\n".join(lines)))


def load_handler(handler: str) -> Any:
    """Import the handler module and return the handler function, raising AWS's init faults."""
    try:
        module_name, function_name = handler.rsplit(".", 1)
    except ValueError as exc:
        raise FaultError("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {exc}") from None
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise FaultError(
            "Runtime.BuiltInModuleConflict", f"Cannot use built-in module {module_name} as a handler module"
        )
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        raise FaultError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
        ) from None
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise FaultError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}", trace
        ) from None
    try:
        return getattr(module, function_name)
    except AttributeError:
        raise FaultError(
            "Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'"
        ) from None


def _json_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def marshal(response: Any) -> bytes:
    """The handler's return value as the invocation's payload (``null`` for ``None``)."""
    if response is None:
        return b"null"
    if isinstance(response, bytes):
        return response
    try:
        return json.dumps(response, default=_json_default).encode()
    except Exception as exc:
        raise FaultError("Runtime.MarshalError", f"Unable to marshal response: {exc}") from None


def run_invocation(handler: Any, header: dict[str, Any], body: bytes) -> tuple[bool, bytes]:
    """Call the handler once; return (failed, payload)."""
    global _current_request_id
    request_id = str(header["requestId"])
    _current_request_id = request_id
    error: dict[str, Any] | None = None
    payload = b""
    try:
        try:
            event = json.loads(body) if body and not body.isspace() else {}
        except ValueError as exc:
            raise FaultError("Runtime.UnmarshalError", f"Unable to unmarshal input: {exc}") from None
        context = LambdaContext(request_id, header)
        payload = marshal(handler(event, context))
    except FaultError as fault:
        error = make_error(fault.message, fault.error_type, fault.trace, request_id)
    except Exception as exc:
        error = make_error(str(exc), type(exc).__name__, _user_trace(exc.__traceback__), request_id)
    if error is not None:
        log_error(error)
        payload = json.dumps(error).encode()
    return error is not None, payload


def _end_phase() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os.write(1, protocol.PHASE_END)


def _max_rss_kb() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def yield_to_server() -> None:
    """Run as a batch task (Linux ``SCHED_BATCH``): same share of the CPU, no wake-up preemption.

    The server hands this process an invocation with a write on its command pipe; a worker woken
    that way would otherwise preempt the server's event loop on the same core at once, stalling
    every other delivery and job transition until the handler returns.  As a batch task it runs on
    a free core, or as soon as the loop waits, without changing what the handler sees.
    """
    policy = getattr(os, "SCHED_BATCH", None)
    if policy is not None:
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, policy, os.sched_param(0))


def main() -> None:
    yield_to_server()
    command_fd = int(os.environ.pop(protocol.ENV_COMMAND_FD))
    result_fd = int(os.environ.pop(protocol.ENV_RESULT_FD))
    os.set_inheritable(command_fd, False)
    os.set_inheritable(result_fd, False)
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    sys.path.insert(0, task_root)
    setup_logging()

    handler: Any = None
    init_error: dict[str, Any] | None = None
    try:
        handler = load_handler(os.environ.get("_HANDLER", ""))
    except FaultError as fault:
        init_error = make_error(fault.message, fault.error_type, fault.trace, "")
    except Exception as exc:
        init_error = make_error(str(exc), type(exc).__name__, _user_trace(exc.__traceback__), "")
    if init_error is not None:
        log_error(init_error)
    _end_phase()
    init_body = json.dumps(init_error).encode() if init_error is not None else b""
    protocol.write_message(result_fd, {"type": "ready", "failed": init_error is not None}, init_body)

    commands = protocol.MessageReader(command_fd)
    while True:
        try:
            header, body = commands.read()
        except EOFError:
            break
        if header.get("type") != "invoke" or handler is None:
            break
        failed, payload = run_invocation(handler, header, body)
        _end_phase()
        flag = b"true" if failed else b"false"
        head = b'{"type":"result","failed":%s,"maxRssKb":%d}' % (flag, _max_rss_kb())
        protocol.write_frame(result_fd, head, payload)


if __name__ == "__main__":
    main()
