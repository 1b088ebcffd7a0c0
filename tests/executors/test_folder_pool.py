"""Working folders: every attempt starts in a new empty one; empty ones are reused, others kept."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from batchbridge.executors.process import FolderPool
from batchbridge.executors.protocol import AgentPaths

from .conftest import collect, spec, started


def test_an_empty_folder_given_back_becomes_the_next_attempts_folder(tmp_path: Path) -> None:
    pool = FolderPool(str(tmp_path / "spare"))
    first = tmp_path / "jobs" / "a_0" / "attempt-1"
    pool.make(str(first))
    assert first.is_dir() and len(pool) == 0
    inode = first.stat().st_ino
    pool.release(str(first))
    assert not first.parent.exists(), "the job folder left empty goes back too"
    assert len(pool) == 2
    second = tmp_path / "jobs" / "a_1" / "attempt-1"
    pool.make(str(second))
    assert second.is_dir() and not any(second.iterdir())
    assert inode in (second.stat().st_ino, second.parent.stat().st_ino)
    assert len(pool) == 0


def test_a_folder_with_anything_in_it_stays_for_the_user(tmp_path: Path) -> None:
    pool = FolderPool(str(tmp_path / "spare"))
    folder = tmp_path / "jobs" / "b_0" / "attempt-1"
    pool.make(str(folder))
    (folder / "result.txt").write_text("kept")
    pool.release(str(folder))
    assert (folder / "result.txt").read_text() == "kept"
    assert len(pool) == 0
    retry = folder.parent / "attempt-2"
    pool.make(str(retry))
    pool.release(str(retry))
    assert len(pool) == 1 and folder.parent.is_dir(), "the job folder still holds attempt-1"


def test_a_spare_that_got_content_is_never_handed_out(tmp_path: Path) -> None:
    pool = FolderPool(str(tmp_path / "spare"))
    folder = tmp_path / "jobs" / "c_0" / "attempt-1"
    pool.make(str(folder))
    pool.release(str(folder))
    for spare in (tmp_path / "spare").iterdir():
        (spare / "late.txt").write_text("written by a stray process")
    fresh = tmp_path / "jobs" / "c_1" / "attempt-1"
    pool.make(str(fresh))
    assert fresh.is_dir() and not any(fresh.iterdir())


def test_the_pool_keeps_at_most_its_limit_and_survives_a_restart(tmp_path: Path) -> None:
    pool = FolderPool(str(tmp_path / "spare"), limit=3)
    folders = [tmp_path / "jobs" / f"d_{index}" / "attempt-1" for index in range(3)]
    for folder in folders:
        pool.make(str(folder))
    for folder in folders:
        pool.release(str(folder))
    assert len(pool) == 3
    assert not folders[0].parent.exists() and not folders[1].exists()
    assert folders[1].parent.is_dir() and folders[2].is_dir()
    again = FolderPool(str(tmp_path / "spare"), limit=3)
    assert len(again) == 3
    folder = tmp_path / "jobs" / "e_0" / "attempt-1"
    again.make(str(folder))
    assert folder.is_dir()


def test_the_agent_reuses_empty_working_folders_and_keeps_written_ones(data_dir: Path) -> None:
    async def scenario() -> None:
        async with started(data_dir) as executor:
            quiet = [spec(data_dir, f"q_{i}.1", ["true"]) for i in range(4)]
            for item in quiet:
                await executor.launch(item)
                await collect(executor, {item.attempt_id})
            writes = spec(data_dir, "w_0.1", ["sh", "-c", "pwd > here.txt"])
            await executor.launch(writes)
            await collect(executor, {"w_0.1"})
            here = Path(writes.workdir) / "here.txt"
            assert here.read_text().strip() == os.fspath(writes.workdir)
            assert not any(Path(item.workdir).exists() for item in quiet)
            spare = AgentPaths.for_data_dir(data_dir).spare
            assert spare.is_dir() and len(list(spare.iterdir())) <= 2

    asyncio.run(scenario())
