"""The host agent: a long-lived process per data folder that owns every attempt's processes.

It exists so that jobs survive the batchbridge server: the server may be killed with SIGKILL at
any moment, yet the attempts keep running (the agent was started in its own session), their
output and exits are written to ``<data_dir>/agent/attempts/<id>/`` and a restarted server on the
same data folder reconnects and receives what it missed (see :mod:`batchbridge.executors.protocol`
for the messages and files).

Durability rules:

* output lines are appended to the attempt's output log before they are sent;
* an exit is appended to the exit journal (``exits.log``, one write) before it is sent, and counts
  as pending there until the server acknowledges it, so an exit is never lost; it is re-sent on
  ``recover``;
* records are not fsynced: they survive the crash of any process, not a power loss (after which
  the attempts' processes are gone too and the engine retries them as unknown).

A launched attempt without an exit record at start-up belonged to an agent that died: its process group
is killed (pid and start time must both match) and the attempt is forgotten, so ``recover``
reports it unknown.  (An agent killed between a spawn and the launch record written right after it
leaves no record for that attempt; such a process is not found again.)  The agent exits by itself
once no server has been connected and nothing has run for ``--idle-timeout`` seconds.

Attempts are started on the loop thread (:class:`~batchbridge.executors.process.Launcher`): the
agent has no other thread, so it may change its working folder for each spawn.

Start-ahead gate.  A launch whose spec carries ``gate_vcpus`` belongs to the gate of its compute
environment: the agent starts it only while the vCPUs of that gate's started attempts, its own
included, stay within ``gate_vcpus`` (the compute environment's capacity), otherwise it holds the
launch in the gate's FIFO queue.  The engine has already committed such a job to STARTING (AWS:
placed on a host, container being created), so when an attempt of the gate exits, the agent
starts the next held launch at once, before it records and reports the exit, and answers that
launch once its process runs; the server then commits STARTING -> RUNNING as for any launch.
A held launch is an attempt the agent holds: ``recover`` reports it running (no pid, no start
time), a stop ends it with a stopped exit and no start, without ever running it, and an attempt
the restarted server does not know is dropped.  Held launches live in memory only: an agent that
dies loses them, and the restarted server fails them as lost, as it does the running ones.

Run as ``python -m batchbridge.executors.agent --root <data_dir>/agent``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import fcntl
import json
import os
import signal
import socket
import sys
import time
import uuid
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from batchbridge.executors.base import AttemptExit, LaunchSpec
from batchbridge.executors.process import (
    AttemptProcess,
    FdWatcher,
    FolderPool,
    Launcher,
    group_rss_mib,
    kill_group,
)
from batchbridge.executors.protocol import (
    AgentPaths,
    ExitJournal,
    FrameSplitter,
    SocketAddress,
    attempt_id_of,
    decode,
    encode,
    encode_value,
    read_output,
    same_process,
    write_atomic,
)

UNKNOWN_TO_SERVER = "Attempt not known to the server after its restart"
AGENT_SHUTDOWN = "Host agent shut down"


class Connection:
    """One connected server; outgoing messages are batched into one write per loop pass."""

    def __init__(self, writer: asyncio.WriteTransport, loop: asyncio.AbstractEventLoop) -> None:
        self.writer = writer
        self.loop = loop
        self._buffer: list[bytes] = []
        self.closed = False

    def send(self, message: dict[str, Any]) -> None:
        if self.closed:
            return
        if not self._buffer:
            self.loop.call_soon(self._flush)
        self._buffer.append(encode(message))

    def send_frame(self, frame: bytes) -> None:
        """Send a message already encoded as one frame, as :func:`~.protocol.encode` gives it."""
        if self.closed:
            return
        if not self._buffer:
            self.loop.call_soon(self._flush)
        self._buffer.append(frame)

    def _flush(self) -> None:
        if self._buffer and not self.closed:
            self.writer.write(b"".join(self._buffer))
        self._buffer.clear()


@dataclasses.dataclass
class Gate:
    """One compute environment's start-ahead gate: its capacity, the vCPUs started, the held launches."""

    capacity: float
    used: float = 0.0
    waiting: deque[AttemptProcess] = dataclasses.field(default_factory=deque)


class Agent:
    """Runs attempts for whichever server is connected and keeps their records."""

    def __init__(self, paths: AgentPaths, idle_timeout: float, sample_interval: float) -> None:
        self.paths = paths
        self.idle_timeout = idle_timeout
        self.sample_interval = sample_interval
        self.host_id = socket.gethostname()
        self.container_instance_id = self._host_identity()
        self.running: dict[str, AttemptProcess] = {}
        self.held: dict[str, AttemptProcess] = {}
        self.gates: dict[str, Gate] = {}
        self.finished: dict[str, AttemptExit] = {}
        #: Unacknowledged exits read from ``<attempt_id>.exit.json`` files of an earlier agent version.
        self.exit_files: set[str] = set()
        self.exits = ExitJournal(paths.exits)
        self.subscribers: dict[str, Connection] = {}
        self.discard: set[str] = set()
        self.connections: set[Connection] = set()
        self.idle_since = time.monotonic()
        self.done = asyncio.Event()
        self.shutting_down: list[tuple[Connection, int]] = []
        self.loop = asyncio.get_running_loop()
        self.launcher = Launcher(FolderPool(os.path.abspath(paths.spare)))
        self.watcher = FdWatcher(self.loop)
        self.launch_waiters: dict[str, list[tuple[Connection, Any]]] = {}
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        self.journal_fd = os.open(paths.launches, flags, 0o644)

    def _host_identity(self) -> str:
        try:
            return str(json.loads(self.paths.host.read_bytes())["container_instance_id"])
        except (OSError, ValueError, KeyError):
            identity = str(uuid.uuid4())
            write_atomic(self.paths.host, json.dumps({"container_instance_id": identity}).encode())
            return identity

    # -- start-up --------------------------------------------------------------------------

    def load_records(self) -> None:
        """Keep unacknowledged exits; kill and forget attempts whose agent died under them."""
        self.paths.attempts.mkdir(parents=True, exist_ok=True)
        self.finished.update(self.exits.replay())
        for attempt_id in {attempt_id_of(name) for name in os.listdir(self.paths.attempts)}:
            if attempt_id is None or attempt_id in self.finished:
                continue
            files = self.paths.attempt_files(attempt_id)
            try:
                exit = AttemptExit.from_json(json.loads(files.exit.read_bytes()))
            except (OSError, ValueError, TypeError):
                files.remove()
                continue
            self.finished[exit.attempt_id] = exit
            self.exit_files.add(exit.attempt_id)
        exited = set(self.finished)
        for entry in self._journal_entries():
            if entry.get("attempt_id") not in exited:
                pid, started = entry.get("pid"), entry.get("started_at_ms")
                if isinstance(pid, int) and isinstance(started, int) and same_process(pid, started):
                    kill_group(pid, signal.SIGKILL)
        os.ftruncate(self.journal_fd, 0)

    def _journal_entries(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        with open(self.paths.launches, "rb") as handle:
            for raw in handle:
                with contextlib.suppress(ValueError):
                    value = json.loads(raw)
                    if isinstance(value, dict):
                        entries.append(value)
        return entries

    # -- attempt callbacks -----------------------------------------------------------------

    def _lines(self, attempt: AttemptProcess, records: list[list[object]]) -> None:
        conn = self.subscribers.get(attempt.spec.attempt_id)
        if conn is not None:
            conn.send({"op": "out", "attempt_id": attempt.spec.attempt_id, "lines": records})

    def _exited(self, attempt: AttemptProcess, exit: AttemptExit) -> None:
        attempt_id = exit.attempt_id
        if self.running.pop(attempt_id, None) is not None and attempt.spec.gate_vcpus is not None:
            gate = self.gates.get(attempt.spec.compute_environment)
            if gate is not None:
                gate.used = max(gate.used - attempt.spec.vcpus, 0.0)
                self._pump(gate)
        if attempt_id in self.discard:
            self.discard.discard(attempt_id)
            self.subscribers.pop(attempt_id, None)
            attempt.files.remove()
        else:
            record = encode_value(exit.to_json())
            self.exits.record(record)
            self.finished[attempt_id] = exit
            conn = self.subscribers.get(attempt_id)
            if conn is not None:
                conn.send_frame(b'{"op":"exit","exit":' + record + b"}\n")
        if not self.running:
            os.ftruncate(self.journal_fd, 0)
        if not self.running and not self.held:
            self.idle_since = time.monotonic()
            for conn, request_id in self.shutting_down:
                conn.send({"op": "bye", "id": request_id})
            if self.shutting_down:
                self.loop.call_soon(self.done.set)

    # -- requests --------------------------------------------------------------------------

    def handle(self, conn: Connection, message: dict[str, Any]) -> None:
        op = message["op"]
        if op == "launch":
            self.launch(conn, message)
        elif op == "ack":
            self.acknowledge(message.get("attempt_ids", []))
        elif op == "stop":
            held = self.held.get(message["attempt_id"])
            if held is not None:
                self._cancel_held(held, str(message.get("reason", "")))
            attempt = self.running.get(message["attempt_id"])
            if attempt is not None:
                attempt.stop(str(message.get("reason", "")))
        elif op == "recover":
            self.recover(conn, message)
        elif op == "hello":
            conn.send(
                {
                    "op": "hello",
                    "id": message.get("id"),
                    "host_id": self.host_id,
                    "container_instance_id": self.container_instance_id,
                    "agent_pid": os.getpid(),
                }
            )
        elif op == "shutdown":
            self.shutdown(conn, int(message.get("id", 0)))
        else:
            conn.send({"op": "error", "id": message.get("id"), "message": f"unknown op {op!r}"})

    def launch(self, conn: Connection, message: dict[str, Any]) -> None:
        request_id = message.get("id")
        try:
            spec = LaunchSpec.from_json(message["spec"])
        except Exception as error:
            conn.send({"op": "error", "id": request_id, "message": f"invalid launch spec: {error}"})
            return
        attempt_id = spec.attempt_id
        existing = self.running.get(attempt_id) or self.held.get(attempt_id)
        if existing is not None:
            self.subscribers[attempt_id] = conn
            if attempt_id in self.held:
                self.launch_waiters.setdefault(attempt_id, []).append((conn, request_id))
            else:
                conn.send(self._launched(request_id, attempt_id, existing.pid, existing.started_at_ms))
            return
        finished = self.finished.get(attempt_id)
        if finished is not None:
            self.subscribers[attempt_id] = conn
            conn.send(self._launched(request_id, attempt_id, None, finished.started_at_ms))
            conn.send({"op": "exit", "exit": finished.to_json()})
            return
        files = self.paths.attempt_files(attempt_id)
        attempt = AttemptProcess(
            spec, self.journal_fd, files, self.loop, self._lines, self._exited, self.launcher, self.watcher
        )
        self.subscribers[attempt_id] = conn
        self.launch_waiters[attempt_id] = [(conn, request_id)]
        if spec.gate_vcpus is not None:
            gate = self.gates.get(spec.compute_environment)
            if gate is None:
                gate = self.gates[spec.compute_environment] = Gate(spec.gate_vcpus)
            gate.capacity = spec.gate_vcpus
            self.held[attempt_id] = attempt
            gate.waiting.append(attempt)
            self._pump(gate)
            return
        self.running[attempt_id] = attempt
        attempt.spawn()
        self._spawned(attempt)

    def _pump(self, gate: Gate) -> None:
        """Start the gate's held launches, in order, while its started vCPUs stay within capacity.

        A launch larger than the whole capacity starts alone, so that it cannot block the gate.
        """
        while gate.waiting:
            attempt = gate.waiting[0]
            need = attempt.spec.vcpus
            if gate.used > 1e-9 and gate.used + need > gate.capacity + 1e-9:
                return
            gate.waiting.popleft()
            attempt_id = attempt.spec.attempt_id
            del self.held[attempt_id]
            gate.used += need
            self.running[attempt_id] = attempt
            attempt.spawn()
            self._spawned(attempt)

    def _cancel_held(self, attempt: AttemptProcess, reason: str, *, report: bool = True) -> None:
        """End a held launch without running it: its launch is answered (no start), then its exit.

        With ``report`` false (the server does not know the attempt) it is dropped without a record.
        """
        attempt_id = attempt.spec.attempt_id
        del self.held[attempt_id]
        gate = self.gates.get(attempt.spec.compute_environment)
        if gate is not None:
            with contextlib.suppress(ValueError):
                gate.waiting.remove(attempt)
        if not report:
            self.subscribers.pop(attempt_id, None)
            self.launch_waiters.pop(attempt_id, None)
            if not self.running and not self.held:
                self.idle_since = time.monotonic()
            return
        self._spawned(attempt)
        attempt.cancel_unstarted(reason)

    def _spawned(self, attempt: AttemptProcess) -> None:
        """The process runs (or could not start): answer every launch request waiting for it."""
        attempt_id = attempt.spec.attempt_id
        for conn, request_id in self.launch_waiters.pop(attempt_id, []):
            conn.send(self._launched(request_id, attempt_id, attempt.pid, attempt.started_at_ms))

    @staticmethod
    def _launched(request_id: Any, attempt_id: str, pid: int | None, started: int | None) -> dict[str, Any]:
        reply: dict[str, Any] = {"op": "launched", "id": request_id, "attempt_id": attempt_id}
        reply.update(pid=pid, started_at_ms=started)
        return reply

    def acknowledge(self, attempt_ids: Sequence[str]) -> None:
        """Forget acknowledged exits: journal the acknowledgement, remove their output logs."""
        acked: list[str] = []
        for attempt_id in attempt_ids:
            exit = self.finished.pop(attempt_id, None)
            if exit is None:
                continue
            acked.append(attempt_id)
            self.subscribers.pop(attempt_id, None)
            if attempt_id in self.exit_files:
                self.exit_files.discard(attempt_id)
                self.paths.attempt_files(attempt_id).remove()
            elif exit.output_lines:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.paths.attempt_files(attempt_id).output)
        if acked:
            self.exits.acknowledge(acked, self.finished)

    def recover(self, conn: Connection, message: dict[str, Any]) -> None:
        known: dict[str, int] = {str(k): int(v) for k, v in message.get("known", {}).items()}
        for attempt_id, held in list(self.held.items()):
            if attempt_id not in known:
                self._cancel_held(held, UNKNOWN_TO_SERVER, report=False)
        for attempt_id, attempt in list(self.running.items()):
            if attempt_id not in known:
                self.discard.add(attempt_id)
                self.subscribers.pop(attempt_id, None)
                attempt.stop(UNKNOWN_TO_SERVER)
        self.acknowledge([a for a in self.finished if a not in known])
        states: dict[str, str] = {}
        exits: dict[str, Any] = {}
        pids: dict[str, Any] = {}
        started: dict[str, Any] = {}
        backlog: list[dict[str, Any]] = []
        for attempt_id, last_seq in known.items():
            running = self.running.get(attempt_id) or self.held.get(attempt_id)
            exit = self.finished.get(attempt_id)
            if running is None and exit is None:
                states[attempt_id] = "unknown"
                continue
            self.subscribers[attempt_id] = conn
            records = read_output(self.paths.attempt_files(attempt_id).output, last_seq)
            if records:
                backlog.append({"op": "out", "attempt_id": attempt_id, "lines": records})
            if running is not None:
                states[attempt_id] = "running"
                pids[attempt_id] = running.pid
                started[attempt_id] = running.started_at_ms
            else:
                assert exit is not None
                states[attempt_id] = "exited"
                exits[attempt_id] = exit.to_json()
                started[attempt_id] = exit.started_at_ms
                backlog.append({"op": "exit", "exit": exit.to_json()})
        conn.send(
            {
                "op": "recovered",
                "id": message.get("id"),
                "states": states,
                "exits": exits,
                "pids": pids,
                "started": started,
            }
        )
        for item in backlog:
            conn.send(item)

    def shutdown(self, conn: Connection, request_id: int) -> None:
        for held in list(self.held.values()):
            self._cancel_held(held, AGENT_SHUTDOWN)
        self.shutting_down.append((conn, request_id))
        if not self.running:
            conn.send({"op": "bye", "id": request_id})
            self.loop.call_soon(self.done.set)
            return
        for attempt in list(self.running.values()):
            attempt.kill_now(AGENT_SHUTDOWN)

    # -- serving ---------------------------------------------------------------------------

    def connected(self, transport: asyncio.WriteTransport) -> Connection:
        conn = Connection(transport, self.loop)
        self.connections.add(conn)
        return conn

    def disconnected(self, conn: Connection) -> None:
        conn.closed = True
        self.connections.discard(conn)
        for attempt_id in [a for a, c in self.subscribers.items() if c is conn]:
            del self.subscribers[attempt_id]
        self.idle_since = time.monotonic()
        conn.writer.close()

    def _serve_frame(self, conn: Connection, frame: bytes) -> None:
        try:
            message = decode(frame)
        except ValueError as error:
            conn.send({"op": "error", "message": f"bad frame: {error}"})
            return
        try:
            self.handle(conn, message)
        except Exception as error:
            print(f"agent: {message.get('op')} failed: {error!r}", file=sys.stderr, flush=True)
            conn.send({"op": "error", "id": message.get("id"), "message": str(error)})

    async def sample_memory(self) -> None:
        """Kill any attempt whose process group's resident memory exceeds its MEMORY limit."""
        while True:
            await asyncio.sleep(self.sample_interval)
            limited = {a.pid: a for a in self.running.values() if a.spec.memory_mib and a.pid is not None}
            if not limited:
                continue
            for pgid, used in group_rss_mib(set(limited)).items():
                attempt = limited[pgid]
                assert attempt.spec.memory_mib is not None
                if used > attempt.spec.memory_mib:
                    attempt.out_of_memory()

    async def watch_idle(self) -> None:
        while not self.done.is_set():
            await asyncio.sleep(min(1.0, self.idle_timeout / 4))
            idle = not self.connections and not self.running and not self.held
            if idle and time.monotonic() - self.idle_since >= self.idle_timeout:
                self.done.set()


class ServerProtocol(asyncio.Protocol):
    """One server's connection: frames are handled as they arrive, in the callback that reads them."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.conn: Connection | None = None
        self.splitter = FrameSplitter()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        self.conn = self.agent.connected(transport)

    def data_received(self, data: bytes) -> None:
        conn = self.conn
        if conn is None or conn.closed:
            return
        try:
            frames = self.splitter.feed(data)
        except ValueError:
            conn.writer.close()
            return
        for frame in frames:
            self.agent._serve_frame(conn, frame)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.agent.disconnected(self.conn)
            self.conn = None


async def serve(paths: AgentPaths, idle_timeout: float, sample_interval: float) -> None:
    agent = Agent(paths, idle_timeout, sample_interval)
    agent.load_records()
    with contextlib.suppress(FileNotFoundError):
        paths.socket.unlink()
    address = SocketAddress(paths.socket)
    with address as path:
        server = await agent.loop.create_unix_server(lambda: ServerProtocol(agent), path=path)
    tasks = [asyncio.create_task(agent.sample_memory()), asyncio.create_task(agent.watch_idle())]
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, agent.done.set)
    try:
        await agent.done.wait()
    finally:
        server.close()
        with contextlib.suppress(FileNotFoundError):
            paths.socket.unlink()
        for task in tasks:
            task.cancel()
        await asyncio.sleep(0.05)
        for conn in list(agent.connections):
            conn.writer.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="batchbridge-agent", description="batchbridge host agent")
    parser.add_argument("--root", type=Path, required=True, help="the agent folder, <data_dir>/agent")
    parser.add_argument("--idle-timeout", type=float, default=60.0)
    parser.add_argument("--sample-interval", type=float, default=0.1)
    args = parser.parse_args(argv)
    paths = AgentPaths(args.root.resolve())
    paths.root.mkdir(parents=True, exist_ok=True)
    lock_fd = os.open(paths.pidfile, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("another agent already serves this folder", file=sys.stderr)
        return 0
    os.ftruncate(lock_fd, 0)
    os.write(lock_fd, f"{os.getpid()}\n".encode())
    try:
        asyncio.run(serve(paths, args.idle_timeout, args.sample_interval))
    finally:
        os.ftruncate(lock_fd, 0)
        os.close(lock_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
