"""AWS error envelopes, and the error each service answers for bad input.

Envelopes, as botocore's parsers read them:

* rest-json (Batch, Lambda): header ``x-amzn-ErrorType: <Code>`` and body
  ``{"__type": code, "message": text}``; Lambda's body also carries ``Type`` (``User`` for 4xx,
  ``Service`` for 5xx) and ``Message``, as Lambda's own answers do.
* JSON 1.0/1.1 (EventBridge, Logs, SQS): body ``{"__type": code, "message": text}`` with the
  protocol's ``application/x-amz-json-1.x`` content type.  SQS is "query compatible": its
  ``__type`` is ``com.amazonaws.sqs#<Shape>`` and the header ``x-amzn-query-error:
  <QueryCode>;Sender`` carries the code that the older query protocol used, which botocore
  reports as ``Error.Code`` (an error's ``query_code`` attribute when it has one, else the
  table below).

The HTTP status is the one the error was raised with when given explicitly, else the one the
operation's model gives that error (Lambda's ``ResourceNotFoundException`` is 404), else the
error class's default.

Model validation failures: Batch answers ``ClientException`` (its only client error);
EventBridge and Lambda ``ValidationException``; Logs ``InvalidParameterException``; SQS
``InvalidParameterValue`` (``MissingParameter`` when only required members are missing).
"""

from __future__ import annotations

from batchbridge.api.catalog import OperationSpec, ServiceSpec
from batchbridge.api.serialization import WireResponse, dumps
from batchbridge.api.validation import Violation, format_violations
from batchbridge.errors import ServiceError

VALIDATION_CODES = {
    "batch": "ClientException",
    "events": "ValidationException",
    "lambda": "ValidationException",
    "logs": "InvalidParameterException",
    "sqs": "InvalidParameterValue",
}

INTERNAL_CODES = {"batch": "ServerException", "lambda": "ServiceException"}

#: SQS shape name -> the query-protocol code AWS sends in ``x-amzn-query-error``.
SQS_QUERY_CODES = {
    "QueueDoesNotExist": "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDeletedRecently": "AWS.SimpleQueueService.QueueDeletedRecently",
    "QueueNameExists": "QueueAlreadyExists",
    "PurgeQueueInProgress": "AWS.SimpleQueueService.PurgeQueueInProgress",
    "UnsupportedOperation": "AWS.SimpleQueueService.UnsupportedOperation",
    "BatchEntryIdsNotDistinct": "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
    "BatchRequestTooLong": "AWS.SimpleQueueService.BatchRequestTooLong",
    "EmptyBatchRequest": "AWS.SimpleQueueService.EmptyBatchRequest",
    "InvalidBatchEntryId": "AWS.SimpleQueueService.InvalidBatchEntryId",
    "TooManyEntriesInBatchRequest": "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
    "MessageNotInflight": "AWS.SimpleQueueService.MessageNotInflight",
    "InvalidIdFormat": "InvalidIdFormat",
    "ReceiptHandleIsInvalid": "ReceiptHandleIsInvalid",
    "OverLimit": "OverLimit",
    "InvalidAttributeName": "InvalidAttributeName",
    "InvalidAttributeValue": "InvalidAttributeValue",
}


def validation_error(service: str, violations: list[Violation]) -> ServiceError:
    """The error ``service`` answers for input that fails its model's constraints."""
    code = VALIDATION_CODES.get(service, "ValidationException")
    if service == "sqs" and all(v.constraint == "Member must not be null" for v in violations):
        code = "MissingParameter"
    return ServiceError(format_violations(violations), code=code, status=400)


def malformed_body_error(service: str, message: str) -> ServiceError:
    """The error for a body that is not a JSON object (Coral's ``SerializationException``)."""
    code = "ClientException" if service == "batch" else "SerializationException"
    return ServiceError(message, code=code, status=400)


def internal_error(service: str | None, request_id: str) -> ServiceError:
    """The error for an unexpected fault; the traceback stays in the server's log."""
    code = INTERNAL_CODES.get(service or "", "InternalFailure")
    return ServiceError(
        f"The server encountered an internal error while processing the request (request id {request_id}).",
        code=code,
        status=500,
    )


def not_implemented_error(operation: OperationSpec) -> ServiceError:
    """An operation of the service's model that no service object implements."""
    return ServiceError(
        f"The operation {operation.name} is not implemented by batchbridge",
        code="UnknownOperationException",
        status=501,
    )


def _status(error: ServiceError, operation: OperationSpec | None) -> int:
    if "status" in vars(error) or operation is None:
        return error.status
    return operation.error_status.get(error.code, error.status)


def error_response(
    error: ServiceError,
    service: ServiceSpec | None,
    operation: OperationSpec | None = None,
    json_protocol: bool | None = None,
) -> WireResponse:
    """Build the error envelope of ``service``'s protocol (rest-json when unknown)."""
    status = _status(error, operation)
    code = error.code
    message = error.message
    headers: dict[str, str] = {}
    if service is None:
        content_type = "application/x-amz-json-1.1" if json_protocol else "application/json"
        headers["x-amzn-ErrorType"] = code
        return WireResponse(status, dumps({"__type": code, "message": message}), content_type, headers)
    if service.protocol == "json":
        type_name = code
        if service.name == "sqs":
            query_code = getattr(error, "query_code", None) or SQS_QUERY_CODES.get(code, code)
            fault = "Sender" if status < 500 else "Receiver"
            headers["x-amzn-query-error"] = f"{query_code};{fault}"
            type_name = f"com.amazonaws.sqs#{code}"
        return WireResponse(
            status, dumps({"__type": type_name, "message": message}), service.content_type, headers
        )
    headers["x-amzn-ErrorType"] = code
    body: dict[str, str] = {"__type": code, "message": message}
    if service.name == "lambda":
        body["Type"] = "User" if status < 500 else "Service"
        body["Message"] = message
    return WireResponse(status, dumps(body), service.content_type, headers)
