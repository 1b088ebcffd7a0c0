"""SIGKILL of a server process in the middle of an array, then a restart on the same data folder."""

from __future__ import annotations

import collections
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import batch_client, make_definition, make_queue, wait_for

SERVE = """
import sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from jobs.conftest import JobsServer
server = JobsServer(Path({data!r}))
print(server.url, flush=True)
while True:
    time.sleep(3600)
"""


def _start(data: Path) -> tuple[subprocess.Popen[str], str]:
    code = SERVE.format(tests=str(Path(__file__).parents[1]), data=str(data))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("http://"), url
    return proc, url


def restart_and_finish(data: Path, parent: str, size: int) -> None:
    """Restart the server on ``data``: the array ``parent`` ends SUCCEEDED, each child run once."""
    proc, url = _start(data)
    try:
        batch = batch_client(url)
        assert wait_for(batch, parent, timeout=60)["status"] == "SUCCEEDED"
        kids = batch.describe_jobs(jobs=[f"{parent}:{i}" for i in range(size)])["jobs"]
        assert [k["status"] for k in kids] == ["SUCCEEDED"] * size
        assert all(len(k["attempts"]) == 1 for k in kids)
    finally:
        proc.terminate()
        proc.wait()


@pytest.mark.slow
def test_sigkill_mid_array_then_restart_finishes_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc, url = _start(data)
    try:
        batch = batch_client(url)
        queue, _ = make_queue(batch, max_vcpus=2)
        _, def_arn = make_definition(batch, ["sleep", "0.4"])
        parent = batch.submit_job(
            jobName="crash", jobQueue=queue, jobDefinition=def_arn, arrayProperties={"size": 8}
        )["jobId"]
        wait_for(batch, f"{parent}:2", ("RUNNING", "SUCCEEDED"))
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    restart_and_finish(data, parent, 8)
    with sqlite3.connect(data / "batchbridge.sqlite3") as conn:
        bodies = [json.loads(b) for (b,) in conn.execute("SELECT body FROM outbox ORDER BY position")]
    ids = [b["id"] for b in bodies]
    assert len(ids) == len(set(ids))
    seen = collections.Counter((b["detail"]["jobId"], b["detail"]["status"]) for b in bodies)
    assert max(seen.values()) == 1
    assert seen[(parent, "SUCCEEDED")] == 1
    for i in range(8):
        assert seen[(f"{parent}:{i}", "SUCCEEDED")] == 1
