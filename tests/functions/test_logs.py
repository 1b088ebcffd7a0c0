"""Splitting a worker's log pipe into events and phases."""

from __future__ import annotations

from batchbridge.functions import protocol
from batchbridge.functions.logs import LogSplitter, report_line, tail


def _splitter() -> LogSplitter:
    return LogSplitter(lambda: 1700000000.5)


def test_lines_and_phases() -> None:
    splitter = _splitter()
    splitter.feed(b"one\ntw")
    splitter.feed(b"o\npartial" + protocol.PHASE_END[:5])
    assert splitter.phases_ready == 0
    splitter.feed(protocol.PHASE_END[5:] + b"next\n")
    assert splitter.phases_ready == 1
    assert splitter.pop_phase() == [
        (1700000000500, "one\n"),
        (1700000000500, "two\n"),
        (1700000000500, "partial"),
    ]
    splitter.feed(protocol.PHASE_END)
    assert splitter.pop_phase() == [(1700000000500, "next\n")]


def test_records_keep_their_newlines() -> None:
    splitter = _splitter()
    splitter.feed(
        b"before\n" + protocol.encode_record("[INFO]\tline one\nline two\n") + b"after\n" + protocol.PHASE_END
    )
    assert [m for _, m in splitter.pop_phase()] == ["before\n", "[INFO]\tline one\nline two\n", "after\n"]


def test_close_keeps_the_unfinished_line() -> None:
    splitter = _splitter()
    splitter.feed(b"a\nb")
    splitter.close()
    assert [m for _, m in splitter.take_pending()] == ["a\n", "b"]


def test_report_line_and_tail() -> None:
    assert report_line("r", 12.341, 128, 40, None) == (
        "REPORT RequestId: r\tDuration: 12.34 ms\tBilled Duration: 13 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 40 MB\n"
    )
    assert report_line("r", 1.0, 256, 50, 95.126).endswith("\tInit Duration: 95.13 ms\n")
    events = [(0, "é" * 3000)]
    assert len(tail(events).encode()) <= 4096
