"""SigV4: accepted by default, verified with ``require_auth``; botocore's signer is the reference."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.auth
import pytest
from botocore import UNSIGNED
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from multidict import CIMultiDict

from batchbridge.api.auth import Authenticator
from batchbridge.errors import ServiceError

from .conftest import FakeServer, start_fake_server
from .fakes import QUEUE_ARN
from .rawhttp import send

CREDENTIALS = {"AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeServer]:
    running = start_fake_server(
        tmp_path_factory.mktemp("secured"), require_auth=True, credentials=CREDENTIALS
    )
    yield running
    running.threaded.stop()


def signed_client(boto_client: Any, server: FakeServer, service: str, key: str, secret: str) -> Any:
    return boto_client(service, endpoint=server.url, aws_access_key_id=key, aws_secret_access_key=secret)


def test_correctly_signed_requests_are_accepted(boto_client: Any, secured: FakeServer) -> None:
    batch = signed_client(boto_client, secured, "batch", "AKIDEXAMPLE", CREDENTIALS["AKIDEXAMPLE"])
    assert batch.describe_job_queues()["jobQueues"][0]["jobQueueName"] == "q1"
    batch.tag_resource(resourceArn=QUEUE_ARN, tags={"k": "v w"})
    batch.untag_resource(resourceArn=QUEUE_ARN, tagKeys=["k", "a b/c"])
    events = signed_client(boto_client, secured, "events", "AKIDEXAMPLE", CREDENTIALS["AKIDEXAMPLE"])
    assert events.list_event_buses()["EventBuses"]
    lam = signed_client(boto_client, secured, "lambda", "AKIDEXAMPLE", CREDENTIALS["AKIDEXAMPLE"])
    assert lam.invoke(FunctionName="f", Payload=b'{"a": 1}', Qualifier="$LATEST")["StatusCode"] == 200


def test_unsigned_request_is_refused(boto_client: Any, secured: FakeServer) -> None:
    batch = boto_client("batch", endpoint=secured.url, config=Config(signature_version=UNSIGNED))
    with pytest.raises(ClientError) as caught:
        batch.describe_job_queues()
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert response["Error"]["Code"] == "MissingAuthenticationToken"
    assert response["Error"]["Message"] == "Missing Authentication Token"
    events = boto_client("events", endpoint=secured.url, config=Config(signature_version=UNSIGNED))
    with pytest.raises(ClientError) as caught:
        events.list_event_buses()
    assert caught.value.response["Error"]["Message"] == "Request is missing Authentication Token"


def test_wrong_secret_is_refused(boto_client: Any, secured: FakeServer) -> None:
    batch = signed_client(boto_client, secured, "batch", "AKIDEXAMPLE", "not-the-secret")
    with pytest.raises(ClientError) as caught:
        batch.describe_job_queues()
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert response["Error"]["Code"] == "InvalidSignatureException"
    assert response["Error"]["Message"].startswith("The request signature we calculated does not match")


def test_unknown_key_is_refused(boto_client: Any, secured: FakeServer) -> None:
    logs = signed_client(boto_client, secured, "logs", "AKIDUNKNOWN", "whatever")
    with pytest.raises(ClientError) as caught:
        logs.describe_log_groups()
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert response["Error"]["Code"] == "UnrecognizedClientException"
    assert response["Error"]["Message"] == "The security token included in the request is invalid."


def test_presigned_query_signature(secured: FakeServer) -> None:
    url = f"{secured.url}/v1/tags/{QUEUE_ARN.replace(':', '%3A').replace('/', '%2F')}"
    request = AWSRequest(method="GET", url=url)
    creds = Credentials("AKIDEXAMPLE", CREDENTIALS["AKIDEXAMPLE"])
    botocore.auth.SigV4QueryAuth(creds, "batch", "us-east-1", expires=300).add_auth(request)
    answer = send(request.url, "GET")
    assert answer.status == 200, answer.body
    tampered = request.url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert send(tampered, "GET").status == 403


def test_tampered_body_is_refused(secured: FakeServer) -> None:
    body = b'{"jobQueueName": "q", "priority": 1}'
    request = AWSRequest(
        method="POST",
        url=f"{secured.url}/v1/createjobqueue",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    creds = Credentials("AKIDEXAMPLE", CREDENTIALS["AKIDEXAMPLE"])
    botocore.auth.SigV4Auth(creds, "batch", "us-east-1").add_auth(request)
    headers = dict(request.headers.items())
    assert send(request.url, "POST", body, headers).status == 200
    assert send(request.url, "POST", body.replace(b"1", b"2"), headers).status == 403


def reference_request(method: str, path: str, query: str, body: bytes, region: str) -> AWSRequest:
    url = f"http://127.0.0.1:4566{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"})
    request.headers["Host"] = "127.0.0.1:4566"
    botocore.auth.SigV4Auth(Credentials("AKIDEXAMPLE", CREDENTIALS["AKIDEXAMPLE"]), "batch", region).add_auth(
        request
    )
    return request


@pytest.mark.parametrize(
    ("method", "path", "query", "body"),
    [
        ("POST", "/v1/describejobqueues", "", b"{}"),
        ("GET", "/v1/tags/arn%3Aaws%3Abatch%3Aus-east-1%3A1%3Ajob-queue%2Fq", "", b""),
        ("DELETE", "/v1/tags/arn%3Ax", "tagKeys=b&tagKeys=a%20c", b""),
        ("POST", "/2015-03-31/functions/f/invocations", "Qualifier=%24LATEST", b"\x00\xffpayload"),
    ],
)
def test_authenticator_agrees_with_botocore_signer(method: str, path: str, query: str, body: bytes) -> None:
    request = reference_request(method, path, query, body, "ap-south-1")
    headers = CIMultiDict(request.headers.items())
    auth = Authenticator("us-east-1", True, CREDENTIALS)
    caller = auth.authenticate(method, path, query, headers, body, json_protocol=False)
    assert caller.region == "ap-south-1"
    assert caller.access_key_id == "AKIDEXAMPLE"
    with pytest.raises(ServiceError) as caught:
        auth.authenticate(
            method, path, query + "&x=1" if query else "x=1", headers, body, json_protocol=False
        )
    assert caught.value.code == "InvalidSignatureException"


def test_without_require_auth_anything_goes_and_region_defaults(tmp_path: Path) -> None:
    auth = Authenticator("eu-central-1", False, {})
    caller = auth.authenticate("POST", "/", "", CIMultiDict(), b"", json_protocol=True)
    assert caller.region == "eu-central-1"
    request = reference_request("POST", "/", "", b"{}", "sa-east-1")
    caller = auth.authenticate(
        "POST", "/", "", CIMultiDict(request.headers.items()), b"nope", json_protocol=True
    )
    assert caller.region == "sa-east-1"
