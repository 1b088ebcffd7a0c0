"""The exit journal: unacknowledged exits survive the agent, acknowledged ones never come back."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from batchbridge.executors.base import AttemptExit, AttemptState
from batchbridge.executors.protocol import AgentPaths, ExitJournal

from .conftest import collect, kill_agent, run, spec, started


def _exit(attempt_id: str, code: int = 0, lines: int = 0) -> AttemptExit:
    return AttemptExit(attempt_id, code, None, "Essential container in task exited", 1, 2, output_lines=lines)


def test_replay_gives_the_exits_not_acknowledged_and_skips_a_torn_line(tmp_path: Path) -> None:
    journal = ExitJournal(tmp_path / "exits.log")
    for name in ("a", "b", "c"):
        journal.record(_exit(name).to_json())
    journal.acknowledge(["b"], {"a": _exit("a"), "c": _exit("c")})
    journal.close()
    with open(tmp_path / "exits.log", "ab") as handle:
        handle.write(b'{"exit":{"attempt_id":"d","exit_co')
    assert ExitJournal(tmp_path / "exits.log").replay() == {"a": _exit("a"), "c": _exit("c")}


def test_the_journal_is_emptied_once_everything_is_acknowledged_past_its_threshold(tmp_path: Path) -> None:
    path = tmp_path / "exits.log"
    journal = ExitJournal(path)
    journal.compact_bytes = 1000
    for i in range(10):
        journal.record(_exit(f"x{i}").to_json())
    journal.acknowledge([f"x{i}" for i in range(9)], {"x9": _exit("x9")})
    assert path.stat().st_size > 1000, "an exit is still pending: nothing is dropped"
    journal.acknowledge(["x9"], {})
    assert path.stat().st_size == 0
    journal.record(_exit("y").to_json())
    assert ExitJournal(path).replay() == {"y": _exit("y")}


def test_a_long_journal_with_pending_exits_is_rewritten_with_those_only(tmp_path: Path) -> None:
    path = tmp_path / "exits.log"
    journal = ExitJournal(path)
    journal.rewrite_bytes = 2000
    pending = {"keep": _exit("keep", 7)}
    journal.record(pending["keep"].to_json())
    for i in range(20):
        journal.record(_exit(f"z{i}").to_json())
        journal.acknowledge([f"z{i}"], pending)
    assert path.stat().st_size < 2000
    assert ExitJournal(path).replay() == pending
    journal.record(_exit("later").to_json())
    assert list(ExitJournal(path).replay()) == ["keep", "later"]


def test_unacknowledged_exits_survive_an_agent_sigkill_and_acknowledged_ones_do_not(data_dir: Path) -> None:
    async def first_server() -> dict[str, AttemptExit]:
        async with started(data_dir) as executor:
            await executor.launch(spec(data_dir, "acked", ["sh", "-c", "echo kept; exit 0"]))
            _, acked = await collect(executor, {"acked"})
            await executor.launch(spec(data_dir, "pending", ["sh", "-c", "echo one; exit 5"]))
            _, pending = await collect(executor, {"pending"}, ack=False)
            return {**acked, **pending}

    exits = run(first_server())
    paths = AgentPaths.for_data_dir(data_dir)
    assert not paths.attempt_files("acked").output.exists(), "an acknowledged attempt's output log goes"
    assert paths.attempt_files("pending").output.exists()
    kill_agent(data_dir)

    async def second_server() -> None:
        async with started(data_dir) as executor:
            states = await executor.recover({"acked": 1, "pending": 0})
            assert states["acked"].state is AttemptState.UNKNOWN
            assert states["pending"].state is AttemptState.EXITED
            assert states["pending"].exit == exits["pending"]
            lines, again = await collect(executor, {"pending"})
            assert [line.message for line in lines["pending"]] == ["one"]
            assert again["pending"] == exits["pending"]

    run(second_server())


def test_an_exit_record_file_of_an_earlier_agent_is_taken_over(data_dir: Path) -> None:
    paths = AgentPaths.for_data_dir(data_dir)
    paths.attempts.mkdir(parents=True)
    old = _exit("old", 3, lines=1)
    files = paths.attempt_files("old")
    files.exit.write_text(json.dumps(old.to_json()))
    files.output.write_text(json.dumps([1, 5, "o", "from before"]) + "\n")

    async def scenario() -> None:
        async with started(data_dir) as executor:
            states = await executor.recover({"old": 0})
            assert states["old"].state is AttemptState.EXITED and states["old"].exit == old
            lines, _ = await collect(executor, {"old"})
            assert [line.message for line in lines["old"]] == ["from before"]
            for _ in range(100):
                if not files.exit.exists():
                    break
                await asyncio.sleep(0.02)
        assert not files.exit.exists() and not files.output.exists()

    run(scenario())


def test_an_exit_record_carries_every_field_and_reads_back_equal() -> None:
    import dataclasses

    exit = AttemptExit("r.1", None, "why", "Terminated", 10, 20, True, True, True, True, 4)
    assert exit.to_json() == dataclasses.asdict(exit)
    assert AttemptExit.from_json({**exit.to_json(), "unknown_field": 1}) == exit
