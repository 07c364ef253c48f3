"""DynamoCatalog.commit when another transaction holds one of its items: DynamoDB cancels the
transaction with a TransactionConflict reason, and the commit waits a random, growing while
before it reads the record again and retries (moto never conflicts, so a stub client stands in)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

from newsdrop.adapters import aws
from newsdrop.adapters.aws import DynamoCatalog
from tests.unit.test_catalog import live


@dataclass
class ConflictingDynamo:
    """Cancels the first `conflicts` transactions as DynamoDB does when another one holds an item."""

    conflicts: int
    transactions: list[list[dict[str, Any]]] = field(default_factory=list)

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        return {}  # no stored record: a first commit

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:  # boto3 names it so
        self.transactions.append(TransactItems)
        if len(self.transactions) <= self.conflicts:
            reasons = [{"Code": "None"} for _ in TransactItems]
            reasons[-2] = {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
            error = {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"}
            response: Any = {"Error": error, "CancellationReasons": reasons}
            raise ClientError(response, "TransactWriteItems")
        return {}


def _commit(monkeypatch: pytest.MonkeyPatch, conflicts: int) -> tuple[str, list[float], ConflictingDynamo]:
    dynamo = ConflictingDynamo(conflicts)
    waits: list[float] = []
    monkeypatch.setattr(aws, "client", lambda service: dynamo)
    monkeypatch.setattr("newsdrop.adapters.aws.time.sleep", waits.append)
    monkeypatch.setattr("newsdrop.adapters.aws.random.uniform", lambda low, high: high)  # the longest wait each time
    result = DynamoCatalog("catalog").commit(live(), generation=1)
    return result.status, waits, dynamo


def test_a_conflicting_commit_waits_longer_each_time_then_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    status, waits, dynamo = _commit(monkeypatch, conflicts=3)
    assert status == "applied"
    assert len(dynamo.transactions) == 4
    assert waits == [aws.CONFLICT_WAIT_S, 2 * aws.CONFLICT_WAIT_S, 4 * aws.CONFLICT_WAIT_S]
    # Each attempt counts the change once and checks the settings last.
    for items in dynamo.transactions:
        assert "ADD n :one" in items[-2]["Update"]["UpdateExpression"]
        assert "ConditionCheck" in items[-1]


def test_a_commit_that_keeps_conflicting_fails_after_its_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RuntimeError, match="kept conflicting"):
        _commit(monkeypatch, conflicts=aws.MAX_COMMIT_ATTEMPTS)
