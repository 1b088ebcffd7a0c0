"""Dispatch throughput: an array of N children running ``true`` on a CE with maxvCpus 2.

Compares SubmitJob-to-parent-SUCCEEDED for the array (each child VCPU 1, so two at a time) with
the time this machine takes to spawn N ``true`` processes with 2 workers, measured in the same
run just before and just after the array, and prints the ratio to the mean of the two (target
<= 1.5x): on a shared machine one baseline alone moves by 10% from run to run.  Also checks
that every child wrote its four events (RUNNABLE, STARTING, RUNNING, SUCCEEDED) and the parent
its two, and reports the server process's peak RSS (target <= 300 MB) and its CPU time during
the array.  ``--sizes`` times SubmitJob-to-parent-SUCCEEDED for several array sizes; ``--quick``
uses small sizes.

    .venv/bin/python bench/dispatch.py            # N = 10000, sizes 2, 100, 1000, 10000
    .venv/bin/python bench/dispatch.py --quick    # N = 1000, sizes 2, 100
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import sqlite3
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from benchkit import client, cpu_seconds, make_definition, make_queue, run_array, start_server, status_mib


def baseline(n: int) -> float:
    """Seconds to spawn ``n`` ``true`` processes, two at a time."""
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda _: subprocess.run(["true"], check=True), range(n)))
    return time.perf_counter() - start


def agent_pid(data: Path) -> int:
    return int((data / "agent" / "agent.pid").read_text().strip())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=None, help="children in the throughput array")
    parser.add_argument("--sizes", default=None, help="comma-separated array sizes to time")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = args.n or (1000 if args.quick else 10_000)
    sizes = [int(s) for s in (args.sizes or ("2,100" if args.quick else "2,100,1000,10000")).split(",") if s]

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        proc, url = start_server(data, agent_idle_seconds=10.0)
        try:
            batch = client("batch", url)
            ce = make_queue(batch, f"bench-{uuid.uuid4().hex[:6]}")
            definition = make_definition(batch, ce)
            run_array(batch, ce, definition, 2)
            base = baseline(n)
            agent = agent_pid(data)
            cpu0 = cpu_seconds(proc.pid)
            agent0, kids0 = cpu_seconds(agent), cpu_seconds(agent, children=True)
            parent, took = run_array(batch, ce, definition, n)
            cpu1 = cpu_seconds(proc.pid)
            agent1, kids1 = cpu_seconds(agent), cpu_seconds(agent, children=True)
            after = baseline(n)
            print(f"server CPU during the array: {cpu1 - cpu0:.2f} s")
            print(
                f"agent CPU during the array: {agent1 - agent0:.2f} s"
                f" (its {n} children: {kids1 - kids0:.2f} s)"
            )
            print(f"spawn {n} x true with 2 workers: {base:.2f} s before the array, {after:.2f} s after")
            base = (base + after) / 2
            print(
                f"array of {n} on maxvCpus 2:       {took:.2f} s  ratio {took / base:.2f}x (target <= 1.5x)"
            )
            timings = {}
            for size in sizes:
                timings[size] = run_array(batch, ce, definition, size)[1]
                print(f"SubmitJob -> parent SUCCEEDED, size {size:>6}: {timings[size]:.2f} s")
            rss = status_mib(proc.pid, "VmHWM")
            print(f"server peak RSS: {rss:.0f} MiB (target <= 300)")
        finally:
            proc.kill()
            proc.wait()
        with sqlite3.connect(data / "batchbridge.sqlite3") as conn:
            rows = conn.execute("SELECT body FROM outbox").fetchall()
        events = [json.loads(b) for (b,) in rows]
        mine = [e for e in events if e["detail"]["jobId"].split(":")[0] == parent]
        ids = {e["id"] for e in events}
        expected = 4 * n + 2
        print(
            f"events for the {n}-array: {len(mine)} (expected {expected});"
            f" ids unique: {len(ids) == len(events)}"
        )
        if len(mine) != expected or len(ids) != len(events):
            raise SystemExit("event count mismatch")


if __name__ == "__main__":
    main()
