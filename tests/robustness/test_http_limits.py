"""Input refused by the HTTP layer (aiohttp) before batchbridge's dispatcher sees it.

These answers come from ``batchbridge/server.py``'s aiohttp set-up, outside the wire layer: a
decoded path holding a control character misses the catch-all route (plain-text 404), and a
request line over 8190 bytes or a header holding NUL is answered by aiohttp itself, which also
logs a traceback.  ``server.py`` therefore routes any character, raises aiohttp's line limits and
logs malformed HTTP as one line.
"""

from __future__ import annotations

import socket

from .checks import problems
from .conftest import WatchedServer
from .wire import WireRequest, send


def raw(port: int, request_line: bytes, headers: bytes = b"") -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            request_line + b"\r\nHost: x\r\nContent-Length: 0\r\n" + headers + b"Connection: close\r\n\r\n"
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head = data.split(b"\r\n", 1)[0]
    return int(head.split()[1]), data


def test_newline_in_a_uri_label_gets_an_aws_error(watched_server: WatchedServer) -> None:
    answer = send(watched_server.port, WireRequest("GET", "/v1/tags/line%0Abreak"))
    assert problems(None, answer, "rest-json") == []
    assert answer.headers.get("x-amzn-errortype") == "ClientException"


def test_request_line_over_8190_bytes_logs_no_traceback(watched_server: WatchedServer) -> None:
    status, _ = raw(watched_server.port, b"GET /2017-03-31/tags/" + b"x" * 9000 + b" HTTP/1.1")
    assert status < 500
    assert watched_server.catcher.take() == []


def test_nul_in_a_header_logs_no_traceback(watched_server: WatchedServer) -> None:
    status, _ = raw(
        watched_server.port,
        b"POST /2015-03-31/functions/f/invocations HTTP/1.1",
        b"X-Amz-Client-Context: nul\x00byte\r\n",
    )
    assert status < 500
    assert watched_server.catcher.take() == []
