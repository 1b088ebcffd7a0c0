"""A raw HTTP client for sending what botocore would refuse to send."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def send(
    url: str, method: str = "POST", body: bytes | str | None = None, headers: dict[str, str] | None = None
) -> RawAnswer:
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return RawAnswer(
                response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
            )
    except urllib.error.HTTPError as error:
        return RawAnswer(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


def rest_json(base: str, path: str, document: Any, method: str = "POST") -> RawAnswer:
    return send(base + path, method, json.dumps(document), {"Content-Type": "application/json"})


def json_target(base: str, target: str, document: Any, version: str = "1.1") -> RawAnswer:
    headers = {"X-Amz-Target": target, "Content-Type": f"application/x-amz-json-{version}"}
    return send(base + "/", "POST", json.dumps(document), headers)
