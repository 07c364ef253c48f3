"""Where moto (5.2) is not AWS, mended for the local stack and the moto tests.

1. S3 -> EventBridge events: moto sends one constant `sequencer` and an unencoded key,
   and nothing when an object in a versioned bucket is deleted. AWS sends a per-key
   increasing sequencer, a URL-encoded key and an "Object Deleted" event for the
   delete marker. Parse relies on all three.
2. DynamoDB TransactWriteItems: moto deep-copies the whole table once per item of a
   transaction (to roll back), so every catalog commit costs time proportional to
   the catalog size. The replacement checks every condition first and writes only
   when all hold: the same all-or-nothing outcome, in time proportional to the
   transaction.

And ten costs that AWS does not have, which made a publish through the local stack slower
the larger the site or the longer a response (3 to 7) or added to every request (8 to 12)
(measured: README, Benchmarks):
3. Query (`_patch_queries`): moto sorts every item of the table, then the partition, to answer
   a page; the patch hands it the items the page can reach, from sort keys kept in order. And
   moto deep-copies every item of a page; without a projection the page is only read, so the
   patch lets it copy the list alone.
4. ListObjects with a prefix (`_patch_listing`): moto walks every key of the bucket; the patch
   hands it the keys under the prefix, from key names kept in order.
5. Timestamps (`_patch_timestamps`): moto's serializer parses every LastModified it writes
   with dateutil; the patch reads the ISO and HTTP forms with the standard library.
6. Serializer names (`_patch_serializer`): moto works out which attribute names each value of
   a response may be stored under, for every value; the patch remembers them per shape.
7. DynamoDB attribute values (`_patch_attribute_values`): moto serializes each string or number
   attribute of every item it returns by walking all ten members of the AttributeValue shape;
   the patch writes a one-member string value as it is, which is what that walk produces, and an
   item made only of such values in one pass.
8. Event input paths (`_patch_event_paths`): for each target of each event it delivers, moto
   compiles the JSONPath of each of the nine default input paths again, with a parser generator
   (about 0.4 ms each); the patch keeps each compiled path.
9. Action names (`_patch_action_names`): for every request, moto lists the methods of the
   service's response class with `inspect.getmembers`; the patch lists each class's once.
10. S3 URL patterns (`_patch_s3_urls`): for every S3 request, moto reloads its S3 URL module
    (the patterns depend on two environment variables) and formats every pattern again; the
    patch keeps the patterns per value of those variables.
11. Request ids (`_patch_request_ids`): moto writes the request id into every response body
    with a regular expression whose look-behind is tried at every character (about 2 ms for
    a page of 200 DynamoDB items); the patch runs it only on a body holding `<RequestId>`.
12. Queue attributes (`_patch_queue_attributes`): moto builds every attribute of a queue to read
    one, three times for each message it receives (to check its retention period) and once for
    each it is sent, converting each of some fifteen attribute names from camel case character by
    character (0.14 ms each time, about 1.5 ms of a publish); the patch converts each name once.
Each hands moto's own code a smaller input or a cached lookup, or writes what moto's code would
write, so its answers are unchanged; tests/integration/test_moto_patches.py compares them with
moto's own, page by page.

The patches apply to moto running in this process (mock_aws or ThreadedMotoServer).
And `serialised_server`: moto's backends are not thread-safe (a DynamoDB query iterating a
table while another request writes it fails), so the local stack's server handles one
request at a time; moto's work is pure Python under the GIL, so this costs little.
"""

from __future__ import annotations

import bisect
import copy
import functools
import threading
from typing import Any

from newsdrop import envelopes
from newsdrop.adapters.sortedmap import SortedKeys

_installed = threading.Lock()
_done = False

# Held by each request of the serialised server or of moto's mock in this process, and by whatever
# else in this process works in moto's backends directly (the pump's receives and deletes), so that
# they never run side by side. Reentrant: nothing in moto is known to make a request of its own
# while it answers one, and a lock that deadlocked if it did would be a poor way to find out.
BACKENDS = threading.RLock()


def install() -> None:
    global _done
    with _installed:
        if _done:
            return
        from moto.core.utils import unix_time
        from moto.events.models import events_backends
        from moto.s3 import models as s3_models
        from moto.s3 import notifications

        def send_event_bridge(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
            name = str(getattr(event_name, "value", event_name))
            if "ObjectCreated" not in name and "ObjectRemoved" not in name:
                return  # ACL, tagging, restore...: AWS sends other detail types, which no rule here matches
            removed = "ObjectRemoved" in name
            event = envelopes.s3_notification(
                bucket.name,
                key.name,
                sequencer=envelopes.next_sequencer(),
                removed=removed,
                size=0 if removed else int(getattr(key, "size", 0) or 0),
                etag="" if removed else str(getattr(key, "etag", "")).strip('"'),
                permanent=removed and "DeleteMarkerCreated" not in name,
            )
            event["time"] = unix_time()  # moto's rule delivery expects epoch seconds here
            event["account"] = account_id
            event["region"] = bucket.region_name
            backend = events_backends[account_id][bucket.region_name]
            for bus in list(backend.event_buses.values()):
                for rule in list(bus.rules.values()):
                    rule.send_to_targets(event, transform_input=False)  # type: ignore[arg-type]

        notifications._send_event_bridge_message = send_event_bridge

        original_delete = s3_models.S3Backend.delete_object

        def delete_object(
            self: Any, bucket_name: str, key_name: str, version_id: str | None = None, bypass: bool = False
        ) -> Any:
            result = original_delete(self, bucket_name, key_name, version_id=version_id, bypass=bypass)
            bucket = self.get_bucket(bucket_name)
            kind = notifications.S3NotificationEvent
            if not bucket.is_versioned or bucket.notification_configuration is None:
                return result
            # AWS reports both kinds of deletion in a versioned bucket: a delete marker created, and a
            # version (or a delete marker) removed by its id ("Permanently Deleted"), which moto
            # reports only when it was the key's last version.
            if version_id is None:
                event = kind.OBJECT_REMOVED_DELETE_MARKER_CREATED_EVENT
            elif result[0] and key_name in bucket.keys:
                event = kind.OBJECT_REMOVED_DELETE_EVENT
            else:
                return result
            removed = type("Removed", (), {"name": key_name, "size": 0, "etag": "", "version_id": version_id})()
            notifications.send_event(self.account_id, event, bucket, removed)
            return result

        s3_models.S3Backend.delete_object = delete_object  # type: ignore[method-assign]
        _patch_transactions()
        _patch_queries()
        _patch_listing()
        _patch_timestamps()
        _patch_serializer()
        _patch_attribute_values()
        _patch_sizes()
        _patch_event_paths()
        _patch_action_names()
        _patch_s3_urls()
        _patch_request_ids()
        _patch_queue_attributes()
        _serialise_mocked_requests()
        _done = True


def _serialise_mocked_requests() -> None:
    """Requests answered by moto's mock in this process (`mock_aws`) run one at a time, as the
    serialised server's do: render derives its listings in threads (`Ports.io_workers`), and moto's
    backends, and the patches here (which shadow a table's items for one query), assume one
    request at a time."""
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.process_request

    @functools.wraps(original)
    def process_request(self: Any, request: Any) -> Any:
        with BACKENDS:
            return original(self, request)

    BotocoreStubber.process_request = process_request  # type: ignore[method-assign]


class _ShallowCopy:
    """Stands for the `copy` module in moto's table module during a query without a projection:
    its deepcopy copies only the list; everything else is the module's."""

    @staticmethod
    def deepcopy(value: list[Any], memo: Any = None) -> list[Any]:
        return list(value)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


_SHALLOW_COPY = _ShallowCopy()


def _top_level_names(projection: list[list[str]] | None) -> list[str] | None:
    """The attribute names of a projection made only of top-level names ([] without a projection),
    or None for one with a nested path or a list index (moto projects those itself)."""
    if not projection:
        return []
    if any(len(path) != 1 or "[" in path[0] for path in projection):
        return None
    return list(dict.fromkeys(path[0] for path in projection))


def _projected(item: Any, names: list[str]) -> Any:
    """The item with only `names` (those it has), holding the stored values themselves.

    Moto's Item.project turns the item into plain JSON and back, re-checking each attribute's
    size. That round trip also rewrites a number as Decimal prints it ("1e3" comes back "1E+3")
    and may reorder a set, where this projection returns each value as moto stored it. Neither
    is DynamoDB's exact answer for such values (it stores numbers normalised); newsdrop projects
    only its string attribute "e", which all three return unchanged."""
    from moto.dynamodb.models.dynamo_type import Item, LimitedSizeDict

    # object.__new__: moto's BaseModel.__new__ would track every projected item for the life of the backend.
    result: Any = object.__new__(Item)
    result.hash_key, result.range_key = item.hash_key, item.range_key
    result.attrs = LimitedSizeDict({name: item.attrs[name] for name in names if name in item.attrs})
    return result


def _patch_queries() -> None:
    """A Query on the table reads only the items it can return, as DynamoDB does.

    Moto's Table.query builds its candidates from `all_items()` (every item of the table, sorted),
    then sorts them by sort key comparing DynamoType objects, then walks them to the page's end:
    three passes over the table per request, whatever the Limit. The patch keeps each partition's
    sort keys in order (a list maintained on put and delete, rebuilt if its length ever disagrees
    with the partition) and hands moto's own query only the items the page can reach: from just
    before the ExclusiveStartKey, Limit + 1 items in the query's direction (the extra item is how
    moto tells that there is a next page), with a one-item margin on each side. Moto still does
    the key comparison, the paging, the size limit and the filters itself, so its answer is the
    same. With a sort-key condition or a legacy QueryFilter moto gets the whole partition. And a
    page without a projection is not deep-copied (a third of a 200-item query's time): moto's
    query module sees a `copy` whose deepcopy copies only the list for that one call (moto's
    work is serialised, as the shadowed all_items above already assumes). A projection of
    top-level names (the listings' "e") is made here on that page, as new items holding the
    stored values: moto's own turns each item into plain JSON and back, after the deep copy.
    """
    from moto.dynamodb.models import table as table_module
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    original_query, original_put, original_delete = Table.query, Table.put_item, Table.delete_item

    def order(table: Any, hash_key: Any) -> list[tuple[Any, Any]]:
        """The partition's (sort value, sort key) pairs, ascending as moto compares them."""
        partition = table.items.get(hash_key) or {}
        orders: dict[Any, list[tuple[Any, Any]]] = table.__dict__.setdefault("_newsdrop_orders", {})
        keys = orders.get(hash_key)
        if keys is None or len(keys) != len(partition):
            keys = orders[hash_key] = sorted((key.cast_value, key) for key in partition)
        return keys

    @functools.wraps(original_put)
    def put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        item = original_put(self, *args, **kwargs)
        keys = self.__dict__.get("_newsdrop_orders", {}).get(item.hash_key)
        if keys is not None and item.range_key is not None:
            entry = (item.range_key.cast_value, item.range_key)
            at = bisect.bisect_left(keys, entry[:1])
            if at == len(keys) or keys[at][0] != entry[0]:
                keys.insert(at, entry)
        return item

    @functools.wraps(original_delete)
    def delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
        item = original_delete(self, hash_key, range_key)
        keys = self.__dict__.get("_newsdrop_orders", {}).get(hash_key)
        if item is not None and keys is not None and range_key is not None:
            at = bisect.bisect_left(keys, (range_key.cast_value,))
            if at < len(keys) and keys[at][0] == range_key.cast_value:
                del keys[at]
        return item

    def reachable(
        keys: list[tuple[Any, Any]], limit: int | None, start: Any, forward: bool, whole: bool
    ) -> list[tuple[Any, Any]]:
        if whole:
            return keys
        at = 0 if forward else len(keys)
        if start is not None:
            at = bisect.bisect_left(keys, (start,))  # the start key's place, whether it is still there or not
        span = len(keys) if limit is None else limit + 1
        if forward:
            return keys[max(0, at - 1) : at + 2 + span]
        return keys[max(0, at - span - 1) : at + 2]

    @functools.wraps(original_query)
    def query(
        self: Any,
        hash_key: Any,
        range_comparison: Any,
        range_objs: Any,
        limit: Any,
        exclusive_start_key: Any,
        scan_index_forward: Any,
        projection_expressions: Any,
        index_name: Any = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        def run(projection: Any = projection_expressions) -> Any:
            return original_query(
                self,
                hash_key,
                range_comparison,
                range_objs,
                limit,
                exclusive_start_key,
                scan_index_forward,
                projection,
                index_name,
                *args,
                **kwargs,
            )

        if index_name or not self.range_key_attr or hash_key is None:
            return run()
        start = None
        if exclusive_start_key:
            if self.range_key_attr not in exclusive_start_key:
                return run()
            start = DynamoType(exclusive_start_key[self.range_key_attr]).cast_value
        filtered = (
            range_comparison
            or kwargs.get("range_key_conditions")
            or set(kwargs) - {"hash_key_conditions", "range_key_conditions"}
        )
        keys = reachable(order(self, hash_key), limit, start, scan_index_forward is not False, bool(filtered))
        partition = self.items.get(hash_key) or {}
        window = [partition[key] for _, key in keys]
        self.all_items = lambda: window  # shadows the method for this one call
        names = _top_level_names(projection_expressions)
        if names is not None:
            # Moto deep-copies the page so that projecting it cannot change the stored items; a
            # page without a projection, or projected here onto top-level attributes (new items
            # that share the stored values), is only read: filters, then the response's serializer.
            setattr(table_module, "copy", _SHALLOW_COPY)  # noqa: B010 - a module's global, for one call
        try:
            if not names:
                return run()
            results, scanned, last_key = run(None)
            return [_projected(item, names) for item in results], scanned, last_key
        finally:
            del self.all_items
            setattr(table_module, "copy", copy)  # noqa: B010

    Table.query = query  # type: ignore[method-assign]
    Table.put_item = put_item  # type: ignore[method-assign]
    Table.delete_item = delete_item  # type: ignore[method-assign]


def _patch_listing() -> None:
    """A LIST with a prefix reads only the keys under it, as S3 does.

    Moto's list_objects walks every key of the bucket (through its versioned key store, which
    copies itself for the walk) and keeps those that start with the prefix. The patch keeps each
    bucket's key names in a SortedKeys (maintained where the store adds and drops a name, rebuilt
    if its size ever disagrees with the store's) and hands moto's own list_objects the keys under
    the prefix alone; moto still does the delimiter, delete markers, order and paging itself.
    """
    from moto.s3 import models as s3_models
    from moto.s3.utils import _VersionedKeyStore

    original_list = s3_models.S3Backend.list_objects
    original_set, original_setlist, original_pop = (
        _VersionedKeyStore.__setitem__,
        _VersionedKeyStore.setlist,
        _VersionedKeyStore.pop,
    )

    def names(store: Any) -> SortedKeys:
        index: SortedKeys | None = store.__dict__.get("_newsdrop_names")
        if index is None or len(index) != dict.__len__(store):
            index = store.__dict__["_newsdrop_names"] = SortedKeys(dict.keys(store))
        return index

    def added(store: Any, key: str) -> None:
        if (index := store.__dict__.get("_newsdrop_names")) is not None:
            index.add(key)

    @functools.wraps(original_set)
    def setitem(self: Any, key: str, value: Any) -> None:
        original_set(self, key, value)
        added(self, key)

    @functools.wraps(original_setlist)
    def setlist(self: Any, key: str, list_: Any) -> None:
        original_setlist(self, key, list_)
        added(self, key)

    @functools.wraps(original_pop)
    def pop(self: Any, key: str) -> None:
        original_pop(self, key)
        if (index := self.__dict__.get("_newsdrop_names")) is not None:
            index.discard(key)

    @functools.wraps(original_list)
    def list_objects(self: Any, bucket: Any, prefix: str | None, *args: Any, **kwargs: Any) -> Any:
        store = bucket.keys
        if not prefix or not isinstance(store, _VersionedKeyStore):
            return original_list(self, bucket, prefix, *args, **kwargs)
        under = [(name, store[name]) for name in names(store).with_prefix(prefix)]
        store.items = lambda: iter(under)  # type: ignore[method-assign]  # shadows the method for this one call
        try:
            return original_list(self, bucket, prefix, *args, **kwargs)
        finally:
            del store.items

    _VersionedKeyStore.__setitem__ = setitem  # type: ignore[method-assign]
    _VersionedKeyStore.setlist = setlist  # type: ignore[method-assign]
    _VersionedKeyStore.pop = pop  # type: ignore[method-assign]
    s3_models.S3Backend.list_objects = list_objects  # type: ignore[method-assign]


def _patch_timestamps() -> None:
    """Moto's serializer reads back every timestamp it writes with botocore's dateutil parser.

    S3 keeps an object's LastModified as an ISO 8601 string, which the serializer parses (about
    75 µs) to print it again, once per key of a listing: half the time of a ListObjectsV2 of a
    few hundred keys. The forms S3 uses are read by the standard library instead (the same
    instant, so the same text out); any other value goes to moto's own function.
    """
    from moto.core import serialize

    from newsdrop.adapters.aws import quick_timestamp

    original = serialize.parse_to_aware_datetime  # type: ignore[attr-defined]

    @functools.wraps(original)
    def parse_to_aware_datetime(value: Any) -> Any:
        if isinstance(value, str) and (quick := quick_timestamp(value)) is not None:
            return quick
        return original(value)

    serialize.parse_to_aware_datetime = parse_to_aware_datetime  # type: ignore[attr-defined]


def _patch_serializer() -> None:
    """Moto's response serializer works out the same attribute names again for every value.

    For each member of each structure in a response (each of the ten members of every DynamoDB
    AttributeValue, each field of every listed S3 key), it builds a context object and asks six
    alias providers which names the value may be stored under, then looks them up: most of the
    time of a Query of a few hundred items. For a plain dict (what moto's DynamoDB and S3 list
    responses are made of) those names depend only on the member's name and shape and the
    shape's parent, so the patch computes them once per (name, shape, parent) and looks them up
    as moto does. Objects other than plain dicts, a picker other than moto's two with the default
    providers, and responses with value transformers go through moto's own code.
    """
    from moto.core import serialize
    from moto.core.constants import MISSING
    from moto.core.utils import get_value

    original = serialize.ResponseSerializer.get_value
    pickers = (serialize.AttributePicker, serialize.XFormedAttributePicker)
    names: dict[tuple[Any, ...], tuple[str, ...]] = {}

    @functools.wraps(original)
    def get_value_patched(self: Any, value: Any, key: str, shape: Any) -> Any:
        picker = self._value_picker
        if (
            type(value) is not dict
            or type(picker) not in pickers
            or picker.alias_providers != serialize.DEFAULT_ALIAS_PROVIDERS
            or picker.response_transformers
        ):
            return original(self, value, key, shape)
        known = (type(picker), key, shape, getattr(shape, "parent", None))
        possible = names.get(known)
        if possible is None:
            context = serialize.AttributePickerContext(
                obj=value,
                key=key,
                shape=shape,
                operation_model=self.operation_model,
                service_model=self.operation_model.service_model,
                key_path=".".join(self.path),
            )
            possible = names[known] = tuple(picker.get_possible_keys(context))
        for name in possible:
            found = get_value(value, name, MISSING)
            if found is not MISSING:
                return found
        return None

    serialize.ResponseSerializer.get_value = get_value_patched  # type: ignore[method-assign]


def _patch_attribute_values() -> None:
    """An item's string and number attributes are written as moto stores them: {"S": "..."}.

    Moto keeps items as AttributeValue JSON, and its serializer walks every member of the shape
    for each attribute of each item (half the time of a Query of the home page's 200 entries).
    For a value that is a plain dict of one "S" or "N" member holding a str, that walk finds the
    one member, writes the string unchanged under its own name and skips the nine absent ones, so
    the patch writes the dict's copy directly. Any other value (binary, sets, maps, lists, BOOL,
    NULL, several members) goes through moto's own code.
    """
    from moto.core import serialize

    original = serialize.BaseJSONSerializer._serialize_type_structure

    @functools.wraps(original)
    def serialize_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if key and shape.name == "AttributeValue" and type(value) is dict and len(value) == 1:
            ((member, text),) = value.items()
            if member in ("S", "N") and type(text) is str:
                self._default_serialize(serialized, {member: text}, shape, key)
                return
        original(self, serialized, value, shape, key)

    serialize.BaseJSONSerializer._serialize_type_structure = serialize_structure  # type: ignore[method-assign]

    # And an item (a map of attribute values) whose every value is such a dict is copied in one pass,
    # without moto's dispatch per attribute: what the loop above gives for each of them.
    original_map = serialize.BaseJSONSerializer._serialize_type_map

    @functools.wraps(original_map)
    def serialize_map(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        member = shape.value
        if member.name == "AttributeValue" and type(value) is dict:
            copied = {}
            for name, attribute in value.items():
                if type(attribute) is not dict or len(attribute) != 1:
                    break
                ((kind, text),) = attribute.items()
                if kind not in ("S", "N") or type(text) is not str:
                    break
                copied[self.get_serialized_name(member, name)] = {kind: text}
            else:
                self._default_serialize(serialized, copied, shape, key)
                return
        original_map(self, serialized, value, shape, key)

    serialize.BaseJSONSerializer._serialize_type_map = serialize_map  # type: ignore[method-assign]


def _patch_sizes() -> None:
    """A string or number attribute's size is counted without moto's walk through every kind.

    Moto sizes each item it returns twice (for a Query page's 1 MB limit) and every attribute of an
    item each time one is added to it, and DynamoType.size asks in turn whether the value is a
    number, a set, a list or a map before it counts a string's UTF-8 bytes: a fifth of a Query of
    the home page's 200 entries. The patch counts an "S" holding a str and an "N" directly, as
    the same code does; every other kind goes through moto's own.
    """
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    original = DynamoType.size

    @functools.wraps(original)
    def size(self: Any) -> int:
        kind, value = self.type, self.value
        if kind == "S" and type(value) is str:
            return len(value.encode("utf-8"))
        if kind == "N":
            return len(str(value))
        return original(self)

    DynamoType.size = size  # type: ignore[method-assign]

    original_item = Item.size

    @functools.wraps(original_item)
    def item_size(self: Any) -> int:
        return sum([len(key.encode("utf-8")) + value.size() for key, value in self.attrs.items()])

    Item.size = item_size  # type: ignore[method-assign]


def _patch_event_paths() -> None:
    """Each JSONPath that moto's event delivery compiles is compiled once.

    `EventTemplateParser.parse` imports `jsonpath_ng.ext.parse` when it is called, so the
    cached function is put in that module's place; a compiled path is only read (`find`).
    """
    import jsonpath_ng.ext

    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=1024)(jsonpath_ng.ext.parse)  # type: ignore[attr-defined]


def _patch_action_names() -> None:
    """The method names of each response class, listed once rather than on every request.

    Response classes are not changed at run time (the other patches replace methods of moto's
    models, never of its response classes), so the names of a class's functions stay the same.
    """
    from moto.core import responses

    responses.method_names_from_class = functools.cache(responses.method_names_from_class)  # type: ignore[attr-defined]


def _patch_s3_urls() -> None:
    """The S3 backend's URL patterns, worked out once per value of the settings they depend on.

    Moto reloads `moto.s3.urls` on each request because its patterns include the custom endpoints
    (MOTO_S3_CUSTOM_ENDPOINTS) and, for ISO regions (MOTO_ENABLE_ISO_REGIONS), more domains; with
    the same values the reload gives the same patterns, bound to the same handlers.
    """
    import os

    from moto.core.base_backend import BaseBackend
    from moto.s3 import models as s3_models

    original = BaseBackend.urls
    known: dict[tuple[str | None, str | None], Any] = {}

    def urls(self: Any) -> Any:
        settings = (os.environ.get("MOTO_S3_CUSTOM_ENDPOINTS"), os.environ.get("MOTO_ENABLE_ISO_REGIONS"))
        found = known.get(settings)
        if found is None:
            found = known[settings] = original.fget(self)  # type: ignore[attr-defined]
        return found

    s3_models.S3Backend.urls = property(urls)  # type: ignore[assignment,method-assign]


def _patch_request_ids() -> None:
    """The request id written into a response body only when the body has the element to hold it.

    Moto's `_enrich_response` replaces the text of `<RequestId>` elements with a regular expression
    on every body, JSON ones included; on a body without the element it returns the body as it
    was (and on bytes it fails and keeps them). The id for the headers is made either way.
    """
    from moto.core.responses import BaseResponse

    original = BaseResponse._enrich_response

    def enrich(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
        if isinstance(body, str) and "<RequestId>" in body:
            return original(headers, body)
        return original(headers, "")[0], body

    enrich.__wrapped__ = original  # type: ignore[attr-defined]
    BaseResponse._enrich_response = staticmethod(enrich)  # type: ignore[method-assign]


def _patch_queue_attributes() -> None:
    """Each attribute name moto's SQS models convert from camel case is converted once (a pure
    function of the name; bounded, as names a request sends come through it too)."""
    from moto.sqs import models as sqs_models

    sqs_models.camelcase_to_underscores = functools.lru_cache(maxsize=256)(sqs_models.camelcase_to_underscores)  # type: ignore[attr-defined]


def _patch_transactions() -> None:
    from moto.dynamodb import models as ddb_models
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        seen: set[tuple[str, str]] = set()
        planned: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        errors: list[tuple[Any, Any, Any]] = []
        for item in transact_items:
            if len(item) > 1:
                raise TransactWriteSingleOpException
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            if op_type == "Put":
                table = self.get_table(table_name)
                key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = op["Item"][table.range_key_attr]
            else:
                key = op["Key"]
            marker = (str(table_name), str(dict(sorted(key.items()))))
            if marker in seen:
                raise MultipleTransactionsException()
            seen.add(marker)
            condition = op.get("ConditionExpression")
            if condition is not None:
                current = self.get_item(table_name, key)
                check = get_filter_expression(
                    condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
                )
                if not check.expr(current):
                    failed = ConditionalCheckFailed()
                    errors.append(("ConditionalCheckFailed", str(failed.message), None))
                    continue
            errors.append((None, None, None))
            planned.append((op_type, op, key))
        if any(code is not None for code, _, _ in errors):
            raise TransactionCanceledException(errors)
        for op_type, op, key in planned:
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            if op_type == "Put":
                self.put_item(op["TableName"], op["Item"])
            elif op_type == "Delete":
                self.delete_item(op["TableName"], key)
            elif op_type == "Update":
                self.update_item(
                    op["TableName"],
                    key,
                    update_expression=op["UpdateExpression"],
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )

    ddb_models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def serialised_server(host: str, port: int) -> Any:
    """A ThreadedMotoServer whose requests run one at a time."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    class Serialised(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = DomainDispatcherApplication(create_backend_app)

            def locked(environ: Any, start_response: Any) -> Any:
                with BACKENDS:
                    # Read the whole answer inside the lock: the body is produced lazily.
                    return list(app(environ, start_response))

            self._server = make_server(self._ip_address, self._port, locked, True, request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    return Serialised(ip_address=host, port=port, verbose=False)
