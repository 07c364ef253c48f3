"""EventBridge Scheduler's part in the local stack: run one-time schedules when their time comes.

moto stores schedules but never runs them. `ScheduleRunner` reads the stack's schedule groups
from moto, and when the clock (the process clock: real time in `newsdrop dev`, a clock the
tests control) reaches a schedule's `at(...)` time it does what the scheduler does: puts the
schedule's input on its target bus as an event, then deletes a schedule whose
ActionAfterCompletion is DELETE.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from newsdrop.clock import Clock, ProcessClock
from newsdrop.local.stack import Stack, client

_AT = re.compile(r"\Aat\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)\Z")


def schedule_time(schedule: dict[str, Any]) -> dt.datetime:
    """When a one-time schedule runs: its `at(...)` expression in its time zone."""
    match = _AT.match(str(schedule.get("ScheduleExpression", "")))
    if not match:
        raise ValueError(f"schedule {schedule.get('Name')!r} is not a one-time at(...) schedule")
    zone = ZoneInfo(schedule.get("ScheduleExpressionTimezone") or "UTC")
    return dt.datetime.fromisoformat(match.group(1)).replace(tzinfo=zone)


def put_on_bus(events_client: Any, bus: str, parameters: dict[str, Any], detail: str) -> list[dict[str, Any]]:
    """Put a schedule's input on its bus as EventBridge Scheduler does (`parameters`: the target's
    EventBridgeParameters); the bus's answer for the entry when it refused it, else nothing."""
    entry = {
        "EventBusName": bus,
        "Source": parameters["Source"],
        "DetailType": parameters["DetailType"],
        "Detail": detail,
    }
    response = events_client.put_events(Entries=[entry])
    refused: list[dict[str, Any]] = response["Entries"] if response.get("FailedEntryCount") else []
    return refused


@dataclass
class ScheduleRunner:
    stack: Stack
    endpoint: str | None = None
    clock: Clock = field(default_factory=ProcessClock)

    def __post_init__(self) -> None:
        self.scheduler = client("scheduler", self.endpoint)
        self.events = client("events", self.endpoint)
        self.groups = [self.stack.resolver.physical[g] for g in self.stack.of_type("AWS::Scheduler::ScheduleGroup")]
        self._known: dict[tuple[str, str], tuple[Any, dict[str, Any]]] = {}

    def pending(self) -> list[dict[str, Any]]:
        """Every schedule of the stack's groups, in full (one LIST a group; a GET only for new or changed ones)."""
        found = []
        seen: dict[tuple[str, str], tuple[Any, dict[str, Any]]] = {}
        for group in self.groups:
            for page in self.scheduler.get_paginator("list_schedules").paginate(GroupName=group):
                for item in page.get("Schedules", []):
                    name = (group, item["Name"])
                    known = self._known.get(name)
                    if known is None or known[0] != item.get("LastModificationDate"):
                        full = self.scheduler.get_schedule(Name=item["Name"], GroupName=group)
                        known = (item.get("LastModificationDate"), full)
                    seen[name] = known
                    found.append(known[1])
        self._known = seen
        return found

    def run_due(self) -> int:
        """Run every schedule whose time has come, oldest first; returns how many ran."""
        now = self.clock.now()
        timed = [(schedule_time(s), s["Name"], s) for s in self.pending()]
        due = sorted((entry for entry in timed if entry[0] <= now), key=lambda entry: entry[:2])
        for _, _, schedule in due:
            self.invoke(schedule)
        return len(due)

    def invoke(self, schedule: dict[str, Any]) -> None:
        target = schedule["Target"]
        parameters = target.get("EventBridgeParameters")
        if not parameters or ":event-bus/" not in target["Arn"]:
            raise ValueError(f"schedule {schedule['Name']}: only event bus targets are run locally")
        bus = target["Arn"].rsplit("/", 1)[1]
        detail = target.get("Input") or "{}"
        json.loads(detail)  # the scheduler, too, refuses an input that is not JSON for this target
        refused = put_on_bus(self.events, bus, parameters, detail)
        if refused:
            raise RuntimeError(f"schedule {schedule['Name']}: the bus refused its event: {refused}")
        if schedule.get("ActionAfterCompletion") == "DELETE":
            self.scheduler.delete_schedule(Name=schedule["Name"], GroupName=schedule["GroupName"])
