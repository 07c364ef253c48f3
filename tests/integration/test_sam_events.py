"""The payloads in events/ drive each function the way `sam local invoke -e` does.

Each function is resolved from template.yaml as SAM resolves it (CodeUri + Handler,
the layer's ContentUri on the import path) and invoked with its events/ payload,
against the template's resources on moto.
"""

from __future__ import annotations

import json
from typing import Any

import boto3

from newsdrop import search
from newsdrop.local import template as cfn
from tests.conftest import ROOT, SAMPLES, load_event
from tests.support.search import found_documents

POST_KEY = "_posts/2024-05-20-hello-newsdrop.md"
POST_PAGE = "sitenews/2024/05/20/hello-newsdrop.html"


def test_every_function_has_a_payload_and_the_layer_holds_the_package() -> None:
    template = cfn.load(ROOT / "template.yaml")
    resources = template["Resources"]
    functions = {k: v for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}
    for logical in functions:
        stem = logical.removesuffix("Function").lower()
        assert any(p.name.startswith(f"{stem}-") for p in (ROOT / "events").glob("*.json")), logical
    layers = {k: v for k, v in resources.items() if v["Type"] == "AWS::Serverless::LayerVersion"}
    (layer,) = layers.values()
    content = ROOT / layer["Properties"]["ContentUri"]
    assert (content / "newsdrop" / "stages" / "parse.py").is_file()
    assert (content / "requirements.txt").is_file()


def drop_messages(sqs: Any, url: str) -> int:
    """Receive and delete what the queue holds, handling none of it; how many there were."""
    dropped = 0
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        dropped += len(messages)
    return dropped


def test_payloads_publish_then_remove_the_sample_post(moto_stack: Any) -> None:
    s3 = boto3.client("s3")
    body = (SAMPLES / "site" / POST_KEY).read_bytes()
    s3.put_object(Bucket="newsdrop-source", Key=POST_KEY, Body=body)
    handlers = moto_stack.handlers
    # The payloads stand for the bucket's events: drop the one the stack's S3 sent. The payloads'
    # sequencers are small, so that a real upload to a running stack always outranks them.
    sqs = boto3.client("sqs")
    parse_queue = moto_stack.stack.queue_urls["ParseQueue"]
    assert drop_messages(sqs, parse_queue) == 1

    # parse-put: the post is committed and its event goes to the render and index queues
    response = handlers["ParseFunction"](load_event("parse-put.json"), _context("ParseFunction"))
    assert response == {"batchItemFailures": []}
    item = boto3.client("dynamodb").get_item(
        TableName="newsdrop-catalog", Key={"pk": {"S": f"POST#{POST_KEY}"}, "sk": {"S": "STATE"}}
    )["Item"]
    assert item["live"]["BOOL"] is True
    assert item["url"]["S"] == "/" + POST_PAGE

    # render-upserted: the post page, the home page and the feed exist
    assert handlers["RenderFunction"](load_event("render-upserted.json"), _context("RenderFunction")) == {
        "batchItemFailures": []
    }
    page = s3.get_object(Bucket="newsdrop-site", Key=POST_PAGE)
    assert page["ContentType"] == "text/html; charset=utf-8"
    assert "欢迎使用 newsdrop" in page["Body"].read().decode()
    home = s3.get_object(Bucket="newsdrop-site", Key="index.html")["Body"].read().decode()
    assert "/" + POST_PAGE in home

    # index-upserted: the search index finds the post by a word of its title
    assert handlers["IndexFunction"](load_event("index-upserted.json"), _context("IndexFunction")) == {
        "batchItemFailures": []
    }

    def get(key: str) -> bytes | None:
        try:
            body: bytes = s3.get_object(Bucket="newsdrop-site", Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None
        return body

    found = [document["u"] for document in found_documents(get, "欢迎使用")]
    assert found == ["/" + POST_PAGE]

    # compact-tick: the scheduled compaction has nothing owed on a one-post site and writes nothing
    manifest = s3.get_object(Bucket="newsdrop-site", Key=search.MANIFEST_KEY)["ETag"]
    counts = handlers["CompactFunction"](load_event("compact-tick.json"), _context("CompactFunction"))
    assert counts["index_objects_written"] == 0
    assert s3.get_object(Bucket="newsdrop-site", Key=search.MANIFEST_KEY)["ETag"] == manifest

    # parse-due: a schedule's event for a post that is already published changes nothing
    before = {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket="newsdrop-site").get("Contents", [])}
    assert handlers["ParseFunction"](load_event("parse-due.json"), _context("ParseFunction")) == {
        "batchItemFailures": []
    }
    moto_stack.drain()
    after = {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket="newsdrop-site").get("Contents", [])}
    assert after == before

    # fanout-configured: a settings change asks parse to read the post again, in the bulk lane
    assert handlers["FanoutFunction"](load_event("fanout-configured.json"), _context("FanoutFunction")) == {
        "batchItemFailures": []
    }
    (message,) = sqs.receive_message(QueueUrl=moto_stack.stack.queue_urls["RefreshQueue"])["Messages"]
    refresh = json.loads(message["Body"])
    assert refresh["detail-type"] == "RefreshRequested"
    assert refresh["detail"]["keys"] == [POST_KEY]

    # parse-delete then render-removed: the page is gone and the home page no longer links it
    s3.delete_object(Bucket="newsdrop-source", Key=POST_KEY)
    assert drop_messages(sqs, parse_queue) == 1
    assert handlers["ParseFunction"](load_event("parse-delete.json"), _context("ParseFunction")) == {
        "batchItemFailures": []
    }
    assert handlers["RenderFunction"](load_event("render-removed.json"), _context("RenderFunction")) == {
        "batchItemFailures": []
    }
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="newsdrop-site").get("Contents", [])}
    assert POST_PAGE not in keys
    home = s3.get_object(Bucket="newsdrop-site", Key="index.html")["Body"].read().decode()
    assert POST_PAGE not in home


def test_a_malformed_record_fails_alone(moto_stack: Any) -> None:
    event = load_event("render-upserted.json")
    bad = dict(event["Records"][0], messageId="bad-1", body='{"detail-type": "Nonsense", "detail": {}}')
    event["Records"].append(bad)
    response = moto_stack.handlers["RenderFunction"](event, _context("RenderFunction"))
    assert response == {"batchItemFailures": [{"itemIdentifier": "bad-1"}]}


def _context(name: str) -> Any:
    from newsdrop.local.stack import LambdaContext

    return LambdaContext(function_name=name)


def test_an_upload_after_the_payloads_still_updates_the_post(moto_stack: Any) -> None:
    # `sam local invoke` with events/parse-put.json against a running stack, then the author edits
    # the post for real: the edit wins, as the payload's sequencer is older than any upload's.
    s3 = boto3.client("s3")
    body = (SAMPLES / "site" / POST_KEY).read_bytes()
    s3.put_object(Bucket="newsdrop-source", Key=POST_KEY, Body=body)
    moto_stack.drain()
    assert moto_stack.handlers["ParseFunction"](load_event("parse-put.json"), _context("ParseFunction")) == {
        "batchItemFailures": []
    }
    moto_stack.drain()
    edited = body.decode().replace("欢迎使用 newsdrop", "欢迎再次使用 newsdrop").encode()
    assert edited != body
    s3.put_object(Bucket="newsdrop-source", Key=POST_KEY, Body=edited)
    moto_stack.drain()
    assert moto_stack.errors == []
    assert "欢迎再次使用 newsdrop" in s3.get_object(Bucket="newsdrop-site", Key=POST_PAGE)["Body"].read().decode()


def test_publishing_payloads_carry_every_field_parse_emits() -> None:
    from newsdrop import events
    from newsdrop.ports import PostRecord

    for name, live in (("render-upserted.json", True), ("index-upserted.json", True), ("render-removed.json", False)):
        body = json.loads(load_event(name)["Records"][0]["body"])
        emitted = events.for_record(PostRecord(key="k", sequencer="s", live=live, url="/u.html" if live else ""))
        assert body["detail-type"] == emitted.detail_type, name
        assert body["detail"].keys() == emitted.detail.keys(), name
    body = json.loads(load_event("render-file-changed.json")["Records"][0]["body"])
    emitted = events.file_changed("images/x.png", "s")
    assert body["detail-type"] == emitted.detail_type
    assert body["detail"].keys() == emitted.detail.keys()


def test_the_file_payload_copies_the_sample_image(moto_stack: Any) -> None:
    s3 = boto3.client("s3")
    key = "images/2024/yuan-week.png"
    image = (SAMPLES / "site" / key).read_bytes()
    s3.put_object(Bucket="newsdrop-source", Key=key, Body=image)
    assert drop_messages(boto3.client("sqs"), moto_stack.stack.queue_urls["ParseQueue"]) == 1
    assert moto_stack.handlers["RenderFunction"](
        load_event("render-file-changed.json"), _context("RenderFunction")
    ) == {"batchItemFailures": []}
    copy = s3.get_object(Bucket="newsdrop-site", Key=key)
    assert (copy["Body"].read(), copy["ContentType"]) == (image, "image/png")
