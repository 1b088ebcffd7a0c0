"""Errors raised by every layer, named as AWS names them.

The wire layer maps a :class:`ServiceError` to the error envelope of the service's protocol:
rest-json answers carry the code in the ``x-amzn-ErrorType`` header and a JSON ``message``; JSON
1.0/1.1 answers carry ``__type`` and ``message``.  Nothing here knows HTTP beyond the status code
that AWS pairs with each error.
"""

from __future__ import annotations


class ServiceError(Exception):
    """An error answered to the caller as ``code`` with ``message`` and HTTP ``status``."""

    code: str = "ServiceException"
    status: int = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


class ClientException(ServiceError):
    """AWS Batch's only client error: bad input or an unknown resource (HTTP 400)."""

    code = "ClientException"


class ServerException(ServiceError):
    """AWS Batch's server fault (HTTP 500)."""

    code = "ServerException"
    status = 500


class ValidationException(ServiceError):
    """Input that fails the service model's constraints (EventBridge, Logs, Lambda wording)."""

    code = "ValidationException"


class ResourceNotFoundException(ServiceError):
    """A named resource does not exist (EventBridge, Logs; Lambda answers it with 404)."""

    code = "ResourceNotFoundException"


class ResourceAlreadyExistsException(ServiceError):
    """A create call names a resource that already exists (EventBridge, Logs)."""

    code = "ResourceAlreadyExistsException"


class InvalidEventPatternException(ServiceError):
    """EventBridge's answer to a pattern that does not parse or validate."""

    code = "InvalidEventPatternException"


class UnknownOperationException(ServiceError):
    """An operation of the service model that this server does not implement."""

    code = "UnknownOperationException"


class PatternError(ValueError):
    """An invalid EventBridge event pattern.

    ``reason`` is AWS's own reason text (for example ``Empty arrays are not allowed``); the API
    layer wraps it as ``InvalidEventPatternException: Event pattern is not valid. Reason: ...``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
