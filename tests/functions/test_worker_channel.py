"""The worker's side of the control channel: buffered reads of queued invocations, and a start
that loads only what a worker needs."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading

import pytest

from batchbridge.functions import protocol


def test_messages_written_together_are_read_one_by_one() -> None:
    read_fd, write_fd = os.pipe()
    try:
        data = b"".join(
            protocol.encode_message({"type": "invoke", "requestId": f"r{n}"}, f'{{"n": {n}}}'.encode())
            for n in range(5)
        )
        os.write(write_fd, data)
        reader = protocol.MessageReader(read_fd)
        got = [reader.read() for _ in range(5)]
    finally:
        os.close(read_fd)
        os.close(write_fd)
    assert [h["requestId"] for h, _ in got] == [f"r{n}" for n in range(5)]
    assert [b for _, b in got] == [f'{{"n": {n}}}'.encode() for n in range(5)]


def test_a_message_cut_across_writes_is_put_back_together_and_eof_ends_the_reader() -> None:
    read_fd, write_fd = os.pipe()
    message = protocol.encode_message({"type": "invoke", "requestId": "big"}, b"x" * 300_000)
    reader = protocol.MessageReader(read_fd)

    def writer() -> None:
        for start in range(0, len(message), 70_001):
            os.write(write_fd, message[start : start + 70_001])
        os.close(write_fd)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        header, body = reader.read()
        assert header["requestId"] == "big"
        assert body == b"x" * 300_000
        with pytest.raises(EOFError):
            reader.read()
    finally:
        thread.join()
        os.close(read_fd)


def test_a_worker_starts_without_the_runtime_or_asyncio() -> None:
    probe = (
        "import sys, batchbridge.functions.worker\n"
        "print(sorted(m for m in ('asyncio', 'batchbridge.functions.runtime', "
        "'batchbridge.functions.process') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_package_still_offers_its_public_names() -> None:
    import batchbridge.functions as functions

    assert functions.FunctionRuntime.__name__ == "FunctionRuntime"
    assert functions.LATEST == "$LATEST"
    with pytest.raises(AttributeError):
        _ = functions.NoSuchName  # type: ignore[attr-defined]


def test_results_arriving_together_are_taken_without_waiting_and_a_closed_pipe_ends() -> None:
    from batchbridge.functions.process import _ResultPipe

    async def scenario() -> None:
        pipe = _ResultPipe()
        first = protocol.encode_message({"type": "result", "n": 1}, b"one")
        second = protocol.encode_message({"type": "result", "n": 2}, b"two")
        assert pipe.pop() is None
        pipe.data_received(first + second[:5])
        assert pipe.pop() == ({"type": "result", "n": 1}, b"one")
        assert pipe.pop() is None
        waiting = asyncio.ensure_future(pipe.wait())
        await asyncio.sleep(0)
        assert not waiting.done()
        pipe.data_received(second[5:])
        assert await asyncio.wait_for(waiting, 1) == ({"type": "result", "n": 2}, b"two")
        pipe.data_received(protocol.HEADER.pack(3, 0) + b"[1]")
        with pytest.raises(ValueError):
            pipe.pop()
        pipe.connection_lost(None)
        with pytest.raises(EOFError):
            await pipe.wait()

    asyncio.run(scenario())


def test_a_blank_payload_is_an_empty_event_and_none_answers_null() -> None:
    from batchbridge.functions import worker

    seen: list[object] = []

    def handler(event: object, context: worker.LambdaContext) -> None:
        seen.append(event)

    for body in (b"", b" \n\t"):
        assert worker.run_invocation(handler, {"requestId": "r", "timeoutMs": 1000}, body) == (False, b"null")
    assert seen == [{}, {}]
    failed, payload = worker.run_invocation(handler, {"requestId": "r"}, b" {nope")
    assert failed and b"Runtime.UnmarshalError" in payload


def test_request_ids_are_distinct_version_4_uuids() -> None:
    import uuid

    from batchbridge.functions.runtime import request_id

    ids = [request_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    for text in ids[:200]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_a_queued_invocation_header_is_the_header_an_invocation_gets() -> None:
    import json

    from batchbridge.functions.runtime import FunctionRuntime, _queued_header_prefix

    arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    encoded = _queued_header_prefix(arn, 3000) + b'0f2c-id"}'

    class Spec:
        timeout_seconds = 3.0

    expected = FunctionRuntime._header(Spec(), "0f2c-id", arn)  # type: ignore[arg-type]
    assert json.loads(encoded) == expected
