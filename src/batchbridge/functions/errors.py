"""Lambda's own error codes for the function runtime, as ``ServiceError`` subclasses.

Codes, statuses and texts follow the Lambda API reference and the answers AWS gives:
``InvalidParameterValueException`` (400), ``RequestEntityTooLargeException`` (413),
``TooManyRequestsException`` (429, ``Rate Exceeded.``, reason
``ReservedFunctionConcurrentInvocationLimitExceeded`` when a function's reserved concurrency is used up).
"""

from __future__ import annotations

from batchbridge.errors import ServiceError


class InvalidParameterValueException(ServiceError):
    """A parameter outside Lambda's constraints (HTTP 400)."""

    code = "InvalidParameterValueException"


class RequestEntityTooLargeException(ServiceError):
    """A request body over Lambda's size limit (HTTP 413)."""

    code = "RequestEntityTooLargeException"
    status = 413


class TooManyRequestsException(ServiceError):
    """Throttling: every concurrency slot of the function is busy (HTTP 429).

    ``reason`` is the ``Reason`` member of Lambda's error document.
    """

    code = "TooManyRequestsException"
    status = 429

    def __init__(self, message: str = "Rate Exceeded.", *, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason
