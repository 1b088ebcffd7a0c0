"""The Lambda-style function runtime: packages, function specs, warm workers and invocation logs.

Public API: :class:`FunctionCode` (``from_zip``), :class:`FunctionSpec`, :class:`FunctionRuntime`
(``invoke``, ``evict``, ``close``) and :class:`InvocationResult`. Nothing here knows HTTP; the
Lambda service operations are built on it.
"""

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
