"""Two places where moto (5.2) is not AWS, mended for the local stack and the moto tests.

1. S3 -> EventBridge events: moto sends one constant `sequencer` and an unencoded key,
   and nothing when an object in a versioned bucket is deleted. AWS sends a per-key
   increasing sequencer, a URL-encoded key and an "Object Deleted" event for the
   delete marker. Parse relies on all three.
2. DynamoDB TransactWriteItems: moto deep-copies the whole table once per item of a
   transaction (to roll back), so every catalog commit costs time proportional to
   the catalog size. The replacement checks every condition first and writes only
   when all hold: the same all-or-nothing outcome, in time proportional to the
   transaction. And a Query on the table itself sorts every item of the table before
   keeping the queried partition; the patch hands it the partition alone, as DynamoDB
   reads it (same results, same order).

Both patches apply to moto running in this process (mock_aws or ThreadedMotoServer).
And `serialised_server`: moto's backends are not thread-safe (a DynamoDB query iterating a
table while another request writes it fails), so the local stack's server handles one
request at a time; moto's work is pure Python under the GIL, so this costs little.
"""

from __future__ import annotations

import threading
from typing import Any

from newsdrop import envelopes

_installed = threading.Lock()
_done = False


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
            if bucket.is_versioned and version_id is None and bucket.notification_configuration is not None:
                marker = type("DeleteMarker", (), {"name": key_name, "size": 0, "etag": "", "version_id": None})()
                notifications.send_event(
                    self.account_id,
                    notifications.S3NotificationEvent.OBJECT_REMOVED_DELETE_MARKER_CREATED_EVENT,
                    bucket,
                    marker,
                )
            return result

        s3_models.S3Backend.delete_object = delete_object  # type: ignore[method-assign]
        _patch_transactions()
        _patch_queries()
        _done = True


def _patch_queries() -> None:
    from moto.dynamodb.models.table import Table

    original = Table.query

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        if index_name or not self.range_key_attr:
            return original(self, hash_key, *args, **kwargs)
        partition = list(self.items[hash_key].values()) if hash_key in self.items else []
        self.all_items = lambda: partition  # shadows the method for this one call
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = query  # type: ignore[method-assign]


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

    lock = threading.Lock()

    class Serialised(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = DomainDispatcherApplication(create_backend_app)

            def locked(environ: Any, start_response: Any) -> Any:
                with lock:
                    # Read the whole answer inside the lock: the body is produced lazily.
                    return list(app(environ, start_response))

            self._server = make_server(self._ip_address, self._port, locked, True, request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    return Serialised(ip_address=host, port=port, verbose=False)
