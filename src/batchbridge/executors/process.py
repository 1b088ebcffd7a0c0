"""One attempt's process group inside the host agent: spawn, pump output, enforce limits, reap.

The rules emulated are those of an ECS task on an AWS Batch host:

* The command runs as its own process group, so that stopping the attempt reaches every process
  it started.  It stays in the agent's session: a session of its own would give every attempt a
  scheduler autogroup of its own (on kernels with ``CONFIG_SCHED_AUTOGROUP``), a kernel object
  made and torn down per attempt that also puts each attempt's CPU share beyond the priority
  below.  When the main process exits, whatever is left of the group is killed
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
* CPU priority (no AWS counterpart: an AWS host runs nothing but its containers): with the launch
  spec's ``cpu_priority`` ``idle`` (the server's default) the process is moved to Linux's
  ``SCHED_IDLE`` policy as soon as it runs, and its own children inherit it.  Jobs then take the
  CPU time the rest of the machine leaves: the desktop, the server and the agent stay responsive
  under any array.  It also starts short jobs sooner: a freshly spawned process waits on its CPU
  behind a running sibling of the same policy until that one's time slice ends (EEVDF protects a
  slice once begun), while it preempts a ``SCHED_IDLE`` one at once.  ``normal`` leaves the
  default policy.

Processes are spawned from the agent itself (no interpreter per attempt) and reaped through a
pidfd watched by the agent's event loop.  The host agent, a single-threaded process, starts them
with :class:`Launcher` (``os.posix_spawn``: glibc's ``clone(CLONE_VFORK)`` and ``exec``, a third
of :class:`subprocess.Popen`'s cost in the parent) on its loop thread; the process runs before
:meth:`AttemptProcess.spawn` returns.  Without a launcher (a process that has other threads, such
as a Ray worker) :class:`subprocess.Popen` starts it, in a session of its own (a Ray node runs one
attempt per actor).  Both give the child the same start: the
attempt's working folder as current directory, ``/dev/null`` as stdin, one pipe each for stdout
and stderr, a new process group, SIGPIPE and SIGXFSZ at their defaults, no other descriptor, the
command looked up on the ``PATH`` of the attempt's own environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import select
import signal
import stat
import subprocess
import time
from collections.abc import Callable

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
from batchbridge.executors.protocol import MAX_LINE_BYTES, AttemptFiles, encode_line, every_process_stat

#: How long output pipes may stay open after the main process exited and its group was killed
#: (a process that left the group with ``setsid`` could hold them forever).
PIPE_DRAIN_SECONDS = 2.0
#: How long a command found on a ``PATH`` is started from that place without looking again.
PROGRAM_CACHE_SECONDS = 1.0
#: Signals Python ignores that a child must start with at their default action (as Popen's
#: ``restore_signals`` does).
_DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)

LineSink = Callable[["AttemptProcess", list[list[object]]], None]
ExitSink = Callable[["AttemptProcess", AttemptExit], None]


_DEVNULL: list[int] = []


def _devnull() -> int:
    """One read-only ``/dev/null`` descriptor shared by every spawn (one open less per attempt)."""
    if not _DEVNULL:
        _DEVNULL.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
    return _DEVNULL[0]


def make_workdir(path: str) -> None:
    """Create the attempt's working folder, and its parent when missing (one ``mkdir`` when it exists)."""
    try:
        os.mkdir(path)
    except FileExistsError:
        return
    except FileNotFoundError:
        parent = os.path.dirname(path)
        try:
            os.mkdir(parent)
        except FileExistsError:
            pass
        except FileNotFoundError:
            os.makedirs(parent, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(path)


class _OutputPipes:
    """Pipes for a child's stdout and stderr: ``(out_r, out_w, err_r, err_w)``.

    The write ends are closed once the block ends (the child holds its own copies); the read ends
    too when the block raises, so a failed start leaks no descriptor.
    """

    __slots__ = ("_fds",)

    def __enter__(self) -> tuple[int, int, int, int]:
        out_r, out_w = os.pipe()
        try:
            err_r, err_w = os.pipe()
        except BaseException:
            os.close(out_r)
            os.close(out_w)
            raise
        self._fds = (out_r, out_w, err_r, err_w)
        return self._fds

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        out_r, out_w, err_r, err_w = self._fds
        os.close(out_w)
        os.close(err_w)
        if exc_type is not None:
            os.close(out_r)
            os.close(err_r)


def _is_empty(path: str) -> bool:
    """Whether ``path`` is a folder with nothing in it."""
    try:
        with os.scandir(path) as entries:
            return next(entries, None) is None
    except OSError:
        return False


class FolderPool:
    """Empty folders kept for reuse as attempts' working folders (and their jobs' folders).

    Every attempt starts in a new, empty working folder ``<data>/jobs/<job id>/attempt-<n>``.
    Creating a directory is dear on some filesystems (on ext4 about 130 µs of CPU, the allocator
    choosing where the new directory goes, against about 7 µs to rename one), and a stream of
    short attempts creates two per attempt.  So an attempt whose working folder is still empty
    when it ends gives it back here, with its job's folder when that is left empty too; the next
    attempts' folders are renamed from here instead of created.  A folder is checked empty again
    when it is taken, so nothing written after its attempt ended reaches another attempt.  Folders
    that hold anything stay where they are, for the user to look at.  At most ``limit`` folders
    are kept; on another filesystem than the data folder's, the pool turns itself off.
    """

    def __init__(self, root: str, limit: int = 256) -> None:
        self.root = root
        self.limit = limit
        self._free: list[str] = []
        self._count = 0
        try:
            os.makedirs(root, exist_ok=True)
            names = os.listdir(root)
        except OSError:
            self.limit = 0
            names = []
        for name in names:
            if name.isdigit():
                self._free.append(os.path.join(root, name))
                self._count = max(self._count, int(name) + 1)

    def __len__(self) -> int:
        return len(self._free)

    def _take(self) -> str | None:
        while self._free:
            path = self._free.pop()
            if _is_empty(path):
                return path
        return None

    def make(self, path: str) -> None:
        """Make ``path`` an empty folder (and its parent when missing), from the pool if it can."""
        spare = self._take()
        if spare is None:
            make_workdir(path)
            return
        try:
            self._place(spare, path)
        except OSError as error:
            if error.errno in (errno.ENOTEMPTY, errno.EEXIST):
                self._free.append(spare)
                return
            if error.errno == errno.EXDEV:
                self.limit = 0
            self._free.append(spare)
            make_workdir(path)

    def _place(self, spare: str, path: str) -> None:
        try:
            os.rename(spare, path)
            return
        except FileNotFoundError:
            if not os.path.isdir(spare):
                raise
        parent = os.path.dirname(path)
        outer = self._take()
        if outer is None:
            os.makedirs(parent, exist_ok=True)
        else:
            try:
                os.rename(outer, parent)
            except FileNotFoundError:
                self._free.append(outer)
                os.makedirs(parent, exist_ok=True)
            except OSError:
                self._free.append(outer)
        os.rename(spare, path)

    def release(self, path: str) -> None:
        """Take back ``path`` if it is empty, then its parent if that is left empty."""
        for folder in (path, os.path.dirname(path)):
            if len(self._free) >= self.limit or not _is_empty(folder):
                return
            spare = os.path.join(self.root, str(self._count))
            try:
                os.rename(folder, spare)
            except OSError:
                return
            self._count += 1
            self._free.append(spare)


class Launcher:
    """Starts attempt commands with ``os.posix_spawn``; only for a process with no other thread.

    ``posix_spawn`` has no working-folder action before Python 3.13, so the launcher changes the
    calling process's own working folder to the attempt's before each spawn (the host agent uses
    absolute paths only).  The command is looked up on the ``PATH`` of the attempt's environment,
    as ``execvpe`` does: the first regular executable file wins; when none exists but a file that
    is not executable does, the start fails with permission denied.  A command found under an
    absolute folder is remembered for :data:`PROGRAM_CACHE_SECONDS`.
    """

    def __init__(self, pool: FolderPool | None = None) -> None:
        #: The working folder the process started in: relative working folders are taken from it.
        self.home = os.getcwd()
        self.pool = pool
        self._programs: dict[tuple[str, str], tuple[str, float]] = {}

    def make_workdir(self, path: str) -> None:
        """Create the attempt's empty working folder, from the :class:`FolderPool` when there is one."""
        if self.pool is not None:
            self.pool.make(path)
        else:
            make_workdir(path)

    def release_workdir(self, path: str) -> None:
        """The attempt that ran in ``path`` has ended: give its folders back if they are empty."""
        if self.pool is not None:
            self.pool.release(path)

    def workdir(self, spec: LaunchSpec) -> str:
        return os.path.join(self.home, spec.workdir)

    def _find(self, program: str, environment: dict[str, str]) -> tuple[str, bool]:
        """The file to execute for ``program`` and whether it came from the cache."""
        if "/" in program:
            return program, False
        key = (environment.get("PATH", os.defpath), program)
        now = time.monotonic()
        hit = self._programs.get(key)
        if hit is not None and now - hit[1] < PROGRAM_CACHE_SECONDS:
            return hit[0], True
        denied = False
        for folder in os.get_exec_path(environment):
            candidate = os.path.join(folder, program)
            try:
                mode = os.stat(candidate).st_mode
            except OSError:
                continue
            if stat.S_ISREG(mode) and os.access(candidate, os.X_OK):
                if os.path.isabs(candidate):
                    self._programs[key] = (candidate, now)
                return candidate, False
            denied = True
        if denied:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), program)
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)

    def spawn(self, spec: LaunchSpec, workdir: str) -> tuple[int, int, int]:
        """Start ``spec``'s command in its own session; returns its pid and its stdout and stderr pipes."""
        os.chdir(workdir)
        program, cached = self._find(spec.command[0], spec.environment)
        with _OutputPipes() as (out_r, out_w, err_r, err_w):
            actions = [
                (os.POSIX_SPAWN_DUP2, _devnull(), 0),
                (os.POSIX_SPAWN_DUP2, out_w, 1),
                (os.POSIX_SPAWN_DUP2, err_w, 2),
            ]
            try:
                pid = self._posix_spawn(program, spec, actions)
            except OSError:
                if not cached:
                    raise
                self._programs.pop((spec.environment.get("PATH", os.defpath), spec.command[0]), None)
                program, _ = self._find(spec.command[0], spec.environment)
                pid = self._posix_spawn(program, spec, actions)
        return pid, out_r, err_r

    @staticmethod
    def _posix_spawn(program: str, spec: LaunchSpec, actions: list[tuple[int, int, int]]) -> int:
        return os.posix_spawn(
            program,
            spec.command,
            spec.environment,
            file_actions=actions,
            setpgroup=0,
            setsigdef=_DEFAULT_SIGNALS,
        )


class FdWatcher:
    """Calls a callback whenever one of many descriptors is readable, through one epoll set.

    The set's own descriptor is the only one the event loop watches, and a descriptor costs one
    ``epoll_ctl`` to add and one to remove, without the selector key and handle the loop's
    ``add_reader`` builds for each.  A descriptor leaves the set before it is closed: a closed
    descriptor whose open file lives on elsewhere (a child between its ``exec`` and the closing
    of its close-on-exec descriptors holds a copy) would otherwise stay in the set and be reported
    again and again.  When the set is ready, one loop callback polls it without waiting and calls
    each ready descriptor's callback with the descriptor, as ``add_reader`` would (level-triggered:
    a descriptor still readable is reported again on the next pass).  A descriptor closed by an
    earlier callback of the same pass, or closed and its number taken by a new one, is skipped, as
    the loop skips a cancelled handle; an exception in a callback goes to the loop's exception
    handler and the other callbacks still run.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._epoll = select.epoll()
        self._callbacks: dict[int, Callable[[int], None]] = {}
        loop.add_reader(self._epoll.fileno(), self._ready)

    def __len__(self) -> int:
        return len(self._callbacks)

    def add(self, fd: int, callback: Callable[[int], None]) -> None:
        """Call ``callback(fd)`` whenever ``fd`` is readable, until :meth:`close`."""
        self._epoll.register(fd, select.EPOLLIN)
        self._callbacks[fd] = callback

    def close(self, fd: int) -> None:
        """Stop watching ``fd`` and close it."""
        del self._callbacks[fd]
        self._epoll.unregister(fd)
        os.close(fd)

    def _ready(self) -> None:
        callbacks = self._callbacks
        ready = [(fd, callbacks.get(fd)) for fd, _ in self._epoll.poll(0)]
        for fd, callback in ready:
            if callback is None or callbacks.get(fd) is not callback:
                continue
            try:
                callback(fd)
            except Exception as error:
                self.loop.call_exception_handler(
                    {"message": f"exception in the callback of descriptor {fd}", "exception": error}
                )

    def shutdown(self) -> None:
        """Stop watching the set and close it (the descriptors still in it stay open)."""
        self.loop.remove_reader(self._epoll.fileno())
        self._epoll.close()


_IDLE_PARAM = os.sched_param(0)


def set_idle_priority(pid: int) -> None:
    """Move process ``pid`` to ``SCHED_IDLE``; one that has already ended is left as it is."""
    try:
        os.sched_setscheduler(pid, os.SCHED_IDLE, _IDLE_PARAM)
    except (ProcessLookupError, PermissionError):
        return


def kill_group(pgid: int, sig: int) -> None:
    """Send ``sig`` to process group ``pgid``; a group that is already gone is not an error."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return


def cannot_start_reason(spec: LaunchSpec, error: OSError, workdir: str | None = None) -> str:
    """Docker's wording for an exec failure, under ECS's ``CannotStartContainerError`` prefix."""
    program = spec.command[0]
    if isinstance(error, FileNotFoundError) and error.filename in (str(spec.workdir), workdir):
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
    """A running attempt: its process, its output file, its timers and how it ended.

    With a ``launcher`` the process is started by :class:`Launcher` (single-threaded callers),
    otherwise by :class:`subprocess.Popen`.  With a ``watcher`` its pipes and pidfd are watched
    through that :class:`FdWatcher`, otherwise with the loop's ``add_reader``.
    """

    def __init__(
        self,
        spec: LaunchSpec,
        journal_fd: int,
        files: AttemptFiles,
        loop: asyncio.AbstractEventLoop,
        on_lines: LineSink,
        on_exit: ExitSink,
        launcher: Launcher | None = None,
        watcher: FdWatcher | None = None,
    ) -> None:
        self.spec = spec
        self._journal_fd = journal_fd
        self.files = files
        self.loop = loop
        self._on_lines = on_lines
        self._on_exit = on_exit
        self._launcher = launcher
        self._watcher = watcher
        self._workdir: str | None = None
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
        self._pipes: dict[int, tuple[str, bytearray]] = {}
        self._returncode: int | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self._terminating = False

    @property
    def running(self) -> bool:
        return self.exit is None

    def spawn(self) -> None:
        """Start the command; on failure the attempt ends as ``Task failed to start``.

        The failed start is reported on the next loop pass, so that a launch is answered first.
        """
        spec = self.spec
        launcher = self._launcher
        workdir = launcher.workdir(spec) if launcher is not None else os.fspath(spec.workdir)
        try:
            if launcher is not None:
                launcher.make_workdir(workdir)
                self._workdir = workdir
            else:
                make_workdir(workdir)
            if launcher is not None:
                pid, out_r, err_r = launcher.spawn(spec, workdir)
            else:
                pid, out_r, err_r = self._popen(workdir)
        except OSError as error:
            self._finish_failed_start(cannot_start_reason(spec, error, workdir))
            return
        if spec.cpu_priority == "idle":
            set_idle_priority(pid)
        self._attach(pid, now_ms(), out_r, err_r)

    def _popen(self, workdir: str) -> tuple[int, int, int]:
        with _OutputPipes() as (out_r, out_w, err_r, err_w):
            self._proc = subprocess.Popen(
                self.spec.command,
                env=self.spec.environment,
                cwd=workdir,
                stdin=_devnull(),
                stdout=out_w,
                stderr=err_w,
                start_new_session=True,
            )
        return self._proc.pid, out_r, err_r

    def _attach(self, pid: int, started_at_ms: int, out_r: int, err_r: int) -> None:
        """Journal the new process and watch its pipes, its exit and its timeout on the loop.

        The pipes stay blocking: each is read once per readiness report, which never blocks.
        """
        spec = self.spec
        self.pid = pid
        self.started_at_ms = started_at_ms
        entry = {"attempt_id": spec.attempt_id, "pid": pid, "started_at_ms": started_at_ms}
        os.write(self._journal_fd, encode_line(entry))
        self._pipes[out_r] = ("o", bytearray())
        self._pipes[err_r] = ("e", bytearray())
        self._pidfd = pidfd = os.pidfd_open(pid)
        watcher = self._watcher
        if watcher is not None:
            watcher.add(out_r, self._read)
            watcher.add(err_r, self._read)
            watcher.add(pidfd, self._reap)
        else:
            loop = self.loop
            loop.add_reader(out_r, self._read, out_r)
            loop.add_reader(err_r, self._read, err_r)
            loop.add_reader(pidfd, self._reap, pidfd)
        if spec.timeout_seconds is not None:
            self._timers.append(self.loop.call_later(spec.timeout_seconds, self._time_out))

    def _unwatch(self, fd: int) -> None:
        """Stop watching ``fd`` and close it."""
        if self._watcher is not None:
            self._watcher.close(fd)
        else:
            self.loop.remove_reader(fd)
            os.close(fd)

    # -- termination -----------------------------------------------------------------------

    def stop(self, reason: str) -> None:
        """Stop by request: SIGTERM, SIGKILL after the grace; the exit carries ``reason``."""
        if not self.running or self._terminating or self.pid is None:
            return
        self.stopped = True
        self.stop_reason = reason
        self._terminate()

    def kill_now(self, reason: str) -> None:
        """Stop by request with SIGKILL and no grace (the agent is shutting down)."""
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
        stream, partial = self._pipes[fd]
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
        self._unwatch(fd)
        stream, partial = entry
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

    def _reap(self, pidfd: int) -> None:
        assert self.pid is not None
        self._unwatch(pidfd)
        self._pidfd = -1
        kill_group(self.pid, signal.SIGKILL)
        if self._proc is not None:
            self._returncode = self._proc.wait()
            self._proc = None
        else:
            self._returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
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
        """Report the exit, then tidy up: the report is what lets the agent start the next attempt."""
        if self._out_fd >= 0:
            os.close(self._out_fd)
            self._out_fd = -1
        self.exit = exit
        self._on_exit(self, exit)
        if self._launcher is not None and self._workdir is not None:
            self._launcher.release_workdir(self._workdir)
            self._workdir = None


def group_rss_mib(pgids: set[int]) -> dict[int, float]:
    """Resident memory of every process group in ``pgids``, in MiB, from ``/proc/*/stat``.

    Field 5 of ``stat`` is the process group and field 24 the resident set in pages.
    """
    page = os.sysconf("SC_PAGE_SIZE")
    totals: dict[int, int] = dict.fromkeys(pgids, 0)
    for fields in every_process_stat():
        pgrp = int(fields[2])
        if pgrp in totals:
            totals[pgrp] += int(fields[21])
    return {pgid: pages * page / (1024 * 1024) for pgid, pages in totals.items()}
