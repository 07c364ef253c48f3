"""Every AWS call a function makes is allowed by its own policy in template.yaml.

moto does not enforce IAM, so a call the template does not allow (a new operation, a key
outside the function's prefix) would pass every other test and fail only on AWS. Here each
request the real handlers make through the local stack is recorded with the function that made
it, turned into the IAM actions, resources and condition keys AWS would authorise it by, and
checked against that function's statements, resolved with the stack's names and ARNs.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import fnmatch
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import botocore.client
import pytest

from newsdrop import clock
from newsdrop.clock import ManualClock
from newsdrop.envelopes import ACCOUNT, REGION
from newsdrop.local import template as cfn
from newsdrop.local.scheduler import ScheduleRunner
from tests.conftest import ROOT
from tests.integration.sitecheck import apply, post

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
CONFIG = "title: Grants\nurl: https://grants.example\ntimezone: Asia/Shanghai\n"

_function: contextvars.ContextVar[str | None] = contextvars.ContextVar("function", default=None)


@dataclass(frozen=True)
class Need:
    """One authorisation a request needs: an action on a resource, with the condition keys AWS
    sets for it (the DynamoDB partition keys it touches, the service a role is passed to)."""

    function: str
    action: str
    resource: str
    leading_keys: tuple[str, ...] = ()
    passed_to: str = ""

    def values(self, key: str) -> tuple[str, ...]:
        known = {"dynamodb:LeadingKeys": self.leading_keys, "iam:PassedToService": (self.passed_to,)}
        assert key in known, f"no value for condition key {key}: add it to Need"
        return known[key]


# The catalog's partition key, as the template declares it.
PK = next(
    k["AttributeName"]
    for k in cfn.load(ROOT / "template.yaml")["Resources"]["CatalogTable"]["Properties"]["KeySchema"]
    if k["KeyType"] == "HASH"
)


def _pk(key: dict[str, Any]) -> str:
    return str(key[PK]["S"])


def _query_pk(params: dict[str, Any]) -> str:
    # A query of a secondary index would be authorised by the index's ARN: not mapped here.
    assert "IndexName" not in params, params["IndexName"]
    match = re.search(rf"\b{PK}\s*=\s*(:\w+)", params["KeyConditionExpression"])
    assert match, params["KeyConditionExpression"]
    return str(params["ExpressionAttributeValues"][match.group(1)]["S"])


def _table(name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


_TRANSACT = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}


def needs(function: str, service: str, operation: str, params: dict[str, Any]) -> list[Need]:
    """What AWS authorises `operation` by. An operation not listed fails the test: add it here."""
    if service == "s3":
        bucket = f"arn:aws:s3:::{params['Bucket']}"
        obj = f"{bucket}/{params.get('Key', '')}"
        simple = {"GetObject": "GetObject", "HeadObject": "GetObject", "PutObject": "PutObject"}
        if operation in simple:
            return [Need(function, f"s3:{simple[operation]}", obj)]
        if operation == "DeleteObject":
            return [Need(function, "s3:DeleteObject", obj)]
        if operation == "DeleteObjects":
            keys = [o["Key"] for o in params["Delete"]["Objects"]]
            return [Need(function, "s3:DeleteObject", f"{bucket}/{k}") for k in keys]
        if operation in ("ListObjectsV2", "ListObjects"):
            return [Need(function, "s3:ListBucket", bucket)]
    if service == "dynamodb":
        if operation in ("GetItem", "PutItem", "UpdateItem", "DeleteItem"):
            key = params["Item"] if operation == "PutItem" else params["Key"]
            return [Need(function, f"dynamodb:{operation}", _table(params["TableName"]), (_pk(key),))]
        if operation == "Query":
            return [Need(function, "dynamodb:Query", _table(params["TableName"]), (_query_pk(params),))]
        if operation == "BatchGetItem":
            return [
                Need(function, "dynamodb:BatchGetItem", _table(table), tuple(_pk(k) for k in request["Keys"]))
                for table, request in params["RequestItems"].items()
            ]
        if operation == "TransactWriteItems":
            found = []
            for item in params["TransactItems"]:
                ((kind, spec),) = item.items()
                key = spec["Item"] if kind == "Put" else spec["Key"]
                found.append(Need(function, f"dynamodb:{_TRANSACT[kind]}", _table(spec["TableName"]), (_pk(key),)))
            return found
    if service == "events" and operation == "PutEvents":
        return [
            Need(
                function,
                "events:PutEvents",
                bus if bus.startswith("arn:") else f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{bus}",
            )
            for bus in {str(e.get("EventBusName", "default")) for e in params["Entries"]}
        ]
    if service == "scheduler" and operation in ("CreateSchedule", "UpdateSchedule", "DeleteSchedule"):
        group = params.get("GroupName", "default")
        schedule = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/{group}/{params['Name']}"
        found = [Need(function, f"scheduler:{operation}", schedule)]
        if "Target" in params:
            found.append(
                Need(function, "iam:PassRole", params["Target"]["RoleArn"], passed_to="scheduler.amazonaws.com")
            )
        return found
    if service == "cloudfront" and operation == "CreateInvalidation":
        return [
            Need(
                function,
                "cloudfront:CreateInvalidation",
                f"arn:aws:cloudfront::{ACCOUNT}:distribution/{params['DistributionId']}",
            )
        ]
    raise AssertionError(f"{function} calls {service}:{operation}, which this test cannot map to IAM actions")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(stack: Any, function: str) -> list[dict[str, Any]]:
    props = stack.resources[function]["Properties"]
    found = []
    for policy in props.get("Policies", []):
        assert "Statement" in policy, f"{function}: only inline statements are understood here, not {policy}"
        found += stack.resolver.resolve(policy["Statement"])
    return found


def allowed(need: Need, statement: dict[str, Any]) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    if not any(fnmatch.fnmatchcase(need.action, a) for a in _as_list(statement["Action"])):
        return False
    if not any(fnmatch.fnmatchcase(need.resource, r) for r in _as_list(statement["Resource"])):
        return False
    return all(
        _holds(operator, need.values(key), _as_list(wanted))
        for operator, tests in statement.get("Condition", {}).items()
        for key, wanted in tests.items()
    )


def _holds(operator: str, values: tuple[str, ...], wanted: list[str]) -> bool:
    """The condition operators the template uses (an unknown one fails the test)."""
    if operator == "StringEquals":
        return len(values) == 1 and values[0] in wanted
    if operator == "ForAllValues:StringLike":
        return all(any(fnmatch.fnmatchcase(v, w) for w in wanted) for v in values)
    raise AssertionError(f"condition operator {operator} is not understood here")


def refused(need: Need, statement: dict[str, Any]) -> bool:
    """An explicit Deny that matches: it wins over every Allow."""
    if statement.get("Effect") != "Deny" or "Condition" in statement:
        return False  # the template's function Denies have no conditions; one that had would need reading here
    if not any(fnmatch.fnmatchcase(need.action, a) for a in _as_list(statement["Action"])):
        return False
    if "NotResource" in statement:
        return not any(fnmatch.fnmatchcase(need.resource, r) for r in _as_list(statement["NotResource"]))
    return any(fnmatch.fnmatchcase(need.resource, r) for r in _as_list(statement["Resource"]))


def denied(stack: Any, calls: list[Need]) -> list[Need]:
    policies = {function: statements(stack, function) for function in {n.function for n in calls}}
    return sorted(
        {
            n
            for n in calls
            if not any(allowed(n, s) for s in policies[n.function]) or any(refused(n, s) for s in policies[n.function])
        },
        key=repr,
    )


@pytest.fixture
def recorded(moto_stack: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Need]]:
    """Every request the functions make while the test runs, with the function that made it.

    The local stack has no CloudFront distribution; here the functions are given the template's
    (as on AWS), and its invalidations are recorded and answered without reaching moto."""
    from newsdrop.runtime import aws_ports
    from newsdrop.settings import settings

    monkeypatch.setenv("DISTRIBUTION_ID", moto_stack.stack.resolver.physical["SiteDistribution"])
    settings.cache_clear()
    aws_ports.cache_clear()
    calls: list[Need] = []
    original = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]

    def record(client: Any, operation: str, params: dict[str, Any]) -> Any:
        function = _function.get()
        service = client.meta.service_model.service_name
        if function is not None:
            calls.extend(needs(function, service, operation, params))
        if service == "cloudfront":
            return {"Invalidation": {"Id": "I1", "Status": "InProgress"}}
        return original(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    for logical, handler in list(moto_stack.handlers.items()):

        def invoke(event: Any, context: Any, _handler: Any = handler, _logical: str = logical) -> Any:
            token = _function.set(_logical)
            try:
                return _handler(event, context)
            finally:
                _function.reset(token)

        moto_stack.handlers[logical] = invoke
    yield calls
    settings.cache_clear()
    aws_ports.cache_clear()


def story(n: int, date: str) -> bytes:
    # 150 words of its own: a few posts fill the search log, so compaction has work.
    body = f"第 {n} 篇 正文。" + " ".join(f"w{n}x{i}" for i in range(150))
    return post(f"Story {n}", date, categories=["Markets"], tags=["利率"], body=body)


def test_every_call_of_every_function_is_allowed_by_its_policy(moto_stack: Any, recorded: list[Need]) -> None:
    manual = ManualClock(dt.datetime(2024, 5, 20, 8, tzinfo=SHANGHAI))
    clock.install(manual)
    try:
        # Enough posts for the scheduled compaction to flush the search log and merge levels (and
        # delete replaced files).
        # With a file the site serves as it is (copied by render from the source bucket).
        apply(moto_stack, {"_config.yml": CONFIG.encode(), "images/chart.png": b"\x89PNG first"})
        for n in range(24):
            day = f"2024-05-{10 + n % 9:02d}"
            apply(moto_stack, {f"_posts/{day}-story-{n}.md": story(n, f"{day} 09:00:00")})
            if n % 6 == 5:
                moto_stack.tick()
        apply(moto_stack, {"_posts/2024-05-20-noon.md": story(99, "2024-05-20 12:00:00")})  # a schedule
        apply(moto_stack, {"_posts/2024-05-20-noon.md": story(99, "2024-05-20 13:00:00")})  # moved
        manual.set(dt.datetime(2024, 5, 20, 13, 1, tzinfo=SHANGHAI))
        ScheduleRunner(moto_stack.stack).run_due()
        moto_stack.drain()
        apply(
            moto_stack,
            {
                "_posts/2024-05-10-story-0.md": story(0, "2024-05-11 09:00:00"),  # moved to another day
                "_posts/2024-05-11-story-1.md": None,  # deleted
                "_posts/2024-05-12-broken.md": b"---\ntitle: [unclosed\n---\nbody",  # rejected
                "_config.yml": (CONFIG + "description: changed\n").encode(),  # every page again
                "images/chart.png": None,  # a file deleted: render finds it gone and deletes its copy
                "assets/img/logo.png": b"\x89PNG logo",
            },
        )
        assert moto_stack.errors == []
    finally:
        clock.install(None)

    functions = {n.function for n in recorded}
    assert functions >= {"ParseFunction", "RenderFunction", "IndexFunction", "CompactFunction"}, functions
    actions = {(n.function, n.action) for n in recorded}
    assert ("RenderFunction", "cloudfront:CreateInvalidation") in actions
    assert {n.action for n in recorded} >= {"dynamodb:BatchGetItem", "s3:DeleteObject", "scheduler:CreateSchedule"}
    compaction = {
        (n.action, n.resource.rpartition("/search/")[2].partition("/")[0])
        for n in recorded
        if n.function == "CompactFunction"
    }
    assert {("s3:PutObject", "run"), ("s3:DeleteObject", "run")} <= compaction, "the schedule merged nothing"
    assert denied(moto_stack.stack, recorded) == []


def test_the_check_finds_a_call_outside_the_policy(moto_stack: Any) -> None:
    index_write = Need("IndexFunction", "s3:PutObject", f"arn:aws:s3:::{moto_stack.stack.names.site_bucket}/search/x")
    page_write = Need("IndexFunction", "s3:PutObject", f"arn:aws:s3:::{moto_stack.stack.names.site_bucket}/index.html")
    other_item = Need("IndexFunction", "dynamodb:PutItem", _table(moto_stack.stack.names.table), ("POST#x",))
    assert denied(moto_stack.stack, [index_write, page_write, other_item]) == sorted([page_write, other_item], key=repr)


def test_the_check_honours_an_explicit_deny(moto_stack: Any) -> None:
    stack = moto_stack.stack
    source = f"arn:aws:s3:::{stack.names.source_bucket}"
    keys = ("images/chart.png", "_posts/2024-05-20-a.md", ".env", "drafts/_old.png", "a/.git/config")
    reads = {key: Need("RenderFunction", "s3:GetObject", f"{source}/{key}") for key in keys}
    refusals = sorted([need for key, need in reads.items() if key != "images/chart.png"], key=repr)
    assert denied(stack, list(reads.values())) == refusals
    # SAM's managed policy lets a queue-fed function take any queue's messages; its own Deny keeps it to its own.
    render = statements(stack, "RenderFunction")

    def taken(queue: str) -> bool:
        arn = stack.resolver.resolve({"Fn::GetAtt": [queue, "Arn"]})
        return not any(refused(Need("RenderFunction", "sqs:DeleteMessage", arn), s) for s in render)

    assert [q for q in ("RenderQueue", "RenderBulkQueue", "ParseQueue", "RenderDLQ") if taken(q)] == [
        "RenderQueue",
        "RenderBulkQueue",
    ]
