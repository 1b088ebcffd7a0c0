"""The EventBridge service (botocore service name ``events``): buses, rules, targets, events, tags.

AWS rules emulated (EventBridge API reference, one method per operation):

* The ``default`` bus always exists and cannot be deleted (``ValidationException: Cannot delete
  event bus default.``); a custom bus is deleted only once its rules are gone.  Creating a bus that
  exists answers ``ResourceAlreadyExistsException: Event bus X already exists.``; an unknown bus
  ``ResourceNotFoundException: Event bus X does not exist.``
* ``PutRule`` needs an ``EventPattern`` or a ``ScheduleExpression`` ("Parameter(s) EventPattern or
  ScheduleExpression must be specified."); schedules only on the default bus; a bad pattern answers
  ``InvalidEventPatternException``, a bad schedule ``Parameter ScheduleExpression is not valid.``
  Putting an existing rule replaces its settings (tags are applied only on creation).
* An unknown rule: ``ResourceNotFoundException: Rule X does not exist on EventBus Y.``
  ``DeleteRule`` refuses a rule that still has targets: ``ValidationException: Rule can't be
  deleted since it has targets.``; deleting an unknown rule succeeds.
* Listings page with ``Limit`` (1-100) and an opaque ``NextToken``; rules list in creation order.
* ``TestEventPattern`` needs an event with ``id``, ``account``, ``source``, ``time``, ``region``,
  ``resources`` and ``detail-type``: ``ValidationException: Parameter Event is not valid.``
* ``PutEvents`` fails bad entries one by one (see :mod:`batchbridge.bus.entries`) and records the
  good ones on their bus; the dispatcher then matches and delivers them.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from batchbridge.bus import entries as ent
from batchbridge.bus import targets as tg
from batchbridge.bus.delivery import Invoker
from batchbridge.bus.dispatcher import Dispatcher, next_schedule_time
from batchbridge.bus.retry import Backoff, Clock, SystemClock
from batchbridge.bus.rules import RuleRegistry, check_pattern, pattern_matches
from batchbridge.bus.schedule import validate_schedule
from batchbridge.errors import ResourceAlreadyExistsException, ResourceNotFoundException, ValidationException
from batchbridge.services.context import RequestContext
from batchbridge.store import deliveries as ds
from batchbridge.store import events as store
from batchbridge.store.db import Database
from batchbridge.store.paging import check_max_results, decode_token, encode_token

DEFAULT_BUS = tg.DEFAULT_BUS
REQUIRED_EVENT_FIELDS = ("id", "account", "source", "time", "region", "resources", "detail-type")
ENABLED_STATES = ("ENABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS")


def _rule_missing(name: str, bus: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Rule {name} does not exist on EventBus {bus}.")


def _bus_missing(name: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Event bus {name} does not exist.")


def _stamp(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@dataclasses.dataclass
class EventBridge:
    """The assembled EventBridge: the service object, its dispatcher and their shared registry."""

    service: EventsService
    dispatcher: Dispatcher
    registry: RuleRegistry


def build_eventbridge(
    db: Database,
    invokers: Mapping[str, Invoker] | None = None,
    *,
    clock: Clock | None = None,
    backoff: Backoff | None = None,
) -> EventBridge:
    """Load the rules from the store and wire the service to a dispatcher delivering via ``invokers``.

    Register ``result.service`` as ``"events"`` and run ``result.dispatcher.run`` as a background
    task; invokers may also be added later through ``result.dispatcher.invokers[kind] = ...``.
    """
    registry = RuleRegistry()
    with db.read() as conn:
        registry.load(conn)
    dispatcher = Dispatcher(db, registry, invokers or {}, clock=clock, backoff=backoff)
    now = (clock or SystemClock()).now
    service = EventsService(db, registry, on_events=dispatcher.wake, clock=now)
    return EventBridge(service, dispatcher, registry)


def create_events_service(db: Database, settings: object = None) -> EventsService:
    """``SERVICE_FACTORIES`` form: the service with its own dispatcher reachable as ``.dispatcher``."""
    bridge = build_eventbridge(db)
    bridge.service.dispatcher = bridge.dispatcher
    return bridge.service


class EventsService:
    """EventBridge operations over the store; ``registry`` is shared with the dispatcher.

    ``on_events`` is called after a commit that put events on a bus (the dispatcher's ``wake``).
    """

    def __init__(
        self,
        db: Database,
        registry: RuleRegistry,
        *,
        on_events: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.registry = registry
        self.on_events = on_events or (lambda: None)
        self.clock = clock
        self.dispatcher: Dispatcher | None = None

    # ------------------------------------------------------------------ helpers

    def _ensure_default(self, ctx: RequestContext) -> None:
        with self.db.transaction() as conn:
            if store.get_bus(conn, DEFAULT_BUS) is None:
                arn = tg.bus_arn(ctx.region, ctx.account_id, DEFAULT_BUS)
                store.insert_bus(conn, DEFAULT_BUS, arn, None, self.clock())

    def _bus(self, ctx: RequestContext, value: object) -> store.BusRecord:
        name = tg.bus_name(value)
        self._ensure_default(ctx)
        with self.db.read() as conn:
            bus = store.get_bus(conn, name)
        if bus is None:
            raise _bus_missing(name)
        return bus

    def _rule(self, ctx: RequestContext, params: dict[str, Any], field: str = "Name") -> store.RuleRecord:
        bus = self._bus(ctx, params.get("EventBusName"))
        name = tg.rule_name(params.get(field), field.lower())
        with self.db.read() as conn:
            rule = store.get_rule(conn, bus.name, name)
        if rule is None:
            raise _rule_missing(name, bus.name)
        return rule

    @staticmethod
    def _page(params: dict[str, Any], scope: str) -> tuple[int, Any]:
        limit = check_max_results(params.get("Limit"), error=ValidationException, field="Limit") or 100
        token = params.get("NextToken")
        position = decode_token(token, scope, error=ValidationException, field="NextToken") if token else None
        return limit, position

    def _bus_view(self, bus: store.BusRecord) -> dict[str, Any]:
        view: dict[str, Any] = {"Name": bus.name, "Arn": bus.arn}
        if bus.description:
            view["Description"] = bus.description
        view["CreationTime"] = _stamp(bus.created_at)
        view["LastModifiedTime"] = _stamp(bus.created_at)
        return view

    @staticmethod
    def _rule_view(rule: store.RuleRecord, account: str) -> dict[str, Any]:
        view: dict[str, Any] = {"Name": rule.name, "Arn": rule.arn}
        if rule.event_pattern is not None:
            view["EventPattern"] = rule.event_pattern
        if rule.schedule is not None:
            view["ScheduleExpression"] = rule.schedule
        view["State"] = rule.state
        for key, value in (("Description", rule.description), ("RoleArn", rule.role_arn)):
            if value is not None:
                view[key] = value
        if rule.managed_by is not None:
            view["ManagedBy"] = rule.managed_by
        view["EventBusName"] = rule.bus
        view["CreatedBy"] = account
        return view

    # ------------------------------------------------------------------ buses

    def CreateEventBus(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("Name")
        if not isinstance(name, str) or "/" in name or name.startswith("arn:"):
            raise tg.constraint_error(
                "name", name, "Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+"
            )
        tg.bus_name(name)
        self._ensure_default(ctx)
        arn = tg.bus_arn(ctx.region, ctx.account_id, name)
        with self.db.transaction() as conn:
            if store.get_bus(conn, name) is not None:
                raise ResourceAlreadyExistsException(f"Event bus {name} already exists.")
            store.insert_bus(conn, name, arn, params.get("Description"), self.clock())
            tags = {t["Key"]: t["Value"] for t in params.get("Tags") or []}
            if tags:
                store.set_tags(conn, arn, tags)
        out: dict[str, Any] = {"EventBusArn": arn}
        if params.get("Description"):
            out["Description"] = params["Description"]
        return out

    def DescribeEventBus(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._bus_view(self._bus(ctx, params.get("Name")))

    def ListEventBuses(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self._ensure_default(ctx)
        limit, position = self._page(params, "events:ListEventBuses")
        after = str(position[0]) if position else None
        with self.db.read() as conn:
            rows = store.list_buses(conn, params.get("NamePrefix"), after, limit + 1)
        out: dict[str, Any] = {"EventBuses": [self._bus_view(b) for b in rows[:limit]]}
        if len(rows) > limit:
            out["NextToken"] = encode_token("events:ListEventBuses", [rows[limit - 1].name])
        return out

    def DeleteEventBus(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = tg.bus_name(params.get("Name"))
        if name == DEFAULT_BUS:
            raise ValidationException("Cannot delete event bus default.")
        with self.db.transaction() as conn:
            bus = store.get_bus(conn, name)
            if bus is None:
                return {}
            if store.count_rules(conn, name):
                raise ValidationException(f"Cannot delete event bus {name} while it has rules.")
            store.delete_bus(conn, name)
            store.drop_tags(conn, bus.arn)
        return {}

    # ------------------------------------------------------------------ rules

    def PutRule(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bus = self._bus(ctx, params.get("EventBusName"))
        name = tg.rule_name(params.get("Name"))
        pattern, schedule = params.get("EventPattern"), params.get("ScheduleExpression")
        if not pattern and not schedule:
            raise ValidationException("Parameter(s) EventPattern or ScheduleExpression must be specified.")
        if pattern:
            check_pattern(pattern)
        if schedule:
            validate_schedule(schedule)
            if bus.name != DEFAULT_BUS:
                raise ValidationException("ScheduleExpression is supported only on the default event bus.")
        state = params.get("State") or "ENABLED"
        if state not in (*ENABLED_STATES, "DISABLED"):
            raise tg.constraint_error(
                "state",
                state,
                "Member must satisfy enum value set: [ENABLED, DISABLED, "
                "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS]",
            )
        now = self.clock()
        arn = tg.rule_arn(ctx.region, ctx.account_id, bus.name, name)
        with self.db.transaction() as conn:
            existing = store.get_rule(conn, bus.name, name)
            keep_next = existing.next_fire_at if existing and existing.schedule == schedule else None
            next_at = None
            if schedule and state != "DISABLED":
                next_at = keep_next or next_schedule_time(schedule, None, now)
            rule = store.upsert_rule(
                conn,
                {
                    "bus": bus.name,
                    "name": name,
                    "arn": arn,
                    "created_at": now,
                    "event_pattern": pattern or None,
                    "schedule": schedule or None,
                    "state": state,
                    "description": params.get("Description"),
                    "role_arn": params.get("RoleArn"),
                    "managed_by": existing.managed_by if existing else None,
                    "next_fire_at": next_at,
                },
            )
            tags = {t["Key"]: t["Value"] for t in params.get("Tags") or []}
            if existing is None and tags:
                store.set_tags(conn, rule.arn, tags)
        self.registry.put(rule)
        self.on_events()
        return {"RuleArn": rule.arn}

    def DescribeRule(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._rule_view(self._rule(ctx, params), ctx.account_id)

    def ListRules(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bus = self._bus(ctx, params.get("EventBusName"))
        limit, position = self._page(params, f"events:ListRules:{bus.name}")
        after = int(position[0]) if position else 0
        with self.db.read() as conn:
            rows = store.list_rules(conn, bus.name, params.get("NamePrefix"), after, limit + 1)
        out: dict[str, Any] = {"Rules": [self._rule_view(r, ctx.account_id) for r in rows[:limit]]}
        if len(rows) > limit:
            out["NextToken"] = encode_token(f"events:ListRules:{bus.name}", [rows[limit - 1].id])
        return out

    def _set_state(self, ctx: RequestContext, params: dict[str, Any], state: str) -> dict[str, Any]:
        rule = self._rule(ctx, params)
        next_at = None
        if rule.schedule and state == "ENABLED":
            next_at = rule.next_fire_at or next_schedule_time(rule.schedule, None, self.clock())
        with self.db.transaction() as conn:
            store.set_rule_state(conn, rule.id, state, next_at)
            updated = store.get_rule_by_id(conn, rule.id)
        assert updated is not None
        self.registry.put(updated)
        self.on_events()
        return {}

    def EnableRule(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._set_state(ctx, params, "ENABLED")

    def DisableRule(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._set_state(ctx, params, "DISABLED")

    def DeleteRule(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bus = self._bus(ctx, params.get("EventBusName"))
        name = tg.rule_name(params.get("Name"))
        with self.db.transaction() as conn:
            rule = store.get_rule(conn, bus.name, name)
            if rule is None:
                return {}
            if store.count_targets(conn, rule.id):
                raise ValidationException("Rule can't be deleted since it has targets.")
            store.delete_rule(conn, rule.id)
            store.drop_tags(conn, rule.arn)
        self.registry.remove(rule.id)
        return {}

    # ------------------------------------------------------------------ targets

    def PutTargets(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        rule = self._rule(ctx, params, "Rule")
        with self.db.transaction() as conn:
            existing = [t.target_id for t in store.list_targets(conn, rule.id)]
            for target in tg.check_targets(params.get("Targets"), existing):
                store.put_target(conn, rule.id, target)
        return {"FailedEntryCount": 0, "FailedEntries": []}

    def RemoveTargets(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        rule = self._rule(ctx, params, "Rule")
        ids = params.get("Ids") or []
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise tg.constraint_error("ids", ids, "Member must have length between 1 and 100")
        with self.db.transaction() as conn:
            for target_id in ids:
                store.remove_target(conn, rule.id, str(target_id))
        return {"FailedEntryCount": 0, "FailedEntries": []}

    def ListTargetsByRule(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        rule = self._rule(ctx, params, "Rule")
        limit, position = self._page(params, f"events:ListTargetsByRule:{rule.id}")
        start = int(position[0]) if position else 0
        with self.db.read() as conn:
            targets = store.list_targets(conn, rule.id)
        page = targets[start : start + limit]
        out: dict[str, Any] = {"Targets": [t.body for t in page]}
        if start + limit < len(targets):
            out["NextToken"] = encode_token(f"events:ListTargetsByRule:{rule.id}", [start + limit])
        return out

    def ListRuleNamesByTarget(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bus = self._bus(ctx, params.get("EventBusName"))
        arn = params.get("TargetArn")
        if not isinstance(arn, str) or not arn:
            raise tg.constraint_error("targetArn", arn, "Member must have length greater than or equal to 1")
        scope = f"events:ListRuleNamesByTarget:{bus.name}:{arn}"
        limit, position = self._page(params, scope)
        after = int(position[0]) if position else 0
        with self.db.read() as conn:
            rows = store.rules_by_target(conn, bus.name, arn, after, limit + 1)
        out: dict[str, Any] = {"RuleNames": [r.name for r in rows[:limit]]}
        if len(rows) > limit:
            out["NextToken"] = encode_token(scope, [rows[limit - 1].id])
        return out

    # ------------------------------------------------------------------ events

    def TestEventPattern(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        pattern = check_pattern(str(params.get("EventPattern") or ""))
        try:
            event = json.loads(params.get("Event") or "")
        except ValueError:
            raise ValidationException("Parameter Event is not valid.") from None
        if not isinstance(event, dict) or any(key not in event for key in REQUIRED_EVENT_FIELDS):
            raise ValidationException("Parameter Event is not valid.")
        return {"Result": pattern_matches(pattern, event)}

    def PutEvents(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        entries = params.get("Entries")
        if not isinstance(entries, list):
            raise tg.constraint_error("entries", entries, "Member must not be null")
        ent.check_request(entries)
        self._ensure_default(ctx)
        now = self.clock()
        results: list[dict[str, Any]] = []
        with self.db.transaction() as conn:
            for entry in entries:
                error = ent.check_entry(entry)
                bus_name = None
                if error is None:
                    try:
                        bus_name = tg.bus_name(entry.get("EventBusName"))
                    except ValidationException as exc:
                        error = ent.EntryError("InvalidArgument", exc.message)
                if error is None and bus_name is not None and store.get_bus(conn, bus_name) is None:
                    error = ent.EntryError(
                        "ResourceNotFoundException", f"Event bus {bus_name} does not exist."
                    )
                if error is not None or bus_name is None:
                    results.append(error.to_result() if error else {})
                    continue
                event = ent.event_from_entry(entry, ctx.account_id, ctx.region, _stamp(now))
                ds.append_bus_event(conn, bus_name, event, now)
                results.append({"EventId": event["id"]})
        failed = sum(1 for r in results if "ErrorCode" in r)
        if failed < len(results):
            self.on_events()
        return {"FailedEntryCount": failed, "Entries": results}

    # ------------------------------------------------------------------ tags

    def _tag_target(self, ctx: RequestContext, arn: object) -> str:
        if not isinstance(arn, str) or ":events:" not in arn:
            raise tg.constraint_error("resourceARN", arn, "Member must be an EventBridge ARN")
        resource = arn.split(":", 5)[5] if arn.count(":") >= 5 else ""
        self._ensure_default(ctx)
        with self.db.read() as conn:
            if resource.startswith("event-bus/"):
                if store.get_bus(conn, resource[len("event-bus/") :]) is None:
                    raise _bus_missing(resource[len("event-bus/") :])
                return arn
            if resource.startswith("rule/"):
                parts = resource[len("rule/") :].split("/")
                bus, name = (DEFAULT_BUS, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
                if store.get_rule(conn, bus, name) is None:
                    raise _rule_missing(name, bus)
                return arn
        raise ResourceNotFoundException(f"Resource {arn} does not exist.")

    def TagResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = self._tag_target(ctx, params.get("ResourceARN"))
        with self.db.transaction() as conn:
            store.set_tags(conn, arn, {t["Key"]: t["Value"] for t in params.get("Tags") or []})
        return {}

    def UntagResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = self._tag_target(ctx, params.get("ResourceARN"))
        with self.db.transaction() as conn:
            store.remove_tags(conn, arn, list(params.get("TagKeys") or []))
        return {}

    def ListTagsForResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = self._tag_target(ctx, params.get("ResourceARN"))
        with self.db.read() as conn:
            tags = store.get_tags(conn, arn)
        return {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
