"""The local executor runs real commands: output, exit codes, environment, start failures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from batchbridge.errors import ClientException
from batchbridge.executors.base import (
    ESSENTIAL_CONTAINER_EXITED,
    TASK_FAILED_TO_START,
    Capacity,
    Executor,
    LaunchSpec,
)
from batchbridge.executors.local import LocalExecutor

from .conftest import collect, run, spec, started


def test_output_lines_arrive_in_order_with_streams_timestamps_and_seq(data_dir: Path) -> None:
    script = "for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.05; done; printf 'tail-no-newline'"

    async def scenario() -> None:
        async with started(data_dir) as executor:
            info = await executor.launch(spec(data_dir, "lines", ["sh", "-c", script]))
            assert info.started_at_ms is not None and info.pid is not None
            lines, exits = await collect(executor, {"lines"})
            got = lines["lines"]
            assert [line.seq for line in got] == list(range(1, 8))
            stdout = [line.message for line in got if line.stream == "stdout"]
            stderr = [line.message for line in got if line.stream == "stderr"]
            assert stdout == ["out1", "out2", "out3", "tail-no-newline"]
            assert stderr == ["err1", "err2", "err3"]
            stamps = [line.timestamp_ms for line in got]
            assert stamps == sorted(stamps)
            assert stamps[0] >= info.started_at_ms
            assert stamps[-1] - stamps[0] >= 100
            exit = exits["lines"]
            assert exit.exit_code == 0 and exit.output_lines == 7
            assert exit.started_at_ms == info.started_at_ms
            assert exit.stopped_at_ms >= stamps[-1]

    run(scenario())


def test_exit_codes_zero_and_non_zero_are_essential_container_exits(data_dir: Path) -> None:
    async def scenario() -> None:
        async with started(data_dir) as executor:
            await executor.launch(spec(data_dir, "ok", ["true"]))
            await executor.launch(spec(data_dir, "bad", ["sh", "-c", "exit 42"]))
            _, exits = await collect(executor, {"ok", "bad"})
            assert exits["ok"].exit_code == 0
            assert exits["bad"].exit_code == 42
            for exit in exits.values():
                assert exit.status_reason == ESSENTIAL_CONTAINER_EXITED
                assert exit.reason is None
                assert not (exit.timed_out or exit.oom or exit.stopped or exit.host_lost)

    run(scenario())


def test_environment_is_exactly_the_spec_and_cwd_is_a_new_workdir_given_back_empty(data_dir: Path) -> None:
    env = {"AWS_BATCH_JOB_ARRAY_INDEX": "3", "COLOR": "blue"}
    launch = spec(
        data_dir,
        "env",
        ["sh", "-c", 'echo "$AWS_BATCH_JOB_ARRAY_INDEX $COLOR ${HIDDEN-unset}"; pwd'],
        env=env,
    )
    assert not launch.workdir.exists()

    async def scenario() -> None:
        async with started(data_dir) as executor:
            await executor.launch(launch)
            lines, _ = await collect(executor, {"env"})
            assert [line.message for line in lines["env"]] == ["3 blue unset", str(launch.workdir)]

    os.environ["HIDDEN"] = "leaked"
    try:
        run(scenario())
    finally:
        del os.environ["HIDDEN"]
    assert not launch.workdir.exists(), "an attempt's working folder left empty is kept for reuse"


def test_command_not_found_is_task_failed_to_start(data_dir: Path) -> None:
    async def scenario() -> None:
        async with started(data_dir) as executor:
            info = await executor.launch(spec(data_dir, "missing", ["no-such-command-xyz", "arg"]))
            assert info.started_at_ms is None
            lines, exits = await collect(executor, {"missing"})
            exit = exits["missing"]
            assert exit.status_reason == TASK_FAILED_TO_START
            assert exit.reason is not None
            assert exit.reason.startswith("CannotStartContainerError: ")
            assert '"no-such-command-xyz": executable file not found' in exit.reason
            assert exit.exit_code is None and exit.started_at_ms is None
            assert lines["missing"] == []

    run(scenario())


def test_a_file_that_is_not_executable_cannot_start(data_dir: Path, tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("echo never\n")

    async def scenario() -> None:
        async with started(data_dir) as executor:
            await executor.launch(spec(data_dir, "noexec", [str(script)]))
            _, exits = await collect(executor, {"noexec"})
            assert exits["noexec"].status_reason == TASK_FAILED_TO_START
            assert "permission denied" in (exits["noexec"].reason or "")

    run(scenario())


@pytest.mark.parametrize(
    ("field", "changes"),
    [
        ("command", {"command": []}),
        ("attemptId", {"attempt_id": "../escape"}),
        ("vcpus", {"vcpus": 0}),
        ("memory", {"memory_mib": -5}),
        ("timeout", {"timeout_seconds": 0}),
        ("environment", {"environment": {"A=B": "x"}}),
    ],
)
def test_bad_launch_specs_are_rejected_naming_the_field(
    tmp_path: Path, field: str, changes: dict[str, object]
) -> None:
    values: dict[str, object] = {
        "attempt_id": "a1",
        "command": ["true"],
        "environment": {},
        "vcpus": 1.0,
        "memory_mib": None,
        "gpus": 0,
        "workdir": tmp_path,
    }
    values.update(changes)
    with pytest.raises(ClientException) as caught:
        LaunchSpec(**values)  # type: ignore[arg-type]
    assert field in caught.value.message


def test_local_executor_satisfies_the_protocol_and_reports_capacity(data_dir: Path) -> None:
    executor = LocalExecutor(data_dir, memory_mib=1000)
    assert isinstance(executor, Executor)
    capacity = executor.capacity()
    assert isinstance(capacity, Capacity)
    assert capacity.vcpus >= 1 and 0 < capacity.memory_mib <= 1000 and capacity.gpus >= 0


def test_host_identity_is_stable_across_executors_and_the_agent_is_shared(data_dir: Path) -> None:
    async def scenario() -> None:
        async with started(data_dir) as first:
            assert first.host_id and first.container_instance_id and first.agent_pid
            async with started(data_dir) as second:
                assert second.agent_pid == first.agent_pid
                info = await second.launch(spec(data_dir, "shared", ["true"]))
                assert info.container_instance_id == first.container_instance_id
                assert info.host_id == first.host_id
                await collect(second, {"shared"})

    run(scenario())
