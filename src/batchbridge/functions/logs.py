"""Invocation logs as Lambda writes them to CloudWatch Logs.

* Group ``/aws/lambda/<function name>``; one stream per execution environment (here: per worker
  process), named ``YYYY/MM/DD/[<version>]<32 hex digits>`` with the UTC date of its start.
* Each line printed to stdout or stderr is one event; a ``logging`` record or an error report is one
  event even over several lines. Messages keep their trailing newline, as in CloudWatch.
* Each invocation is framed by ``START RequestId: <id> Version: <version>``, ``END RequestId: <id>``
  and ``REPORT RequestId: <id>\\tDuration: 12.34 ms\\tBilled Duration: 13 ms\\tMemory Size: 128 MB\\t
  Max Memory Used: 40 MB`` with ``\\tInit Duration: 95.12 ms`` on a cold start. Billing is per 1 ms,
  rounded up, as since December 2020.
* A timeout adds ``<ISO time> <request id> Task timed out after 3.00 seconds`` after the REPORT line
  (the classic Python runtime's report; newer environments add ``Status: timeout`` to REPORT instead).
* ``LogType=Tail`` returns the last 4 KB of the invocation's log.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable

from batchbridge.domain.arns import new_hex_id
from batchbridge.functions import protocol

LogEvent = tuple[int, str]
LogSink = Callable[[str, str, list[LogEvent]], None]
TAIL_BYTES = 4096
MAX_LINE_BYTES = 256 * 1024 - 26


def new_stream_name(version: str, now: float) -> str:
    day = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y/%m/%d")
    return f"{day}/[{version}]{new_hex_id()}"


def iso_millis(now: float) -> str:
    """``2020-11-10T05:46:57.874Z``, the timestamp shape of Lambda's own lines."""
    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def start_line(request_id: str, version: str) -> str:
    return f"START RequestId: {request_id} Version: {version}\n"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}\n"


def billed_ms(duration_ms: float) -> int:
    return max(1, math.ceil(duration_ms))


def report_line(
    request_id: str, duration_ms: float, memory_mb: int, max_memory_mb: int, init_ms: float | None
) -> str:
    line = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {billed_ms(duration_ms)} ms\tMemory Size: {memory_mb} MB\t"
        f"Max Memory Used: {max_memory_mb} MB"
    )
    if init_ms is not None:
        line += f"\tInit Duration: {init_ms:.2f} ms"
    return line + "\n"


def timeout_message(now: float, request_id: str, seconds: float) -> str:
    return f"{iso_millis(now)} {request_id} Task timed out after {seconds:.2f} seconds"


def tail(events: list[LogEvent]) -> str:
    """The last 4 KB (of UTF-8) of the events' text."""
    data = "".join(message for _, message in events).encode()
    return data[-TAIL_BYTES:].decode("utf-8", "ignore")


class LogSplitter:
    """Turns the bytes read from a worker's log pipe into events, cut into phases.

    A phase (the init phase, then each invocation) ends at the worker's ``PHASE_END`` marker;
    :meth:`pop_phase` returns the events of the oldest ended phase.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._buffer = bytearray()
        self._current: list[LogEvent] = []
        self._phases: list[list[LogEvent]] = []

    @property
    def phases_ready(self) -> int:
        return len(self._phases)

    def feed(self, data: bytes) -> None:
        self._buffer += data
        stamp = int(self._clock() * 1000)
        while True:
            marker = self._buffer.find(protocol.PHASE_END)
            if marker < 0:
                break
            self._lines(bytes(self._buffer[:marker]), stamp, final=True)
            del self._buffer[: marker + len(protocol.PHASE_END)]
            self._phases.append(self._current)
            self._current = []
        cut = self._buffer.rfind(b"\n")
        if cut >= 0:
            self._lines(bytes(self._buffer[: cut + 1]), stamp, final=False)
            del self._buffer[: cut + 1]
        if len(self._buffer) > MAX_LINE_BYTES:
            self._lines(bytes(self._buffer), stamp, final=True)
            self._buffer.clear()

    def close(self) -> None:
        """End of the pipe: whatever is buffered belongs to the phase in progress."""
        self._lines(bytes(self._buffer), int(self._clock() * 1000), final=True)
        self._buffer.clear()

    def pop_phase(self) -> list[LogEvent]:
        return self._phases.pop(0)

    def take_pending(self) -> list[LogEvent]:
        """Ended phases and the phase in progress, all at once (after the worker is gone)."""
        events = [event for phase in self._phases for event in phase] + self._current
        self._phases, self._current = [], []
        return events

    def _lines(self, data: bytes, stamp: int, *, final: bool) -> None:
        if not data:
            return
        pieces = data.split(b"\n")
        last = pieces.pop()
        for piece in pieces:
            self._current.append((stamp, _decode(piece, b"\n")))
        if last and final:
            self._current.append((stamp, _decode(last, b"")))


def _decode(line: bytes, ending: bytes) -> str:
    if line.startswith(protocol.RECORD_START):
        line = line[len(protocol.RECORD_START) :].replace(protocol.RECORD_NEWLINE, b"\n")
        ending = b"\n"
    return (line + ending).decode("utf-8", "replace")
