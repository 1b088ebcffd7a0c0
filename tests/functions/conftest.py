"""Helpers for the function runtime tests: real packages, real worker processes, a recording sink."""

from __future__ import annotations

import asyncio
import io
import textwrap
import zipfile
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from batchbridge.functions import FunctionCode, FunctionRuntime, FunctionSpec, LogEvent

T = TypeVar("T")
ACCOUNT = "123456789012"
REGION = "eu-west-1"


def make_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, textwrap.dedent(text))
    return buffer.getvalue()


class RecordingSink:
    """Collects what the runtime hands to the log sink: (group, stream, events) per call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, list[LogEvent]]] = []

    def __call__(self, group: str, stream: str, events: list[LogEvent]) -> None:
        self.calls.append((group, stream, list(events)))

    def messages(self) -> list[str]:
        return [message for _, _, events in self.calls for _, message in events]

    def text(self) -> str:
        return "".join(self.messages())


def is_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Harness:
    """A runtime in ``tmp_path`` plus helpers to deploy handler files and run coroutines."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.sink = RecordingSink()
        self.loop = asyncio.new_event_loop()
        self.runtime = self.make_runtime()

    def make_runtime(self, **kwargs: Any) -> FunctionRuntime:
        return FunctionRuntime(self.tmp_path / "runtime", self.sink, **kwargs)

    def run(self, awaitable: Awaitable[T]) -> T:
        async def wrapper() -> T:
            return await awaitable

        return self.loop.run_until_complete(wrapper())

    def deploy(self, files: dict[str, str], name: str = "fn", **kwargs: Any) -> FunctionSpec:
        code = FunctionCode.from_zip(make_zip(files), self.runtime.code_root)
        arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        options: dict[str, Any] = {"handler": "app.handler", "region": REGION, "account_id": ACCOUNT}
        options.update(kwargs)
        return FunctionSpec(
            name=name, arn=arn, code_dir=code.code_dir, code_sha256=code.code_sha256, **options
        )

    def close(self) -> None:
        self.loop.run_until_complete(self.runtime.close())
        self.loop.close()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    try:
        yield h
    finally:
        h.close()
