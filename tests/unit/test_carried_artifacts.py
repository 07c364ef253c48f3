"""A single publish's event carries the post's artifact, so render and index read none from the bucket.

A carried body is used only for the artifact the catalog names: an event of an older commit, or one
forged onto the bus, cannot put other content on the site or into the search index.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from newsdrop import envelopes, events, paths, search
from newsdrop.adapters.memory import MemoryStore
from newsdrop.local.inprocess import InProcessPipeline
from newsdrop.model import Post
from newsdrop.ports import Blob, PostRecord
from newsdrop.stages import index, render
from newsdrop.stages.common import Artifacts
from tests.support.search import site_get

KEY = "_posts/2024-05-20-carried.md"
PAGE = "news/2024/05/20/carried.html"
POST = "---\ntitle: 携带 Carried\ndate: 2024-05-20 09:00:00 +0800\ncategories: news\ntags: 市场\n---\n{}\n"


@dataclass
class GetsSeen(MemoryStore):
    gets: list[str] = field(default_factory=list)

    def get(self, key: str, **options: object) -> Blob | None:
        self.gets.append(key)
        return super().get(key, **options)  # type: ignore[arg-type]


def publish(pipeline: InProcessPipeline, body: str) -> None:
    pipeline.upload(KEY, POST.format(body).encode())
    pipeline.drain()
    assert not pipeline.rejections


def test_render_and_index_read_no_artifact_of_a_post_just_published() -> None:
    artifacts = GetsSeen()
    pipeline = InProcessPipeline(artifacts=artifacts)
    publish(pipeline, "第一版正文 first")
    publish(pipeline, "第二版正文 second")  # an update too: its new artifact travels with its event
    assert artifacts.gets == []
    assert "second" in pipeline.site.objects[PAGE].body.decode()
    assert search.search(site_get(pipeline), "second")


def record_of(pipeline: InProcessPipeline) -> PostRecord:
    record = pipeline.catalog.get_post(KEY)
    assert record is not None
    return record


def test_a_carried_body_that_is_not_the_catalogs_artifact_is_not_used() -> None:
    artifacts = GetsSeen()
    pipeline = InProcessPipeline(artifacts=artifacts)
    publish(pipeline, "真正的正文 genuine")
    record = record_of(pipeline)
    stored = pipeline.artifacts.objects[record.artifact].body
    forged = Post.from_json(json.loads(stored))
    forged = dataclasses.replace(forged, body_html="<p>forged</p>", text="forged")
    body = json.dumps(forged.to_json(), ensure_ascii=False, sort_keys=True)
    event = events.for_record(record, artifact=body.encode())
    assert event.detail["artifact"] == body
    del pipeline.site.objects[PAGE]  # render must write the page again, from what it reads
    bodies = [envelopes.bus_envelope(event)]
    render.run(envelopes.sqs_event(bodies, queue="render"), pipeline.ports)
    index.run(envelopes.sqs_event(bodies, queue="index"), pipeline.ports)
    page = pipeline.site.objects[PAGE].body.decode()
    assert "genuine" in page and "forged" not in page
    assert record.artifact in artifacts.gets
    assert not search.search(site_get(pipeline), "forged")


def test_a_large_artifact_or_a_drafts_stays_in_the_bucket() -> None:
    record = PostRecord(key=KEY, sequencer="1", live=True, url="/a.html", artifact="posts/x/y.json")
    small = b"x" * events.CARRIED_ARTIFACT_MAX
    assert events.for_record(record, artifact=small).detail["artifact"] == small.decode()
    assert "artifact" not in events.for_record(record, artifact=small + b"x").detail
    draft = dataclasses.replace(record, live=False, state="draft")
    assert "artifact" not in events.for_record(draft, artifact=small).detail


def test_a_carried_artifact_is_filed_under_its_own_key() -> None:
    body = b'{"title": "t"}'
    carried = Artifacts(MemoryStore())
    detail = {"key": KEY, "artifact": body.decode()}
    carried.carry(events.publishing_event({"detail-type": events.POST_UPSERTED, "detail": detail}))
    assert carried.carried == {paths.artifact_key(KEY, body): body}
    assert carried.read(paths.artifact_key(KEY, body)) == body and carried.read(paths.artifact_key(KEY, b"{}")) is None


def test_newsdrop_build_carries_no_artifact() -> None:
    pipeline = InProcessPipeline()
    pipeline.publish_site([(KEY, POST.format("正文").encode())])
    upserts = [e for e in pipeline.bus.published if e.detail_type == events.POST_UPSERTED]
    assert upserts and all("artifact" not in e.detail for e in upserts)
    assert pipeline.ports.carry_artifacts  # later publishes carry them again


def test_a_carried_body_that_is_no_text_is_left_and_the_bucket_read() -> None:
    carried = Artifacts(MemoryStore())
    detail = {"key": KEY, "artifact": "\ud800"}  # valid JSON text, no UTF-8
    carried.carry(events.publishing_event({"detail-type": events.POST_UPSERTED, "detail": detail}))
    assert carried.carried == {}
