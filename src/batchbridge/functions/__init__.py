"""The Lambda-style function runtime: packages, function specs, warm workers and invocation logs.

Public API: :class:`FunctionCode` (``from_zip``), :class:`FunctionSpec`, :class:`FunctionRuntime`
(``invoke``, ``evict``, ``close``) and :class:`InvocationResult`. Nothing here knows HTTP; the
Lambda service operations are built on it.

The names are imported on first use (PEP 562), so that a worker process, which imports
``batchbridge.functions.worker`` and needs only :mod:`batchbridge.functions.protocol`, starts
without loading the runtime and asyncio: an execution environment's cold start costs its own
imports and the handler's, as on Lambda, not the server's.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from batchbridge.functions.code import FunctionCode
    from batchbridge.functions.errors import (
        InvalidParameterValueException,
        RequestEntityTooLargeException,
        TooManyRequestsException,
    )
    from batchbridge.functions.logs import LogEvent, LogSink
    from batchbridge.functions.results import InvocationResult
    from batchbridge.functions.runtime import FunctionRuntime
    from batchbridge.functions.spec import LATEST, FunctionSpec

_HOMES = {
    "LATEST": "spec",
    "FunctionCode": "code",
    "FunctionRuntime": "runtime",
    "FunctionSpec": "spec",
    "InvalidParameterValueException": "errors",
    "InvocationResult": "results",
    "LogEvent": "logs",
    "LogSink": "logs",
    "RequestEntityTooLargeException": "errors",
    "TooManyRequestsException": "errors",
}

__all__ = [
    "LATEST",
    "FunctionCode",
    "FunctionRuntime",
    "FunctionSpec",
    "InvalidParameterValueException",
    "InvocationResult",
    "LogEvent",
    "LogSink",
    "RequestEntityTooLargeException",
    "TooManyRequestsException",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
