"""One attempt's process group inside the host agent: spawn, pump output, enforce limits, reap.

The rules emulated are those of an ECS task on an AWS Batch host:

* The command runs as its own process group (``setsid``), so that stopping the attempt reaches
  every process it started.  When the main process exits, whatever is left of the group is killed
  with SIGKILL: no process outlives its attempt (a container's processes die with it).
* Stop and timeout: SIGTERM to the group, then SIGKILL after the grace (AWS Batch "Job timeouts":
  "SIGTERM ... then SIGKILL 30 seconds later"; the grace comes from the launch spec).
* MEMORY is a hard limit: the resident memory of the whole group is sampled (by the agent, every
  ~100 ms, from ``/proc/<pid>/stat``) and the group is killed with SIGKILL as soon as it exceeds
  the limit; the container reason is ``OutOfMemoryError: Container killed due to memory usage`` and
  the exit code 137, as ECS reports an OOM kill.
* A process killed by signal N reports exit code 128 + N, as Docker does.
* A command that cannot be executed ends as ``Task failed to start`` with the container reason
  ``CannotStartContainerError: ...`` and no exit code.

Processes are spawned with :class:`subprocess.Popen` from the agent itself (no interpreter per
attempt), on spawner threads so that the agent's loop keeps reaping and answering while a fork and
exec are under way, and reaped through a pidfd watched by the agent's event loop, so spawning
costs little more than the fork and exec themselves.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Callable
from typing import IO

from batchbridge.executors.base import (
    CANNOT_START_PREFIX,
    ESSENTIAL_CONTAINER_EXITED,
    OOM_REASON,
    SIGKILL_EXIT_CODE,
    TASK_FAILED_TO_START,
    TIMEOUT_STATUS_REASON,
    AttemptExit,
    LaunchSpec,
    now_ms,
)
from batchbridge.executors.protocol import MAX_LINE_BYTES, AttemptFiles

#: How long output pipes may stay open after the main process exited and its group was killed
#: (a process that left the group with ``setsid`` could hold them forever).
PIPE_DRAIN_SECONDS = 2.0

LineSink = Callable[["AttemptProcess", list[list[object]]], None]
ExitSink = Callable[["AttemptProcess", AttemptExit], None]


_DEVNULL: list[int] = []


def _devnull() -> int:
    """One read-only ``/dev/null`` descriptor shared by every spawn (one open less per attempt)."""
    if not _DEVNULL:
        _DEVNULL.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
    return _DEVNULL[0]


def kill_group(pgid: int, sig: int) -> None:
    """Send ``sig`` to process group ``pgid``; a group that is already gone is not an error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def cannot_start_reason(spec: LaunchSpec, error: OSError) -> str:
    """Docker's wording for an exec failure, under ECS's ``CannotStartContainerError`` prefix."""
    program = spec.command[0]
    if isinstance(error, FileNotFoundError) and error.filename == str(spec.workdir):
        detail = f"chdir to cwd ({spec.workdir}) set in config.json failed: no such file or directory"
    elif isinstance(error, FileNotFoundError):
        detail = f'exec: "{program}": executable file not found in $PATH'
    elif isinstance(error, PermissionError):
        detail = f'exec: "{program}": permission denied'
    else:
        detail = f'exec: "{program}": {error.strerror or error}'
    return (
        f"{CANNOT_START_PREFIX}Error response from daemon: failed to create task for container: "
        f"OCI runtime create failed: unable to start container process: {detail}: unknown"
    )


class AttemptProcess:
    """A running attempt: its process, its output file, its timers and how it ended."""

    def __init__(
        self,
        spec: LaunchSpec,
        journal_fd: int,
        files: AttemptFiles,
        loop: asyncio.AbstractEventLoop,
        on_lines: LineSink,
        on_exit: ExitSink,
    ) -> None:
        self.spec = spec
        self._journal_fd = journal_fd
        self.files = files
        self.loop = loop
        self._on_lines = on_lines
        self._on_exit = on_exit
        self.pid: int | None = None
        self.started_at_ms: int | None = None
        self.seq = 0
        self.exit: AttemptExit | None = None
        self.timed_out = False
        self.oom = False
        self.stopped = False
        self.stop_reason = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._pidfd = -1
        self._out_fd = -1
        self._pipes: dict[int, tuple[str, bytearray, IO[bytes]]] = {}
        self._returncode: int | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self._terminating = False
        self._spawning = False
        self._pending_stop: tuple[str, str] | None = None

    @property
    def running(self) -> bool:
        return self.exit is None

    @property
    def spawning(self) -> bool:
        """The process is being started on a spawner thread (no pid yet)."""
        return self._spawning

    def spawn(self) -> None:
        """Start the command; on failure the attempt ends at once as ``Task failed to start``."""
        try:
            proc, started = self._start_process()
        except OSError as error:
            self._finish_failed_start(cannot_start_reason(self.spec, error))
            return
        self._attach(proc, started)

    def spawn_in(self, pool: concurrent.futures.Executor, done: Callable[[AttemptProcess], None]) -> None:
        """Start the command on one of ``pool``'s threads; ``done(self)`` runs on the loop after.

        ``fork``/``exec`` and the working folder's creation take a millisecond or more; on a
        thread they leave the agent's loop free to reap, read output and answer in the meantime.
        A stop requested while the process is being started applies as soon as it runs.
        """
        self._spawning = True
        future = pool.submit(self._start_process)

        def finished(fut: concurrent.futures.Future[tuple[subprocess.Popen[bytes], int]]) -> None:
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._spawned, fut, done)

        future.add_done_callback(finished)

    def _spawned(
        self,
        future: concurrent.futures.Future[tuple[subprocess.Popen[bytes], int]],
        done: Callable[[AttemptProcess], None],
    ) -> None:
        self._spawning = False
        error = future.exception() if not future.cancelled() else OSError("the host agent is stopping")
        if error is None:
            self._attach(*future.result())
        elif isinstance(error, OSError):
            self._finish_failed_start(cannot_start_reason(self.spec, error))
        else:
            self._finish_failed_start(f"{CANNOT_START_PREFIX}{error}")
        done(self)

    def _start_process(self) -> tuple[subprocess.Popen[bytes], int]:
        """Create the working folder and start the process group (thread-safe, no loop access)."""
        spec = self.spec
        try:
            os.mkdir(spec.workdir)
        except FileExistsError:
            pass
        except FileNotFoundError:
            spec.workdir.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(
            spec.command,
            env=spec.environment,
            cwd=spec.workdir,
            stdin=_devnull(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        return proc, now_ms()

    def _attach(self, proc: subprocess.Popen[bytes], started_at_ms: int) -> None:
        """Journal the new process and watch its pipes, its exit and its timeout on the loop."""
        spec = self.spec
        self._proc = proc
        self.pid = proc.pid
        self.started_at_ms = started_at_ms
        entry = {"attempt_id": spec.attempt_id, "pid": proc.pid, "started_at_ms": self.started_at_ms}
        os.write(self._journal_fd, json.dumps(entry).encode() + b"\n")
        for pipe, stream in ((proc.stdout, "o"), (proc.stderr, "e")):
            assert pipe is not None
            fd = pipe.fileno()
            os.set_blocking(fd, False)
            self._pipes[fd] = (stream, bytearray(), pipe)
            self.loop.add_reader(fd, self._read, fd)
        self._pidfd = os.pidfd_open(proc.pid)
        self.loop.add_reader(self._pidfd, self._reap)
        if spec.timeout_seconds is not None:
            self._timers.append(self.loop.call_later(spec.timeout_seconds, self._time_out))
        pending, self._pending_stop = self._pending_stop, None
        if pending is not None:
            kind, reason = pending
            if kind == "kill":
                self.kill_now(reason)
            else:
                self.stop(reason)

    # -- termination -----------------------------------------------------------------------

    def stop(self, reason: str) -> None:
        """Stop by request: SIGTERM, SIGKILL after the grace; the exit carries ``reason``."""
        if self._spawning:
            if self._pending_stop is None:
                self._pending_stop = ("stop", reason)
            return
        if not self.running or self._terminating or self.pid is None:
            return
        self.stopped = True
        self.stop_reason = reason
        self._terminate()

    def kill_now(self, reason: str) -> None:
        """Stop by request with SIGKILL and no grace (the agent is shutting down)."""
        if self._spawning:
            self._pending_stop = ("kill", reason)
            return
        if not self.running or self.pid is None:
            return
        if not self._terminating:
            self.stopped = True
            self.stop_reason = reason
        self._terminating = True
        kill_group(self.pid, signal.SIGKILL)

    def out_of_memory(self) -> None:
        if not self.running or self.pid is None or self.oom:
            return
        self.oom = True
        self._terminating = True
        kill_group(self.pid, signal.SIGKILL)

    def _time_out(self) -> None:
        if self.running and not self._terminating:
            self.timed_out = True
            self._terminate()

    def _terminate(self) -> None:
        assert self.pid is not None
        self._terminating = True
        grace = self.spec.kill_grace_seconds
        if grace <= 0:
            kill_group(self.pid, signal.SIGKILL)
            return
        kill_group(self.pid, signal.SIGTERM)
        self._timers.append(self.loop.call_later(grace, kill_group, self.pid, signal.SIGKILL))

    # -- output ----------------------------------------------------------------------------

    def _read(self, fd: int) -> None:
        stream, partial, _ = self._pipes[fd]
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close_pipe(fd)
            return
        partial += data
        lines: list[bytes] = []
        start = 0
        while True:
            end = partial.find(b"\n", start)
            if end < 0:
                break
            lines.append(bytes(partial[start:end]))
            start = end + 1
        del partial[:start]
        while len(partial) >= MAX_LINE_BYTES:
            lines.append(bytes(partial[:MAX_LINE_BYTES]))
            del partial[:MAX_LINE_BYTES]
        if lines:
            self._emit(stream, lines)

    def _close_pipe(self, fd: int) -> None:
        entry = self._pipes.pop(fd, None)
        if entry is None:
            return
        self.loop.remove_reader(fd)
        stream, partial, pipe = entry
        pipe.close()
        if partial:
            self._emit(stream, [bytes(partial)])
        self._maybe_finish()

    def _emit(self, stream: str, raw_lines: list[bytes]) -> None:
        stamp = now_ms()
        records: list[list[object]] = []
        for raw in raw_lines:
            self.seq += 1
            text = raw.decode("utf-8", errors="replace")
            if text.endswith("\r"):
                text = text[:-1]
            records.append([self.seq, stamp, stream, text])
        blob = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records)
        if self._out_fd < 0:
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
            self._out_fd = os.open(self.files.output, flags, 0o644)
        os.write(self._out_fd, blob)
        self._on_lines(self, records)

    # -- exit ------------------------------------------------------------------------------

    def _reap(self) -> None:
        assert self._proc is not None and self.pid is not None
        self.loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = -1
        kill_group(self.pid, signal.SIGKILL)
        self._returncode = self._proc.wait()
        self._proc = None
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if self._pipes:
            self._timers.append(self.loop.call_later(PIPE_DRAIN_SECONDS, self._abandon_pipes))
        self._maybe_finish()

    def _abandon_pipes(self) -> None:
        for fd in list(self._pipes):
            self._close_pipe(fd)

    def _maybe_finish(self) -> None:
        if self._returncode is None or self._pipes or self.exit is not None:
            return
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        code = self._returncode
        exit_code = 128 - code if code < 0 else code
        reason: str | None = None
        status_reason = ESSENTIAL_CONTAINER_EXITED
        if self.oom:
            reason = OOM_REASON
            exit_code = SIGKILL_EXIT_CODE
        elif self.timed_out:
            status_reason = TIMEOUT_STATUS_REASON
        elif self.stopped:
            status_reason = self.stop_reason
        self._finish(
            AttemptExit(
                attempt_id=self.spec.attempt_id,
                exit_code=exit_code,
                reason=reason,
                status_reason=status_reason,
                started_at_ms=self.started_at_ms,
                stopped_at_ms=now_ms(),
                timed_out=self.timed_out,
                oom=self.oom,
                stopped=self.stopped,
                output_lines=self.seq,
            )
        )

    def cancel_unstarted(self, reason: str) -> None:
        """End an attempt that was never started (a held launch stopped): no exit code, no start."""
        self.stopped = True
        self.stop_reason = reason
        self._finish(
            AttemptExit(
                attempt_id=self.spec.attempt_id,
                exit_code=None,
                reason=None,
                status_reason=reason,
                started_at_ms=None,
                stopped_at_ms=now_ms(),
                stopped=True,
            )
        )

    def _finish_failed_start(self, reason: str) -> None:
        """The failed start is reported on the next loop pass, after the launch reply."""
        self.loop.call_soon(
            self._finish,
            AttemptExit(
                attempt_id=self.spec.attempt_id,
                exit_code=None,
                reason=reason,
                status_reason=TASK_FAILED_TO_START,
                started_at_ms=None,
                stopped_at_ms=now_ms(),
            ),
        )

    def _finish(self, exit: AttemptExit) -> None:
        if self._out_fd >= 0:
            os.close(self._out_fd)
            self._out_fd = -1
        self.exit = exit
        self._on_exit(self, exit)


def group_rss_mib(pgids: set[int]) -> dict[int, float]:
    """Resident memory of every process group in ``pgids``, in MiB, from ``/proc/*/stat``.

    Field 5 of ``stat`` is the process group and field 24 the resident set in pages.
    """
    page = os.sysconf("SC_PAGE_SIZE")
    totals: dict[int, int] = dict.fromkeys(pgids, 0)
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        fields = data[data.rindex(b")") + 2 :].split()
        pgrp = int(fields[2])
        if pgrp in totals:
            totals[pgrp] += int(fields[21])
    return {pgid: pages * page / (1024 * 1024) for pgid, pages in totals.items()}
