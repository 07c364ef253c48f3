"""bench/units.py counts DynamoDB's request units of the requests a hooked client makes, on moto."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bench.units import UnitMeter, item_size

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
        FilterExpression="x <> :none",
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


def test_refused_requests_and_requests_while_off_are_not_counted(hooked: tuple[Any, UnitMeter]) -> None:
    client, meter = hooked
    meter.on = False
    client.put_item(TableName=TABLE, Item=body(3000))
    assert not meter.write
    meter.on = True
    with pytest.raises(client.exceptions.ConditionalCheckFailedException):
        client.put_item(TableName=TABLE, Item=body(100), ConditionExpression="attribute_not_exists(pk)")
    assert not meter.write
    assert meter.failed == {"dynamodb:PutItem": 1}


POST = (
    "_posts/2026-11-23-units.md",
    '---\ntitle: "单位"\ndate: 2026-11-23 18:00:00 +0800\ncategories: [news]\ntags: [市场]\n---\n正文。\n',
)


def test_a_publish_costs_at_least_a_unit_a_request(moto_stack: Any) -> None:
    """Through the real handlers: every DynamoDB request of the publish is seen by the unit meter,
    none costs less than the least DynamoDB bills, and the commit's transaction pays twice per item."""
    from bench.counting import Meter, hook_client
    from newsdrop.adapters import aws

    names = moto_stack.stack.names
    meter, units = Meter(), UnitMeter(shadow=boto3.client("dynamodb", region_name="us-east-1"), on=True)
    hook_client(aws.client("dynamodb"), meter, {})
    units.hook(aws.client("dynamodb"))
    aws.client("s3").put_object(Bucket=names.source_bucket, Key=POST[0], Body=POST[1].encode())
    moto_stack.drain()

    requests = {name: n for name, n in meter.snapshot().items() if not name.endswith(".items")}
    assert requests["dynamodb:TransactWriteItems"] == 1  # the publish happened
    for name, count in requests.items():
        assert units.read[name] + units.write[name] >= count, name
    for name in ("dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:GetItem"):
        assert units.read[name] >= requests[name]
    transaction_items = meter.snapshot()["dynamodb:TransactWriteItems.items"]
    assert (
        units.write["dynamodb:TransactWriteItems"] + units.read["dynamodb:TransactWriteItems"] >= 2 * transaction_items
    )
    assert not units.failed
