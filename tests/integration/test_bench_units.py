"""bench/units.py counts DynamoDB's request units of the requests a hooked client makes, on moto."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bench.units import UnitMeter, item_size, read_units

TABLE = "units"


def body(size: int, pk: str = "p", sk: str = "s") -> dict[str, Any]:
    """An item of exactly `size` bytes as DynamoDB counts them."""
    item = {"pk": {"S": pk}, "sk": {"S": sk}, "x": {"S": ""}}
    item["x"] = {"S": "a" * (size - item_size(item))}
    assert item_size(item) == size
    return item


@pytest.fixture
def hooked() -> Iterator[tuple[Any, UnitMeter]]:
    with mock_aws():
        shadow = boto3.client("dynamodb", region_name="us-east-1")
        shadow.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        client = boto3.client("dynamodb", region_name="us-east-1")
        meter = UnitMeter(shadow=shadow, on=True)
        meter.hook(client)
        yield client, meter


def key(sk: str = "s") -> dict[str, Any]:
    return {"pk": {"S": "p"}, "sk": {"S": sk}}


def test_a_write_costs_the_larger_of_the_item_before_and_after(hooked: tuple[Any, UnitMeter]) -> None:
    client, meter = hooked
    client.put_item(TableName=TABLE, Item=body(3000))  # new: 3 KB
    client.put_item(TableName=TABLE, Item=body(100))  # replaces 3 KB with 100 bytes: still 3
    client.update_item(
        TableName=TABLE,
        Key=key(),
        UpdateExpression="SET x = :x",
        ExpressionAttributeValues={":x": {"S": "b" * 2400}},
    )  # 100 bytes grown to about 2.4 KB: 3
    client.delete_item(TableName=TABLE, Key=key())  # about 2.4 KB deleted: 3
    assert meter.write == {"dynamodb:PutItem": 6, "dynamodb:UpdateItem": 3, "dynamodb:DeleteItem": 3}
    assert not meter.read


def test_reads_cost_whole_items_per_4_kb(hooked: tuple[Any, UnitMeter]) -> None:
    client, meter = hooked
    for sk in ("a", "b", "c"):
        client.put_item(TableName=TABLE, Item=body(2000, sk=sk))
    client.put_item(TableName=TABLE, Item=body(5000, sk="d"))
    meter.reset()
    client.get_item(TableName=TABLE, Key=key("d"), ConsistentRead=True)  # 5 KB: 2
    client.get_item(TableName=TABLE, Key=key("none"), ConsistentRead=True)  # nothing: still 1
    client.get_item(TableName=TABLE, Key=key("a"))  # eventually consistent: half
    client.batch_get_item(
        RequestItems={TABLE: {"Keys": [key("a"), key("b")], "ConsistentRead": True}}
    )  # each item on its own: 1 + 1
    # Three 2 KB items added up before rounding (2), however little the projection returns.
    client.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :p AND sk < :d",
        ExpressionAttributeValues={":p": {"S": "p"}, ":d": {"S": "d"}, ":none": {"S": "x"}},
        FilterExpression="x = :none",  # matches nothing: the items were read all the same
        ProjectionExpression="#s",
        ExpressionAttributeNames={"#s": "sk"},
        ConsistentRead=True,
    )
    assert meter.read == {"dynamodb:GetItem": 3.5, "dynamodb:BatchGetItem": 2, "dynamodb:Query": 2}
    assert not meter.write


def test_a_transaction_costs_twice_and_checks_as_reads(hooked: tuple[Any, UnitMeter]) -> None:
    client, meter = hooked
    client.put_item(TableName=TABLE, Item=body(100, sk="checked"))
    meter.reset()
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": body(1500, sk="new")}},
            {
                "ConditionCheck": {
                    "TableName": TABLE,
                    "Key": key("checked"),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
        ]
    )
    assert meter.write == {"dynamodb:TransactWriteItems": 2 * 2}
    assert meter.read == {"dynamodb:TransactWriteItems": 2 * 1}


def test_a_write_refused_by_its_condition_costs_the_item_it_kept(hooked: tuple[Any, UnitMeter]) -> None:
    client, meter = hooked
    client.put_item(TableName=TABLE, Item=body(3000))
    meter.reset()
    with pytest.raises(client.exceptions.ConditionalCheckFailedException):
        client.put_item(TableName=TABLE, Item=body(100), ConditionExpression="attribute_not_exists(pk)")
    with pytest.raises(client.exceptions.ConditionalCheckFailedException):
        client.delete_item(TableName=TABLE, Key=key(), ConditionExpression="attribute_not_exists(pk)")
    assert meter.write == {"dynamodb:PutItem": 3, "dynamodb:DeleteItem": 3}
    assert not meter.failed


def test_what_it_does_not_count(hooked: tuple[Any, UnitMeter]) -> None:
    client, meter = hooked
    meter.on = False
    client.put_item(TableName=TABLE, Item=body(3000))
    assert not meter.write and not meter.charges
    meter.on = True
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_item(TableName="no-such-table", Key=key())
    client.scan(TableName=TABLE)  # not modelled: never guessed at
    assert meter.failed == {"dynamodb:GetItem": 1}
    assert meter.uncounted == {"dynamodb:Scan": 1}
    assert not meter.read


def test_hooked_twice_it_counts_once(hooked: tuple[Any, UnitMeter]) -> None:
    client, meter = hooked
    meter.hook(client)
    client.put_item(TableName=TABLE, Item=body(3000))
    assert meter.write == {"dynamodb:PutItem": 3}


def test_unprocessed_keys_are_not_read(hooked: tuple[Any, UnitMeter]) -> None:
    client, meter = hooked
    client.put_item(TableName=TABLE, Item=body(5000, sk="a"))
    client.put_item(TableName=TABLE, Item=body(100, sk="b"))
    asked = {"RequestItems": {TABLE: {"Keys": [key("a"), key("b")], "ConsistentRead": True}}}
    # moto answers every key; DynamoDB may hand some back, to be asked for again.
    everything = meter.units("BatchGetItem", asked, [], {}, kept=False)
    handed_back = meter.units("BatchGetItem", asked, [], {"UnprocessedKeys": {TABLE: {"Keys": [key("a")]}}}, kept=False)
    assert everything == (2 + 1, 0.0)
    assert handed_back == (1, 0.0)


def post(n: int) -> tuple[str, bytes]:
    text = (
        f'---\ntitle: "市场快讯第 {n} 条"\ndate: 2026-11-{1 + n % 28:02d} 0{n % 10}:00:00 +0800\n'
        f"categories: [news]\ntags: [市场]\n---\n{'北向资金今日净买入，两市成交额继续放大。' * 8}\n"
    )
    return f"_posts/2026-11-{1 + n % 28:02d}-units-{n}.md", text.encode()


def test_a_publish_is_charged_for_what_it_read_and_wrote(moto_stack: Any) -> None:
    """Through the real handlers: every DynamoDB request of a publish is seen and charged at least
    what DynamoDB bills at the least, and the home page's Query the whole entries of the home list,
    summed from the table itself."""
    from bench.counting import Meter, hook_client
    from newsdrop.adapters import aws

    names = moto_stack.stack.names
    s3 = aws.client("s3")
    for n in range(30):
        key, text = post(n)
        s3.put_object(Bucket=names.source_bucket, Key=key, Body=text)
    moto_stack.drain()
    shadow = boto3.client("dynamodb", region_name="us-east-1")
    meter, units = Meter(), UnitMeter(shadow=shadow, on=True)
    hook_client(aws.client("dynamodb"), meter, {})
    units.hook(aws.client("dynamodb"))
    key, text = post(30)
    s3.put_object(Bucket=names.source_bucket, Key=key, Body=text)
    moto_stack.drain()

    requests = {name: n for name, n in meter.snapshot().items() if not name.endswith(".items")}
    assert requests["dynamodb:TransactWriteItems"] == 1  # the publish happened
    assert len(units.charges) == sum(requests.values())
    for charge in units.charges:
        assert charge.read + charge.write >= 1, charge.request
    transaction = "dynamodb:TransactWriteItems"
    assert units.write[transaction] + units.read[transaction] >= 2 * meter.snapshot()[f"{transaction}.items"]
    home = [c for c in units.charges if c.request == "dynamodb:Query" and "LIST#home" in str(c.params)]
    listed = shadow.query(
        TableName=names.table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "LIST#home"}},
    )["Items"]
    assert len(listed) == 31
    whole = sum(item_size(item) for item in listed)
    assert [c.read for c in home] == [read_units(whole)]
    assert read_units(whole) > 1  # a meter blind to sizes would have charged 1
    assert not units.failed and not units.uncounted
