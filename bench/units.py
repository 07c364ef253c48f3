"""DynamoDB request units: what the functions' DynamoDB requests cost on an on-demand table.

DynamoDB bills an on-demand table per request unit, not per request (its developer guide, "Item
sizes and formats" and "DynamoDB throughput capacity"):
- a read of an item: 1 read unit per 4 KB of the item, rounded up, when strongly consistent (every
  read newsdrop makes is), half of that when eventually consistent; a read that finds no item
  still costs the least a read costs;
- BatchGetItem: each item as a GetItem of its own;
- Query: the sizes of the items it reads added up, then rounded up to 4 KB once; the whole items,
  whatever the projection returns;
- a write: 1 write unit per 1 KB, rounded up, of the larger of the item before and after it;
- TransactWriteItems: twice that for each item it writes. A condition check in a transaction is
  counted here as a transactional read (2 read units per 4 KB): an estimate, which the guide does
  not spell out.

moto's `ConsumedCapacity` is a placeholder, so the units are computed from each request and the
items it touches, read through a client of the meter's own (`shadow`), whose requests are not the
functions'. Those reads make the publishes this meter watches slower: they are never timed.
"""

from __future__ import annotations

import copy
import math
import re
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

READ_BLOCK = 4096
WRITE_BLOCK = 1024
TRANSACTIONAL = 2
_NAME = re.compile(r"#\w+")
_VALUE = re.compile(r":\w+")


def number_size(text: str) -> int:
    """A number's size: one byte per two significant digits, and one (leading and trailing zeroes
    are not stored)."""
    mantissa = text.lower().lstrip("+-").partition("e")[0].replace(".", "")
    digits = mantissa.strip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


def value_size(value: Mapping[str, Any]) -> int:
    ((kind, held),) = value.items()
    if kind == "S":
        return len(held.encode())
    if kind == "N":
        return number_size(held)
    if kind == "B":
        return len(held)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in held)
    if kind == "NS":
        return sum(number_size(n) for n in held)
    if kind == "BS":
        return sum(len(b) for b in held)
    if kind == "L":  # 3 bytes a list, 1 an element
        return 3 + sum(1 + value_size(v) for v in held)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + value_size(v) for name, v in held.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: Mapping[str, Any] | None) -> int:
    """An item's size as DynamoDB counts it: its attribute names and values, in bytes."""
    return sum(len(name.encode()) + value_size(value) for name, value in (item or {}).items())


def read_units(size: int, *, consistent: bool = True) -> float:
    whole = max(1, math.ceil(size / READ_BLOCK))
    return float(whole) if consistent else whole / 2


def write_units(size: int) -> float:
    return float(max(1, math.ceil(size / WRITE_BLOCK)))


@dataclass
class UnitMeter:
    """Counts the request units of the requests of the clients it hooks, while `on`."""

    shadow: Any  # a DynamoDB client of the meter's own
    on: bool = False
    read: Counter[str] = field(default_factory=Counter)  # request name -> read units
    write: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)  # requests DynamoDB refused (kept over resets)
    _keys: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def hook(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)

    def reset(self) -> None:
        self.read.clear()
        self.write.clear()

    # -------------------------------------------------------------------------------- the items

    def key_of(self, table: str, item: Mapping[str, Any]) -> dict[str, Any]:
        if table not in self._keys:
            schema = self.shadow.describe_table(TableName=table)["Table"]["KeySchema"]
            self._keys[table] = tuple(part["AttributeName"] for part in schema)
        return {name: item[name] for name in self._keys[table]}

    def stored(self, table: str, key: Mapping[str, Any]) -> int:
        """The size of the item at `key` now (0 when there is none)."""
        found = self.shadow.get_item(TableName=table, Key=dict(key), ConsistentRead=True).get("Item")
        return item_size(found)

    def _target(self, name: str, params: Mapping[str, Any]) -> dict[str, Any]:
        table = params["TableName"]
        return dict(params["Key"]) if name != "Put" else self.key_of(table, params["Item"])

    # -------------------------------------------------------------------------------- the hooks

    def _before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if not self.on:
            return
        name = model.name
        before: list[int] = []
        if name in ("PutItem", "UpdateItem", "DeleteItem"):
            kind = name.removesuffix("Item")
            before = [self.stored(params["TableName"], self._target(kind, params))]
        elif name == "TransactWriteItems":
            for entry in params["TransactItems"]:
                ((kind, action),) = entry.items()
                before.append(self.stored(action["TableName"], self._target(kind, action)))
        context["request_units"] = (name, copy.deepcopy(params), before)

    def _after(
        self, http_response: Any, parsed: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        held = context.pop("request_units", None)
        if held is None:
            return
        name, params, before = held
        request = f"dynamodb:{name}"
        if http_response.status_code != 200:
            self.failed[request] += 1
            return
        if name == "GetItem":
            self.read[request] += read_units(
                self.stored(params["TableName"], params["Key"]), consistent=bool(params.get("ConsistentRead"))
            )
        elif name == "BatchGetItem":
            for table, asked in params["RequestItems"].items():
                unprocessed = parsed.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
                for key in asked["Keys"]:
                    if key not in unprocessed:
                        size = self.stored(table, key)
                        self.read[request] += read_units(size, consistent=bool(asked.get("ConsistentRead")))
        elif name == "Query":
            self.read[request] += read_units(self.query_size(params), consistent=bool(params.get("ConsistentRead")))
        elif name == "PutItem":
            self.write[request] += write_units(max(before[0], item_size(params["Item"])))
        elif name == "UpdateItem":
            after = self.stored(params["TableName"], params["Key"])
            self.write[request] += write_units(max(before[0], after))
        elif name == "DeleteItem":
            self.write[request] += write_units(before[0])
        elif name == "TransactWriteItems":
            for entry, size in zip(params["TransactItems"], before, strict=True):
                ((kind, action),) = entry.items()
                if kind == "ConditionCheck":
                    self.read[request] += TRANSACTIONAL * read_units(size)
                    continue
                after = 0
                if kind == "Put":
                    after = item_size(action["Item"])
                elif kind == "Update":
                    after = self.stored(action["TableName"], action["Key"])
                self.write[request] += TRANSACTIONAL * write_units(max(size, after))

    def query_size(self, params: Mapping[str, Any]) -> int:
        """The whole items the query read: the same query without its projection (or filter, which
        DynamoDB applies to items already read)."""
        query = {k: v for k, v in params.items() if k not in ("ProjectionExpression", "FilterExpression", "Select")}
        used = query["KeyConditionExpression"]
        for kind, pattern in (("ExpressionAttributeNames", _NAME), ("ExpressionAttributeValues", _VALUE)):
            if kind in query:
                referenced = set(pattern.findall(used))
                kept = {k: v for k, v in query[kind].items() if k in referenced}
                if kept:
                    query[kind] = kept
                else:
                    del query[kind]
        return sum(item_size(item) for item in self.shadow.query(**query).get("Items", []))


def summary(reads: Sequence[Mapping[str, float]], writes: Sequence[Mapping[str, float]]) -> dict[str, Any]:
    """Units per publish: the median and the most of the totals, and each request's median."""

    def per_request(samples: Sequence[Mapping[str, float]]) -> dict[str, float]:
        names = sorted({name for sample in samples for name in sample})
        return {name: statistics.median(sample.get(name, 0.0) for sample in samples) for name in names}

    def totals(samples: Sequence[Mapping[str, float]]) -> dict[str, float]:
        values = [sum(sample.values()) for sample in samples]
        return {"median": statistics.median(values), "max": max(values), "min": min(values)}

    return {
        "publishes": len(reads),
        "read": totals(reads),
        "write": totals(writes),
        "read_by_request": per_request(reads),
        "write_by_request": per_request(writes),
    }
