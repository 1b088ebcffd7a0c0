"""CloudWatch Logs (botocore service ``logs``, JSON 1.1 ``Logs_20140328.*``).

Operations: log groups (create, delete, describe with prefix and paging, retention, tags through
both the legacy ``TagLogGroup`` family and ``TagResource``), log streams (create, delete, describe
by name or last event time), ``PutLogEvents``, ``GetLogEvents`` and ``FilterLogEvents``.

AWS rules emulated (CloudWatch Logs API reference):

* names: groups match ``[\\.\\-_/#A-Za-z0-9]+`` and streams ``[^:*]*``, both 1..512 characters;
  a violation is ``InvalidParameterException`` in AWS's "1 validation error detected" wording.
* ``PutLogEvents``: events in chronological order, at most 10,000 events and 1,048,576 bytes
  (each message's UTF-8 size plus 26 bytes), spanning at most 24 hours, else
  ``InvalidParameterException``; events more than 2 hours in the future, older than 14 days or
  older than the group's retention are dropped and reported in ``rejectedLogEventsInfo``.  The
  sequence token is ignored on input (AWS stopped checking it in 2023) and a fresh
  ``nextSequenceToken`` is still returned.
* ``GetLogEvents``: see :mod:`batchbridge.store.logs` for the token semantics.
* ``FilterLogEvents`` supports this subset of AWS's filter pattern syntax: an empty pattern
  (everything); terms separated by spaces, all of which must occur (case-sensitive); quoted phrases
  ``"two words"``; ``-term`` that must not occur; ``?term`` of which at least one must occur.
  JSON patterns ``{ ... }``, space-delimited patterns ``[ ... ]`` and regular expressions
  ``%...%`` answer ``InvalidParameterException``.  Events are returned in ingestion order across
  streams (AWS sorts by timestamp; both agree when producers write in time order), and every
  candidate stream is reported as searched completely.

All log groups live in one namespace per server, whichever account or region signs the request;
ARNs in answers use the caller's account and region.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from typing import Any

from batchbridge.config import Settings
from batchbridge.domain.arns import make_arn
from batchbridge.errors import ResourceAlreadyExistsException, ResourceNotFoundException, ServiceError
from batchbridge.services.context import RequestContext
from batchbridge.store import logs as store
from batchbridge.store.db import Database
from batchbridge.store.paging import decode_token, encode_token

GROUP_NAME_RE = re.compile(r"[\.\-_/#A-Za-z0-9]+")
STREAM_NAME_RE = re.compile(r"[^:*]*")
MAX_NAME = 512
MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD_BYTES = 26
MAX_SPAN_MS = 24 * 3600 * 1000
MAX_FUTURE_MS = 2 * 3600 * 1000
MAX_AGE_MS = 14 * 24 * 3600 * 1000
DAY_MS = 24 * 3600 * 1000
RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

GROUP_NOT_FOUND = "The specified log group does not exist."
STREAM_NOT_FOUND = "The specified log stream does not exist."


class InvalidParameterException(ServiceError):
    """CloudWatch Logs' answer to a parameter that is specified incorrectly."""

    code = "InvalidParameterException"


def _invalid_value(field: str, value: object, constraint: str) -> InvalidParameterException:
    return InvalidParameterException(
        f"1 validation error detected: Value '{value}' at '{field}' "
        f"failed to satisfy constraint: {constraint}"
    )


def validate_group_name(name: object, field: str = "logGroupName") -> str:
    """AWS's constraint on a log group name, answered as ``InvalidParameterException``."""
    return _validate_name(name, field, GROUP_NAME_RE)


def validate_stream_name(name: object, field: str = "logStreamName") -> str:
    """AWS's constraint on a log stream name: 1..512 characters, no ``:`` and no ``*``."""
    return _validate_name(name, field, STREAM_NAME_RE)


def _validate_name(name: object, field: str, pattern: re.Pattern[str]) -> str:
    """Present, at most ``MAX_NAME`` characters and matching ``pattern``, in AWS's wording."""
    if not isinstance(name, str) or not name:
        raise InvalidParameterException(f"Missing required parameter {field}.")
    if len(name) > MAX_NAME:
        raise _invalid_value(field, name, f"Member must have length less than or equal to {MAX_NAME}")
    if not pattern.fullmatch(name):
        constraint = f"Member must satisfy regular expression pattern: {pattern.pattern}"
        raise _invalid_value(field, name, constraint)
    return name


def _limit(params: dict[str, Any], default: int, maximum: int) -> int:
    value = params.get("limit", default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _invalid_value("limit", value, "Member must have value greater than or equal to 1")
    if value > maximum:
        raise _invalid_value("limit", value, f"Member must have value less than or equal to {maximum}")
    return value


@dataclasses.dataclass(frozen=True)
class FilterPattern:
    """A compiled filter pattern of the supported subset (see the module docstring)."""

    required: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()

    def matches(self, message: str) -> bool:
        if any(term not in message for term in self.required):
            return False
        if any(term in message for term in self.excluded):
            return False
        return not self.optional or any(term in message for term in self.optional)


_TERM_RE = re.compile(r'\s*([-?]?)(?:"((?:[^"\\]|\\.)*)"|([^\s"]+))')


def parse_filter_pattern(pattern: str | None) -> FilterPattern:
    """Compile ``pattern``; ``InvalidParameterException`` for syntax outside the supported subset."""
    text = (pattern or "").strip()
    if not text:
        return FilterPattern()
    if text[0] in "{[" or text.startswith("%"):
        raise InvalidParameterException(
            f"Invalid filter pattern '{text}': only terms, \"quoted phrases\", -term and ?term are "
            "supported by this server (JSON, space-delimited and regular expression patterns are not)."
        )
    required: list[str] = []
    excluded: list[str] = []
    optional: list[str] = []
    pos = 0
    while pos < len(text):
        match = _TERM_RE.match(text, pos)
        if match is None or match.end() == pos:
            raise InvalidParameterException(f"Invalid filter pattern '{text}': unbalanced quotes.")
        pos = match.end()
        if text[pos:].strip() == "":
            pos = len(text)
        sign, quoted, bare = match.group(1), match.group(2), match.group(3)
        term = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        if not term:
            continue
        {"-": excluded, "?": optional}.get(sign, required).append(term)
    return FilterPattern(tuple(required), tuple(excluded), tuple(optional))


class LogsService:
    """The ``logs`` service: one method per CloudWatch Logs operation."""

    def __init__(
        self, db: Database, settings: Settings | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    # ------------------------------------------------------------ helpers

    @staticmethod
    def _position(token: object, scope: str, default: str | int) -> str | int:
        """The single keyset value inside a ``nextToken`` of ``scope`` (``default`` without one)."""
        if token is None:
            return default
        position = decode_token(str(token), scope, error=InvalidParameterException)
        if len(position) != 1 or type(position[0]) is not type(default):
            raise InvalidParameterException("Invalid nextToken: the token is not one this server returned")
        return position[0]

    @staticmethod
    def _group_arn(ctx: RequestContext, name: str) -> str:
        return make_arn("logs", ctx.region, ctx.account_id, f"log-group:{name}")

    def _group_param(self, params: dict[str, Any]) -> str:
        """``logGroupName`` or ``logGroupIdentifier`` (a name or a log group ARN), exactly one."""
        name = params.get("logGroupName")
        ident = params.get("logGroupIdentifier")
        if name is not None and ident is not None:
            raise InvalidParameterException(
                "LogGroup name and LogGroup ARN are mutually exclusive parameters."
            )
        if ident is not None:
            text = str(ident)
            if text.startswith("arn:"):
                parts = text.split(":")
                if len(parts) < 7 or parts[5] != "log-group":
                    raise InvalidParameterException(f"Invalid log group ARN: {text}")
                text = parts[6]
            return validate_group_name(text, "logGroupIdentifier")
        if name is None:
            raise InvalidParameterException("Should provide either logGroupName or logGroupIdentifier.")
        return validate_group_name(name)

    def _require_group(self, conn: Any, name: str) -> store.LogGroup:
        group = store.get_group(conn, name)
        if group is None:
            raise ResourceNotFoundException(GROUP_NOT_FOUND)
        return group

    def _group_from_arn(self, arn: object) -> str:
        text = str(arn or "")
        parts = text.split(":")
        if len(parts) < 7 or parts[0] != "arn" or parts[2] != "logs" or parts[5] != "log-group":
            raise InvalidParameterException(f"Invalid resourceArn: {text}")
        return validate_group_name(parts[6], "resourceArn")

    # ------------------------------------------------------------ groups

    def CreateLogGroup(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = validate_group_name(params.get("logGroupName"))
        tags = dict(params.get("tags") or {})
        with self.db.transaction() as conn:
            if not store.create_group(conn, name, tags=tags, created_ms=self._now_ms()):
                raise ResourceAlreadyExistsException("The specified log group already exists")
        return {}

    def DeleteLogGroup(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = validate_group_name(params.get("logGroupName"))
        with self.db.transaction() as conn:
            if not store.delete_group(conn, name):
                raise ResourceNotFoundException(GROUP_NOT_FOUND)
        return {}

    def DescribeLogGroups(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        prefix = params.get("logGroupNamePrefix") or ""
        if prefix:
            validate_group_name(prefix, "logGroupNamePrefix")
        limit = _limit(params, 50, 50)
        token = params.get("nextToken")
        after = str(self._position(token, "logs:DescribeLogGroups", "")) if token else ""
        with self.db.read() as conn:
            groups = store.list_groups(conn, prefix=prefix, after=after, limit=limit + 1)
        out: dict[str, Any] = {"logGroups": [self._describe_group(ctx, g) for g in groups[:limit]]}
        if len(groups) > limit:
            out["nextToken"] = encode_token("logs:DescribeLogGroups", [groups[limit - 1].name])
        return out

    def _describe_group(self, ctx: RequestContext, group: store.LogGroup) -> dict[str, Any]:
        arn = self._group_arn(ctx, group.name)
        entry: dict[str, Any] = {
            "logGroupName": group.name,
            "creationTime": group.created_ms,
            "metricFilterCount": 0,
            "arn": f"{arn}:*",
            "storedBytes": group.stored_bytes,
            "logGroupClass": "STANDARD",
            "logGroupArn": arn,
        }
        if group.retention_days is not None:
            entry["retentionInDays"] = group.retention_days
        return entry

    def PutRetentionPolicy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = validate_group_name(params.get("logGroupName"))
        days = params.get("retentionInDays")
        if days not in RETENTION_DAYS:
            allowed = ", ".join(str(d) for d in RETENTION_DAYS)
            raise _invalid_value("retentionInDays", days, f"Member must satisfy enum value set: [{allowed}]")
        with self.db.transaction() as conn:
            if not store.set_retention(conn, name, int(str(days))):
                raise ResourceNotFoundException(GROUP_NOT_FOUND)
        return {}

    def DeleteRetentionPolicy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = validate_group_name(params.get("logGroupName"))
        with self.db.transaction() as conn:
            if not store.set_retention(conn, name, None):
                raise ResourceNotFoundException(GROUP_NOT_FOUND)
        return {}

    # ------------------------------------------------------------ tags

    def _update_tags(self, name: str, add: dict[str, str], remove: list[str]) -> None:
        with self.db.transaction() as conn:
            group = self._require_group(conn, name)
            tags = {k: v for k, v in group.tags.items() if k not in remove}
            tags.update(add)
            if len(tags) > 50:
                raise ServiceError("A resource can have no more than 50 tags.", code="TooManyTagsException")
            store.set_tags(conn, name, tags)

    def _tags_of(self, name: str) -> dict[str, Any]:
        with self.db.read() as conn:
            return {"tags": self._require_group(conn, name).tags}

    def TagLogGroup(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self._update_tags(validate_group_name(params.get("logGroupName")), dict(params.get("tags") or {}), [])
        return {}

    def UntagLogGroup(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self._update_tags(validate_group_name(params.get("logGroupName")), {}, list(params.get("tags") or []))
        return {}

    def ListTagsLogGroup(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._tags_of(validate_group_name(params.get("logGroupName")))

    def TagResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self._update_tags(self._group_from_arn(params.get("resourceArn")), dict(params.get("tags") or {}), [])
        return {}

    def UntagResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = self._group_from_arn(params.get("resourceArn"))
        self._update_tags(name, {}, list(params.get("tagKeys") or []))
        return {}

    def ListTagsForResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._tags_of(self._group_from_arn(params.get("resourceArn")))

    # ------------------------------------------------------------ streams

    def CreateLogStream(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = validate_group_name(params.get("logGroupName"))
        stream = validate_stream_name(params.get("logStreamName"))
        with self.db.transaction() as conn:
            self._require_group(conn, group)
            if not store.create_stream(conn, group, stream, created_ms=self._now_ms()):
                raise ResourceAlreadyExistsException("The specified log stream already exists")
        return {}

    def DeleteLogStream(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = validate_group_name(params.get("logGroupName"))
        stream = validate_stream_name(params.get("logStreamName"))
        with self.db.transaction() as conn:
            self._require_group(conn, group)
            if not store.delete_stream(conn, group, stream):
                raise ResourceNotFoundException(STREAM_NOT_FOUND)
        return {}

    def DescribeLogStreams(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = self._group_param(params)
        prefix = params.get("logStreamNamePrefix") or ""
        if prefix:
            validate_stream_name(prefix, "logStreamNamePrefix")
        order_by = params.get("orderBy") or "LogStreamName"
        if order_by not in ("LogStreamName", "LastEventTime"):
            raise _invalid_value(
                "orderBy", order_by, "Member must satisfy enum value set: [LogStreamName, LastEventTime]"
            )
        if order_by == "LastEventTime" and prefix:
            raise InvalidParameterException("Cannot order by LastEventTime with a logStreamNamePrefix.")
        limit = _limit(params, 50, 50)
        scope = f"logs:DescribeLogStreams:{group}:{order_by}:{bool(params.get('descending'))}:{prefix}"
        offset = int(self._position(params.get("nextToken"), scope, 0))
        with self.db.read() as conn:
            self._require_group(conn, group)
            streams = store.list_streams(conn, group, prefix=prefix)
        if order_by == "LastEventTime":
            streams.sort(key=lambda s: (s.last_event_ms or 0, s.name))
        if params.get("descending"):
            streams.reverse()
        page = streams[offset : offset + limit]
        arn = self._group_arn(ctx, group)
        out: dict[str, Any] = {"logStreams": [self._describe_stream(arn, s) for s in page]}
        if offset + limit < len(streams):
            out["nextToken"] = encode_token(scope, [offset + limit])
        return out

    @staticmethod
    def _describe_stream(group_arn: str, stream: store.LogStream) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "logStreamName": stream.name,
            "creationTime": stream.created_ms,
            "arn": f"{group_arn}:log-stream:{stream.name}",
            "storedBytes": 0,
        }
        if stream.first_event_ms is not None:
            entry["firstEventTimestamp"] = stream.first_event_ms
            entry["lastEventTimestamp"] = stream.last_event_ms
        if stream.last_ingestion_ms is not None:
            entry["lastIngestionTime"] = stream.last_ingestion_ms
        entry["uploadSequenceToken"] = store.sequence_token(stream.sequence + 1)
        return entry

    # ------------------------------------------------------------ events

    def PutLogEvents(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = validate_group_name(params.get("logGroupName"))
        stream = validate_stream_name(params.get("logStreamName"))
        raw = params.get("logEvents")
        if not isinstance(raw, list) or not raw:
            raise _invalid_value("logEvents", raw, "Member must have length greater than or equal to 1")
        if len(raw) > MAX_BATCH_EVENTS:
            raise _invalid_value(
                "logEvents",
                f"[{len(raw)} events]",
                f"Member must have length less than or equal to {MAX_BATCH_EVENTS}",
            )
        events: list[tuple[int, str]] = []
        for index, item in enumerate(raw):
            ts = item.get("timestamp") if isinstance(item, dict) else None
            message = item.get("message") if isinstance(item, dict) else None
            if not isinstance(ts, int) or isinstance(ts, bool) or ts < 0:
                raise _invalid_value(f"logEvents.{index + 1}.member.timestamp", ts, "Member must not be null")
            if not isinstance(message, str) or not message:
                raise _invalid_value(
                    f"logEvents.{index + 1}.member.message", message,
                    "Member must have length greater than or equal to 1",
                )  # fmt: skip
            events.append((ts, message))
        size = sum(len(m.encode("utf-8")) + EVENT_OVERHEAD_BYTES for _, m in events)
        if size > MAX_BATCH_BYTES:
            raise InvalidParameterException(
                f"Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}"
            )
        if any(events[i][0] > events[i + 1][0] for i in range(len(events) - 1)):
            raise InvalidParameterException(
                "Log events in a single PutLogEvents request must be in chronological order."
            )
        if events[-1][0] - events[0][0] > MAX_SPAN_MS:
            raise InvalidParameterException(
                "The batch of log events in a single PutLogEvents request cannot span more than 24 hours."
            )
        now = self._now_ms()
        out: dict[str, Any] = {}
        with self.db.transaction() as conn:
            info, first, end = self._rejections(self._require_group(conn, group), events, now)
            if store.get_stream(conn, group, stream) is None:
                raise ResourceNotFoundException(STREAM_NOT_FOUND)
            store.append_log_events(conn, group, stream, events[first:end], ingestion_ms=now)
            record = store.get_stream(conn, group, stream)
            assert record is not None
        out["nextSequenceToken"] = store.sequence_token(record.sequence + 1)
        if info:
            out["rejectedLogEventsInfo"] = info
        return out

    @staticmethod
    def _rejections(
        record: store.LogGroup, events: list[tuple[int, str]], now: int
    ) -> tuple[dict[str, int], int, int]:
        """AWS's ``rejectedLogEventsInfo`` for a sorted batch and the accepted slice ``[first, end)``."""
        info: dict[str, int] = {}
        first = 0
        too_old = [i for i, (ts, _) in enumerate(events) if ts < now - MAX_AGE_MS]
        if too_old:
            info["tooOldLogEventEndIndex"] = too_old[-1]
            first = too_old[-1] + 1
        if record.retention_days is not None:
            expired = [i for i, (ts, _) in enumerate(events) if ts < now - record.retention_days * DAY_MS]
            if expired:
                info["expiredLogEventEndIndex"] = expired[-1]
                first = max(first, expired[-1] + 1)
        end = len(events)
        too_new = [i for i, (ts, _) in enumerate(events) if ts > now + MAX_FUTURE_MS]
        if too_new:
            info["tooNewLogEventStartIndex"] = too_new[0]
            end = too_new[0]
        return info, first, max(end, first)

    def GetLogEvents(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = self._group_param(params)
        stream = validate_stream_name(params.get("logStreamName"))
        limit = _limit(params, 10_000, 10_000)
        token = params.get("nextToken")
        with self.db.read() as conn:
            self._require_group(conn, group)
            if store.get_stream(conn, group, stream) is None:
                raise ResourceNotFoundException(STREAM_NOT_FOUND)
        try:
            page = store.read_log_events(
                self.db,
                group,
                stream,
                start_from_head=bool(params.get("startFromHead", False)),
                start_time=params.get("startTime"),
                end_time=params.get("endTime"),
                limit=limit,
                token=None if token is None else str(token),
            )
        except ValueError as exc:
            raise InvalidParameterException("The specified nextToken is invalid.") from exc
        return {
            "events": [
                {"timestamp": e.timestamp_ms, "message": e.message, "ingestionTime": e.ingestion_ms}
                for e in page.events
            ],
            "nextForwardToken": page.forward_token,
            "nextBackwardToken": page.backward_token,
        }

    def FilterLogEvents(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = self._group_param(params)
        names = params.get("logStreamNames")
        prefix = params.get("logStreamNamePrefix") or ""
        if names is not None and prefix:
            raise InvalidParameterException(
                "logStreamNames and logStreamNamePrefix are mutually exclusive parameters."
            )
        if names is not None:
            names = [validate_stream_name(n, "logStreamNames") for n in names]
        pattern = parse_filter_pattern(params.get("filterPattern"))
        limit = _limit(params, 10_000, 10_000)
        after_id = int(self._position(params.get("nextToken"), f"logs:FilterLogEvents:{group}", 0))
        found: list[store.LogEvent] = []
        more = False
        with self.db.read() as conn:
            self._require_group(conn, group)
            streams = store.list_streams(conn, group, prefix=prefix, names=names)
            for event in store.scan_events(
                conn,
                group,
                streams=names,
                stream_prefix=prefix,
                start_time=params.get("startTime"),
                end_time=params.get("endTime"),
                after_id=after_id,
            ):
                if not pattern.matches(event.message):
                    continue
                if len(found) == limit:
                    more = True
                    break
                found.append(event)
        out: dict[str, Any] = {
            "events": [
                {
                    "logStreamName": e.stream_name,
                    "timestamp": e.timestamp_ms,
                    "message": e.message,
                    "ingestionTime": e.ingestion_ms,
                    "eventId": str(e.id),
                }
                for e in found
            ],
            "searchedLogStreams": [{"logStreamName": s.name, "searchedCompletely": True} for s in streams],
        }
        if more:
            out["nextToken"] = encode_token(f"logs:FilterLogEvents:{group}", [found[-1].id])
        return out
