"""Compute environments on Ray through the whole server: boto3 in, jobs on the test cluster, events out.

The server (``RayServer``) binds the compute environments of ``RAY_CES`` to the session's cluster
(head 127.0.0.1, node2 127.0.0.2, a logical-GPU node 127.0.0.3, each with 1 CPU).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from ray_server_support import (
    EXAMPLES,
    PRINT_COLOR_IMAGE,
    ROLE,
    RayServer,
    children,
    describe,
    drain,
    handler_prints,
    make_queue,
    register,
    sqs_queue,
    stream_messages,
    wait_for,
    wait_job,
)
from ray_support import RayCluster
from serverkit import free_port, make_client, server_command, unique, wait_healthy, zip_source

from batchbridge.engine.scheduler import TOO_BIG
from batchbridge.executors.base import host_lost_reason

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def ray_server(ray_cluster: RayCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayServer]:
    server = RayServer(tmp_path_factory.mktemp("ray-server"), ray_cluster.address)
    try:
        yield server
    finally:
        server.stop()


def _node_of(job: dict[str, object]) -> str:
    container = job["container"]
    assert isinstance(container, dict)
    return str(container["containerInstanceArn"]).rsplit("/", 1)[-1]


def test_an_array_spreads_over_the_nodes_and_records_each_childs_node(ray_server: RayServer) -> None:
    batch = ray_server.client("batch")
    queue = make_queue(batch, "ray-main", max_vcpus=3)
    definition = register(batch, ["sh", "-c", 'sleep 1; echo "index=$AWS_BATCH_JOB_ARRAY_INDEX"'])
    parent = batch.submit_job(
        jobName="spread", jobQueue=queue, jobDefinition=definition, arrayProperties={"size": 6}
    )["jobId"]
    assert wait_job(batch, parent)["status"] == "SUCCEEDED"
    kids = children(batch, parent, 6)
    node_ids = {node.node_id for node in ray_server.ray.nodes}
    nodes = [_node_of(kid) for kid in kids]
    assert set(nodes) <= node_ids, f"containerInstanceArn does not name a Ray node: {nodes}"
    assert len(set(nodes)) >= 2, f"every child ran on one node: {nodes}"
    logs = ray_server.client("logs")
    for index, kid in enumerate(kids):
        assert kid["status"] == "SUCCEEDED" and kid["attempts"][0]["container"]["exitCode"] == 0
        attempt = kid["attempts"][0]["container"]
        assert attempt["containerInstanceArn"] == kid["container"]["containerInstanceArn"]
        assert attempt["containerInstanceArn"].startswith(
            "arn:aws:ecs:us-east-1:123456789012:container-instance/"
        )
        assert kid["container"]["taskArn"].startswith(
            "arn:aws:ecs:us-east-1:123456789012:task/AWSBatch-ray-main-"
        )
        stream = kid["container"]["logStreamName"]
        assert stream_messages(logs, "/aws/batch/job", stream) == [f"index={index}"]


def test_a_gpu_job_receives_its_device(ray_server: RayServer) -> None:
    batch = ray_server.client("batch")
    queue = make_queue(batch, "ray-gpu", max_vcpus=3)
    definition = register(batch, ["sh", "-c", 'echo "gpu=${CUDA_VISIBLE_DEVICES-unset}"'], gpus=1)
    job_id = batch.submit_job(jobName="gpu", jobQueue=queue, jobDefinition=definition)["jobId"]
    job = wait_job(batch, job_id)
    assert job["status"] == "SUCCEEDED", job.get("statusReason")
    gpu_nodes = {n.node_id for n in ray_server.ray.nodes if n.gpus >= 1}
    assert _node_of(job) in gpu_nodes
    stream = job["container"]["logStreamName"]
    assert stream_messages(ray_server.client("logs"), "/aws/batch/job", stream) == ["gpu=0"]


def test_a_job_no_node_can_hold_stays_runnable_with_the_reason(ray_server: RayServer) -> None:
    batch = ray_server.client("batch")
    queue = make_queue(batch, "ray-big", max_vcpus=16)
    too_big = register(batch, ["true"], vcpus=2)
    fits = register(batch, ["true"], vcpus=1)
    stuck = batch.submit_job(jobName="too-big", jobQueue=queue, jobDefinition=too_big)["jobId"]
    wait_for(lambda: describe(batch, stuck).get("statusReason") == TOO_BIG, 30)
    other = batch.submit_job(jobName="fits", jobQueue=queue, jobDefinition=fits)["jobId"]
    assert wait_job(batch, other)["status"] == "SUCCEEDED"
    job = describe(batch, stuck)
    assert job["status"] == "RUNNABLE" and job["statusReason"].startswith(
        "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT - "
    )
    batch.terminate_job(jobId=stuck, reason="cleanup")


def test_terminate_stops_a_running_remote_job(ray_server: RayServer, tmp_path: Path) -> None:
    batch = ray_server.client("batch")
    queue = make_queue(batch, "ray-stop", max_vcpus=3)
    marker = tmp_path / "stop.pid"
    script = f"sleep 300 & echo $! > {marker}; echo up; wait"
    definition = register(batch, ["sh", "-c", script])
    job_id = batch.submit_job(jobName="stop-me", jobQueue=queue, jobDefinition=definition)["jobId"]
    wait_for(lambda: describe(batch, job_id)["status"] == "RUNNING" and marker.exists(), 60)
    child = int(wait_for(lambda: marker.read_text().strip(), 10))
    batch.terminate_job(jobId=job_id, reason="Stopped by the Ray test")
    job = wait_job(batch, job_id, 30)
    assert job["status"] == "FAILED" and job["statusReason"] == "Stopped by the Ray test"
    assert job["attempts"][0]["statusReason"] == "Stopped by the Ray test"
    assert _node_of(job) in {node.node_id for node in ray_server.ray.nodes}
    assert wait_for(lambda: not Path(f"/proc/{child}").exists(), 10), "the remote child outlived its job"


@pytest.mark.slow
def test_a_node_killed_mid_array_retries_its_children_and_the_parent_rule_fires_once(
    ray_server: RayServer, ray_cluster: RayCluster
) -> None:
    ray_cluster.start_node("127.0.0.5", '--resources={"victim5": 1}')
    executor = ray_server.ray
    victim = wait_for(lambda: next((n for n in executor.nodes if n.ip == "127.0.0.5"), None), 30)
    batch = ray_server.client("batch")
    queue = make_queue(batch, "ray-victim", max_vcpus=4)
    definition = register(batch, ["sh", "-c", "sleep 4; echo done"])
    url, arn = sqs_queue(ray_server)
    events = ray_server.client("events")
    rule = unique("parent-only")
    pattern = {
        "source": ["aws.batch"],
        "detail-type": ["Batch Job State Change"],
        "detail": {
            "jobDefinition": [definition],
            "status": ["SUCCEEDED"],
            "container": {"containerInstanceArn": [{"exists": False}]},
        },
    }
    events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": arn}])
    parent = batch.submit_job(
        jobName="victims",
        jobQueue=queue,
        jobDefinition=definition,
        arrayProperties={"size": 4},
        retryStrategy={"attempts": 2},
    )["jobId"]

    def on_victim() -> list[str]:
        return [
            kid["jobId"]
            for kid in children(batch, parent, 4)
            if kid["status"] == "RUNNING" and _node_of(kid) == victim.node_id
        ]

    hit = wait_for(on_victim, 60, 0.05)
    os.kill(ray_cluster.raylet_pid("127.0.0.5"), signal.SIGKILL)
    assert wait_job(batch, parent, 120)["status"] == "SUCCEEDED"
    kids = children(batch, parent, 4)
    for kid in kids:
        assert kid["status"] == "SUCCEEDED"
        if kid["jobId"] in hit:
            first, second = kid["attempts"]
            assert first["statusReason"] == host_lost_reason(victim.node_id)
            assert first["container"]["containerInstanceArn"].endswith(victim.node_id)
            assert second["container"]["exitCode"] == 0
            assert not second["container"]["containerInstanceArn"].endswith(victim.node_id)
    messages = drain(ray_server.client("sqs"), url)
    assert [(m["detail"]["jobId"], m["detail"]["status"]) for m in messages] == [(parent, "SUCCEEDED")]


@pytest.mark.slow
def test_the_seed_scenario_with_its_compute_environment_on_ray(ray_server: RayServer) -> None:
    batch = ray_server.client("batch")
    ce = json.loads((EXAMPLES / "compute-environment.json").read_text())
    assert ce["computeEnvironmentName"] == "print-color-computing"
    batch.create_compute_environment(**ce)
    batch.create_job_queue(
        jobQueueName="print-color-queue",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "print-color-computing"}],
    )
    definition = batch.register_job_definition(**json.loads((EXAMPLES / "job-definition.json").read_text()))
    definition_arn = definition["jobDefinitionArn"]
    assert json.loads((EXAMPLES / "job-definition.json").read_text())["containerProperties"]["image"] == (
        PRINT_COLOR_IMAGE
    )
    source = (EXAMPLES / "lambda_function.py").read_text()
    lam = ray_server.client("lambda")
    events = ray_server.client("events")
    every, parent_only = unique("every"), unique("parent")
    for name in (every, parent_only):
        lam.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=ROLE,
            Handler="lambda_function.lambda_handler",
            Code={"ZipFile": zip_source(source)},
        )
    step1 = json.loads((EXAMPLES / "rule-every-success.json").read_text())
    step3 = json.loads((EXAMPLES / "rule-parent-only.json").read_text())
    for pattern in (step1, step3):
        pattern["detail"]["jobDefinition"] = [definition_arn]
    for name, pattern in ((every, step1), (parent_only, step3)):
        arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        events.put_rule(Name=name, EventPattern=json.dumps(pattern))
        events.put_targets(Rule=name, Targets=[{"Id": "fn", "Arn": arn}])
    submission = json.loads((EXAMPLES / "print-color-job.json").read_text())
    parent = batch.submit_job(**submission)["jobId"]
    assert wait_job(batch, parent, 120)["status"] == "SUCCEEDED"
    kids = children(batch, parent, 7)
    node_ids = {node.node_id for node in ray_server.ray.nodes}
    assert all(_node_of(kid) in node_ids for kid in kids), "a child did not run on the cluster"
    logs = ray_server.client("logs")
    first = stream_messages(logs, "/aws/batch/job", kids[0]["container"]["logStreamName"])
    assert first == ["My favorite color of the rainbow is red."]

    def prints(name: str, count: int) -> list[str]:
        found = handler_prints(stream_messages(logs, f"/aws/lambda/{name}"))
        return found if len(found) >= count else []

    assert Counter(wait_for(lambda: prints(every, 8), 60)) == Counter([*map(str, range(7)), "root"])
    assert wait_for(lambda: prints(parent_only, 1), 60) == ["root"]
    time.sleep(1.0)
    assert len(handler_prints(stream_messages(logs, f"/aws/lambda/{every}"))) == 8
    assert handler_prints(stream_messages(logs, f"/aws/lambda/{parent_only}")) == ["root"]


def _serve(data_dir: Path, port: int, address: str) -> subprocess.Popen[str]:
    command, env = server_command(
        data_dir, port, "--ray", f"ray-restart={address}", "--min-timeout-seconds", "1", "--no-access-log"
    )
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_healthy(f"http://127.0.0.1:{port}", process)
    return process


@pytest.mark.slow
def test_a_server_killed_and_restarted_finds_its_running_ray_attempts(
    ray_cluster: RayCluster, tmp_path: Path
) -> None:
    data_dir, port = tmp_path / "data", free_port()
    first = _serve(data_dir, port, ray_cluster.address)
    try:
        batch = make_client("batch", f"http://127.0.0.1:{port}")
        queue = make_queue(batch, "ray-restart", max_vcpus=2)
        definition = register(batch, ["sh", "-c", "echo start; sleep 4; echo done"])
        job_id = batch.submit_job(jobName="survivor", jobQueue=queue, jobDefinition=definition)["jobId"]
        wait_for(lambda: describe(batch, job_id)["status"] == "RUNNING", 60)
        node = _node_of(describe(batch, job_id))
    finally:
        first.kill()
        first.wait(10)
        if first.stderr is not None:
            first.stderr.close()
    second = _serve(data_dir, port, ray_cluster.address)
    try:
        batch = make_client("batch", f"http://127.0.0.1:{port}")
        job = wait_job(batch, job_id, 60)
        assert job["status"] == "SUCCEEDED", job.get("statusReason")
        assert len(job["attempts"]) == 1, "the running attempt was retried instead of found again"
        assert _node_of(job) == node
        logs = make_client("logs", f"http://127.0.0.1:{port}")
        assert stream_messages(logs, "/aws/batch/job", job["container"]["logStreamName"]) == ["start", "done"]
    finally:
        second.kill()
        second.wait(10)
        if second.stderr is not None:
            second.stderr.close()
