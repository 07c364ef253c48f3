"""AWS adapters: S3 object stores, the DynamoDB catalog and the EventBridge bus.

Clients are built on first use and cached for the life of the process (one per
Lambda execution environment); the endpoint comes from the SDK's own settings, so
`AWS_ENDPOINT_URL` points everything at moto's server in the local stack.

The clients are botocore's, which is what boto3's clients are: the functions import botocore
without boto3, whose own modules (sessions, resources, its DynamoDB type codec) add up to 35 ms
to a handler's cold start (README, Cold start) and nothing the adapters use.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import botocore
import botocore.session
import botocore.utils
from botocore.config import Config
from botocore.exceptions import ClientError

from newsdrop import catalog as catalog_plan
from newsdrop import events
from newsdrop.model import Entry, SiteConfig
from newsdrop.ports import (
    UNREAD,
    Blob,
    BusEvent,
    CommitResult,
    ConfigRecord,
    Head,
    PostRecord,
    PreconditionFailed,
    Reads,
    RefreshJob,
    SearchState,
    Snapshot,
    TooLarge,
    Unread,
)

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)
log = logging.getLogger(__name__)

_MISSING = {"404", "NoSuchKey", "NotFound"}
_CONDITION_FAILED = {"412", "PreconditionFailed", "ConditionalRequestConflict", "409"}
MAX_COMMIT_ATTEMPTS = 8
# Every commit's transaction writes the catalog's count of changes (and checks the settings), so two
# commits at once conflict on those items (TransactionConflict): the loser waits a random while,
# up to twice as long after each conflict, rather than meet the winner's successor at once.
CONFLICT_WAIT_S = 0.01
BATCH_GET_MAX = 100  # items one BatchGetItem reads
BATCH_GET_ATTEMPTS = 8


_ISO_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{3}|\.\d{6})?Z")
_HTTP_DATE = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")


def parse_timestamp(value: Any) -> dt.datetime:
    """botocore's response timestamp parser, without dateutil for the two forms S3 sends.

    Every key of a ListObjectsV2 page carries a LastModified (ISO 8601 in UTC), and HEAD and GET
    a Last-Modified header (an HTTP date); botocore parses each with dateutil, about 75 µs a
    value, most of the client's time for a listing of a few hundred keys. The standard library
    reads both forms in well under a microsecond, to the same instant (in UTC); any other form
    goes to botocore's own parser.
    """
    if isinstance(value, str) and (quick := quick_timestamp(value)) is not None:
        return quick
    parsed: dt.datetime = botocore.utils.parse_timestamp(value)
    return parsed


def quick_timestamp(value: str) -> dt.datetime | None:
    """An ISO 8601 time in UTC or an HTTP date, read by the standard library; None for other forms."""
    if _ISO_UTC.fullmatch(value):
        return dt.datetime.fromisoformat(value)
    if _HTTP_DATE.fullmatch(value):
        return email.utils.parsedate_to_datetime(value)
    return None


class Clients:
    """The process's clients, one per service, made on first use from one botocore session (a
    session loads the SDK's endpoint data, tens of milliseconds, so the services share one).

    `cache_clear()` forgets the session with the clients, as a test's moto mock needs: moto hooks
    into sessions made after it is imported (boto3's default session is swapped per mock for that
    reason).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._session: botocore.session.Session | None = None
        self._made: dict[str, Any] = {}

    def __call__(self, service: str) -> Any:
        found = self._made.get(service)
        if found is None:
            with self._lock:
                found = self._made.get(service) or self.make(service)
                self._made[service] = found
        return found

    def make(self, service: str) -> Any:
        """A new client, not kept (tests wrap it)."""
        if self._session is None:
            self._session = botocore.session.get_session()
            parsers = self._session.get_component("response_parser_factory")
            parsers.set_parser_defaults(timestamp_parser=parse_timestamp)
        made = self._session.create_client(service, config=_CONFIG)
        if service == "s3":
            require_conditional_writes(made)
        return made

    def cache_clear(self) -> None:
        with self._lock:
            self._session = None
            self._made.clear()


client = Clients()


def require_conditional_writes(s3: Any) -> None:
    """Every site write is an S3 conditional write (`If-Match`, `If-None-Match`, and a conditional
    delete): botocore has them from 1.35.69. The layer does not ship the SDK (the runtime's is
    used), so an older runtime SDK would fail every write with a parameter error: say so at once."""
    model = s3.meta.service_model
    wanted = {"PutObject": ("IfMatch", "IfNoneMatch"), "DeleteObject": ("IfMatch",)}
    missing = [
        f"{operation}.{name}"
        for operation, names in wanted.items()
        for name in names
        if name not in model.operation_model(operation).input_shape.members
    ]
    if missing:
        raise RuntimeError(
            f"this botocore ({botocore.__version__}) lacks S3 conditional writes ({', '.join(missing)}); "
            "newsdrop needs botocore 1.35.69 or later"
        )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _current(generation: int) -> dict[str, Any]:
    """The condition that the stored site settings are `generation` (0: none stored yet)."""
    if generation == 0:
        return {"ConditionExpression": "attribute_not_exists(pk)"}
    return {"ConditionExpression": "gen = :gen", "ExpressionAttributeValues": _item({":gen": generation})}


class S3Store:
    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def get(self, key: str, *, max_bytes: int | None = None) -> Blob | None:
        try:
            response = client("s3").get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise
        stream = response["Body"]
        size = int(response.get("ContentLength", 0))
        if max_bytes is not None and size > max_bytes:
            stream.close()  # never read an oversized object into memory
            raise TooLarge(size, max_bytes)
        body = stream.read() if max_bytes is None else stream.read(max_bytes + 1)
        if max_bytes is not None and len(body) > max_bytes:
            raise TooLarge(len(body), max_bytes)
        return Blob(
            body=body,
            etag=response["ETag"].strip('"'),
            content_type=response.get("ContentType", ""),
            cache_control=response.get("CacheControl", ""),
            metadata=response.get("Metadata", {}),
            content_disposition=response.get("ContentDisposition", ""),
        )

    def head(self, key: str) -> Head | None:
        try:
            response = client("s3").head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise
        return Head(
            etag=response["ETag"].strip('"'),
            metadata=response.get("Metadata", {}),
            size=int(response.get("ContentLength", 0)),
        )

    def put(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str,
        cache_control: str = "",
        metadata: Mapping[str, str] | None = None,
        if_match: str | None = None,
        if_none_match: bool = False,
        content_disposition: str = "",
    ) -> str | None:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": body, "ContentType": content_type}
        if cache_control:
            args["CacheControl"] = cache_control
        if metadata:
            args["Metadata"] = dict(metadata)
        if content_disposition:
            args["ContentDisposition"] = content_disposition
        if if_match is not None:
            args["IfMatch"] = f'"{if_match}"'
        if if_none_match:
            args["IfNoneMatch"] = "*"
        try:
            response = client("s3").put_object(**args)
        except ClientError as exc:
            code = _code(exc)
            if code in _CONDITION_FAILED or (if_match is not None and code in _MISSING):
                raise PreconditionFailed(key) from exc
            raise
        etag = response.get("ETag")
        return etag.strip('"') if etag else None

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if if_match is not None:
            args["IfMatch"] = f'"{if_match}"'
        try:
            client("s3").delete_object(**args)
        except ClientError as exc:
            code = _code(exc)
            if if_match is not None and code in _MISSING:
                return  # already gone: what a conditional delete wanted
            if code in _CONDITION_FAILED:
                raise PreconditionFailed(key) from exc
            raise

    def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in client("s3").get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    def list_page(self, prefix: str, *, after: str = "", limit: int = 1000) -> list[str]:
        """`limit` keys after `after`, or fewer at the end of the listing only: S3 may answer a short
        page, even an empty one, with more to come (`IsTruncated`), so read on until the page is full."""
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if after:
            args["StartAfter"] = after
        keys: list[str] = []
        while True:
            args["MaxKeys"] = limit - len(keys)
            response = client("s3").list_objects_v2(**args)
            keys.extend(item["Key"] for item in response.get("Contents", []))
            if len(keys) >= limit or not response.get("IsTruncated"):
                return sorted(keys)
            args["ContinuationToken"] = response["NextContinuationToken"]


def to_attribute(value: Any) -> dict[str, Any]:
    """The DynamoDB attribute value boto3's TypeSerializer makes of a value of the kinds the catalog
    stores (a tuple is a list; it stores no sets, binaries or floats, so they are refused)."""
    if isinstance(value, bool):  # before int: a bool is an int
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | Decimal):
        return {"N": str(value)}
    if value is None:
        return {"NULL": True}
    if isinstance(value, list | tuple):
        return {"L": [to_attribute(v) for v in value]}
    if isinstance(value, Mapping):
        return {"M": {str(k): to_attribute(v) for k, v in value.items()}}
    raise TypeError(f"the catalog stores no {type(value).__name__} ({value!r})")


def from_attribute(attribute: Mapping[str, Any]) -> Any:
    """The value boto3's TypeDeserializer reads from an attribute value of the kinds to_attribute
    makes (a number is a Decimal, exact as stored)."""
    ((kind, raw),) = attribute.items()
    if kind in ("S", "BOOL"):
        return raw
    if kind == "N":
        return Decimal(raw)
    if kind == "NULL":
        return None
    if kind == "L":
        return [from_attribute(v) for v in raw]
    if kind == "M":
        return {k: from_attribute(v) for k, v in raw.items()}
    raise TypeError(f"the catalog reads no {kind} attribute")


def _item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: to_attribute(v) for name, v in values.items()}


def _plain(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: from_attribute(v) for name, v in item.items()}


def _post_pk(key: str) -> str:
    return f"POST#{key}"


def _search_pk(key: str) -> str:
    return f"SEARCH#{key}"


def _rejected_pk(key: str) -> str:
    return f"REJECTED#{key}"


def _past_conflicts(call: Callable[[], Any]) -> Any:
    """A single-item write to an item that commits' transactions also write (the settings, the count
    of changes): DynamoDB refuses it while one is under way (TransactionConflictException, which the
    SDK does not retry), and nothing was written, so wait a little and write again."""
    for attempt in range(MAX_COMMIT_ATTEMPTS):
        try:
            return call()
        except ClientError as exc:
            if _code(exc) != "TransactionConflictException" or attempt == MAX_COMMIT_ATTEMPTS - 1:
                raise
            _back_off(attempt)


def _back_off(attempt: int) -> None:
    time.sleep(random.uniform(0, CONFLICT_WAIT_S * 2**attempt))  # noqa: S311  # nosec B311 - a wait, not a secret


def _post_record(key: str, item: dict[str, Any] | None) -> PostRecord | None:
    if item is None:
        return None
    return PostRecord(
        key=key,
        sequencer=item["seq"],
        live=bool(item["live"]),
        url=item.get("url", ""),
        sort=item.get("sort", ""),
        artifact=item.get("artifact", ""),
        lists=tuple(item.get("lists", [])),
        entry=Entry.from_json(json.loads(item["entry"])) if item.get("entry") else None,
        touched=tuple(item.get("touched", [])),
        previous_url=item.get("previous_url", ""),
        state=item.get("state", "front" if item["live"] else "deleted"),
        due=item.get("due", ""),
        aliases=tuple(item.get("aliases", [])),
        released=tuple(item.get("released", [])),
        listed=tuple(item.get("listed", [])),
    )


def _search_state(item: dict[str, Any] | None) -> SearchState | None:
    if item is None:
        return None
    return SearchState(
        doc=None if item.get("doc") is None else int(item["doc"]),
        digest=item.get("digest", ""),
        segment=item.get("segment", ""),
        retired=tuple(int(i) for i in item.get("retired", [])),
        pending=bool(item.get("pending", False)),
        version=int(item.get("version", 0)),
    )


def _config_record(item: dict[str, Any] | None) -> ConfigRecord | None:
    if item is None:
        return None
    return ConfigRecord(
        generation=int(item["gen"]),
        config=SiteConfig.from_json(json.loads(item["config"])),
        sources={str(k): str(v) for k, v in item.get("sources", {}).items()},
    )


def _owner(item: dict[str, Any] | None) -> str | None:
    return None if item is None else str(item["owner"])


def _changes(item: dict[str, Any] | None) -> int:
    return 0 if item is None else int(item["n"])


def _counted_settings(item: dict[str, Any] | None) -> int:
    return 0 if item is None else int(item.get("gen", 0))


def _url_pk(url: str) -> str:
    return f"URL#{catalog_plan.url_claim(url)}"


def _redirect_pk(claim: str) -> str:
    return f"REDIRECT#{claim}"


def _waiting_pk(url: str) -> str:
    return f"WAIT#{catalog_plan.url_claim(url)}"


class DynamoCatalog:
    """Single-table catalog: POST#key/STATE, LIST#id/sort, URL#path/OWNER, REDIRECT#path/key (a live post
    that lists the path among its earlier URLs), WAIT#path/key (a post refused the path while another
    held it), REJECTED#key/REPORT (the key has a rejection report), CONFIG/SITE, CATALOG/CHANGES."""

    def __init__(self, table: str) -> None:
        self.table = table

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = client("dynamodb").get_item(
            TableName=self.table, Key=_item({"pk": pk, "sk": sk}), ConsistentRead=True
        )
        item = response.get("Item")
        return None if item is None else _plain(item)

    def get_post(self, key: str) -> PostRecord | None:
        return _post_record(key, self._get(_post_pk(key), "STATE"))

    def read(self, reads: Reads) -> Snapshot:
        # Each item once: BatchGetItem refuses a request that names a key twice.
        wanted = list(
            dict.fromkeys(
                [
                    *((_post_pk(key), "STATE") for key in reads.posts),
                    *((_search_pk(key), "STATE") for key in reads.search),
                    *((_url_pk(url), "OWNER") for url in reads.urls),
                    *((_rejected_pk(key), "REPORT") for key in reads.rejected),
                    *([("CONFIG", "SITE")] if reads.config else []),
                    *([("CATALOG", "CHANGES")] if reads.changes else []),
                ]
            )
        )
        found: dict[tuple[str, str], dict[str, Any] | None] = {}
        for start in range(0, len(wanted), BATCH_GET_MAX):
            found.update(self._get_together(wanted[start : start + BATCH_GET_MAX]))
        return Snapshot(
            posts={key: _post_record(key, found[_post_pk(key), "STATE"]) for key in reads.posts},
            search={key: _search_state(found[_search_pk(key), "STATE"]) for key in reads.search},
            owners={url: _owner(found[_url_pk(url), "OWNER"]) for url in reads.urls},
            rejected=frozenset(key for key in reads.rejected if found[_rejected_pk(key), "REPORT"] is not None),
            config=_config_record(found["CONFIG", "SITE"]) if reads.config else None,
            changes=_changes(found["CATALOG", "CHANGES"]) if reads.changes else 0,
            counted_settings=_counted_settings(found["CATALOG", "CHANGES"]) if reads.changes else 0,
        )

    def _get_together(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any] | None]:
        """Items read consistently in one request: a GetItem for one, a BatchGetItem for up to 100.

        Not a TransactGetItems: every commit writes the count of changes, so a transaction reading it
        would be cancelled by any commit under way, and a bulk import commits all the time."""
        if len(keys) == 1:
            return {keys[0]: self._get(*keys[0])}
        found: dict[tuple[str, str], dict[str, Any] | None] = dict.fromkeys(keys)
        request: dict[str, Any] = {
            self.table: {"Keys": [_item({"pk": pk, "sk": sk}) for pk, sk in keys], "ConsistentRead": True}
        }
        for attempt in range(BATCH_GET_ATTEMPTS):
            response = client("dynamodb").batch_get_item(RequestItems=request)
            for raw in response.get("Responses", {}).get(self.table, []):
                item = _plain(raw)
                found[item["pk"], item["sk"]] = item
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return found
            _back_off(attempt)  # throttled: DynamoDB hands back what it did not read
        raise RuntimeError(f"catalog read of {len(keys)} items left keys unread after {BATCH_GET_ATTEMPTS} attempts")

    def _post_item(self, record: PostRecord) -> dict[str, Any]:
        return _item(
            {
                "pk": _post_pk(record.key),
                "sk": "STATE",
                "seq": record.sequencer,
                "live": record.live,
                "url": record.url,
                "sort": record.sort,
                "artifact": record.artifact,
                "lists": list(record.lists),
                "entry": json.dumps(record.entry.to_json(), ensure_ascii=False) if record.entry else "",
                "touched": list(record.touched),
                "previous_url": record.previous_url,
                "state": record.state,
                "due": record.due,
                "aliases": list(record.aliases),
                "released": list(record.released),
                "listed": list(record.listed),
            }
        )

    def commit(
        self, record: PostRecord, *, generation: int | None = None, stored: PostRecord | Unread | None = UNREAD
    ) -> CommitResult:
        for attempt in range(MAX_COMMIT_ATTEMPTS):
            if attempt or stored is UNREAD:
                stored = self.get_post(record.key)
            if stored is not None and stored.sequencer >= record.sequencer:
                return CommitResult("duplicate" if stored.sequencer == record.sequencer else "stale", current=stored)
            final = catalog_plan.finalise(record, stored)
            change = catalog_plan.plan(final, stored)
            if reason := catalog_plan.too_large(change, settings_checked=generation is not None):
                return CommitResult("too_large", current=stored, reason=reason)
            # Optimistic concurrency: the transaction holds only if the record is still the one planned against.
            post: dict[str, Any] = {"TableName": self.table, "Item": self._post_item(final)}
            if stored is None:
                post["ConditionExpression"] = "attribute_not_exists(pk)"
            else:
                post["ConditionExpression"] = "seq = :prev"
                post["ExpressionAttributeValues"] = _item({":prev": stored.sequencer})
            items: list[dict[str, Any]] = [{"Put": post}]
            if change.claim_key:
                items.append(
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": _item({"pk": f"URL#{change.claim_key}", "sk": "OWNER", "owner": record.key}),
                            "ConditionExpression": "attribute_not_exists(pk) OR #o = :me",
                            "ExpressionAttributeNames": {"#o": "owner"},
                            "ExpressionAttributeValues": _item({":me": record.key}),
                        }
                    }
                )
            if change.release_key:
                items.append(
                    {
                        "Delete": {
                            "TableName": self.table,
                            "Key": _item({"pk": f"URL#{change.release_key}", "sk": "OWNER"}),
                            "ConditionExpression": "attribute_not_exists(pk) OR #o = :me",
                            "ExpressionAttributeNames": {"#o": "owner"},
                            "ExpressionAttributeValues": _item({":me": record.key}),
                        }
                    }
                )
            for list_id, sort in change.delete:
                items.append({"Delete": {"TableName": self.table, "Key": _item({"pk": f"LIST#{list_id}", "sk": sort})}})
            if change.put:
                assert final.entry is not None
                entry = json.dumps(final.entry.to_json(), ensure_ascii=False)
                for list_id, sort in change.put:
                    items.append(
                        {
                            "Put": {
                                "TableName": self.table,
                                "Item": _item({"pk": f"LIST#{list_id}", "sk": sort, "e": entry}),
                            }
                        }
                    )
            for claim in change.redirect_put:
                item = _item({"pk": _redirect_pk(claim), "sk": record.key})
                items.append({"Put": {"TableName": self.table, "Item": item}})
            for claim in change.redirect_delete:
                key = _item({"pk": _redirect_pk(claim), "sk": record.key})
                items.append({"Delete": {"TableName": self.table, "Key": key}})
            items.append({"Update": self._count_change()})
            if generation is not None:
                # Last, so the indexes of the URL claim's reason above stay put.
                key = _item({"pk": "CONFIG", "sk": "SITE"})
                items.append({"ConditionCheck": {"TableName": self.table, "Key": key, **_current(generation)}})
            try:
                client("dynamodb").transact_write_items(TransactItems=items)
            except ClientError as exc:
                if _code(exc) != "TransactionCanceledException":
                    raise
                reasons = exc.response.get("CancellationReasons") or []
                settings_moved = len(reasons) == len(items) and reasons[-1].get("Code") == "ConditionalCheckFailed"
                if generation is not None and settings_moved:
                    return CommitResult("config_changed", current=stored)
                url_failed = (
                    change.claim_key
                    and len(reasons) > 1
                    and reasons[1].get("Code") == "ConditionalCheckFailed"
                    and reasons[0].get("Code") in (None, "None")
                )
                if url_failed:
                    owner = self._get(f"URL#{change.claim_key}", "OWNER")
                    if owner is not None and owner.get("owner") != record.key:
                        return CommitResult("url_taken", current=stored, url_owner=str(owner["owner"]))
                if any(reason.get("Code") == "TransactionConflict" for reason in reasons):
                    _back_off(attempt)
                continue  # someone else committed first: re-read and plan again
            return CommitResult("applied", current=final, previous=stored)
        raise RuntimeError(f"catalog commit for {record.key} kept conflicting after {MAX_COMMIT_ATTEMPTS} attempts")

    def entries(self, list_id: str, *, limit: int | None = None) -> list[Entry]:
        found: list[Entry] = []
        args: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": _item({":pk": f"LIST#{list_id}"}),
            # The entry alone: a listing's keys are not read, and botocore parses a third of the
            # attribute values (the home page's 200 entries: 1.4 ms of parsing, 0.7 ms without).
            "ProjectionExpression": "e",
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }
        while True:
            if limit is not None:
                args["Limit"] = limit - len(found)
            response = client("dynamodb").query(**args)
            found.extend(Entry.from_json(json.loads(_plain(i)["e"])) for i in response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last or (limit is not None and len(found) >= limit):
                return found
            args["ExclusiveStartKey"] = last

    def url_owner(self, url: str) -> str | None:
        return _owner(self._get(_url_pk(url), "OWNER"))

    def redirect_claimant(self, url: str) -> str | None:
        response = client("dynamodb").query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=_item({":pk": _redirect_pk(catalog_plan.url_claim(url))}),
            ConsistentRead=True,
            Limit=1,  # the first key
        )
        items = response.get("Items", [])
        return str(from_attribute(items[0]["sk"])) if items else None

    def wait_for_url(self, url: str, key: str, sequencer: str) -> None:
        client("dynamodb").put_item(
            TableName=self.table, Item=_item({"pk": _waiting_pk(url), "sk": key, "seq": sequencer})
        )

    def waiting_for_url(self, url: str) -> dict[str, str]:
        args: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": _item({":pk": _waiting_pk(url)}),
            "ConsistentRead": True,
        }
        waiting: dict[str, str] = {}
        while True:
            response = client("dynamodb").query(**args)
            waiting.update((str(i["sk"]), str(i["seq"])) for i in map(_plain, response.get("Items", [])))
            if "LastEvaluatedKey" not in response:
                return waiting
            args["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def stop_waiting(self, url: str, key: str, sequencer: str) -> None:
        try:
            client("dynamodb").delete_item(
                TableName=self.table,
                Key=_item({"pk": _waiting_pk(url), "sk": key}),
                ConditionExpression="seq = :seq",
                ExpressionAttributeValues=_item({":seq": sequencer}),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def note_rejection(self, key: str) -> None:
        client("dynamodb").put_item(TableName=self.table, Item=_item({"pk": _rejected_pk(key), "sk": "REPORT"}))

    def clear_rejection(self, key: str) -> None:
        client("dynamodb").delete_item(TableName=self.table, Key=_item({"pk": _rejected_pk(key), "sk": "REPORT"}))

    def get_config(self) -> ConfigRecord | None:
        return _config_record(self._get("CONFIG", "SITE"))

    def allocate_ids(self, count: int) -> int:
        response = client("dynamodb").update_item(
            TableName=self.table,
            Key=_item({"pk": "SEARCH", "sk": "COUNTER"}),
            UpdateExpression="ADD next_id :n",
            ExpressionAttributeValues=_item({":n": count}),
            ReturnValues="UPDATED_NEW",
        )
        return int(_plain(response["Attributes"])["next_id"]) - count

    def search_state(self, key: str) -> SearchState | None:
        return _search_state(self._get(_search_pk(key), "STATE"))

    def swap_search_state(self, key: str, expected: SearchState | None, new: SearchState) -> bool:
        values = {
            "pk": _search_pk(key),
            "sk": "STATE",
            "doc": new.doc,
            "digest": new.digest,
            "segment": new.segment,
            "retired": list(new.retired),
            "pending": new.pending,
            "version": new.version,
        }
        # A refusal returns the item as it is: the SDK retries a write whose answer it lost (a
        # timeout, a 5xx), and that write may have landed, so the retry finds its own item.
        args: dict[str, Any] = {"TableName": self.table, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        if expected is None:
            args["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            args["ConditionExpression"] = "version = :v"
            args["ExpressionAttributeValues"] = _item({":v": expected.version})
        try:
            client("dynamodb").put_item(Item=_item(values), **args)
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                found: Mapping[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
                return found is not None and _plain(found) == values
            raise
        return True

    def put_config(self, record: ConfigRecord) -> bool:
        condition = _current(record.generation - 1)
        item = {
            "pk": "CONFIG",
            "sk": "SITE",
            "gen": record.generation,
            "config": record.config.to_text(),
            "sources": dict(record.sources),
        }
        try:
            _past_conflicts(lambda: client("dynamodb").put_item(TableName=self.table, Item=_item(item), **condition))
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        # Counted after the change and before the events that announce it are sent: a render that
        # read the count before this change and again after its writes sees it. The count also
        # keeps the newest generation it counted (`Snapshot.counted_settings`); a later generation
        # counted first keeps its own.
        newest = {
            **self._count_change(),
            "UpdateExpression": "ADD n :one SET gen = :gen",
            "ConditionExpression": "attribute_not_exists(gen) OR gen < :gen",
            "ExpressionAttributeValues": _item({":one": 1, ":gen": record.generation}),
        }
        try:
            _past_conflicts(lambda: client("dynamodb").update_item(**newest))
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise
            _past_conflicts(lambda: client("dynamodb").update_item(**self._count_change()))
        return True

    def _count_change(self) -> dict[str, Any]:
        return {
            "TableName": self.table,
            "Key": _item({"pk": "CATALOG", "sk": "CHANGES"}),
            "UpdateExpression": "ADD n :one",
            "ExpressionAttributeValues": _item({":one": 1}),
        }

    def changes(self) -> int:
        return _changes(self._get("CATALOG", "CHANGES"))

    def refresh_job(self) -> RefreshJob | None:
        response = client("dynamodb").query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=_item({":pk": "JOB#REFRESH"}),
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )
        items = response.get("Items", [])
        if not items:
            return None
        item = _plain(items[0])
        return RefreshJob(
            generation=int(item["gen"]),
            listed=int(item.get("listed", 0)),
            refreshed=int(item.get("refreshed", 0)),
            complete=bool(item.get("complete", False)),
        )

    def count_refresh(self, generation: int, *, listed: int = 0, refreshed: int = 0, complete: bool = False) -> None:
        values: dict[str, Any] = {":gen": generation, ":listed": listed, ":refreshed": refreshed}
        update = "SET gen = :gen"
        if complete:
            values[":complete"] = True
            update += ", complete = :complete"
        update += " ADD listed :listed, refreshed :refreshed"
        client("dynamodb").update_item(
            TableName=self.table,
            Key=_item({"pk": "JOB#REFRESH", "sk": f"{generation:010d}"}),
            UpdateExpression=update,
            ExpressionAttributeValues=_item(values),
        )


class EventBridgeBus:
    def __init__(self, bus_name: str) -> None:
        self.bus_name = bus_name

    def publish(self, events: Sequence[BusEvent]) -> None:
        entries = [
            {
                "EventBusName": self.bus_name,
                "Source": event.source,
                "DetailType": event.detail_type,
                "Detail": json.dumps(event.detail, ensure_ascii=False),
            }
            for event in events
        ]
        for chunk in _put_events_requests(entries):
            response = client("events").put_events(Entries=chunk)
            if response.get("FailedEntryCount"):
                failed = [e for e in response.get("Entries", []) if e.get("ErrorCode")]
                raise RuntimeError(f"EventBridge rejected {len(failed)} of {len(chunk)} events: {failed[:3]}")


# PutEvents takes at most 10 entries and 256 KB, an entry counting its source, detail type and
# detail in UTF-8 bytes, and 14 bytes for its time.
PUT_EVENTS_ENTRIES = 10
PUT_EVENTS_BYTES = 256 * 1024


def _entry_bytes(entry: Mapping[str, str]) -> int:
    return 14 + sum(len(entry[name].encode()) for name in ("Source", "DetailType", "Detail"))


def _put_events_requests(entries: Sequence[dict[str, str]]) -> list[list[dict[str, str]]]:
    requests: list[list[dict[str, str]]] = []
    size = 0
    for entry in entries:
        bytes_ = _entry_bytes(entry)
        if not requests or len(requests[-1]) == PUT_EVENTS_ENTRIES or size + bytes_ > PUT_EVENTS_BYTES:
            requests.append([])
            size = 0
        requests[-1].append(entry)
        size += bytes_
    return requests


class CloudFrontCdn:
    """Invalidates exact paths of one distribution; never a wildcard."""

    MAX_PATHS = 1000  # keep each invalidation well inside CloudFront's 3,000 in-progress paths

    def __init__(self, distribution_id: str) -> None:
        self.distribution_id = distribution_id

    def invalidate(self, paths: Sequence[str]) -> None:
        """Best effort: the objects are written, and their Cache-Control bounds how long the edge keeps
        an older copy, so a refused invalidation (too many in progress, say) is logged, not raised:
        failing the batch would only make its retry find nothing changed, and invalidate nothing."""
        unique = sorted(set(paths))
        for start in range(0, len(unique), self.MAX_PATHS):
            chunk = unique[start : start + self.MAX_PATHS]
            reference = hashlib.sha256("\n".join(chunk).encode()).hexdigest()[:16] + f"-{time.time_ns()}"
            try:
                client("cloudfront").create_invalidation(
                    DistributionId=self.distribution_id,
                    InvalidationBatch={
                        "Paths": {"Quantity": len(chunk), "Items": chunk},
                        "CallerReference": reference,
                    },
                )
            except ClientError as exc:
                log.error(
                    "CloudFront invalidation refused; the edge serves these paths until their max-age ends",
                    extra={"code": _code(exc), "paths": len(chunk), "first": chunk[:5]},
                )


class EventBridgeScheduler:
    """One-time EventBridge Scheduler schedules that put a PostDue event on the publishing bus.

    Each fires once and deletes itself (ActionAfterCompletion DELETE); a failed delivery is
    retried by the scheduler and then kept in the events dead-letter queue.
    """

    def __init__(self, group: str, bus_arn: str, role_arn: str, dead_letter_arn: str = "") -> None:
        self.group = group
        self.bus_arn = bus_arn
        self.role_arn = role_arn
        self.dead_letter_arn = dead_letter_arn

    def schedule(self, name: str, at: dt.datetime, detail: dict[str, Any]) -> None:
        target: dict[str, Any] = {
            "Arn": self.bus_arn,
            "RoleArn": self.role_arn,
            "Input": json.dumps(detail, ensure_ascii=False),
            "EventBridgeParameters": {"DetailType": events.POST_DUE, "Source": events.SCHEDULER_SOURCE},
            "RetryPolicy": {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185},
        }
        if self.dead_letter_arn:
            target["DeadLetterConfig"] = {"Arn": self.dead_letter_arn}
        args: dict[str, Any] = {
            "Name": name,
            "GroupName": self.group,
            # Whole seconds, rounded up: a schedule never fires before the moment it stands for.
            "ScheduleExpression": f"at({_ceil_second(at):%Y-%m-%dT%H:%M:%S})",
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": target,
            "ActionAfterCompletion": "DELETE",
        }
        try:
            client("scheduler").create_schedule(**args)
        except ClientError as exc:
            if _code(exc) != "ConflictException":
                raise
            client("scheduler").update_schedule(**args)  # a retried publish: same name, same schedule

    def cancel(self, name: str) -> None:
        try:
            client("scheduler").delete_schedule(Name=name, GroupName=self.group)
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise


def _ceil_second(at: dt.datetime) -> dt.datetime:
    utc = at.astimezone(dt.UTC)
    whole = utc.replace(microsecond=0)
    return whole if whole == utc else whole + dt.timedelta(seconds=1)
