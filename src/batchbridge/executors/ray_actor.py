"""One attempt on a cluster node, supervised as the local executor supervises it.

A warm actor (:class:`batchbridge.executors.ray_warm.WarmRunner`) runs its attempts one at a time,
each through an :class:`AttemptRunner`. The command runs exactly as under the local host agent,
through the same :class:`~batchbridge.executors.process.AttemptProcess`: its own process group, the
launch spec's environment and working folder (created on the node), SIGTERM then SIGKILL after the
grace on stop or timeout, the group killed when the main process exits, MEMORY enforced by sampling
the group's resident memory every ``sample_interval`` seconds (``OutOfMemoryError: Container killed
due to memory usage``, exit code 137) and AWS Batch's reason texts in the exit.

GPUs: Ray gives the actor its GPUs (``num_gpus``) and the command receives them as
``CUDA_VISIBLE_DEVICES``, the variable the NVIDIA runtime of an ECS GPU task sets from its assigned
devices.

The runner keeps its output lines (each with its ``seq``) and its exit until the executor
acknowledges the exit (:meth:`AttemptRunner.finish`), so that a restarted server finds both again
through the warm actor that holds it. Lines are served by :meth:`AttemptRunner.poll`, a long poll
that answers as soon as there is something after the caller's ``seq``. The newest
:data:`MEMORY_LINES` lines are held in memory; older ones are read back from the attempt's output
log in the node folder.

Should the actor's worker die (node lost, worker killed), the node guard
(:mod:`batchbridge.executors.ray_guard`) kills the command's process group.

This module imports Ray only inside its methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from batchbridge.executors.base import AttemptExit, LaunchSpec
from batchbridge.executors.process import AttemptProcess, group_rss_mib, kill_group
from batchbridge.executors.protocol import AttemptFiles, read_output
from batchbridge.executors.ray_guard import (
    ACTOR_SUFFIX,
    LAUNCH_SUFFIX,
    attempts_folder,
    guard_running,
    spawn_guard,
    write_actor_record,
)

#: Output lines kept in memory per attempt; older lines are served from the output log.
MEMORY_LINES = 10_000
#: Most lines returned by one poll.
POLL_BATCH = 5_000
#: Seconds between two samples of the process group's resident memory.
SAMPLE_INTERVAL = 0.1
#: Seconds after starting a node guard before this process starts another one.
GUARD_RESTART_SECONDS = 5.0

_GUARD_STARTED: dict[str, float] = {}


class AttemptRunner:
    """The body of the per-attempt actor.  Every method runs on the actor's event loop."""

    def __init__(
        self, spec: dict[str, Any], node_root: str | None, key: str, node: tuple[str, str] | None = None
    ) -> None:
        self.spec = LaunchSpec.from_json(spec)
        self.root = Path(node_root or node_root_default())
        self.key = key
        self.files = AttemptFiles(attempts_folder(self.root), key)
        self.attempt: AttemptProcess | None = None
        self.lines: list[list[Any]] = []
        self.exit: AttemptExit | None = None
        self.node_id, self.node_ip = node or ("", "")
        self._changed: asyncio.Event | None = None
        self._sampler: asyncio.Task[None] | None = None
        self._guard_proc: subprocess.Popen[bytes] | None = None
        self._journal = self.files.folder / f"{key}{LAUNCH_SUFFIX}"
        self._journal_fd = -1

    # -- start -----------------------------------------------------------------------------

    async def start(self) -> dict[str, Any]:
        """Spawn the command (once); returns where it runs and when it started."""
        if self.attempt is None:
            self._spawn()
        return self.describe_now()

    def _spawn(self) -> None:
        ray: Any = importlib.import_module("ray")

        context = ray.get_runtime_context()
        if not self.node_id:
            self.node_id = context.get_node_id()
            self.node_ip = ray.util.get_node_ip_address()
        loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        write_actor_record(self.root, self.key)
        if not guard_running(self.root) and _guard_due(self.root):
            self._guard_proc = spawn_guard(self.root)
        spec = self.spec
        if spec.gpus > 0:
            devices = ",".join(str(gpu) for gpu in context.get_accelerator_ids().get("GPU", []))
            spec = dataclasses.replace(
                spec, environment={**spec.environment, "CUDA_VISIBLE_DEVICES": devices}
            )
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC
        self._journal_fd = os.open(self._journal, flags, 0o644)
        self.attempt = AttemptProcess(spec, self._journal_fd, self.files, loop, self._on_lines, self._on_exit)
        self.attempt.spawn()
        self._sampler = asyncio.create_task(self._sample())

    def _on_lines(self, attempt: AttemptProcess, records: list[list[object]]) -> None:
        self.lines.extend(records)
        if len(self.lines) > MEMORY_LINES:
            del self.lines[: len(self.lines) - MEMORY_LINES]
        if self._changed is not None:
            self._changed.set()

    def _on_exit(self, attempt: AttemptProcess, exit: AttemptExit) -> None:
        self.exit = exit
        if self._journal_fd >= 0:
            os.close(self._journal_fd)
            self._journal_fd = -1
        with contextlib.suppress(FileNotFoundError):
            self._journal.unlink()
        if self._changed is not None:
            self._changed.set()

    async def _sample(self) -> None:
        """Enforce MEMORY; also reap the guard's launcher once it has forked away."""
        while self.attempt is not None and self.attempt.running:
            await asyncio.sleep(SAMPLE_INTERVAL)
            if self._guard_proc is not None and self._guard_proc.poll() is not None:
                self._guard_proc = None
            attempt = self.attempt
            limit = attempt.spec.memory_mib
            if limit is None or attempt.pid is None or not attempt.running:
                continue
            used = group_rss_mib({attempt.pid}).get(attempt.pid, 0.0)
            if used > limit:
                attempt.out_of_memory()
        if self._guard_proc is not None:
            await asyncio.to_thread(self._guard_proc.wait)

    # -- queries ---------------------------------------------------------------------------

    def describe_now(self) -> dict[str, Any]:
        attempt = self.attempt
        return {
            "node_id": self.node_id,
            "node_ip": self.node_ip,
            "pid": attempt.pid if attempt is not None else None,
            "started_at_ms": attempt.started_at_ms if attempt is not None else None,
            "seq": attempt.seq if attempt is not None else 0,
            "exit": self.exit.to_json() if self.exit is not None else None,
        }

    async def describe(self) -> dict[str, Any]:
        """Where the attempt runs and, if it has ended, its exit (used by ``recover``)."""
        return self.describe_now()

    def _after(self, after_seq: int) -> list[list[Any]]:
        if self.lines and self.lines[0][0] <= after_seq + 1:
            start = max(0, after_seq + 1 - int(self.lines[0][0]))
            return self.lines[start : start + POLL_BATCH]
        if self.attempt is None or self.attempt.seq <= after_seq:
            return []
        return read_output(self.files.output, after_seq)[:POLL_BATCH]

    async def poll(self, after_seq: int, wait_seconds: float) -> dict[str, Any]:
        """Lines after ``after_seq`` (waiting up to ``wait_seconds`` for some) and, once every line
        has been handed out, the exit."""
        lines = self._after(after_seq)
        if not lines and self.exit is None and self._changed is not None and wait_seconds > 0:
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), wait_seconds)
            lines = self._after(after_seq)
        last = int(lines[-1][0]) if lines else after_seq
        exit = self.exit
        done = exit is not None and last >= exit.output_lines
        return {"lines": lines, "exit": exit.to_json() if done and exit is not None else None}

    async def settle(self, wait_seconds: float) -> dict[str, Any]:
        """Wait up to ``wait_seconds`` for the exit, then answer as :meth:`poll` from the start.

        A short attempt's launch brings back its output and exit in the same call.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while self.exit is None and self._changed is not None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return await self.poll(0, 0)

    # -- control ---------------------------------------------------------------------------

    async def stop(self, reason: str) -> None:
        """SIGTERM the group, SIGKILL after the grace; the exit carries ``reason``."""
        if self.attempt is not None:
            self.attempt.stop(reason)

    def cleanup(self) -> None:
        """Kill what is left of the command's group and drop the attempt's records on the node."""
        attempt = self.attempt
        if attempt is not None and attempt.running and attempt.pid is not None:
            kill_group(attempt.pid, signal.SIGKILL)
        if self._journal_fd >= 0:
            os.close(self._journal_fd)
            self._journal_fd = -1
        for path in (self._journal, self.files.output, self.files.folder / f"{self.key}{ACTOR_SUFFIX}"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    async def finish(self) -> None:
        """The exit is recorded (or the attempt is abandoned): kill what is left, drop the records
        and end the actor, which frees its resources in the cluster."""
        ray: Any = importlib.import_module("ray")

        self.cleanup()
        ray.actor.exit_actor()


def _guard_due(root: Path) -> bool:
    """Whether this process may start a guard for ``root`` now.

    A guard takes a Python start-up (a few hundred milliseconds on a busy node) to take its lock;
    attempts started meanwhile by the same warm actor must not each start another one.
    """
    now = time.monotonic()
    last = _GUARD_STARTED.get(str(root))
    if last is not None and now - last < GUARD_RESTART_SECONDS:
        return False
    _GUARD_STARTED[str(root)] = now
    return True


def node_root_default() -> str:
    """The node folder used when the executor names none: ``$TMPDIR/batchbridge-ray-<uid>``."""
    import tempfile

    return str(Path(tempfile.gettempdir()) / f"batchbridge-ray-{os.getuid()}")
