"""Starting a command with the launcher: the start Popen would give, at posix_spawn's cost."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

from batchbridge.executors.base import AttemptExit
from batchbridge.executors.process import AttemptProcess, Launcher, make_workdir
from batchbridge.executors.protocol import AgentPaths

from .conftest import collect, run, spec, started


def _run(data_dir: Path, attempt_id: str, command: list[str], **options: object) -> tuple[AttemptExit, str]:
    """Run one attempt through a launcher and return its exit and its stdout."""
    paths = AgentPaths.for_data_dir(data_dir)
    paths.attempts.mkdir(parents=True, exist_ok=True)

    async def scenario() -> tuple[AttemptExit, str]:
        exits: list[AttemptExit] = []
        out: list[str] = []
        journal = os.open(paths.launches, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            attempt = AttemptProcess(
                spec(data_dir, attempt_id, command, **options),  # type: ignore[arg-type]
                journal,
                paths.attempt_files(attempt_id),
                asyncio.get_running_loop(),
                lambda _a, records: out.extend(str(r[3]) for r in records if r[2] == "o"),
                lambda _a, exit: exits.append(exit),
                Launcher(),
            )
            attempt.spawn()
            while not exits:
                await asyncio.sleep(0.01)
        finally:
            os.close(journal)
        return exits[0], "\n".join(out)

    here = os.getcwd()
    try:
        return run(scenario())
    finally:
        os.chdir(here)


def test_the_command_runs_in_its_working_folder_as_its_own_process_group_with_its_own_environment(
    data_dir: Path,
) -> None:
    script = 'pwd; echo "$SPECIAL"; ps -o pgid=,sid= -p $$; echo $$; cat; echo "[stdin done]"'
    exit, out = _run(data_dir, "l1.1", ["sh", "-c", script], env={"SPECIAL": "from-the-spec"})
    cwd, special, ids, pid, stdin_done = out.splitlines()
    pgid, sid = (int(x) for x in ids.split())
    assert exit.exit_code == 0
    assert cwd == str(data_dir / "work" / "l1.1")
    assert special == "from-the-spec"
    assert pgid == int(pid), "the command leads its own process group"
    assert sid == os.getsid(0), "in the launcher's session: no scheduler autogroup per attempt"
    assert stdin_done == "[stdin done]", "stdin is /dev/null"


POLICY = "sleep 0.3; awk '{print $41}' /proc/self/stat"


def test_an_idle_priority_attempt_and_its_children_run_under_sched_idle(data_dir: Path) -> None:
    exit, out = _run(data_dir, "l1.2", ["sh", "-c", POLICY], cpu_priority="idle")
    assert exit.exit_code == 0
    assert int(out) == os.SCHED_IDLE


def test_a_normal_priority_attempt_keeps_the_default_policy(data_dir: Path) -> None:
    exit, out = _run(data_dir, "l1.3", ["sh", "-c", POLICY], cpu_priority="normal")
    assert exit.exit_code == 0
    assert int(out) == os.SCHED_OTHER


def test_sigpipe_is_at_its_default_in_the_child(data_dir: Path) -> None:
    exit, out = _run(data_dir, "l2.1", ["sh", "-c", "yes | head -n 2; grep SigIgn /proc/self/status"])
    ignored = int(out.splitlines()[-1].split()[1], 16)
    assert exit.exit_code == 0
    assert not ignored & (1 << (13 - 1)), "SIGPIPE is not ignored"


def test_the_command_is_found_on_the_path_of_the_attempt_environment(data_dir: Path, tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    tools.mkdir()
    tool = tools / "only-here"
    tool.write_text("#!/bin/sh\necho found-it\n")
    tool.chmod(0o755)
    exit, out = _run(data_dir, "l3.1", ["only-here"], env={"PATH": f"{tools}:/usr/bin:/bin"})
    assert exit.exit_code == 0 and out == "found-it"


def test_a_missing_command_and_a_file_that_is_not_executable_fail_to_start(
    data_dir: Path, tmp_path: Path
) -> None:
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "not-executable").write_text("#!/bin/sh\n")
    (tools / "not-executable").chmod(stat.S_IRUSR | stat.S_IWUSR)
    env = {"PATH": f"{tools}:/usr/bin:/bin"}
    missing, _ = _run(data_dir, "l4.1", ["no-such-program-here"], env=env)
    denied, _ = _run(data_dir, "l4.2", ["not-executable"], env=env)
    absolute, _ = _run(data_dir, "l4.3", ["/nonexistent/program"])
    assert missing.status_reason == denied.status_reason == absolute.status_reason == "Task failed to start"
    assert missing.exit_code is None and missing.started_at_ms is None
    assert (
        missing.reason is not None
        and 'exec: "no-such-program-here": executable file not found' in missing.reason
    )
    assert denied.reason is not None and 'exec: "not-executable": permission denied' in denied.reason
    assert absolute.reason is not None and 'exec: "/nonexistent/program"' in absolute.reason


def test_a_command_removed_after_it_was_found_is_looked_up_again(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
        (folder / "tool").write_text("#!/bin/sh\n")
        (folder / "tool").chmod(0o755)
    launcher = Launcher()
    env = {"PATH": f"{first}:{second}"}
    work = tmp_path / "w"
    work.mkdir()
    here = os.getcwd()
    try:
        started = []
        for _ in range(2):
            pid, out_r, err_r = launcher.spawn(spec(tmp_path, "x.1", ["tool"], env=env), str(work))
            os.close(out_r)
            os.close(err_r)
            started.append(os.waitpid(pid, 0)[1])
            (first / "tool").unlink(missing_ok=True)
    finally:
        os.chdir(here)
    assert [os.waitstatus_to_exitcode(s) for s in started] == [0, 0]


def test_the_working_folder_and_its_parent_are_created_once(tmp_path: Path) -> None:
    folder = tmp_path / "jobs" / "job_1" / "attempt-1"
    make_workdir(str(folder))
    make_workdir(str(folder))
    make_workdir(str(folder.parent / "attempt-2"))
    assert sorted(p.name for p in folder.parent.iterdir()) == ["attempt-1", "attempt-2"]


def test_an_attempt_started_by_the_agent_holds_no_descriptor_beyond_its_three(data_dir: Path) -> None:
    async def scenario() -> list[str]:
        async with started(data_dir) as executor:
            await executor.launch(spec(data_dir, "fds.1", ["sh", "-c", "ls /proc/$$/fd"]))
            lines, exits = await collect(executor, {"fds.1"})
            assert exits["fds.1"].exit_code == 0
            return [line.message for line in lines["fds.1"]]

    assert sorted(run(scenario())) == ["0", "1", "2"]
