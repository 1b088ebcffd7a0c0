"""One warm worker process as the runtime sees it: spawn, init, invoke, kill.

A worker runs ``python -u -m batchbridge.functions.worker`` in its own session (its own process
group), with the Lambda environment variables of its function, stdin from ``/dev/null``, fds 1 and 2
on one log pipe and two more pipes as its control channel (see :mod:`batchbridge.functions.protocol`).
Killing a worker kills its whole process group, so subprocesses the handler started die with it.

A worker that exits on its own (``os._exit``, a signal) ends the invocation in flight with Lambda's
``Runtime.ExitError`` and ``Runtime exited with error: exit status N`` / ``signal: <name>``.

The log pipe is read by a protocol that feeds the :class:`LogSplitter` as bytes arrive, and the
result pipe by one that cuts it into messages as they arrive, so results that arrive together are
taken without a wait (and without a timer) each, and an invocation costs the event loop at most
one wake-up of the waiting invocation.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import batchbridge
from batchbridge.functions import protocol
from batchbridge.functions.logs import LogEvent, LogSplitter
from batchbridge.functions.spec import FunctionSpec

LOG_DRAIN_SECONDS = 2.0
_PACKAGE_PARENT = str(Path(batchbridge.__file__).resolve().parent.parent)


@dataclasses.dataclass(frozen=True)
class PhaseOutcome:
    """How one phase (init or an invocation) ended, with the log events it produced."""

    kind: Literal["ok", "error", "timeout", "exit"]
    payload: bytes
    events: list[LogEvent]
    max_rss_kb: int = 0
    exit_detail: str = ""


def worker_environment(
    spec: FunctionSpec, stream_name: str, base: Mapping[str, str], tmp_dir: Path
) -> dict[str, str]:
    """Lambda's environment: the function's variables, then the reserved ones that it cannot override."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
    }
    env.update(base)
    env.update(spec.environment)
    python_path = [_PACKAGE_PARENT, *filter(None, [env.get("PYTHONPATH")])]
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(python_path),
            "TMPDIR": str(tmp_dir),
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "LAMBDA_RUNTIME_DIR": _PACKAGE_PARENT,
            "_HANDLER": spec.handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group_name,
            "AWS_LAMBDA_LOG_STREAM_NAME": stream_name,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
        }
    )
    return env


def exit_detail(returncode: int | None) -> str:
    """Go's wording for how a process ended, as Lambda's ``Runtime exited with error`` uses it."""
    if returncode is None:
        return "exit status unknown"
    if returncode < 0:
        try:
            name = signal.strsignal(-returncode) or f"signal {-returncode}"
        except ValueError:
            name = f"signal {-returncode}"
        return f"signal: {name.lower()}"
    return f"exit status {returncode}"


def _peak_rss_kb(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class _LogPipe(asyncio.Protocol):
    """Feeds a worker's log pipe into its splitter; ``done`` resolves when the pipe closes."""

    def __init__(self, splitter: LogSplitter) -> None:
        self.splitter = splitter
        self.changed = asyncio.Event()
        self.eof = False
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.splitter.feed(data)
        self.changed.set()

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.splitter.close()
        self.eof = True
        self.changed.set()
        if not self.done.done():
            self.done.set_result(None)


class _ResultPipe(asyncio.Protocol):
    """Cuts a worker's result pipe into messages as bytes arrive.

    Results that arrived together (a worker runs queued invocations back to back) are taken
    without waiting: :meth:`pop` hands out a complete message at once, and only an invocation
    whose result is not there yet waits (with its timeout) in :meth:`wait`.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._messages: collections.deque[tuple[bytes, bytes]] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self.eof = False

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        size = protocol.HEADER.size
        while len(self._buffer) >= size:
            head_len, body_len = protocol.HEADER.unpack_from(self._buffer)
            end = size + head_len + body_len
            if len(self._buffer) < end:
                break
            self._messages.append(
                (bytes(self._buffer[size : size + head_len]), bytes(self._buffer[size + head_len : end]))
            )
            del self._buffer[:end]
        self._wake()

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self._wake()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def pop(self) -> tuple[dict[str, Any], bytes] | None:
        """The next complete message, or ``None`` when none has arrived; ``EOFError`` when none
        will (the worker is gone), ``ValueError`` for a malformed header."""
        if self._messages:
            head, body = self._messages.popleft()
            return protocol.decode_header(head), body
        if self.eof:
            raise EOFError("result pipe closed")
        return None

    async def wait(self) -> tuple[dict[str, Any], bytes]:
        """The next message, waiting for it to arrive."""
        while True:
            message = self.pop()
            if message is not None:
                return message
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter


class WorkerProcess:
    """A started worker; use :meth:`start`, then :meth:`wait_ready`, then :meth:`invoke` repeatedly."""

    def __init__(
        self,
        spec: FunctionSpec,
        stream_name: str,
        process: asyncio.subprocess.Process,
        commands: asyncio.StreamWriter,
        results: _ResultPipe,
        logs: _LogPipe,
        tmp_dir: Path,
    ) -> None:
        self.spec = spec
        self.fingerprint = spec.fingerprint
        self.stream_name = stream_name
        self.tmp_dir = tmp_dir
        self.started = time.monotonic()
        self.last_used = self.started
        self.invocations = 0
        self.init_ms: float | None = None
        self.generation = 0
        self.max_rss_kb = 0
        self._process = process
        self._commands = commands
        self._results = results
        self._splitter = logs.splitter
        self._logs = logs

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._process.returncode is None

    @classmethod
    async def start(
        cls,
        spec: FunctionSpec,
        stream_name: str,
        *,
        base_environment: Mapping[str, str],
        tmp_dir: Path,
        clock: Callable[[], float],
    ) -> WorkerProcess:
        loop = asyncio.get_running_loop()
        command_r, command_w = os.pipe()
        result_r, result_w = os.pipe()
        log_r, log_w = os.pipe()
        tmp_dir.mkdir(parents=True, exist_ok=True)
        env = worker_environment(spec, stream_name, base_environment, tmp_dir)
        env[protocol.ENV_COMMAND_FD] = str(command_r)
        env[protocol.ENV_RESULT_FD] = str(result_w)
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-u",
                "-m",
                "batchbridge.functions.worker",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_w,
                stderr=log_w,
                pass_fds=(command_r, result_w),
                env=env,
                cwd=str(spec.code_dir),
                start_new_session=True,
            )
        except BaseException:
            for fd in (command_r, command_w, result_r, result_w, log_r, log_w):
                os.close(fd)
            raise
        finally:
            for fd in (command_r, result_w, log_w):
                with contextlib.suppress(OSError):
                    os.close(fd)
        results = _ResultPipe()
        await loop.connect_read_pipe(lambda: results, open(result_r, "rb", 0))  # noqa: SIM115
        logs = _LogPipe(LogSplitter(clock))
        await loop.connect_read_pipe(lambda: logs, open(log_r, "rb", 0))  # noqa: SIM115
        transport, proto = await loop.connect_write_pipe(
            lambda: asyncio.streams.FlowControlMixin(),
            open(command_w, "wb", 0),  # noqa: SIM115
        )
        commands = asyncio.StreamWriter(transport, proto, None, loop)
        return cls(spec, stream_name, process, commands, results, logs, tmp_dir)

    async def _phase_events(self) -> list[LogEvent]:
        """The events of the phase that just ended, waiting briefly for its marker to arrive."""
        deadline = time.monotonic() + LOG_DRAIN_SECONDS
        while not self._splitter.phases_ready and not self._logs.eof:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._logs.changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._logs.changed.wait()
        if self._splitter.phases_ready:
            return self._splitter.pop_phase()
        return self._splitter.take_pending()

    async def _remaining_events(self) -> list[LogEvent]:
        """After the process is gone: everything still in the log pipe."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._logs.done), LOG_DRAIN_SECONDS)
        return self._splitter.take_pending()

    async def _run_phase(self, timeout: float) -> PhaseOutcome:
        try:
            message = self._results.pop()
            if message is None:
                async with asyncio.timeout(timeout):
                    message = await self._results.wait()
            header, body = message
        except TimeoutError:
            peak = _peak_rss_kb(self.pid)
            await self.kill()
            return PhaseOutcome("timeout", b"", await self._remaining_events(), max(peak, self.max_rss_kb))
        except (EOFError, ConnectionError, ValueError):
            returncode = await self._wait_exit()
            events = await self._remaining_events()
            return PhaseOutcome("exit", b"", events, self.max_rss_kb, exit_detail(returncode))
        self.max_rss_kb = max(self.max_rss_kb, int(header.get("maxRssKb", 0)))
        kind: Literal["ok", "error"] = "error" if header.get("failed") else "ok"
        return PhaseOutcome(kind, body, await self._phase_events(), self.max_rss_kb)

    async def wait_ready(self, timeout: float) -> PhaseOutcome:
        """The init phase: import the handler. ``error`` carries AWS's init error document."""
        outcome = await self._run_phase(timeout)
        if outcome.kind == "ok":
            self.max_rss_kb = max(self.max_rss_kb, _peak_rss_kb(self.pid))
        return outcome

    def send_invocations(self, messages: list[tuple[dict[str, Any], bytes]]) -> None:
        """Queue several invocations on the command pipe in one write; the worker runs them in order
        and :meth:`next_result` collects each outcome.  A worker that is gone answers ``exit``."""
        data = b"".join(protocol.encode_message({"type": "invoke", **h}, body) for h, body in messages)
        with contextlib.suppress(ConnectionError, RuntimeError):
            self._commands.write(data)

    def send_encoded(self, messages: list[tuple[bytes, bytes]]) -> None:
        """:meth:`send_invocations` for headers already encoded (JSON objects of type ``invoke``)."""
        data = b"".join(protocol.encode_frame(head, body) for head, body in messages)
        with contextlib.suppress(ConnectionError, RuntimeError):
            self._commands.write(data)

    async def next_result(self, timeout: float) -> PhaseOutcome:
        """The outcome of the next invocation sent; ``timeout`` kills the worker when it passes."""
        self.invocations += 1
        try:
            return await self._run_phase(timeout)
        finally:
            self.last_used = time.monotonic()

    async def invoke(self, header: dict[str, Any], payload: bytes, timeout: float) -> PhaseOutcome:
        """Run one invocation; ``timeout`` kills the worker's process group when it passes."""
        self.invocations += 1
        try:
            self._commands.write(protocol.encode_message({"type": "invoke", **header}, payload))
            await self._commands.drain()
        except (ConnectionError, RuntimeError):
            returncode = await self._wait_exit()
            return PhaseOutcome(
                "exit", b"", await self._remaining_events(), self.max_rss_kb, exit_detail(returncode)
            )
        try:
            return await self._run_phase(timeout)
        finally:
            self.last_used = time.monotonic()

    async def _wait_exit(self) -> int | None:
        try:
            return await asyncio.wait_for(self._process.wait(), LOG_DRAIN_SECONDS)
        except TimeoutError:
            await self.kill()
            return self._process.returncode

    async def kill(self) -> None:
        """Kill the worker's process group and reap it; safe to call more than once.

        Only asyncio's child watcher reaps the worker: ``Process.kill()`` would first poll the
        process (``Popen.send_signal`` does) and could reap it behind the watcher's back, which
        then reports "Unknown child process pid ..., will report returncode 255".  The worker
        leads its own session, so signalling its process group reaches it.
        """
        if self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._process.pid, signal.SIGKILL)
        await self._process.wait()
        self._commands.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._logs.done), LOG_DRAIN_SECONDS)
