"""Frames of the agent protocol: compact UTF-8 JSON lines, read back exactly as ``json`` reads them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from batchbridge.executors.protocol import decode, encode, encode_line

MESSAGES: list[dict[str, Any]] = [
    {"op": "launched", "id": 7, "attempt_id": "a-1", "pid": 1234, "started_at_ms": 1_700_000_000_000},
    {
        "op": "out",
        "attempt_id": "a",
        "lines": [[1, 2, "o", 'héllo \u2603 "quoted" \\ tab\t'], [2, 3, "e", ""]],
    },
    {
        "op": "exit",
        "exit": {"exit_code": None, "oom": False, "vcpus": 0.5, "big": 10**30, "nan": float("inf")},
    },
    {
        "op": "launch",
        "spec": {"environment": {"K": "v\nw", "\u00e9": "\ud7ff"}, "command": ["sh", "-c", "x"]},
    },
    {"op": "ack", "attempt_ids": []},
]


@pytest.mark.parametrize("message", MESSAGES)
def test_encoding_is_compact_json_without_ascii_escapes(message: dict[str, Any]) -> None:
    text = json.dumps(message, separators=(",", ":"), ensure_ascii=False) + "\n"
    assert encode(message) == text.encode()
    assert encode_line(message) == text.encode()
    assert decode(encode(message)[:-1]) == json.loads(text)


@pytest.mark.parametrize(
    "frame",
    [b' {"op":"x"} ', b'{"op":"x"}\r', b'\xef\xbb\xbf{"op":"x"}', '{"op":"é"}'.encode("utf-16")],
)
def test_frames_json_accepts_are_accepted(frame: bytes) -> None:
    assert decode(frame) == json.loads(frame)


@pytest.mark.parametrize(
    "frame", [b"", b"{", b'{"op":"x"} {}', b'{"op":1}', b"[1]", b"\xff\xfe\xfd", b'{"op":"x"}x', b"nul"]
)
def test_frames_that_are_not_one_object_with_an_op_are_refused(frame: bytes) -> None:
    with pytest.raises(ValueError):
        decode(frame)
