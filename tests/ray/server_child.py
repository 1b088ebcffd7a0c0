"""A stand-in server process for the restart test: launches attempts, reports, then waits to be killed.

Usage: ``python server_child.py <address> <data_dir> <workdir>``.  Prints one JSON line once the
attempts run: their infos, the first line of the slow attempt and the quick attempt's exit.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from ray_support import make_spec

from batchbridge.executors.base import AttemptExit, OutputLine
from batchbridge.executors.ray_executor import RayExecutor

SLOW = "for i in 1 2 3 4 5 6; do echo tick$i; sleep 0.4; done; exit 5"


async def main(address: str, data_dir: Path, workdir: Path) -> None:
    executor = RayExecutor(address, data_dir, namespace="bbtest")
    await executor.start()
    slow = await executor.launch(make_spec(workdir, "rec-slow", ["sh", "-c", SLOW]))
    quick = await executor.launch(make_spec(workdir, "rec-quick", ["sh", "-c", "echo done"]))
    stray = await executor.launch(make_spec(workdir, "rec-stray", ["sleep", "300"]))
    first: OutputLine | None = None
    exit: AttemptExit | None = None
    async for event in executor.events():
        if isinstance(event, OutputLine) and event.attempt_id == "rec-slow" and first is None:
            first = event
        elif isinstance(event, AttemptExit) and event.attempt_id == "rec-quick":
            exit = event
        if first is not None and exit is not None:
            break
    report = {
        "infos": {i.attempt_id: [i.host_id, i.container_instance_id, i.pid] for i in (slow, quick, stray)},
        "first": [first.seq, first.message] if first else None,
        "quick_exit": exit.exit_code if exit else None,
    }
    print(json.dumps(report), flush=True)
    time.sleep(600)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])))
