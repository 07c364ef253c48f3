"""The search index under concurrency and failures: index batches delivered in any order, more
than once, two invocations side by side (interleaved at every port call) and any call failing
before or after it takes effect, with the compaction small enough to run jobs all the time. Once
every message is through, the index holds exactly the live posts, and every file it names exists.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsdrop import envelopes, search
from newsdrop.local.inprocess import InProcessPipeline
from newsdrop.stages import index
from newsdrop.stages.common import Outcome
from tests.support.chaos import CaptureBus, FaultPlan, Interleaver, faulty_ports
from tests.support.search import expected_index, site_get

EXAMPLES = int(os.environ.get("NEWSDROP_SEARCH_EXAMPLES", "25"))
# Publishes leave compaction to the scheduled one until the log holds twice its usual size, so
# both compact: the ticks drawn among the workers, and publishes that outrun them.
TINY = index.Tuning(
    log_postings=10,
    level0_postings=16,
    fanout=2,
    shard_postings=6,
    short_postings=12,
    steps_per_post=2,
    grace_s=0,
    log_max_postings=20,
    tick_steps=3,
    tick_rounds=2,
)
KEYS = [f"_posts/2024-05-0{n + 1}-p{n}.md" for n in range(5)]
BODIES = ["北向资金净流入", "央行逆回购 bank 002858", "半导体板块上涨", "蔚来ET7交付", "新能源汽车 databank"]


def post(n: int, v: int) -> bytes:
    head = f'---\ntitle: "p{n} v{v}"\ndate: 2024-05-0{n + 1} 10:00:00\n---\n'
    return f"{head}{BODIES[(n + v) % len(BODIES)]} {v}\n".encode()


operation = st.tuples(st.integers(0, len(KEYS) - 1), st.one_of(st.none(), st.integers(0, 3)))


@pytest.mark.slow
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(operations=st.lists(operation, min_size=1, max_size=14), data=st.data())
def test_the_index_converges_under_concurrency_and_failures(
    operations: list[tuple[int, int | None]], data: Any
) -> None:
    captured: list[str] = []

    def capture(event: dict[str, Any], ports: Any) -> Outcome:
        captured.extend(record["body"] for record in event["Records"])
        return Outcome(response={"batchItemFailures": []})

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(index, "TUNING", TINY)
        pipeline = InProcessPipeline()
        patch.setattr(pipeline.queues["index"], "stage", capture)
        waiting: list[str] = []
        for n, v in operations:
            if v is None:
                pipeline.delete(KEYS[n])
            else:
                pipeline.upload(KEYS[n], post(n, v))
            pipeline.drain()  # parse and render now; the index's messages wait for the chaos below
            waiting += captured
            captured.clear()
            if data.draw(st.booleans(), label="deliver now"):
                deliver(data, waiting, pipeline)
        rounds = 0
        while waiting:
            deliver(data, waiting, pipeline)
            rounds += 1
            assert rounds < 300, "delivery did not finish"

    get = site_get(pipeline)
    for run in search.read_index(get).runs:
        assert all(get(key) is not None for key in run.file_keys()), run
    assert search.logical_index(get) == expected_index(pipeline)

    # The schedule then finishes whatever is owed, and the index holds the same documents.
    for _ in range(100):
        index.compact(pipeline.ports, TINY)
        if not index.owes(search.read_index(get), TINY):
            break
    assert not index.owes(search.read_index(get), TINY)
    for run in search.read_index(get).runs:
        assert all(get(key) is not None for key in run.file_keys()), run
    assert search.logical_index(get) == expected_index(pipeline)


def deliver(data: Any, waiting: list[str], pipeline: InProcessPipeline) -> None:
    """One or two index batches side by side; failed ones go back, as SQS redelivers them."""
    jobs: list[tuple[list[str], dict[str, Any] | None, FaultPlan, bool]] = []
    for _ in range(data.draw(st.integers(1, 2), label="workers")):
        if data.draw(st.booleans(), label="compaction tick"):  # the Compact function's schedule
            fault = FaultPlan(at=data.draw(st.one_of(st.none(), st.integers(0, 40)), label="tick fault at call"))
            jobs.append(([], None, fault, False))
            continue
        if not waiting:
            break
        size = data.draw(st.integers(1, min(10, len(waiting))), label="batch size")
        picks = data.draw(st.permutations(range(len(waiting))), label="order")[:size]
        batch = [waiting[i] for i in picks]
        duplicate = data.draw(st.booleans(), label="duplicate delivery")
        if not duplicate:  # at-least-once: sometimes a delivered message stays waiting as well
            for i in sorted(picks, reverse=True):
                waiting.pop(i)
        fault = FaultPlan(
            at=data.draw(st.one_of(st.none(), st.integers(0, 40)), label="fault at call"),
            after=data.draw(st.booleans(), label="fault after effect"),
        )
        jobs.append((batch, envelopes.sqs_event(batch, queue="index"), fault, duplicate))
    scheduler = Interleaver(lambda n: data.draw(st.integers(0, n - 1), label="next worker"))
    bus = CaptureBus()

    def work(event: dict[str, Any] | None, fault: FaultPlan) -> Outcome:
        ports = faulty_ports(pipeline.ports, fault, scheduler, bus)
        return index.compact(ports) if event is None else index.run(event, ports)

    results = scheduler.run([functools.partial(work, event, fault) for _, event, fault, _ in jobs])
    for (batch, event, _, duplicate), (ok, outcome) in zip(jobs, results, strict=True):
        if duplicate or event is None:
            continue  # the messages never left (they will be delivered again); a tick is not retried
        if not ok:
            waiting.extend(batch)
            continue
        failed = {f["itemIdentifier"] for f in outcome.response["batchItemFailures"]}
        ids = [record["messageId"] for record in event["Records"]]
        waiting.extend(body for body, mid in zip(batch, ids, strict=True) if mid in failed)
