"""The local stack's moto patches answer exactly as moto does.

The patches that read less (Query, ListObjects) are tested with Hypothesis: each example
writes and deletes at random through boto3 (so the patches' sorted indexes are built, then
maintained), and every read is made twice: through the patch, then with moto's own
method put back. The answers must be the same, page by page. The patches that cache or skip
work (serializer names, attribute values, event input paths, action names) are compared with
moto's own code on the shapes and events the stack uses.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

moto = pytest.importorskip("moto")

from moto.dynamodb.models.table import Table  # noqa: E402
from moto.s3.models import S3Backend  # noqa: E402

from newsdrop.local import moto_patches  # noqa: E402

REGION = "us-east-1"
PATCHED = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(autouse=True, scope="module")
def _patched() -> None:
    moto_patches.install()


@contextmanager
def unpatched(owner: type, name: str) -> Iterator[None]:
    patched = getattr(owner, name)
    setattr(owner, name, patched.__wrapped__)
    try:
        yield
    finally:
        setattr(owner, name, patched)


def both(owner: type, name: str, read: Callable[[], Any]) -> tuple[Any, Any]:
    with_patch = read()
    with unpatched(owner, name):
        return with_patch, read()


def without_metadata(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


SORT_KEYS = st.text(alphabet=st.sampled_from(["0", "1", "9", "#", "a"]), min_size=1, max_size=3)
PARTITIONS = st.sampled_from(["LIST#a", "LIST#b"])
ITEM_OPS = st.lists(st.tuples(st.sampled_from(["put", "put", "delete", "query"]), PARTITIONS, SORT_KEYS), max_size=40)
PROJECTIONS = st.sampled_from([None, "n", "sk, n", "pk, sk, n", "m, n", "m"])  # items have no "m"
QUERIES = st.lists(
    st.tuples(PARTITIONS, st.one_of(st.none(), st.integers(1, 5)), st.booleans(), PROJECTIONS),
    min_size=1,
    max_size=6,
)


def failed_response(call: Callable[[], Any]) -> dict[str, Any]:
    """The error response of a call that must fail."""
    try:
        call()
    except ClientError as error:
        return dict(error.response)
    raise AssertionError("the call succeeded")


def create_table(ddb: Any) -> None:
    """Table "t": string partition key pk, string sort key sk, as the catalog's."""
    ddb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def query_pages(
    ddb: Any, partition: str, limit: int | None, forward: bool, projection: str | None = None
) -> list[dict[str, Any]]:
    args: dict[str, Any] = {
        "TableName": "t",
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": partition}},
        "ScanIndexForward": forward,
        "ConsistentRead": True,
    }
    if limit is not None:
        args["Limit"] = limit
    if projection is not None:
        args["ProjectionExpression"] = projection
    pages = []
    while True:
        page = without_metadata(ddb.query(**args))
        pages.append(page)
        if "LastEvaluatedKey" not in page:
            return pages
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@PATCHED
@given(operations=ITEM_OPS, queries=QUERIES)
def test_query_pages_equal_moto(operations: list[tuple[str, str, str]], queries: list[Any]) -> None:
    from moto import mock_aws

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        create_table(ddb)
        for n, (op, partition, sort) in enumerate(operations):
            key = {"pk": {"S": partition}, "sk": {"S": sort}}
            if op == "put":
                ddb.put_item(TableName="t", Item={**key, "n": {"N": str(n)}})
            elif op == "delete":
                ddb.delete_item(TableName="t", Key=key)
            else:  # reads between writes: the index is built early, then has to follow the writes
                patched, original = both(Table, "query", lambda p=partition: query_pages(ddb, p, 2, False))
                assert patched == original
        for partition, limit, forward, projection in queries:
            patched, original = both(
                Table, "query", functools.partial(query_pages, ddb, partition, limit, forward, projection)
            )
            assert patched == original


def test_query_with_a_sort_key_condition_equals_moto() -> None:
    from moto import mock_aws

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        create_table(ddb)
        for sort in ["a1", "a2", "b1", "b2", "c"]:
            ddb.put_item(TableName="t", Item={"pk": {"S": "p"}, "sk": {"S": sort}})

        def read() -> Any:
            return without_metadata(
                ddb.query(
                    TableName="t",
                    KeyConditionExpression="pk = :pk AND begins_with(sk, :b)",
                    ExpressionAttributeValues={":pk": {"S": "p"}, ":b": {"S": "b"}},
                    Limit=1,
                    ScanIndexForward=False,
                )
            )

        patched, original = both(Table, "query", read)
        assert patched == original
        assert [i["sk"]["S"] for i in patched["Items"]] == ["b2"]


def test_query_pages_cut_at_one_megabyte_equal_moto() -> None:
    """Without a Limit the window is the whole partition, and moto stops each page at 1 MB: the
    pages are moto's own, in both directions, before and after an item shrinks."""
    from moto import mock_aws

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        create_table(ddb)
        for n in range(5):  # about 300 KB each: three to a page
            ddb.put_item(TableName="t", Item={"pk": {"S": "p"}, "sk": {"S": f"s{n}"}, "v": {"S": "字" * 100_000}})
        for forward in (True, False):
            patched, original = both(Table, "query", lambda f=forward: query_pages(ddb, "p", None, f))
            assert patched == original
            assert [len(page["Items"]) for page in patched] == [3, 2]
        ddb.update_item(
            TableName="t",
            Key={"pk": {"S": "p"}, "sk": {"S": "s0"}},
            UpdateExpression="SET v = :v",
            ExpressionAttributeValues={":v": {"S": "a"}},
        )
        patched, original = both(Table, "query", lambda: query_pages(ddb, "p", None, True))
        assert patched == original
        assert [len(page["Items"]) for page in patched] == [4, 1]


def query_page(ddb: Any, args: dict[str, Any]) -> dict[str, Any]:
    return without_metadata(ddb.query(**args))


def test_a_query_page_not_deep_copied_leaves_the_stored_items_as_they_were(monkeypatch: pytest.MonkeyPatch) -> None:
    """The patch skips moto's deep copy of a page without a projection and of one projected onto
    top-level names (made by the patch, sharing the stored values); a page projected onto a nested
    path is still copied. The items stored stay as written either way."""
    import copy

    from moto import mock_aws
    from moto.dynamodb.models import table as table_module
    from moto.dynamodb.models.dynamo_type import Item

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        create_table(ddb)
        items = [
            {
                "pk": {"S": "p"},
                "sk": {"S": f"s{n}"},
                "entry": {"M": {"title": {"S": "快讯 <b>"}, "tags": {"L": [{"S": "a"}, {"N": str(n)}]}}},
                "n": {"N": str(n)},
            }
            for n in range(3)
        ]
        for item in items:
            ddb.put_item(TableName="t", Item=item)
        projecting, projected = Item.project, []

        def counted(item: Any, paths: list[list[str]]) -> Any:
            projected.append(paths)
            return projecting(item, paths)

        monkeypatch.setattr(Item, "project", counted)
        reads = {
            "plain": {},
            "top-level": {"ProjectionExpression": "entry, n"},
            "top-level, by placeholder": {"ProjectionExpression": "#e", "ExpressionAttributeNames": {"#e": "entry"}},
            "projected": {"ProjectionExpression": "sk, entry.title"},
        }
        for name, extra in reads.items():
            args = {
                "TableName": "t",
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": {"S": "p"}},
            }

            projected.clear()
            patched, original = both(Table, "query", functools.partial(query_page, ddb, {**args, **extra}))
            assert patched == original, name
            # Moto projected the original read's items, and the patched read's only for a nested path.
            assert len(projected) == (0 if name == "plain" else 3 if name.startswith("top-level") else 6), name
            assert table_module.copy is copy  # the module's own copy is back after the call
        stored = [ddb.get_item(TableName="t", Key={"pk": i["pk"], "sk": i["sk"]})["Item"] for i in items]
        assert stored == items
        assert patched["Items"] == [{"sk": i["sk"], "entry": {"M": {"title": i["entry"]["M"]["title"]}}} for i in items]


OBJECT_KEYS = st.text(alphabet=st.sampled_from(["a", "b", "/", "é", "~"]), min_size=1, max_size=4)
OBJECT_OPS = st.lists(st.tuples(st.sampled_from(["put", "put", "delete", "list"]), OBJECT_KEYS), max_size=30)
LISTS = st.lists(
    st.tuples(
        st.text(alphabet=st.sampled_from(["a", "b", "/", "é", "~"]), max_size=2),
        st.sampled_from([None, "/"]),
        st.integers(1, 4),
    ),
    min_size=1,
    max_size=5,
)


def list_pages(s3: Any, prefix: str, delimiter: str | None, max_keys: int) -> list[dict[str, Any]]:
    args: dict[str, Any] = {"Bucket": "bucket-b", "Prefix": prefix, "MaxKeys": max_keys}
    if delimiter:
        args["Delimiter"] = delimiter
    pages = []
    while True:
        page = without_metadata(s3.list_objects_v2(**args))
        pages.append(page)
        if not page.get("IsTruncated"):
            return pages
        args["ContinuationToken"] = page["NextContinuationToken"]


@PATCHED
@given(operations=OBJECT_OPS, lists=LISTS, versioned=st.booleans())
def test_list_pages_equal_moto(operations: list[tuple[str, str]], lists: list[Any], versioned: bool) -> None:
    from moto import mock_aws

    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="bucket-b")
        if versioned:  # deletes leave delete markers, which a listing must skip
            s3.put_bucket_versioning(Bucket="bucket-b", VersioningConfiguration={"Status": "Enabled"})
        for op, key in operations:
            if op == "put":
                s3.put_object(Bucket="bucket-b", Key=key, Body=key.encode())
            elif op == "delete":
                s3.delete_object(Bucket="bucket-b", Key=key)
            else:
                patched, original = both(S3Backend, "list_objects", lambda k=key: list_pages(s3, k[:1], None, 2))
                assert patched == original
        for prefix, delimiter, max_keys in lists:
            patched, original = both(
                S3Backend, "list_objects", lambda p=prefix, d=delimiter, m=max_keys: list_pages(s3, p, d, m)
            )
            assert patched == original


SCALARS = st.one_of(
    st.builds(lambda t: {"S": t}, st.text(max_size=8)),
    st.builds(lambda n: {"N": n}, st.sampled_from(["0", "12.5", "-0.5e3", "100000000000000000000"])),
    st.builds(lambda b: {"B": b}, st.binary(max_size=6)),
    st.builds(lambda b: {"BOOL": b}, st.booleans()),
    st.just({"NULL": True}),
    st.builds(lambda t: {"SS": t}, st.lists(st.text(max_size=4), min_size=1, max_size=3, unique=True)),
    st.builds(lambda n: {"NS": n}, st.lists(st.sampled_from(["1", "2.5", "-3"]), min_size=1, max_size=3, unique=True)),
)
ATTRIBUTE_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.builds(lambda v: {"L": v}, st.lists(inner, max_size=3)),
        st.builds(lambda v: {"M": v}, st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    ),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(attributes=st.dictionaries(st.text(min_size=1, max_size=6), ATTRIBUTE_VALUES, min_size=1, max_size=5))
def test_item_sizes_equal_moto(attributes: dict[str, Any]) -> None:
    """The size patch counts every attribute and item as moto's own code does, whatever its kind."""
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    item = Item(DynamoType({"S": "p"}), None, attributes)

    def sizes() -> list[int]:
        return [item.size(), *(value.size() for value in item.attrs.values())]

    patched = sizes()
    with unpatched(DynamoType, "size"), unpatched(Item, "size"):
        assert patched == sizes()


@pytest.mark.parametrize(
    ("owner", "name"),
    [
        ("ResponseSerializer", "get_value"),
        ("BaseJSONSerializer", "_serialize_type_structure"),
        ("BaseJSONSerializer", "_serialize_type_map"),
    ],
    ids=["name-cache", "attribute-values", "attribute-maps"],
)
def test_serialized_responses_equal_moto(owner: str, name: str) -> None:
    """The serializer's patches (the name cache; string and number attribute values written as
    they are) give the responses moto gives, over the shapes the stack uses."""
    from moto import mock_aws
    from moto.core import serialize

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        s3 = boto3.client("s3", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        events = boto3.client("events", region_name=REGION)
        create_table(ddb)
        item = {
            "pk": {"S": "p"},
            "sk": {"S": "s"},
            "n": {"N": "12.5"},
            "b": {"B": b"\x00\xff"},
            "ss": {"SS": ["x", "y"]},
            "ns": {"NS": ["1", "2"]},
            "m": {"M": {"inner": {"L": [{"S": "a"}, {"BOOL": True}, {"NULL": True}, {"N": "-0.5e3"}]}}},
            "empty": {"S": ""},
            "text": {"S": '中文 & <b>"quoted"</b>'},
            "flag": {"BOOL": False},
        }
        ddb.put_item(TableName="t", Item=item)
        # An item of strings and numbers only, as the catalog's listing entries are.
        ddb.put_item(
            TableName="t", Item={"pk": {"S": "p"}, "sk": {"S": "t"}, "e": {"S": '{"t": "标题"}'}, "v": {"N": "3"}}
        )
        s3.create_bucket(Bucket="bucket-b")
        for key in ["a/1", "a/2", "b&<>'\"/3", "é/4"]:
            s3.put_object(Bucket="bucket-b", Key=key, Body=b"x", Metadata={"k": "v"}, ContentType="text/html")
        queue = sqs.create_queue(QueueName="q")["QueueUrl"]
        events.create_event_bus(Name="bus")

        reads: list[Callable[[], Any]] = [
            lambda: ddb.query(
                TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p"}}
            ),
            lambda: ddb.get_item(TableName="t", Key={"pk": {"S": "p"}, "sk": {"S": "s"}}),
            lambda: ddb.get_item(TableName="t", Key={"pk": {"S": "p"}, "sk": {"S": "missing"}}),
            lambda: ddb.scan(TableName="t"),
            lambda: ddb.update_item(
                TableName="t",
                Key={"pk": {"S": "p"}, "sk": {"S": "s"}},
                UpdateExpression="SET n = :n",
                ExpressionAttributeValues={":n": {"N": "12.5"}},
                ReturnValues="ALL_NEW",
            ),
            lambda: failed_response(
                lambda: ddb.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": "t",
                                "Item": {"pk": {"S": "p"}, "sk": {"S": "s"}},
                                "ConditionExpression": "attribute_not_exists(pk)",
                                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                            }
                        }
                    ]
                )
            ),
            lambda: ddb.describe_table(TableName="t")["Table"]["KeySchema"],
            lambda: s3.list_objects_v2(Bucket="bucket-b"),
            lambda: s3.list_objects_v2(Bucket="bucket-b", Prefix="a/", Delimiter="/"),
            lambda: s3.list_objects_v2(Bucket="bucket-b", Delimiter="/"),
            lambda: s3.head_object(Bucket="bucket-b", Key="a/1"),
            lambda: s3.list_buckets()["Buckets"],
            lambda: sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"]),
            lambda: events.describe_event_bus(Name="bus"),
        ]
        for read in reads:
            patched, original = both(getattr(serialize, owner), name, read)
            if isinstance(patched, dict):
                patched, original = without_metadata(patched), without_metadata(original)
            assert patched == original


def test_delivered_events_equal_moto() -> None:
    """With each input path compiled once, an event reaches its SQS target as moto delivers it."""
    import json

    import jsonpath_ng.ext
    from moto import mock_aws

    with mock_aws():
        events = boto3.client("events", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        queue = sqs.create_queue(QueueName="target")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.create_event_bus(Name="bus")
        events.put_rule(Name="all", EventBusName="bus", EventPattern=json.dumps({"source": ["newsdrop"]}))
        events.put_targets(Rule="all", EventBusName="bus", Targets=[{"Id": "q", "Arn": arn}])

        def deliver() -> list[dict[str, Any]]:
            detail = {"key": "_posts/2026-11-30-a.md", "nested": {"list": [1, "二", None]}}
            entry = {
                "Source": "newsdrop",
                "DetailType": "Post Parsed",
                "Detail": json.dumps(detail),
                "EventBusName": "bus",
            }
            events.put_events(Entries=[entry, {**entry, "Resources": ["arn:aws:s3:::b"]}])
            delivered = []
            for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
                body = json.loads(message["Body"])
                delivered.append({k: v for k, v in body.items() if k not in ("id", "time")})  # new for each event
            return sorted(delivered, key=json.dumps)

        patched, original = both(jsonpath_ng.ext, "parse", deliver)
        assert len(patched) == 2
        assert patched[0]["detail"]["nested"] == {"list": [1, "二", None]}
        assert patched == original


def test_action_names_equal_moto() -> None:
    """The names listed once per response class are the ones moto lists on every request."""
    from moto.core import responses
    from moto.dynamodb.responses import DynamoHandler
    from moto.s3.responses import S3Response
    from moto.sqs.responses import SQSResponse

    patched = responses.method_names_from_class  # type: ignore[attr-defined]
    for clazz in (DynamoHandler, S3Response, SQSResponse, DynamoHandler):
        names = patched(clazz)
        assert names == patched.__wrapped__(clazz)
        assert "get_item" in names if clazz is DynamoHandler else "get_item" not in names


def queue_scenario() -> list[Any]:
    """A queue with a retention period and a dead-letter queue, in a fresh moto: its attributes as
    three reads ask for them, then the bodies two receives hand out (one message sent is past its
    retention period, and each is received up to twice before it is moved)."""
    from moto import mock_aws
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sqs import models as sqs_models

    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        dead = sqs.create_queue(QueueName="dead")["QueueUrl"]
        dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = sqs.create_queue(
            QueueName="q",
            Attributes={
                "VisibilityTimeout": "0",
                "MessageRetentionPeriod": "60",
                "RedrivePolicy": f'{{"deadLetterTargetArn": "{dead_arn}", "maxReceiveCount": "2"}}',
            },
        )["QueueUrl"]
        for n in range(3):
            sqs.send_message(QueueUrl=url, MessageBody=f"快讯 {n}")
        sqs_models.sqs_backends[DEFAULT_ACCOUNT_ID][REGION].queues["q"]._messages[1].sent_timestamp -= 120_000
        found: list[Any] = []
        for names in (["All"], ["MessageRetentionPeriod", "RedrivePolicy"], ["ApproximateNumberOfMessages"]):
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
            found.append({k: v for k, v in attributes.items() if not k.endswith("Timestamp")})
        for _ in range(2):
            received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
            found.append(sorted(m["Body"] for m in received.get("Messages", [])))
        return found


def test_queue_attributes_equal_moto() -> None:
    """With each attribute name converted once, what a queue answers is moto's own answer."""
    from moto.sqs import models as sqs_models

    converted = sqs_models.camelcase_to_underscores  # type: ignore[attr-defined]
    hits = converted.cache_info().hits
    patched = queue_scenario()
    assert converted.cache_info().hits > hits  # the patched models convert through the cache
    with unpatched(sqs_models, "camelcase_to_underscores"):  # type: ignore[arg-type]
        original = queue_scenario()
    assert patched == original
    assert patched[0]["MessageRetentionPeriod"] == "60"
    assert patched[3] == ["快讯 0"]  # moto stops a receive at a message past its retention period


def test_s3_url_patterns_equal_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """The S3 patterns kept per setting are the ones moto's reload gives, whichever setting came before."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.core.base_backend import BaseBackend
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for endpoints in (None, "https://files.example.com", None, "https://files.example.com,http://local:4566"):
        if endpoints is None:
            monkeypatch.delenv("MOTO_S3_CUSTOM_ENDPOINTS", raising=False)
        else:
            monkeypatch.setenv("MOTO_S3_CUSTOM_ENDPOINTS", endpoints)
        patched = backend.urls
        assert patched == BaseBackend.urls.fget(backend)  # type: ignore[attr-defined]
        assert any("files.example.com" in url for url in patched) == (endpoints is not None)
    monkeypatch.delenv("MOTO_S3_CUSTOM_ENDPOINTS")
    BaseBackend.urls.fget(backend)  # type: ignore[attr-defined]  # moto's module as the other tests expect it


@pytest.mark.parametrize(
    "body",
    [
        '{"Items": [{"e": {"S": "<RequestId> in a value is text"}}], "Count": 1}',
        "<Error><Code>NoSuchKey</Code><RequestId>moto-id</RequestId></Error>",
        "<A><RequestId>1</RequestId><B/><RequestId>2</RequestId></A>",
        '{"Items": [], "Count": 0}',
        b"\x89PNG <RequestId>x</RequestId>",
        "",
    ],
)
def test_responses_get_their_request_id_as_moto_gives_it(body: str | bytes) -> None:
    """A body without the element is left as it is, without the regular expression; every other
    body, and the headers, come out as moto's own gives them (the id itself is random)."""
    from moto.core.responses import BaseResponse

    patched = BaseResponse._enrich_response
    ours, theirs = {"status": 201}, {"status": 201}
    ours_headers, ours_body = patched(ours, body)
    theirs_headers, theirs_body = patched.__wrapped__(theirs, body)  # type: ignore[attr-defined]

    def same_id(headers: dict[str, str], out: str | bytes) -> str | bytes:
        found = headers["x-amzn-requestid"]
        return out.replace(found, "ID") if isinstance(out, str) else out

    assert ours_headers.keys() == theirs_headers.keys() and ours_headers["status"] == theirs_headers["status"] == "201"
    assert same_id(ours_headers, ours_body) == same_id(theirs_headers, theirs_body)
    if isinstance(body, str) and "</RequestId>" in body:  # an element to hold it: this response's id is there
        assert f"<RequestId>{ours_headers['x-amzn-requestid']}</RequestId>" in ours_body


def test_requests_to_moto_in_this_process_run_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Render derives its listings in threads; moto's backends, and the query patch above (which
    shadows a table's items for one call), assume one request at a time, as the serialised server
    gives them: while moto answers a request, no other thread may work in its backends."""
    original = S3Backend.get_object
    others_got_in: list[bool] = []

    def get_object(self: Any, *args: Any, **kwargs: Any) -> Any:
        def other() -> None:
            got = moto_patches.BACKENDS.acquire(blocking=False)
            if got:
                moto_patches.BACKENDS.release()
            others_got_in.append(got)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(S3Backend, "get_object", get_object)
    with moto.mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="one-at-a-time")
        s3.put_object(Bucket="one-at-a-time", Key="k", Body=b"x")
        assert s3.get_object(Bucket="one-at-a-time", Key="k")["Body"].read() == b"x"
    assert others_got_in and not any(others_got_in)
