"""Test-only service objects: a few real model operations of each protocol, with canned answers.

Each records the ``(operation, ctx, params)`` it receives in ``calls``, so that tests can
assert what the wire layer parsed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from batchbridge.errors import ResourceAlreadyExistsException, ResourceNotFoundException, ServiceError
from batchbridge.services.context import RequestContext

ACCOUNT = "123456789012"
QUEUE_ARN = f"arn:aws:batch:us-east-1:{ACCOUNT}:job-queue/q1"
CREATED = dt.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=dt.UTC)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, RequestContext, dict[str, Any]]] = []

    def record(self, name: str, ctx: RequestContext, params: dict[str, Any]) -> None:
        self.calls.append((name, ctx, params))

    def last(self, name: str) -> dict[str, Any]:
        for op, _, params in reversed(self.calls):
            if op == name:
                return params
        raise AssertionError(f"{name} was not called")


class FakeBatch(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[str, dict[str, str]] = {}

    def DescribeJobQueues(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.record("DescribeJobQueues", ctx, params)
        queue = {
            "jobQueueName": "q1",
            "jobQueueArn": QUEUE_ARN,
            "state": "ENABLED",
            "status": "VALID",
            "statusReason": "JobQueue Healthy",
            "priority": 10,
            "computeEnvironmentOrder": [
                {
                    "order": 1,
                    "computeEnvironment": f"arn:aws:batch:us-east-1:{ACCOUNT}:compute-environment/ce",
                }
            ],
            "tags": {"team": "colour"},
            "internalNotModelled": "must not leak",
        }
        return {"jobQueues": [queue]}

    async def CreateJobQueue(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.record("CreateJobQueue", ctx, params)
        name = params["jobQueueName"]
        return {
            "jobQueueName": name,
            "jobQueueArn": f"arn:aws:batch:{ctx.region}:{ctx.account_id}:job-queue/{name}",
        }

    def SubmitJob(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.record("SubmitJob", ctx, params)
        raise ServiceError("JobQueue nope not found.", code="ClientException")

    def TagResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.record("TagResource", ctx, params)
        self.tags.setdefault(params["resourceArn"], {}).update(params["tags"])
        return {}

    def UntagResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.record("UntagResource", ctx, params)
        for key in params["tagKeys"]:
            self.tags.get(params["resourceArn"], {}).pop(key, None)
        return {}

    def ListTagsForResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.record("ListTagsForResource", ctx, params)
        return {"tags": self.tags.get(params["resourceArn"], {})}

    def DescribeComputeEnvironments(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("secret internal detail")


class FakeEvents(Recorder):
    def ListEventBuses(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.record("ListEventBuses", ctx, params)
        return {
            "EventBuses": [
                {
                    "Name": "default",
                    "Arn": f"arn:aws:events:{ctx.region}:{ACCOUNT}:event-bus/default",
                    "CreationTime": CREATED,
                    "LastModifiedTime": CREATED.timestamp(),
                }
            ]
        }

    def PutRule(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.record("PutRule", ctx, params)
        return {"RuleArn": f"arn:aws:events:{ctx.region}:{ACCOUNT}:rule/{params['Name']}"}

    def PutEvents(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.record("PutEvents", ctx, params)
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "e1"} for _ in params["Entries"]]}


class FakeLambda(Recorder):
    def GetFunction(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.record("GetFunction", ctx, params)
        name = params["FunctionName"]
        if name == "missing":
            raise ResourceNotFoundException(
                f"Function not found: arn:aws:lambda:us-east-1:{ACCOUNT}:function:missing"
            )
        return {
            "Configuration": {
                "FunctionName": name,
                "FunctionArn": f"arn:aws:lambda:{ctx.region}:{ACCOUNT}:function:{name}",
                "Runtime": "python3.11",
                "Handler": "handler.lambda_handler",
                "LastModified": CREATED,
                "MemorySize": 128,
            },
            "Tags": {"a": "b"},
        }

    def CreateFunction(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.record("CreateFunction", ctx, params)
        return {"FunctionName": params["FunctionName"], "CodeSize": len(params["Code"]["ZipFile"])}

    async def Invoke(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.record("Invoke", ctx, params)
        payload = params.get("Payload", b"")
        if params.get("InvocationType") == "Event":
            return {"StatusCode": 202}
        return {
            "StatusCode": 200,
            "FunctionError": "Unhandled" if b"fail" in payload else None,
            "LogResult": "bG9nIGxpbmU=",
            "ExecutedVersion": "$LATEST",
            "Payload": b'{"echo": ' + (payload or b"null") + b"}",
        }


class FakeSqs(Recorder):
    def ListQueues(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.record("ListQueues", ctx, params)
        return {"QueueUrls": [f"http://localhost/{ACCOUNT}/q1"]}

    def GetQueueUrl(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.record("GetQueueUrl", ctx, params)
        raise ServiceError("The specified queue does not exist.", code="QueueDoesNotExist")


class FakeLogs(Recorder):
    def DescribeLogGroups(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.record("DescribeLogGroups", ctx, params)
        return {
            "logGroups": [
                {
                    "logGroupName": "/aws/lambda/f",
                    "creationTime": 1714979289123,
                    "storedBytes": 0,
                    "arn": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/f:*",
                }
            ]
        }

    def CreateLogGroup(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.record("CreateLogGroup", ctx, params)
        raise ResourceAlreadyExistsException("The specified log group already exists")


def fake_services() -> dict[str, Any]:
    return {
        "batch": FakeBatch(),
        "events": FakeEvents(),
        "lambda": FakeLambda(),
        "sqs": FakeSqs(),
        "logs": FakeLogs(),
    }
