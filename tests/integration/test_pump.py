"""Lambda's SQS semantics in the local stack: partial batch failures, retries and redrive to the DLQ."""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3

from tests.conftest import SAMPLES

POST_KEY = "_posts/2024-05-20-hello-newsdrop.md"


def test_poison_record_reaches_the_dlq_after_max_receives_while_its_batch_publishes(moto_stack: Any) -> None:
    # GIVEN a post whose PostUpserted event sits in the render queue beside a record render can never handle
    s3, sqs = boto3.client("s3"), boto3.client("sqs")
    s3.put_object(Bucket="newsdrop-source", Key=POST_KEY, Body=(SAMPLES / "site" / POST_KEY).read_bytes())
    while moto_stack.step("ParseFunction"):
        pass
    render_queue = moto_stack.stack.queue_urls["RenderQueue"]
    poison = json.dumps({"detail-type": "PostUpserted", "source": "newsdrop.parse", "detail": {"lists": 7}})
    sqs.send_message(QueueUrl=render_queue, MessageBody=poison)

    # WHEN the render function is invoked until its queue is empty
    batches = 0
    while moto_stack.step("RenderFunction"):
        batches += 1

    # THEN the good record published in the first batch, and the poison went to the DLQ after maxReceiveCount
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="newsdrop-site").get("Contents", [])}
    assert "sitenews/2024/05/20/hello-newsdrop.html" in keys
    redrive = json.loads(
        sqs.get_queue_attributes(QueueUrl=render_queue, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"]
    )
    assert batches == int(redrive["maxReceiveCount"])
    dlq = moto_stack.stack.queue_urls["RenderDLQ"]
    dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in dead] == [poison]


def test_redrive_sends_dead_letters_back(moto_stack: Any) -> None:
    from newsdrop.local.dev import redrive

    sqs = boto3.client("sqs")
    dlq = moto_stack.stack.queue_urls["ParseDLQ"]
    sqs.send_message(QueueUrl=dlq, MessageBody='{"Event": "s3:TestEvent"}')
    moved = redrive(moto_stack.stack.root, moto_stack.stack.names, endpoint=None).sent
    assert moved["ParseFunction"] == 1
    assert "Messages" not in sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)
    assert moto_stack.step("ParseFunction") == 1  # and parse consumes it (a test event is a no-op)


def test_in_process_pump_reads_queue_depths_from_moto_as_the_api_reports_them(moto_stack: Any) -> None:
    # GIVEN three messages in the render queue, one of them received and in flight, and the fanout queue empty
    sqs = boto3.client("sqs")
    render_queue = moto_stack.stack.queue_urls["RenderQueue"]
    for n in range(3):
        sqs.send_message(QueueUrl=render_queue, MessageBody=json.dumps({"n": n}))
    sqs.receive_message(QueueUrl=render_queue, MaxNumberOfMessages=1, VisibilityTimeout=300)
    receives: list[str] = []
    moto_stack.sqs.meta.events.register("before-call.sqs.ReceiveMessage", lambda **kw: receives.append("receive"))
    fanout = next(s for s in moto_stack.stack.functions["FanoutFunction"].sources if s.queue == "FanoutQueue")

    # WHEN the pump counts what is pending, and steps the empty queue, reading moto's backend and then asking the API
    seen = {}
    for in_process in (True, False):
        moto_stack.in_process = in_process
        seen[in_process] = (moto_stack.pending(), moto_stack.step_source("FanoutFunction", fanout), len(receives))

    # THEN both ways count the visible and the in-flight messages, and only the API way asks the empty queue
    assert seen[True] == (3, 0, 0)
    assert seen[False] == (3, 0, 1)


def test_in_process_pump_hands_a_function_the_records_the_api_gives(moto_stack: Any) -> None:
    # GIVEN a message with an attribute in the render queue, and a render function that fails it twice
    sqs = boto3.client("sqs")
    attributes = {"origin": {"DataType": "String", "StringValue": "test"}}
    sent = sqs.send_message(
        QueueUrl=moto_stack.stack.queue_urls["RenderQueue"], MessageBody='{"n": 1}', MessageAttributes=attributes
    )
    seen: list[dict[str, Any]] = []

    def render(event: dict[str, Any], context: Any) -> dict[str, Any]:
        (record,) = event["Records"]
        seen.append(record)
        return {"batchItemFailures": [{"itemIdentifier": record["messageId"]}] if len(seen) < 3 else []}

    moto_stack.handlers["RenderFunction"] = render
    source = next(s for s in moto_stack.stack.functions["RenderFunction"].sources if s.queue == "RenderQueue")

    # WHEN the pump delivers it through moto's backend, then through the API, then through the backend
    for in_process in (True, False, True):
        moto_stack.in_process = in_process
        assert moto_stack.step_source("RenderFunction", source) == 1

    # THEN the three records differ only in what each receive changes, and the last, handled, is deleted
    assert [r["attributes"]["ApproximateReceiveCount"] for r in seen] == ["1", "2", "3"]
    assert len({r["receiptHandle"] for r in seen}) == 3
    same = [
        {k: v for k, v in r.items() if k != "receiptHandle"}
        | {"attributes": {k: v for k, v in r["attributes"].items() if k != "ApproximateReceiveCount"}}
        for r in seen
    ]
    assert same[0] == same[1] == same[2]
    assert set(seen[1]["attributes"]) == {
        "SenderId",
        "SentTimestamp",
        "ApproximateReceiveCount",
        "ApproximateFirstReceiveTimestamp",
    }
    assert seen[1]["messageId"] == sent["MessageId"] and seen[1]["md5OfBody"] == sent["MD5OfMessageBody"]
    assert seen[1]["messageAttributes"]["origin"]["StringValue"] == "test"
    assert moto_stack.pending() == 0


def test_in_process_pump_waits_for_the_request_moto_is_serving(moto_stack: Any) -> None:
    from newsdrop.local import moto_patches

    # GIVEN a message in the render queue, and moto's backends busy with a request of `newsdrop dev`'s server
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=moto_stack.stack.queue_urls["RenderQueue"], MessageBody='{"n": 1}')
    moto_stack.handlers["RenderFunction"] = lambda event, context: {"batchItemFailures": []}
    source = next(s for s in moto_stack.stack.functions["RenderFunction"].sources if s.queue == "RenderQueue")
    stepped: list[int] = []
    poller = threading.Thread(target=lambda: stepped.append(moto_stack.step_source("RenderFunction", source)))

    # WHEN a poller steps the queue meanwhile
    with moto_patches.BACKENDS:
        poller.start()
        poller.join(0.5)
        # THEN it receives nothing until the request is done, and then takes the message
        assert poller.is_alive() and stepped == []
        assert moto_stack._moto_queue("RenderQueue").approximate_number_of_messages == 1  # still visible
    poller.join(30)
    assert stepped == [1]
    assert moto_stack.pending() == 0


def test_redrive_sends_undelivered_events_to_their_target_and_counts_what_stays(moto_stack: Any) -> None:
    from newsdrop.local.dev import redrive

    sqs = boto3.client("sqs")
    stack = moto_stack.stack
    render_arn = stack.resolver.arns["RenderQueue"]
    event = json.dumps({"detail-type": "PostUpserted", "detail": {"key": "_posts/2024-05-20-a.md"}})
    # What EventBridge puts in a target's dead-letter queue: the event, and which target failed.
    attributes = {"TARGET_ARN": {"DataType": "String", "StringValue": render_arn}}
    sqs.send_message(QueueUrl=stack.queue_urls["EventsDLQ"], MessageBody=event, MessageAttributes=attributes)
    sqs.send_message(QueueUrl=stack.queue_urls["EventsDLQ"], MessageBody="{}")  # no target named
    sqs.send_message(QueueUrl=stack.queue_urls["ScheduleDLQ"], MessageBody="{}")

    redriven = redrive(stack.root, stack.names, endpoint=None)

    assert redriven.sent["(EventBridge targets)"] == 1
    assert redriven.kept["EventsDLQ"] == 1 and redriven.kept["ScheduleDLQ"] == 1
    (delivered,) = sqs.receive_message(QueueUrl=stack.queue_urls["RenderQueue"], MaxNumberOfMessages=10)["Messages"]
    assert delivered["Body"] == event
