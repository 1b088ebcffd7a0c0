"""A stand-in batchbridge server for the crash tests: launches attempts and prints their events.

Usage: ``python server_child.py <data_dir> <attempt_id>=<shell script> ...``.  Each event is one
JSON line on stdout, flushed at once, so that the test knows exactly what this process received
before it is killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from pathlib import Path

from batchbridge.executors.base import LaunchSpec, OutputLine, base_environment
from batchbridge.executors.local import LocalExecutor


async def main(data_dir: Path, jobs: list[str]) -> None:
    executor = LocalExecutor(data_dir)
    await executor.start()
    for job in jobs:
        attempt_id, _, script = job.partition("=")
        spec = LaunchSpec(
            attempt_id=attempt_id,
            command=["sh", "-c", script],
            environment=base_environment(),
            vcpus=1.0,
            memory_mib=None,
            gpus=0,
            workdir=data_dir / "work" / attempt_id,
        )
        info = await executor.launch(spec)
        print(json.dumps({"launched": attempt_id, "pid": info.pid}), flush=True)
    async for event in executor.events():
        kind = "line" if isinstance(event, OutputLine) else "exit"
        print(json.dumps({kind: dataclasses.asdict(event)}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2:]))
