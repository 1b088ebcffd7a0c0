"""``batchbridge.testing.BatchBridge``: a server for a ``with`` block, in a thread or a subprocess."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from batchbridge.testing import BatchBridge

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "print-color"


def _health(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
        document: dict[str, Any] = json.loads(response.read())
    return document


def _run_print_color_child(bb: BatchBridge, index: int) -> list[str]:
    batch = bb.client("batch")
    for create, name in (
        (batch.create_compute_environment, "compute-environment.json"),
        (batch.create_job_queue, "job-queue.json"),
        (batch.register_job_definition, "job-definition.json"),
    ):
        create(**json.loads((EXAMPLES / name).read_text()))
    job_id = batch.submit_job(**json.loads((EXAMPLES / "print-color-job.json").read_text()))["jobId"]
    parent = bb.wait_for_job(job_id)
    assert parent["status"] == "SUCCEEDED"
    assert parent["arrayProperties"]["statusSummary"]["SUCCEEDED"] == 7
    child = batch.describe_jobs(jobs=[f"{job_id}:{index}"])["jobs"][0]
    return bb.log_messages("/aws/batch/job", child["container"]["logStreamName"])


def test_subprocess_mode_runs_a_separate_server_with_the_image_map() -> None:
    images = {"print-color": ("sh", str(EXAMPLES / "print-color.sh"))}
    with BatchBridge(mode="subprocess", images=images) as bb:
        assert bb._process is not None and bb._process.poll() is None
        assert "batch" in _health(bb.endpoint_url)["services"]
        assert _run_print_color_child(bb, 4) == ["My favorite color of the rainbow is blue."]
        data_dir = bb.data_dir
        url = bb.endpoint_url
        assert (data_dir / "batchbridge.sqlite3").is_file()
    assert not data_dir.exists(), "the temporary data folder is removed"
    with pytest.raises(urllib.error.URLError):
        _health(url)


def test_thread_mode_keeps_a_given_data_folder(tmp_path: Path) -> None:
    images = {"print-color": ("sh", str(EXAMPLES / "print-color.sh"))}
    with BatchBridge(tmp_path / "data", images=images) as bb:
        assert bb._threaded is not None
        assert _run_print_color_child(bb, 0) == ["My favorite color of the rainbow is red."]
        url = bb.endpoint_url
    assert (tmp_path / "data" / "batchbridge.sqlite3").is_file()
    with pytest.raises(urllib.error.URLError):
        _health(url)


def test_wait_for_job_times_out_with_the_status(tmp_path: Path) -> None:
    with (
        BatchBridge(tmp_path / "data") as bb,
        pytest.raises(TimeoutError, match=r"job nope still unknown after 0.2 s"),
    ):
        bb.wait_for_job("nope", timeout=0.2)


def test_the_fixture_gives_a_running_server(batchbridge: BatchBridge) -> None:
    assert _health(batchbridge.endpoint_url)["status"] == "ok"
    assert batchbridge.client("batch").describe_job_queues()["jobQueues"] == []
