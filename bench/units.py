"""DynamoDB request units: what the functions' DynamoDB requests cost on an on-demand table.

DynamoDB bills an on-demand table per request unit, not per request (its developer guide, "Item
sizes and formats" and "DynamoDB throughput capacity"):
- a read of an item: 1 read unit per 4 KB of the item, rounded up, when strongly consistent (every
  read newsdrop makes is), half of that when eventually consistent; a read that finds no item
  still costs the least a read costs;
- BatchGetItem: each item as a GetItem of its own;
- Query: the sizes of the items it reads added up, then rounded up to 4 KB once; the whole items,
  whatever the projection returns;
- a write: 1 write unit per 1 KB, rounded up, of the larger of the item before and after it; a
  write refused by its condition costs the same, for the item as it stays;
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
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

READ_BLOCK = 4096
WRITE_BLOCK = 1024
TRANSACTIONAL = 2
WRITES = {"PutItem": "Put", "UpdateItem": "Update", "DeleteItem": "Delete"}  # request -> its transaction action
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


@dataclass(frozen=True)
class Charge:
    """One request's units, as the meter counted them."""

    request: str  # "dynamodb:Query"
    params: dict[str, Any]
    read: float
    write: float


@dataclass
class UnitMeter:
    """Counts the request units of the requests of the clients it hooks, while `on`.

    Render's listings may query from threads of their own (`IO_CONCURRENCY`): the counters are
    updated under a lock. A request the meter does not model (a Scan, a TransactGetItems, a
    Query by the older `KeyConditions`) is counted in `uncounted`, never guessed at."""

    shadow: Any  # a DynamoDB client of the meter's own
    on: bool = False
    charges: list[Charge] = field(default_factory=list)  # since the last reset
    # Kept over resets: transactions DynamoDB cancelled (whose units the guide leaves open), other
    # refused requests, and requests the meter does not model.
    failed: Counter[str] = field(default_factory=Counter)
    uncounted: Counter[str] = field(default_factory=Counter)
    _keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hook(self, client: Any) -> None:
        """Hook `client` (once, however often asked)."""
        events = client.meta.events
        events.register("before-parameter-build.dynamodb", self._before, unique_id=f"units-before-{id(self)}")
        events.register("after-call.dynamodb", self._after, unique_id=f"units-after-{id(self)}")

    def reset(self) -> None:
        with self._lock:
            self.charges.clear()

    @property
    def read(self) -> Counter[str]:
        """Read units by request name ("dynamodb:Query"), since the last reset."""
        return self._total("read")

    @property
    def write(self) -> Counter[str]:
        return self._total("write")

    def _total(self, kind: str) -> Counter[str]:
        total: Counter[str] = Counter()
        with self._lock:
            for charge in self.charges:
                if units := getattr(charge, kind):
                    total[charge.request] += units
        return total

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

    def _target(self, kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
        table = params["TableName"]
        return dict(params["Key"]) if kind != "Put" else self.key_of(table, params["Item"])

    # -------------------------------------------------------------------------------- the hooks

    def _before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if not self.on:
            return
        name = model.name
        before: list[int] = []
        try:
            if name in WRITES:
                before = [self.stored(params["TableName"], self._target(WRITES[name], params))]
            elif name == "TransactWriteItems":
                for entry in params["TransactItems"]:
                    ((kind, action),) = entry.items()
                    before.append(self.stored(action["TableName"], self._target(kind, action)))
        except (KeyError, TypeError, ValueError):  # malformed: botocore's validation says so, not the meter
            context["request_units"] = (name, None, before)
            return
        context["request_units"] = (name, copy.deepcopy(params), before)

    def _after(
        self, http_response: Any, parsed: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        held = context.pop("request_units", None)
        if held is None:
            return
        name, params, before = held
        request = f"dynamodb:{name}"
        if params is None:
            self._count(self.uncounted, request)
            return
        refused = http_response.status_code != 200
        code = parsed.get("Error", {}).get("Code", "") if refused else ""
        try:
            if refused and not (name in WRITES and code == "ConditionalCheckFailedException"):
                self._count(self.failed, request)
                return
            # A write whose condition failed is billed all the same, for the item as it stays.
            read, write = self.units(name, params, before, parsed, kept=refused)
        except (KeyError, TypeError, ValueError):
            self._count(self.uncounted, request)
            return
        if read is None:
            self._count(self.uncounted, request)
            return
        with self._lock:
            self.charges.append(Charge(request, params, read, write))

    def _count(self, counter: Counter[str], request: str) -> None:
        with self._lock:
            counter[request] += 1

    def units(
        self, name: str, params: Mapping[str, Any], before: Sequence[int], parsed: Mapping[str, Any], *, kept: bool
    ) -> tuple[float | None, float]:
        """(read units, write units) of one request that DynamoDB carried out (or refused by its
        condition: `kept`, the item left as it was); (None, 0) for a request not modelled."""
        consistent = bool(params.get("ConsistentRead"))
        if name == "GetItem":
            return read_units(self.stored(params["TableName"], params["Key"]), consistent=consistent), 0.0
        if name == "BatchGetItem":
            read = 0.0
            for table, asked in params["RequestItems"].items():
                unprocessed = parsed.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
                for key in asked["Keys"]:
                    if key not in unprocessed:
                        read += read_units(self.stored(table, key), consistent=bool(asked.get("ConsistentRead")))
            return read, 0.0
        if name == "Query":
            return read_units(self.query_size(params), consistent=consistent), 0.0
        if name in WRITES:
            after = before[0]
            if name == "PutItem" and not kept:
                after = item_size(params["Item"])
            elif name == "UpdateItem" and not kept:
                after = self.stored(params["TableName"], params["Key"])
            return 0.0, write_units(max(before[0], after))
        if name == "TransactWriteItems":
            read = write = 0.0
            for entry, size in zip(params["TransactItems"], before, strict=True):
                ((kind, action),) = entry.items()
                if kind == "ConditionCheck":
                    read += TRANSACTIONAL * read_units(size)
                    continue
                after = 0
                if kind == "Put":
                    after = item_size(action["Item"])
                elif kind == "Update":
                    after = self.stored(action["TableName"], action["Key"])
                write += TRANSACTIONAL * write_units(max(size, after))
            return read, write
        return None, 0.0

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
