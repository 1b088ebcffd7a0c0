"""The node guard: kills an attempt's process group when the Ray actor that ran it has died.

AWS rule emulated: the processes of an ECS task never outlive the task; when the container
instance goes away, so do they.  Under Ray an attempt's command runs as its own process group
(``setsid``) beneath an actor's worker process, so a worker killed with SIGKILL, or a raylet that
dies and takes its workers with it, would leave the group running with nobody to reap it.

Each node machine therefore runs one guard process per user (started on demand by the first
attempt actor on that machine, detached by a double fork so that neither Ray's worker clean-up
nor a dying raylet takes it down).  The actor writes, in the node folder's ``attempts/``:

* ``<key>.actor.json``: the actor worker's pid and process start time, written before the
  command is spawned;
* ``<key>.launch.jsonl``: the launch journal that
  :class:`~batchbridge.executors.process.AttemptProcess` writes as it spawns the command: the
  command's pid (its process group) and start time.

Every :data:`SCAN_INTERVAL` seconds the guard checks each actor record; when that actor process is
gone (pid and start time no longer match), it SIGKILLs the recorded group (only if pid and start
time still match, so a recycled pid is never hit) and removes the attempt's records.  The guard
exits after :data:`IDLE_EXIT_SECONDS` without any actor record.  At most one guard serves a node
folder: it holds an exclusive ``flock`` on ``guard.pid``.

Run as ``python -m batchbridge.executors.ray_guard --root <node folder>``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from batchbridge.executors.process import kill_group
from batchbridge.executors.protocol import every_process_stat, process_started_at_ms, same_process

SCAN_INTERVAL = 0.25
IDLE_EXIT_SECONDS = 60.0
ACTOR_SUFFIX = ".actor.json"
LAUNCH_SUFFIX = ".launch.jsonl"


def attempts_folder(root: Path) -> Path:
    return root / "attempts"


_ACTOR_RECORD: dict[int, bytes] = {}


def _actor_record() -> bytes:
    """This process's record (pid and start time), read from /proc once per process."""
    pid = os.getpid()
    record = _ACTOR_RECORD.get(pid)
    if record is None:
        record = json.dumps({"pid": pid, "started_at_ms": process_started_at_ms(pid)}).encode()
        _ACTOR_RECORD.clear()
        _ACTOR_RECORD[pid] = record
    return record


def write_actor_record(root: Path, key: str) -> Path:
    """Record this process (the actor's worker) as the owner of attempt ``key``."""
    folder = attempts_folder(root)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}{ACTOR_SUFFIX}"
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, _actor_record())
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def _read_pid_record(path: Path) -> tuple[int, int | None] | None:
    """The pid and start time of a record (the last line of a journal)."""
    try:
        lines = path.read_bytes().splitlines()
        data = json.loads(lines[-1])
        return int(data["pid"]), data.get("started_at_ms")
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def group_is_attempts(pgid: int, started_at_ms: int | None) -> bool:
    """True when process group ``pgid`` is still the one the attempt's command started.

    With its leader alive, the leader's start time must match.  With the leader gone (a shell
    killed by SIGPIPE when its actor's pipes closed), members left in the group prove it is the
    same group: Linux does not hand out a pid that is still some group's id.
    """
    if process_started_at_ms(pgid) is not None:
        return same_process(pgid, started_at_ms)
    return any(int(fields[2]) == pgid for fields in every_process_stat())


def scan(root: Path) -> int:
    """One pass: kill the groups of attempts whose actor died; returns the actor records left."""
    folder = attempts_folder(root)
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return 0
    left = 0
    for name in names:
        if not name.endswith(ACTOR_SUFFIX):
            continue
        key = name[: -len(ACTOR_SUFFIX)]
        actor = _read_pid_record(folder / name)
        if actor is not None and same_process(*actor):
            left += 1
            continue
        launch = _read_pid_record(folder / f"{key}{LAUNCH_SUFFIX}")
        if launch is not None and group_is_attempts(*launch):
            kill_group(launch[0], signal.SIGKILL)
        for suffix in (ACTOR_SUFFIX, LAUNCH_SUFFIX, ".output.log"):
            with contextlib.suppress(FileNotFoundError):
                (folder / f"{key}{suffix}").unlink()
    return left


def guard_running(root: Path) -> bool:
    """True when a guard holds the node folder's lock."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / "guard.pid", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def spawn_guard(root: Path) -> subprocess.Popen[bytes]:
    """Start a guard for ``root``; the returned process exits at once (the guard forks away)."""
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parent.parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return subprocess.Popen(
        [sys.executable, "-m", "batchbridge.executors.ray_guard", "--root", str(root), "--fork"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=root,
        env=env,
        start_new_session=True,
    )


def serve(root: Path, scan_interval: float = SCAN_INTERVAL, idle_exit: float = IDLE_EXIT_SECONDS) -> int:
    """Hold the lock and scan until idle; returns 0, or 0 at once when another guard serves."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / "guard.pid", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return 0
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    idle_since = time.monotonic()
    try:
        while True:
            if scan(root):
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= idle_exit:
                return 0
            time.sleep(scan_interval)
    finally:
        os.ftruncate(fd, 0)
        os.close(fd)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="batchbridge-ray-guard", description=__doc__)
    parser.add_argument("--root", type=Path, required=True, help="the node folder")
    parser.add_argument("--fork", action="store_true", help="detach from the parent first")
    parser.add_argument("--idle-exit", type=float, default=IDLE_EXIT_SECONDS)
    args = parser.parse_args(argv)
    if args.fork and os.fork() > 0:
        os._exit(0)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    return serve(args.root, idle_exit=args.idle_exit)


if __name__ == "__main__":
    sys.exit(main())
