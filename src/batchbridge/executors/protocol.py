"""The host agent's wire protocol and on-disk layout, shared by the agent and the local executor.

Transport: a unix stream socket, ``<data_dir>/agent/agent.sock``.  Framing: newline-delimited JSON,
one object per line, UTF-8.  Every object has an ``op``.  Requests that expect a reply carry an
integer ``id`` that the reply repeats.  Both sides batch: all messages produced during one pass of
the event loop leave in a single write.

Server to agent:

* ``{"op": "hello", "id": n}`` -> ``{"op": "hello", "id": n, "host_id", "container_instance_id",
  "agent_pid"}``
* ``{"op": "launch", "id": n, "spec": {LaunchSpec}}`` -> ``{"op": "launched", "id": n,
  "attempt_id", "pid", "started_at_ms"}`` (``pid``/``started_at_ms`` null when the command could not
  be started; the attempt's exit follows).  Launching an attempt id the agent already holds answers
  with that attempt's record and starts nothing.
* ``{"op": "stop", "attempt_id", "reason"}`` (no reply; the exit follows).
* ``{"op": "recover", "id": n, "known": {attempt_id: last_seq}}`` -> ``{"op": "recovered", "id": n,
  "states": {attempt_id: "running" | "exited" | "unknown"}, "exits": {attempt_id: {AttemptExit}},
  "pids": {attempt_id: pid}, "started": {attempt_id: ms}}``, then the missed output lines and exits.
* ``{"op": "ack", "attempt_ids": [...]}`` (no reply): the server durably recorded those exits.
* ``{"op": "shutdown", "id": n}`` -> ``{"op": "bye", "id": n}`` once every attempt is killed.

Agent to server:

* ``{"op": "out", "attempt_id", "lines": [[seq, timestamp_ms, "o" | "e", message], ...]}``
* ``{"op": "exit", "exit": {AttemptExit}}``

Files under ``<data_dir>/agent/``: ``agent.pid`` (holds the agent's pid; the agent keeps an
exclusive ``flock`` on it, so at most one agent runs per data folder), ``agent.sock``, ``agent.log``
(the agent's own diagnostics), ``host.json`` (the stable ``container_instance_id``) and
``launches.log`` (one JSON object ``{"attempt_id", "pid", "started_at_ms"}`` per spawn, append-only,
emptied whenever nothing runs; it lets a new agent kill the processes of an agent that died),
``exits.log`` (the exit journal, see :class:`ExitJournal`) and ``attempts/`` with, per attempt that
wrote output, ``<attempt_id>.output.log`` (one JSON array ``[seq, timestamp_ms, "o" | "e", message]``
per line, append-only, created with the first line).  An agent also takes over the
``<attempt_id>.exit.json`` records of earlier versions (one file per unacknowledged exit).  A short
attempt that writes nothing costs no file of its own: no inode is created or freed for it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import json.encoder
import json.scanner
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from batchbridge.executors.base import AttemptExit, Stream

#: Longest message line accepted on the socket (a launch spec with a large environment fits).
MAX_FRAME = 64 * 1024 * 1024
#: Longest output line kept whole; longer lines are split (CloudWatch Logs caps events at 256 KiB).
MAX_LINE_BYTES = 256 * 1024
#: Unix socket paths longer than this are reached through ``/proc/self/fd/<dirfd>/``.
_MAX_SOCKET_PATH = 100

STREAM_CODES = {"stdout": "o", "stderr": "e"}
STREAM_NAMES: dict[str, Stream] = {"o": "stdout", "e": "stderr"}


@dataclasses.dataclass(frozen=True)
class AgentPaths:
    """Where one data folder's agent keeps its files."""

    root: Path

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> AgentPaths:
        return cls(Path(data_dir) / "agent")

    @property
    def pidfile(self) -> Path:
        return self.root / "agent.pid"

    @property
    def socket(self) -> Path:
        return self.root / "agent.sock"

    @property
    def log(self) -> Path:
        return self.root / "agent.log"

    @property
    def host(self) -> Path:
        return self.root / "host.json"

    @property
    def launches(self) -> Path:
        return self.root / "launches.log"

    @property
    def spare(self) -> Path:
        """Empty folders kept for reuse as working folders (see ``process.FolderPool``)."""
        return self.root / "spare"

    @property
    def exits(self) -> Path:
        return self.root / "exits.log"

    @functools.cached_property
    def attempts(self) -> Path:
        return self.root / "attempts"

    def attempt_files(self, attempt_id: str) -> AttemptFiles:
        return AttemptFiles(self.attempts, attempt_id)


RECORD_SUFFIXES = (".output.log", ".exit.json", ".exit.json.tmp")


def attempt_id_of(file_name: str) -> str | None:
    """The attempt a record file belongs to, or None for a file that is not a record."""
    for suffix in RECORD_SUFFIXES:
        if file_name.endswith(suffix):
            return file_name[: -len(suffix)] or None
    return None


@dataclasses.dataclass(frozen=True)
class AttemptFiles:
    """The records the agent keeps for one attempt."""

    folder: Path
    attempt_id: str

    @property
    def output(self) -> Path:
        return self.folder / f"{self.attempt_id}.output.log"

    @property
    def exit(self) -> Path:
        return self.folder / f"{self.attempt_id}.exit.json"

    def remove(self) -> None:
        for path in (self.exit, self.output):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


class ExitJournal:
    """The agent's record of exits not yet acknowledged: one append-only file, one write per change.

    Each line is one JSON object: ``{"exit": {AttemptExit}}`` when an exit is recorded (before it is
    sent) and ``{"ack": [attempt_id, ...]}`` when the server acknowledges exits.  Replaying the lines
    gives the unacknowledged exits.  A single ``write`` on an ``O_APPEND`` descriptor either lands
    whole or not at all when the agent is killed, and a line that does not parse is skipped.  Once
    every recorded exit is acknowledged and the file exceeds :attr:`compact_bytes` it is emptied; a
    file past :attr:`rewrite_bytes` with exits still pending is rewritten with those exits only
    (to a temporary name, then renamed over it).
    """

    compact_bytes = 256 * 1024
    rewrite_bytes = 8 * 1024 * 1024

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        self._size = os.fstat(self._fd).st_size

    def replay(self) -> dict[str, AttemptExit]:
        """The exits recorded and not acknowledged, keyed by attempt id, in the order recorded."""
        pending: dict[str, AttemptExit] = {}
        with open(self.path, "rb") as handle:
            for raw in handle:
                try:
                    entry = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(entry, dict):
                    continue
                if isinstance(entry.get("exit"), dict):
                    try:
                        exit = AttemptExit.from_json(entry["exit"])
                    except TypeError:
                        continue
                    pending[exit.attempt_id] = exit
                for attempt_id in entry.get("ack") or ():
                    pending.pop(attempt_id, None)
        return pending

    def _append(self, data: bytes) -> None:
        os.write(self._fd, data)
        self._size += len(data)

    def record(self, exit: dict[str, Any] | bytes) -> None:
        """Append an exit: an :meth:`AttemptExit.to_json` record, or that record already encoded
        (:func:`encode_value`)."""
        body = exit if isinstance(exit, bytes) else encode_value(exit)
        self._append(b'{"exit":' + body + b"}\n")

    def acknowledge(self, attempt_ids: list[str], pending: Mapping[str, AttemptExit]) -> None:
        """Record acknowledgements; ``pending`` holds the exits still unacknowledged after them."""
        if not pending and self._size >= self.compact_bytes:
            os.ftruncate(self._fd, 0)
            self._size = 0
            return
        self._append(encode_line({"ack": attempt_ids}))
        if self._size >= self.rewrite_bytes:
            self.rewrite(list(pending.values()))

    def rewrite(self, exits: list[AttemptExit]) -> None:
        """Replace the file with one line per exit in ``exits``."""
        data = b"".join(encode_line({"exit": exit.to_json()}) for exit in exits)
        write_atomic(self.path, data)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        fd = os.open(self.path, flags, 0o644)
        os.close(self._fd)
        self._fd = fd
        self._size = len(data)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class SocketAddress:
    """A unix socket path usable with bind/connect, even when the real path exceeds ``sun_path``.

    Linux limits socket paths to 107 bytes; test folders and deep data folders exceed that.  A long
    path is reached as ``/proc/self/fd/<fd>/agent.sock`` through an open descriptor of its folder.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._dirfd: int | None = None

    def __enter__(self) -> str:
        text = str(self.path)
        if len(text.encode()) <= _MAX_SOCKET_PATH:
            return text
        self._dirfd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        return f"/proc/self/fd/{self._dirfd}/{self.path.name}"

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._dirfd is not None:
            os.close(self._dirfd)
            self._dirfd = None


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_MAKE_C_ENCODER: Any = getattr(json.encoder, "c_make_encoder", None)
#: The C encoder ``json`` builds for one ``dumps`` call, built once: the same text without
#: constructing an encoder per message (``None`` when the C accelerator is missing).
_C_ENCODE: Callable[[Any, int], Sequence[str]] | None = (
    None
    if _MAKE_C_ENCODER is None
    else _MAKE_C_ENCODER(
        None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )
)


def _dumps(value: dict[str, Any]) -> str:
    """``json.dumps(value, separators=(",", ":"), ensure_ascii=False)``."""
    if _C_ENCODE is not None:
        return "".join(_C_ENCODE(value, 0))
    return _ENCODER.encode(value)


def encode_value(value: dict[str, Any]) -> bytes:
    """Compact JSON of ``value``, as it appears inside a frame or a journal line."""
    return _dumps(value).encode()


def encode(message: dict[str, Any]) -> bytes:
    """One frame: compact JSON and a newline."""
    return (_dumps(message) + "\n").encode()


def encode_line(value: dict[str, Any]) -> bytes:
    """One journal line: compact JSON and a newline, as a frame is."""
    return encode(value)


class FrameSplitter:
    """Cuts a byte stream into frames: whole lines, read in chunks of whatever the socket holds.

    One ``read`` of up to :data:`READ_CHUNK` bytes serves every frame that arrived together, instead
    of one ``readline`` (and one wake-up of the reading task) per frame.
    """

    def __init__(self) -> None:
        self._partial = b""

    def feed(self, data: bytes) -> list[bytes]:
        """The complete frames in ``data`` (after what was left over); a frame over MAX_FRAME raises."""
        if self._partial:
            data = self._partial + data
        end = data.rfind(b"\n")
        if end < 0:
            self._partial = data
            frames: list[bytes] = []
        else:
            self._partial = data[end + 1 :]
            frames = data[:end].split(b"\n")
        if len(self._partial) > MAX_FRAME:
            raise ValueError(f"agent protocol frame longer than {MAX_FRAME} bytes")
        return frames


#: Bytes asked of the socket per read.
READ_CHUNK = 256 * 1024


_SCAN: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(cast(Any, json.JSONDecoder()))


def decode(frame: bytes) -> dict[str, Any]:
    """One frame's object; a frame that is not a JSON object with a string ``op`` raises ValueError.

    A UTF-8 frame holding exactly one value is scanned directly; anything else (surrounding
    whitespace, another encoding, invalid JSON) goes through ``json.loads`` for its exact answer.
    """
    value: Any
    try:
        text = frame.decode()
        value, end = _SCAN(text, 0)
        if end != len(text):
            raise ValueError
    except (ValueError, StopIteration):
        value = json.loads(frame)
    if not isinstance(value, dict) or not isinstance(value.get("op"), str):
        raise ValueError("agent protocol frame must be a JSON object with an 'op'")
    return value


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either nothing or all of it."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def stat_fields(data: bytes) -> list[bytes]:
    """The fields of a ``/proc/<pid>/stat`` text after the command name: the state first."""
    return data[data.rindex(b")") + 2 :].split()


def every_process_stat() -> Iterator[list[bytes]]:
    """:func:`stat_fields` of every process now running (those that end meanwhile are skipped)."""
    flags = os.O_RDONLY | os.O_CLOEXEC
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            fd = os.open(f"/proc/{name}/stat", flags)
        except OSError:
            continue
        try:
            data = _read_all(fd)
        except OSError:
            continue
        finally:
            os.close(fd)
        if data:
            yield stat_fields(data)


def _read_all(fd: int) -> bytes:
    """Everything left to read from ``fd`` (a ``/proc`` file: one read serves it, unbuffered)."""
    data = os.read(fd, 4096)
    if len(data) < 4096:
        return data
    chunks = [data]
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def process_started_at_ms(pid: int) -> int | None:
    """When ``pid`` started, in epoch milliseconds, from /proc (None when it does not run).

    Field 22 of ``/proc/<pid>/stat`` is the start in clock ticks after boot; ``btime`` in
    ``/proc/stat`` is the boot time in epoch seconds.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
        with open("/proc/stat", "rb") as handle:
            boot = next(int(line.split()[1]) for line in handle if line.startswith(b"btime "))
    except (OSError, StopIteration, ValueError):
        return None
    fields = stat_fields(data)
    if fields[0] in (b"Z", b"X"):
        return None
    return boot * 1000 + int(fields[19]) * 1000 // os.sysconf("SC_CLK_TCK")


def same_process(pid: int, started_at_ms: int | None) -> bool:
    """True when ``pid`` is still the process that was spawned at ``started_at_ms``.

    Guards every kill of a remembered pid against pid reuse: the start times must agree within
    the boot time's one-second resolution (plus a margin).
    """
    if started_at_ms is None:
        return False
    started = process_started_at_ms(pid)
    return started is not None and abs(started - started_at_ms) <= 2500


def read_output(path: Path, after_seq: int) -> list[list[Any]]:
    """The output records of one attempt whose ``seq`` is greater than ``after_seq``."""
    records: list[list[Any]] = []
    try:
        with open(path, "rb") as handle:
            for raw in handle:
                if not raw.endswith(b"\n"):
                    break
                record = json.loads(raw)
                if record[0] > after_seq:
                    records.append(record)
    except FileNotFoundError:
        pass
    return records
