"""Convergence: whatever the delivery order, duplicates, concurrency and failures, the site ends up
byte-for-byte equal to a fresh build of the source bucket's final contents (but for the redirects
at the earlier URLs of posts that moved, each of which must lead to a page of the site; an earlier
URL that posts list in `redirect_from:` is the fresh build's too).

Operations (uploads, re-uploads with other dates, titles, categories and tags, broken uploads,
deletes) hit the source bucket on moto in order, each with a real, increasing S3 sequencer. Their
notifications are then delivered the way AWS may deliver them: in any order, more than once, in
batches of any size, two invocations running side by side (interleaved at every storage, catalog
and bus call), and any call failing before or after it takes effect, followed by the retries SQS
would make. The real stage code runs on the AWS adapters against moto.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from newsdrop import envelopes
from newsdrop.adapters import aws
from newsdrop.adapters.aws import DynamoCatalog, S3Store
from newsdrop.local.inprocess import InProcessPipeline
from newsdrop.ports import KnownHeads, Ports
from newsdrop.search import LAYOUT, differences
from newsdrop.stages import index, parse, render
from tests.integration.sitecheck import served_objects
from tests.support.chaos import CaptureBus, FaultPlan, Interleaver, faulty_ports
from tests.support.redirects import broken_redirects, without_redirects

EXAMPLES = int(os.environ.get("NEWSDROP_CONVERGENCE_EXAMPLES", "12"))
# Three posts, and a file the site serves as it is (render copies whatever the bucket holds when it runs).
FILE = "images/图 1.png"
KEYS = ["_posts/2024-03-01-alpha.md", "_posts/2024-03-01-beta two.md", "_posts/2024-03-02-红+c.md", FILE]
STAGES = {"parse": parse.run, "render": render.run, "index": index.run}
SHARED = "shared/old.html"
CONFIG = b"title: Chaos\nurl: https://chaos.example\ntimezone: Asia/Shanghai\n"


def variant(key: str, v: int) -> bytes:
    """Four shapes of each post: they move it between days, categories, tags and permalinks. Five
    versions of the file."""
    if key == FILE:
        return b"\x89PNG\r\n\x1a\n" + bytes([v]) * (v + 1)
    if v == 4:
        return b"---\ntitle: \n---\nbroken: no title"
    day = ["2024-03-01 09:00:00", "2024-03-03 23:30:00 +0000", "2024-03-01 12:00:00", "2024-02-28 08:00:00"][v]
    category = ["news", "markets", "news", "Macro Desk"][v]
    tags = [["a"], ["a", "b"], ["c"], []][v]
    # Distinct per key: two posts claiming one URL is first come, first served (see the README).
    permalink = f"permalink: /fixed/{KEYS.index(key)}/\n" if v == 2 else ""
    # One earlier URL for all: what it redirects to must not depend on the order either.
    permalink += f"redirect_from: /{SHARED}\n" if v in (1, 3) else ""
    title = f"{key.rsplit('/', 1)[1]} v{v} <b>&</b>"
    head = f'---\ntitle: "{title}"\ndate: {day}\ncategories: {category}\ntags: {json.dumps(tags)}\n{permalink}---\n'
    return (head + f"正文 {v}：{key}\n").encode()


operation = st.tuples(st.sampled_from(KEYS), st.one_of(st.none(), st.integers(0, 4)))


@dataclass
class Queue:
    # Each message with the number of times it was received: SQS tells a redelivery by its
    # ApproximateReceiveCount, and render relies on it after a failed attempt.
    messages: list[tuple[str, int]] = field(default_factory=list)


def deliver(data: Any, queues: dict[str, Queue], ports: Ports, bus: CaptureBus, environments: list[KnownHeads]) -> None:
    """Take one or two batches from non-empty queues and run them side by side, with a fault maybe,
    each in one of the execution environments (what each remembers of the site's objects from the
    invocations it ran before: `Ports.site_heads`), two side by side never in the same one."""
    ready = [name for name in STAGES if queues[name].messages]
    jobs: list[tuple[str, list[tuple[str, int]], dict[str, Any], FaultPlan, bool]] = []
    for _ in range(data.draw(st.integers(1, 2), label="workers")):
        ready = [name for name in STAGES if queues[name].messages]
        if not ready:
            break
        name = data.draw(st.sampled_from(ready), label="queue")
        queue = queues[name]
        size = data.draw(st.integers(1, min(10, len(queue.messages))), label="batch size")
        picks = data.draw(st.permutations(range(len(queue.messages))), label="order")[:size]
        batch = [(body, received + 1) for body, received in (queue.messages[i] for i in picks)]
        duplicate = data.draw(st.booleans(), label="duplicate delivery")
        for i, taken in zip(picks, batch, strict=True):
            queue.messages[i] = taken
        if not duplicate:  # at-least-once: sometimes a delivered message stays in the queue as well
            for i in sorted(picks, reverse=True):
                queue.messages.pop(i)
        fault = FaultPlan(
            at=data.draw(st.one_of(st.none(), st.integers(0, 25)), label="fault at call"),
            after=data.draw(st.booleans(), label="fault after effect"),
        )
        records = [envelopes.sqs_record(body, queue=name, receive_count=received) for body, received in batch]
        jobs.append((name, batch, {"Records": records}, fault, duplicate))
    scheduler = Interleaver(lambda n: data.draw(st.integers(0, n - 1), label="next worker"))
    hosts = data.draw(st.permutations(range(len(environments))), label="environments")
    results = scheduler.run(
        [
            (
                lambda name=name, event=event, fault=fault, heads=environments[host]: STAGES[name](
                    event, faulty_ports(ports, fault, scheduler, bus, heads)
                )
            )
            for (name, _, event, fault, _), host in zip(jobs, hosts, strict=False)
        ]
    )
    for (name, batch, event, _, duplicate), (ok, outcome) in zip(jobs, results, strict=True):
        if duplicate:
            continue  # the messages never left the queue: they will be delivered again anyway
        if not ok:  # the invocation failed: SQS redelivers the whole batch after the visibility timeout
            queues[name].messages.extend(batch)
            continue
        failed = {f["itemIdentifier"] for f in outcome.response["batchItemFailures"]}
        ids = [record["messageId"] for record in event["Records"]]
        queues[name].messages.extend(taken for taken, mid in zip(batch, ids, strict=True) if mid in failed)
    for published in bus.delivered:  # what PutEvents accepted, the rules deliver
        if published.detail_type != "PostRejected":
            body = json.dumps(envelopes.bus_envelope(published), ensure_ascii=False)
            queues["render"].messages.append((body, 0))
            if published.detail_type != "FileChanged":  # the template sends files to render alone
                queues["index"].messages.append((body, 0))
    bus.delivered.clear()


@pytest.mark.slow
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    # Shrinking a failing history through moto is slow; NEWSDROP_CONVERGENCE_SHRINK=0 reports the first failure.
    phases=[Phase.explicit, Phase.reuse, Phase.generate]
    + ([Phase.shrink] if os.environ.get("NEWSDROP_CONVERGENCE_SHRINK", "1") == "1" else []),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
@given(operations=st.lists(operation, min_size=1, max_size=7), data=st.data())
def test_any_history_converges_to_a_fresh_build(operations: list[tuple[str, int | None]], data: Any) -> None:
    from moto import mock_aws

    from newsdrop.local import moto_patches
    from newsdrop.local.stack import Names, provision
    from tests.conftest import ROOT

    with mock_aws():
        moto_patches.install()
        aws.client.cache_clear()
        names = Names()
        provision(ROOT, names)
        ports = Ports(
            source=S3Store(names.source_bucket),
            site=S3Store(names.site_bucket),
            artifacts=S3Store(names.artifact_bucket),
            catalog=DynamoCatalog(names.table),
            bus=CaptureBus(),
        )
        bus = CaptureBus()
        s3 = boto3.client("s3")
        queues = {name: Queue() for name in STAGES}
        # The site's settings come first, as the README asks (they decide every post's date).
        s3.put_object(Bucket=names.source_bucket, Key="_config.yml", Body=CONFIG)
        setup = envelopes.s3_notification(
            names.source_bucket, "_config.yml", sequencer=envelopes.next_sequencer(), removed=False
        )
        parse.run(
            envelopes.sqs_event([setup], queue="parse"),
            Ports(ports.source, ports.site, ports.artifacts, ports.catalog, bus),
        )
        for key, v in operations:
            if v is None:
                s3.delete_object(Bucket=names.source_bucket, Key=key)
            else:
                s3.put_object(Bucket=names.source_bucket, Key=key, Body=variant(key, v))
            note = envelopes.s3_notification(
                names.source_bucket, key, sequencer=envelopes.next_sequencer(), removed=v is None
            )
            queues["parse"].messages.append((json.dumps(note, ensure_ascii=False), 0))

        rounds = 0
        environments: list[KnownHeads] = [KnownHeads(), KnownHeads()]
        while any(q.messages for q in queues.values()):
            deliver(data, queues, ports, bus, environments)
            rounds += 1
            assert rounds < 400, "delivery did not finish"

        final = {"_config.yml": CONFIG}
        for key in KEYS:
            with contextlib.suppress(s3.exceptions.NoSuchKey):
                final[key] = s3.get_object(Bucket=names.source_bucket, Key=key)["Body"].read()
        actual = served_objects(names.site_bucket)
    aws.client.cache_clear()

    fresh = InProcessPipeline()
    fresh.upload("_config.yml", final.pop("_config.yml"))
    for key, body in sorted(final.items()):
        fresh.upload(key, body)
    fresh.drain()
    expected = {k: (b.body, b.content_type, b.cache_control) for k, b in fresh.site.objects.items()}
    # A post that moved leaves a redirect at its earlier URL, which a fresh build never knew.
    bodies = {k: v[0] for k, v in actual.items()}
    assert broken_redirects(bodies) == []
    assert bodies.get(SHARED) == (expected[SHARED][0] if SHARED in expected else None)
    kept = without_redirects(bodies)
    assert differences(kept, without_redirects({k: v[0] for k, v in expected.items()})) == []
    pages = [k for k in expected if not k.startswith(LAYOUT)]
    assert [k for k in pages if actual.get(k) != expected[k]] == []
