"""Watching many descriptors through one epoll set: one callback per readable descriptor per pass."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from batchbridge.executors.process import FdWatcher

from .conftest import run


def test_calls_back_each_readable_descriptor_until_closed() -> None:
    async def scenario() -> list[tuple[str, bytes]]:
        watcher = FdWatcher(asyncio.get_running_loop())
        seen: list[tuple[str, bytes]] = []
        pipes = {name: os.pipe() for name in ("a", "b")}

        def reader(name: str) -> Callable[[int], None]:
            def read(fd: int) -> None:
                data = os.read(fd, 100)
                seen.append((name, data))
                if not data:
                    watcher.close(fd)

            return read

        for name, (r, _) in pipes.items():
            watcher.add(r, reader(name))
        os.write(pipes["a"][1], b"one")
        await asyncio.sleep(0.02)
        os.write(pipes["b"][1], b"two")
        for _, w in pipes.values():
            os.close(w)
        for _ in range(50):
            if not len(watcher):
                break
            await asyncio.sleep(0.01)
        watcher.shutdown()
        return seen

    seen = run(scenario())
    assert seen[0] == ("a", b"one")
    assert sorted(seen[1:]) == [("a", b""), ("b", b""), ("b", b"two")]


def test_skips_a_descriptor_closed_and_reused_during_the_same_pass() -> None:
    """A callback that closes another ready descriptor, whose number a new one takes, stops its report."""

    async def scenario() -> list[str]:
        watcher = FdWatcher(asyncio.get_running_loop())
        calls: list[str] = []
        pipes = [os.pipe(), os.pipe()]
        quiet_r, quiet_w = os.pipe()
        extra: list[int] = [quiet_r, quiet_w]

        def callback(index: int) -> Callable[[int], None]:
            def on_ready(fd: int) -> None:
                calls.append(f"pipe {index}")
                watcher.close(fd)
                other = pipes[1 - index][0]
                if other in watcher._callbacks:
                    watcher.close(other)
                    os.dup2(quiet_r, other)
                    extra.append(other)
                    watcher.add(other, lambda _fd: calls.append("reused"))

            return on_ready

        for index, (r, w) in enumerate(pipes):
            watcher.add(r, callback(index))
            os.write(w, b"x")
        await asyncio.sleep(0.05)
        watcher.shutdown()
        for fd in (*(w for _, w in pipes), *extra):
            os.close(fd)
        return calls

    assert run(scenario()) in (["pipe 0"], ["pipe 1"])


def test_an_exception_in_one_callback_does_not_stop_the_others() -> None:
    async def scenario() -> tuple[list[str], list[object]]:
        loop = asyncio.get_running_loop()
        errors: list[object] = []
        loop.set_exception_handler(lambda _loop, context: errors.append(context.get("exception")))
        watcher = FdWatcher(loop)
        calls: list[str] = []
        pipes = [os.pipe() for _ in range(2)]

        def bad(fd: int) -> None:
            watcher.close(fd)
            raise RuntimeError("boom")

        def good(fd: int) -> None:
            calls.append("good")
            watcher.close(fd)

        watcher.add(pipes[0][0], bad)
        watcher.add(pipes[1][0], good)
        for _, w in pipes:
            os.write(w, b"x")
        await asyncio.sleep(0.05)
        watcher.shutdown()
        for _, w in pipes:
            os.close(w)
        return calls, errors

    calls, errors = run(scenario())
    assert calls == ["good"]
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError)


def test_a_closed_descriptor_whose_file_lives_on_is_not_reported_again() -> None:
    """A child between ``exec`` and closing its close-on-exec copies still holds the pipe."""

    async def scenario() -> tuple[list[int], list[tuple[int, int]]]:
        watcher = FdWatcher(asyncio.get_running_loop())
        calls: list[int] = []
        r, w = os.pipe()
        copy = os.dup(r)
        watcher.add(r, calls.append)
        watcher.close(r)
        os.close(w)
        await asyncio.sleep(0.02)
        left = watcher._epoll.poll(0)
        watcher.shutdown()
        os.close(copy)
        return calls, left

    assert run(scenario()) == ([], [])
