"""The local executor: attempts run as process groups on this machine, owned by a host agent.

:class:`LocalExecutor` is the server-side half.  On :meth:`~LocalExecutor.start` it connects to the
data folder's host agent (:mod:`batchbridge.executors.agent`), starting one in its own session when
none runs, so that a SIGKILL of the server leaves the agent and the jobs running.  A server started
later on the same data folder reconnects and calls :meth:`~LocalExecutor.recover`.

If the agent dies while the server is connected, every attempt the server was following ends with
``host_lost`` and AWS's ``Host EC2 (instance <host>) terminated.`` reason, whatever is left of its
process group is killed, and the next launch starts a new agent.  The engine retries such attempts
under the job's retry strategy, as AWS Batch does when a Spot host is reclaimed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import batchbridge
from batchbridge.errors import ServerException
from batchbridge.executors.base import (
    AttemptExit,
    AttemptInfo,
    AttemptState,
    Capacity,
    ExecutorEvent,
    LaunchSpec,
    OutputLine,
    RecoveredAttempt,
    drain_events,
    host_lost_reason,
    now_ms,
)
from batchbridge.executors.host import host_capacity
from batchbridge.executors.protocol import (
    STREAM_NAMES,
    AgentPaths,
    FrameSplitter,
    SocketAddress,
    decode,
    encode,
    same_process,
)


class AgentConnection(asyncio.Protocol):
    """A framed connection to the agent with request/reply matching and batched writes.

    Frames are handled in the callback that reads them (``on_message``; by default only replies are
    matched), with no reading task to wake per read; ``on_lost`` runs once the connection ends.
    """

    writer: asyncio.WriteTransport

    def __init__(self) -> None:
        self.on_message: Callable[[AgentConnection, dict[str, Any]], object] = AgentConnection.resolve
        self.on_lost: Callable[[AgentConnection], None] | None = None
        self._splitter = FrameSplitter()
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._buffer: list[bytes] = []
        self._acks: list[str] = []
        self._loop = asyncio.get_running_loop()

        self.ended: asyncio.Future[None] = self._loop.create_future()

    @classmethod
    async def open(cls, paths: AgentPaths) -> AgentConnection:
        with SocketAddress(paths.socket) as path:
            _, conn = await asyncio.get_running_loop().create_unix_connection(cls, path)
        return conn

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        self.writer = transport

    def data_received(self, data: bytes) -> None:
        try:
            for frame in self._splitter.feed(data):
                self.on_message(self, decode(frame))
        except ValueError:
            self.writer.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ended.done():
            self.ended.set_result(None)
            if self.on_lost is not None:
                self.on_lost(self)

    def send(self, message: dict[str, Any]) -> None:
        if not self._buffer and not self._acks:
            self._loop.call_soon(self._flush)
        self._buffer.append(encode(message))

    def acknowledge(self, attempt_id: str) -> None:
        """Queue an acknowledgement; those of one loop pass leave as one ``ack`` frame."""
        if not self._buffer and not self._acks:
            self._loop.call_soon(self._flush)
        self._acks.append(attempt_id)

    def _flush(self) -> None:
        if self._acks:
            self._buffer.append(encode({"op": "ack", "attempt_ids": self._acks}))
            self._acks = []
        if self._buffer and not self.writer.is_closing():
            self.writer.write(b"".join(self._buffer))
        self._buffer.clear()

    def request(self, message: dict[str, Any]) -> asyncio.Future[dict[str, Any]]:
        self._next_id += 1
        future: asyncio.Future[dict[str, Any]] = self._loop.create_future()
        self._pending[self._next_id] = future
        self.send({**message, "id": self._next_id})
        return future

    def resolve(self, message: dict[str, Any]) -> bool:
        """Complete the request this reply answers; False when it answers none."""
        future = self._pending.pop(message.get("id", -1), None)
        if future is None:
            return False
        if not future.done():
            if message["op"] == "error":
                future.set_exception(ServerException(f"host agent: {message.get('message')}"))
            else:
                future.set_result(message)
        return True

    def fail_all(self, error: Exception) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()

    def close(self) -> None:
        self._flush()
        self.writer.close()


class LocalExecutor:
    """The :class:`~batchbridge.executors.base.Executor` that runs attempts on this machine.

    It supports start-ahead (:func:`~batchbridge.executors.base.supports_start_ahead`): a launch
    with ``gate_vcpus`` is held by the agent until its compute environment has room, and its
    :meth:`launch` returns once the process runs.
    """

    supports_start_ahead = True

    def __init__(
        self,
        data_dir: Path,
        *,
        agent_idle_timeout: float = 60.0,
        memory_sample_interval: float = 0.1,
        connect_timeout: float = 15.0,
        memory_mib: int | None = None,
    ) -> None:
        self.paths = AgentPaths.for_data_dir(Path(data_dir))
        self.agent_idle_timeout = agent_idle_timeout
        self.memory_sample_interval = memory_sample_interval
        self.connect_timeout = connect_timeout
        self._memory_mib = memory_mib
        self._conn: AgentConnection | None = None
        self._events: asyncio.Queue[ExecutorEvent | None] = asyncio.Queue()
        self._live: dict[str, tuple[int | None, int | None]] = {}
        self._agent_proc: subprocess.Popen[bytes] | None = None
        self._closing = False
        self.host_id = ""
        self.container_instance_id = ""
        self.agent_pid: int | None = None

    # -- connection ------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect to the data folder's agent, starting it when none is running."""
        self._closing = False
        await self._connected()

    async def _connected(self) -> AgentConnection:
        if self._conn is not None:
            return self._conn
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.connect_timeout
        spawned = False
        while True:
            try:
                conn = await AgentConnection.open(self.paths)
            except (FileNotFoundError, ConnectionRefusedError):
                conn = None
            if conn is not None:
                self._conn = conn
                conn.on_message = self._dispatch
                conn.on_lost = self._lost
                try:
                    hello = await conn.request({"op": "hello"})
                except (ServerException, ConnectionError):
                    self._conn = None
                else:
                    self.host_id = str(hello["host_id"])
                    self.container_instance_id = str(hello["container_instance_id"])
                    self.agent_pid = int(hello["agent_pid"])
                    return conn
            if not spawned or (self._agent_proc is not None and self._agent_proc.poll() is not None):
                self._spawn_agent()
                spawned = True
            if loop.time() > deadline:
                raise ServerException(
                    f"the host agent in {self.paths.root} did not start; see {self.paths.log}"
                )
            await asyncio.sleep(0.02)

    def _spawn_agent(self) -> None:
        self.paths.root.mkdir(parents=True, exist_ok=True)
        src = str(Path(batchbridge.__file__).resolve().parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        command = [sys.executable, "-m", "batchbridge.executors.agent", "--root", str(self.paths.root)]
        command += ["--idle-timeout", str(self.agent_idle_timeout)]
        command += ["--sample-interval", str(self.memory_sample_interval)]
        with open(self.paths.log, "ab") as log:
            self._agent_proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                cwd=self.paths.root,
                env=env,
                start_new_session=True,
            )

    def _dispatch(self, conn: AgentConnection, message: dict[str, Any]) -> None:
        op = message["op"]
        if op == "out":
            attempt_id = message["attempt_id"]
            for seq, stamp, stream, text in message["lines"]:
                self._events.put_nowait(OutputLine(attempt_id, stamp, STREAM_NAMES[stream], text, seq))
        elif op == "exit":
            exit = AttemptExit.from_json(message["exit"])
            self._live.pop(exit.attempt_id, None)
            self._events.put_nowait(exit)
        else:
            conn.resolve(message)

    def _lost(self, conn: AgentConnection) -> None:
        """The agent connection ended: unless we closed it, the host is lost.

        Launches still waiting for their reply fail with :class:`ServerException` instead.
        """
        if self._conn is conn:
            self._conn = None
        conn.fail_all(ServerException("the connection to the host agent was lost"))
        if self._closing:
            return
        stopped = now_ms()
        for attempt_id, (pid, started_at_ms) in list(self._live.items()):
            if pid is None:
                continue
            if same_process(pid, started_at_ms):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
            self._events.put_nowait(
                AttemptExit(
                    attempt_id=attempt_id,
                    exit_code=None,
                    reason=None,
                    status_reason=host_lost_reason(self.host_id),
                    started_at_ms=started_at_ms,
                    stopped_at_ms=stopped,
                    host_lost=True,
                )
            )
        self._live.clear()

    async def close(self) -> None:
        """Disconnect; running attempts carry on under the agent."""
        self._closing = True
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            await conn.ended
        self._events.put_nowait(None)

    # -- the executor contract -------------------------------------------------------------

    async def launch(self, spec: LaunchSpec) -> AttemptInfo:
        conn = await self._connected()
        self._live[spec.attempt_id] = (None, None)
        try:
            reply = await conn.request({"op": "launch", "spec": spec.to_json()})
        except ServerException:
            self._live.pop(spec.attempt_id, None)
            raise
        pid, started = reply.get("pid"), reply.get("started_at_ms")
        if spec.attempt_id in self._live:
            self._live[spec.attempt_id] = (pid, started)
        return AttemptInfo(spec.attempt_id, self.host_id, self.container_instance_id, started, pid)

    async def stop(self, attempt_id: str, reason: str) -> None:
        if self._conn is not None:
            self._conn.send({"op": "stop", "attempt_id": attempt_id, "reason": reason})

    def events(self) -> AsyncIterator[ExecutorEvent]:
        return drain_events(self._events)

    async def acknowledge(self, attempt_id: str) -> None:
        if self._conn is not None:
            self._conn.acknowledge(attempt_id)

    async def recover(self, known: Mapping[str, int]) -> dict[str, RecoveredAttempt]:
        conn = await self._connected()
        reply = await conn.request({"op": "recover", "known": {k: int(v) for k, v in known.items()}})
        result: dict[str, RecoveredAttempt] = {}
        for attempt_id, state_name in reply["states"].items():
            state = AttemptState(state_name)
            exit = None
            if state is AttemptState.EXITED:
                exit = AttemptExit.from_json(reply["exits"][attempt_id])
            pid: int | None = None
            if state is AttemptState.RUNNING:
                pid = reply["pids"][attempt_id]
                self._live[attempt_id] = (pid, reply["started"].get(attempt_id))
            info = None
            if state is not AttemptState.UNKNOWN:
                started = reply["started"].get(attempt_id)
                info = AttemptInfo(attempt_id, self.host_id, self.container_instance_id, started, pid)
            result[attempt_id] = RecoveredAttempt(state, exit, info)
        return result

    def capacity(self) -> Capacity:
        return host_capacity(self._memory_mib)

    async def shutdown_agent(self) -> None:
        """Kill every running attempt and stop the agent (for tests and ``batchbridge`` shutdown)."""
        if self._conn is None:
            return
        self._closing = True
        with contextlib.suppress(ServerException):
            await self._conn.request({"op": "shutdown"})
        await self.close()
        if self._agent_proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._agent_proc.wait(timeout=5)


async def stop_agent(data_dir: Path) -> bool:
    """Shut down the agent of ``data_dir`` if one is running; True when there was one."""
    paths = AgentPaths.for_data_dir(Path(data_dir))
    try:
        conn = await AgentConnection.open(paths)
    except (FileNotFoundError, ConnectionRefusedError):
        return False
    conn.send({"op": "shutdown", "id": 1})
    await conn.ended
    return True
