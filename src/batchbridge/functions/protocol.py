"""The control channel between the runtime and a worker process, and the framing of its log pipe.

A worker has three channels besides its inherited environment:

* a command pipe (runtime → worker) and a result pipe (worker → runtime) carrying messages, each a
  JSON header and a raw body: ``>II`` (header length, body length), header bytes, body bytes;
* its file descriptors 1 and 2, both the write end of one log pipe, so that everything the handler,
  its C extensions and its subprocesses write is captured in order, as Lambda captures a sandbox's
  stdout and stderr into one log stream.

On the log pipe, plain bytes are split into one log event per line (Lambda's rule for stdout). A
``logging`` record or an error report is one event even when it spans lines: the worker writes it as
``RECORD_START`` + text with newlines replaced by ``RECORD_NEWLINE`` + ``\\n``. After the init phase
and after each invocation the worker flushes its streams and writes ``PHASE_END``; everything the
runtime has read before that marker belongs to the phase that just ended.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

HEADER = struct.Struct(">II")
RECORD_START = b"\x1e"
RECORD_NEWLINE = b"\x1f"
PHASE_END = b"\x1e\x00batchbridge-phase-end\x00\n"

ENV_COMMAND_FD = "_BATCHBRIDGE_COMMAND_FD"
ENV_RESULT_FD = "_BATCHBRIDGE_RESULT_FD"


def encode_message(header: dict[str, Any], body: bytes = b"") -> bytes:
    """One framed message: sizes, the JSON header, then the body bytes."""
    return encode_frame(json.dumps(header, separators=(",", ":")).encode(), body)


def encode_frame(head: bytes, body: bytes = b"") -> bytes:
    """One framed message whose header is already encoded JSON."""
    return HEADER.pack(len(head), len(body)) + head + body


def decode_header(raw: bytes) -> dict[str, Any]:
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("control message header is not an object")
    return value


def _read_exactly(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise EOFError("control channel closed")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_message(fd: int) -> tuple[dict[str, Any], bytes]:
    """Blocking read of one message from ``fd`` (the worker side); ``EOFError`` when it closes."""
    head_len, body_len = HEADER.unpack(_read_exactly(fd, HEADER.size))
    data = _read_exactly(fd, head_len + body_len)
    return decode_header(data[:head_len]), data[head_len:]


class MessageReader:
    """Buffered blocking reads of messages from ``fd`` (the worker side).

    One ``read`` takes whatever the runtime has written (several queued invocations arrive in one
    write), so a batch of invocations costs the worker one system call to receive instead of two
    per message.
    """

    CHUNK = 1 << 20

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = bytearray()

    def _fill(self, size: int) -> None:
        while len(self._buffer) < size:
            chunk = os.read(self.fd, max(self.CHUNK, size - len(self._buffer)))
            if not chunk:
                raise EOFError("control channel closed")
            self._buffer += chunk

    def read(self) -> tuple[dict[str, Any], bytes]:
        """The next message; ``EOFError`` when the channel closes."""
        self._fill(HEADER.size)
        head_len, body_len = HEADER.unpack_from(self._buffer)
        end = HEADER.size + head_len + body_len
        self._fill(end)
        data = bytes(self._buffer[HEADER.size : end])
        del self._buffer[:end]
        return decode_header(data[:head_len]), data[head_len:]


def write_message(fd: int, header: dict[str, Any], body: bytes = b"") -> None:
    """Blocking write of one message to ``fd`` (the worker side)."""
    write_frame(fd, json.dumps(header, separators=(",", ":")).encode(), body)


def write_frame(fd: int, head: bytes, body: bytes = b"") -> None:
    """Blocking write of one message whose header is already encoded JSON, in one write when the
    pipe takes it whole."""
    data = memoryview(HEADER.pack(len(head), len(body)) + head + body)
    while data:
        written = os.write(fd, data)
        data = data[written:]


def encode_record(text: str) -> bytes:
    """A multi-line log event as it travels on the log pipe."""
    body = text.rstrip("\n").encode("utf-8", "replace").replace(b"\n", RECORD_NEWLINE)
    return RECORD_START + body + b"\n"
