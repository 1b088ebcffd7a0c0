"""DescribeJobs p50 for one job with 1,000 and 100,000 jobs stored (a primary-key lookup each).

Jobs are inserted straight through the jobs store (one ``executemany`` per 10,000); the timed call
is ``BatchService.DescribeJobs`` for one random stored id, in process (no HTTP).

    .venv/bin/python bench/describe.py [--counts 1000,100000] [--calls 2000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from batchbridge.config import Settings
from batchbridge.domain.arns import batch_arn, new_uuid
from batchbridge.domain.jobs import Job
from batchbridge.domain.lifecycle import JobKind, JobStatus
from batchbridge.services.batch import BatchService
from batchbridge.services.context import RequestContext
from batchbridge.store import jobs as job_store
from batchbridge.store.db import Database


def make_job() -> Job:
    job_id = new_uuid()
    return Job(
        job_id=job_id,
        job_arn=batch_arn("us-east-1", "123456789012", "job", job_id),
        name="bench",
        kind=JobKind.SINGLE,
        status=JobStatus.SUCCEEDED,
        queue_arn=batch_arn("us-east-1", "123456789012", "job-queue", "q"),
        queue_name="q",
        definition_arn=batch_arn("us-east-1", "123456789012", "job-definition", "d:1"),
        definition_name="d",
        created_at=int(time.time() * 1000),
        container={"image": "busybox", "command": ["true"]},
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", default="1000,100000")
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    ctx = RequestContext("123456789012", "us-east-1", "bench")
    with tempfile.TemporaryDirectory() as tmp:
        db = Database.open(Path(tmp) / "db.sqlite3")
        service = BatchService(db, Settings(data_dir=Path(tmp)))
        ids: list[str] = []
        for target in sorted(int(c) for c in args.counts.split(",")):
            while len(ids) < target:
                chunk = [make_job() for _ in range(min(10_000, target - len(ids)))]
                with db.transaction() as conn:
                    job_store.insert_jobs(conn, chunk)
                ids.extend(j.job_id for j in chunk)
            samples = []
            for _ in range(args.calls):
                job_id = random.choice(ids)
                start = time.perf_counter()
                out = service.DescribeJobs(ctx, {"jobs": [job_id]})
                samples.append(time.perf_counter() - start)
                assert out["jobs"][0]["jobId"] == job_id
            p50 = statistics.median(samples) * 1e6
            p99 = sorted(samples)[int(len(samples) * 0.99)] * 1e6
            print(f"{target:>7} jobs stored: DescribeJobs(1 id) p50 {p50:.0f} us, p99 {p99:.0f} us")
        db.close()


if __name__ == "__main__":
    main()
