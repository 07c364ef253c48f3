"""Files the site serves as they are (images, PDFs, text): copied from the source bucket to the same
key, replaced, deleted and refused through the in-process pipeline (the local adapters)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from newsdrop import envelopes, events, paths, source_keys
from newsdrop.adapters.memory import MemoryBus, MemoryCatalog, MemoryStore
from newsdrop.cli.main import main
from newsdrop.local.inprocess import InProcessPipeline
from newsdrop.local.jekyll import JekyllSite
from newsdrop.ports import Blob, Head, KnownHeads, Ports, PreconditionFailed
from newsdrop.rendering import writer
from newsdrop.stages import parse, render
from tests.support.cdn import RecordingCdn

PNG = b"\x89PNG\r\n\x1a\n" + b"first image"
PNG_2 = b"\x89PNG\r\n\x1a\n" + b"second image, replacing the first"


def pipeline() -> tuple[InProcessPipeline, RecordingCdn]:
    built = InProcessPipeline()
    cdn = RecordingCdn()
    built.ports = dataclasses.replace(built.ports, cdn=cdn)
    return built, cdn


def stage_ports(source: MemoryStore, site: MemoryStore | None = None, cdn: RecordingCdn | None = None) -> Ports:
    """Ports for running the stages one by one on the local adapters."""
    parts = Ports(
        source=source, site=site or MemoryStore(), artifacts=MemoryStore(), catalog=MemoryCatalog(), bus=MemoryBus()
    )
    return parts if cdn is None else dataclasses.replace(parts, cdn=cdn)


def file_event(key: str, sequencer: str = "1") -> dict[str, Any]:
    """Render's SQS event for one FileChanged."""
    return envelopes.sqs_event([envelopes.bus_envelope(events.file_changed(key, sequencer))], queue="render")


def upload(p: InProcessPipeline, key: str, body: bytes) -> None:
    p.upload(key, body)
    p.drain()


def delete(p: InProcessPipeline, key: str) -> None:
    p.delete(key)
    p.drain()


def test_a_file_is_served_at_its_own_key_with_the_type_of_its_name() -> None:
    p, _ = pipeline()
    upload(p, "images/2024/chart.png", PNG)
    upload(p, "assets/reports/Q1 Report.PDF", b"%PDF-1.7 report")
    upload(p, "data/rates.csv", "日期,汇率\n2024-05-20,7.23\n".encode())

    chart, report, rates = (
        p.site.objects[k] for k in ("images/2024/chart.png", "assets/reports/Q1 Report.PDF", "data/rates.csv")
    )
    assert (chart.body, chart.content_type) == (PNG, "image/png")
    assert (report.body, report.content_type) == (b"%PDF-1.7 report", "application/pdf")
    # Saved, not shown: the site's CSP would stop Chrome's PDF viewer; images are shown.
    assert (report.content_disposition, chart.content_disposition) == ("attachment", "")
    assert rates.content_type == "text/csv; charset=utf-8" and rates.body.decode() == "日期,汇率\n2024-05-20,7.23\n"
    # Not the theme's immutable assets: a file keeps its name when it changes.
    assert {chart.cache_control, report.cache_control, rates.cache_control} == {writer.FILE_CACHE}
    assert p.rejections == [] and p.dead_letters == {}
    # Nothing of a file goes into the catalog.
    assert p.catalog.entries("all") == []


def test_a_replaced_file_is_rewritten_and_invalidated_and_a_deleted_one_is_removed() -> None:
    p, cdn = pipeline()
    for key in ("images/chart.png", "assets/img/logo.png"):  # under assets/ too, unlike the theme's own files
        upload(p, key, PNG)
        assert cdn.paths == []  # new: nothing cached to drop
        upload(p, key, PNG_2)
        assert p.site.objects[key].body == PNG_2
        assert cdn.paths == ["/" + key]
        upload(p, key, PNG_2)  # the same bytes again: nothing written, nothing invalidated
        assert cdn.paths == ["/" + key]
        delete(p, key)
        assert key not in p.site.objects
        assert cdn.paths == ["/" + key, "/" + key]
        cdn.batches.clear()


def test_events_of_one_file_in_any_order_leave_what_the_bucket_holds_last() -> None:
    p, _ = pipeline()
    key = "images/late.png"
    upload(p, key, PNG)
    first = envelopes.s3_notification("newsdrop-source", key, sequencer=envelopes.next_sequencer(), removed=False)
    upload(p, key, PNG_2)
    # The first upload's notification delivered again, after the second upload's was handled.
    p.queues["parse"].messages.append((json.dumps(first), 0))
    p.drain()
    assert p.site.objects[key].body == PNG_2

    delete(p, key)
    # An upload's notification arriving after the delete copies nothing: the bucket holds nothing.
    p.queues["parse"].messages.append((json.dumps(first), 0))
    p.drain()
    assert key not in p.site.objects


@pytest.mark.parametrize(
    "key",
    ["logo.svg", "page.html", "about.md", "script.js", "style.css", "_drafts/chart.png", ".hidden/chart.png",
     "images/.chart.png", "#backup.png", "~chart.png", "images/_old/chart.png", "png", "images/.png",
     "images~/chart.png", "v1./chart.png"],
)  # fmt: skip
def test_files_of_other_types_and_names_jekyll_leaves_out_are_not_published(key: str) -> None:
    p, _ = pipeline()
    before = set(p.site.objects)
    upload(p, key, PNG)
    assert not source_keys.is_file_key(key)
    assert set(p.site.objects) == before and p.rejections == []
    assert p.source.objects[key].body == PNG


TAKES = "takes a name the site's own pages use"
IN_PAGE = "is in a folder named like a page"


@pytest.mark.parametrize(
    ("key", "why"),
    [("robots.txt", TAKES), ("search/chart.png", TAKES), ("tags/chart.png", TAKES), ("sitemaps/x.txt", TAKES),
     ("archive/a.pdf", TAKES), ("index.html/x.png", TAKES), ("robots.txt/x.png", TAKES),
     # A folder that ignores case would take them for the site's own.
     ("Robots.txt", TAKES), ("Search/chart.png", TAKES), ("TAGS/chart.png", TAKES),
     ("news/index.html/chart.png", IN_PAGE), ("news/2024/a.html/b.png", IN_PAGE)],
)  # fmt: skip
def test_a_file_that_would_take_a_name_of_the_site_is_rejected_with_its_reason(key: str, why: str) -> None:
    p, _ = pipeline()
    upload(p, "_posts/2024-05-20-a.md", b"---\ntitle: A\n---\nBody.\n")  # the site's own pages exist
    own = {k: b.body for k, b in p.site.objects.items()}
    upload(p, key, b"not the site's")
    assert p.rejections == [(key, f"file {key!r} {why}")]
    assert {k: b.body for k, b in p.site.objects.items()} == own
    assert p.source.objects[key].body == b"not the site's"  # input is never deleted
    delete(p, key)  # deleting it is not reported again, and takes nothing of the site's
    assert len(p.rejections) == 1 and {k: b.body for k, b in p.site.objects.items()} == own


def test_a_favicon_may_be_uploaded() -> None:
    p, _ = pipeline()
    upload(p, "favicon.ico", b"\x00\x00\x01\x00icon")
    assert p.site.objects["favicon.ico"].content_type == "image/vnd.microsoft.icon"


def test_a_file_over_the_limit_is_rejected_and_the_copy_published_before_stays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source_keys, "MAX_FILE_BYTES", 100)
    p, _ = pipeline()
    key = "images/chart.png"
    upload(p, key, PNG)
    upload(p, key, PNG + b"x" * 200)
    assert p.rejections == [(key, f"file is {len(PNG) + 200} bytes; the limit is 100")]
    assert p.site.objects[key].body == PNG
    assert [k for k in p.artifacts.objects if k.startswith(parse.REPORTS_PREFIX)] == [parse.report_key(key)]
    # Should its copy be asked for all the same (an event sent by hand), render keeps what is there.
    p.bus.publish([events.file_changed(key, envelopes.next_sequencer())])
    p.drain()
    assert p.site.objects[key].body == PNG
    upload(p, key, PNG_2)  # within the limit again: published, and no longer reported
    assert p.site.objects[key].body == PNG_2
    assert [k for k in p.artifacts.objects if k.startswith(parse.REPORTS_PREFIX)] == []


@pytest.mark.parametrize("url", ["/charts/yuan.png", "/charts/yuan.PNG/", "/report.pdf/page.html"])
def test_a_post_page_never_takes_the_name_of_a_file(url: str) -> None:
    # Nor a folder of a file's name: a file and a folder of one name cannot both be in a built site.
    with pytest.raises(paths.PathError, match="names a file served as it is"):
        paths.post_key(url)
    assert paths.post_key("/charts/yuan/") == "charts/yuan/index.html"


def test_a_file_event_for_another_key_is_refused() -> None:
    body = envelopes.bus_envelope(events.file_changed("_posts/2024-05-20-a.md", "1"))
    with pytest.raises(events.MalformedEvent):
        events.publishing_event(body)


def test_build_and_import_take_the_files_jekyll_would_copy(tmp_path: Path) -> None:
    site = tmp_path / "site"
    files = {
        "_posts/2024-05-20-a.md": b"---\ntitle: A\n---\n![chart](/images/chart.png)\n",
        "images/chart.png": PNG,
        "docs/report.pdf": b"%PDF-1.7",
        "_drafts/draft.png": PNG,
        "node_modules/pkg/icon.png": PNG,
        "Gemfile": b"source 'https://rubygems.org'\n",
        "index.html": b"<html>a Jekyll page</html>",
    }
    for name, body in files.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_bytes(body)
    out = tmp_path / "out"
    assert main(["build", str(site), "--out", str(out), "--jobs", "1", "--strict"]) == 0
    assert (out / "images/chart.png").read_bytes() == PNG
    assert (out / "docs/report.pdf").read_bytes() == b"%PDF-1.7"
    assert not (out / "_drafts").exists()
    assert (out / "node_modules/pkg/icon.png").read_bytes() == PNG  # a folder laid out like the bucket: all of it
    assert b"a Jekyll page" not in (out / "index.html").read_bytes()  # the site's own home page

    imported = [key for key, _ in JekyllSite.read(site).files()]
    assert imported == ["_posts/2024-05-20-a.md", "docs/report.pdf", "images/chart.png"]


@dataclass
class Meanwhile(MemoryStore):
    """A source bucket that runs `then` once, right after the next read of `key` has been served:
    the copy that read it is still on its way to the site."""

    key: str = ""
    then: Callable[[], None] | None = None

    def get(self, key: str, *, max_bytes: int | None = None) -> Blob | None:
        blob = super().get(key, max_bytes=max_bytes)
        if key == self.key and self.then is not None:
            then, self.then = self.then, None
            then()
        return blob


@pytest.mark.parametrize("change", ["deleted", "reverted"])
def test_a_copy_that_lands_after_a_newer_one_found_nothing_to_write_is_copied_again(change: str) -> None:
    # Render X reads the file; the author then deletes it (or puts back the version the site
    # holds), and render Y, finding the site already as the bucket is, writes nothing; then X's
    # write lands. X looks at the source once it has written, and copies again.
    key = "images/chart.png"
    source = Meanwhile(key=key)
    ports = stage_ports(source)
    first = PNG if change == "reverted" else None
    if first is not None:
        source.put(key, first, content_type="image/png")
        render.run(file_event(key), ports)
        assert ports.site.get(key) is not None
    source.put(key, PNG_2, content_type="image/png")
    event = file_event(key, "2")

    def meanwhile() -> None:
        if first is None:
            source.delete(key)
        else:
            source.put(key, first, content_type="image/png")
        render.run(event, dataclasses.replace(ports, site_heads=KnownHeads()))  # Y, in another environment

    source.then = meanwhile
    render.run(event, ports)  # X
    copy = ports.site.get(key)
    assert (None if copy is None else copy.body) == first


def test_build_refuses_a_file_over_the_limit_by_its_size_and_never_copies_its_own_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(source_keys, "MAX_FILE_BYTES", 100)
    site = tmp_path / "site"
    (site / "images").mkdir(parents=True)
    (site / "images/small.png").write_bytes(PNG)
    (site / "images/large.png").write_bytes(PNG + b"x" * 200)
    out = site / "public"  # the output inside the folder it builds: built again, it must not copy itself
    for _ in range(2):
        assert main(["build", str(site), "--out", str(out), "--jobs", "1"]) == 0
    assert f"rejected images/large.png: file is {len(PNG) + 200} bytes; the limit is 100" in capsys.readouterr().err
    assert (out / "images/small.png").read_bytes() == PNG
    assert not (out / "images/large.png").exists() and not (out / "public").exists()
    assert main(["build", str(site), "--out", str(out), "--jobs", "1", "--strict"]) == 1


def test_what_a_file_costs_on_aws() -> None:
    # The requests README's "Images and other files" counts, on the counting adapters the bench uses.
    from bench.inproc import counted_pipeline

    counted = counted_pipeline()
    p, meter = counted.pipeline, counted.meter
    upload(p, "_posts/2024-05-20-a.md", b"---\ntitle: A\n---\nBody.\n")  # the theme in place

    def publish(body: bytes | None) -> tuple[dict[str, int], dict[str, int]]:
        if body is None:
            p.delete("images/a.png")
        else:
            p.upload("images/a.png", body)
        meter.reset()  # what the functions do, not the author's upload
        before = dict(p.invocations)
        p.drain()
        return meter.snapshot(), {k: n - before.get(k, 0) for k, n in p.invocations.items() if n != before.get(k, 0)}

    new, invoked = publish(PNG)
    assert invoked == {"parse": 1, "render": 1}  # never index: files are not searched
    # HEADs: parse's of the source; render's of the source, of the copy, and of the source once written.
    assert (new["s3:PutObject[site]"], new["s3:GetObject"], new["s3:HeadObject"]) == (1, 1, 4)
    assert "cloudfront:CreateInvalidation" not in new  # new: nothing cached to drop
    replaced, _ = publish(PNG_2)
    assert (replaced["s3:PutObject[site]"], replaced["cloudfront:CreateInvalidation.paths"]) == (1, 1)
    again, _ = publish(PNG_2)
    # The same object again (its ETag): not read, not written, not invalidated.
    assert not {"s3:GetObject", "s3:PutObject", "cloudfront:CreateInvalidation"} & set(again)
    deleted, _ = publish(None)
    assert (deleted["s3:DeleteObject[site]"], deleted["cloudfront:CreateInvalidation.paths"]) == (1, 1)


@dataclass
class ChangedAfterHead(MemoryStore):
    """A source bucket whose file `key` is replaced by `by` (deleted, for None) right after its next
    HEAD has been answered."""

    key: str = ""
    by: bytes | None = None

    def head(self, key: str) -> Head | None:
        found = super().head(key)
        if key == self.key:
            self.key = ""
            if self.by is None:
                self.delete(key)
            else:
                self.put(key, self.by, content_type="image/png")
        return found


def test_a_file_deleted_between_its_head_and_its_read_is_tried_again_and_its_copy_deleted() -> None:
    key = "images/chart.png"
    source = ChangedAfterHead()
    ports = stage_ports(source)
    event = file_event(key)
    source.put(key, PNG, content_type="image/png")
    render.run(event, ports)
    source.put(key, PNG_2, content_type="image/png")
    source.key = key
    failed = render.run(event, ports).response["batchItemFailures"]
    assert len(failed) == 1 and ports.site.get(key) is not None  # never an empty copy, never a stale one kept
    assert render.run(event, ports).response["batchItemFailures"] == []  # the retry
    assert ports.site.get(key) is None


def test_a_copy_read_newer_than_its_head_is_labelled_with_what_it_holds() -> None:
    # The copy is labelled with the source's ETag from a HEAD; a read that finds a newer object must
    # not leave that object under the older label, or a revert to the older one would be kept out.
    key = "images/chart.png"
    source = ChangedAfterHead()
    ports = stage_ports(source)
    event = file_event(key)
    source.put(key, PNG, content_type="image/png")  # never copied yet: the first render reads past its HEAD
    source.key, source.by = key, PNG_2
    assert render.run(event, ports).response["batchItemFailures"] == []
    assert ports.site.objects[key].body == PNG_2
    source.put(key, PNG, content_type="image/png")  # reverted
    render.run(event, ports)
    assert ports.site.objects[key].body == PNG


@dataclass
class LostAnswer(MemoryStore):
    """A site bucket that loses the answer to the next PUT of `key`: the PUT lands, and the SDK's
    retry of it is refused (412), as S3 refuses a conditional PUT that already took effect."""

    key: str = ""

    def put(self, key: str, body: bytes, **options: Any) -> str:
        etag = super().put(key, body, **options)
        if key == self.key:
            self.key = ""
            raise PreconditionFailed(key)
        return etag


def test_a_replaced_file_whose_put_answer_was_lost_is_still_invalidated() -> None:
    key = "images/chart.png"
    site = LostAnswer()
    cdn = RecordingCdn()
    ports = stage_ports(MemoryStore(), site, cdn)
    event = file_event(key)
    ports.source.put(key, PNG, content_type="image/png")
    render.run(event, ports)
    ports.source.put(key, PNG_2, content_type="image/png")
    site.key = key
    render.run(event, ports)
    assert site.objects[key].body == PNG_2
    assert cdn.paths == ["/" + key]  # the edge drops the old copy, though the PUT's answer never came


def test_a_folder_one_level_above_the_site_is_named_with_where_its_posts_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from newsdrop.cli.main import main

    (tmp_path / "site" / "_posts").mkdir(parents=True)
    (tmp_path / "site" / "_posts" / "2024-05-20-a.md").write_text("---\ntitle: A\n---\nBody.\n")
    assert main(["build", str(tmp_path), "--out", str(tmp_path / "out"), "--jobs", "1"]) == 0
    err = capsys.readouterr().err
    assert f"{tmp_path} has no _posts/ folder (did you mean {tmp_path / 'site'}?)" in err
    # The site's own folder, or a folder of settings alone, is not warned about.
    settings = tmp_path / "settings"
    settings.mkdir()
    (settings / "_config.yml").write_text("title: T\n")
    for folder in (tmp_path / "site", settings):
        assert main(["build", str(folder), "--out", str(tmp_path / "out2"), "--jobs", "1"]) == 0
        assert "warning" not in capsys.readouterr().err


def test_a_file_of_20_mib_may_be_served_and_one_byte_more_is_refused() -> None:
    # Measured from the size the source bucket gives, before any byte is read.
    assert paths.file_refusal("images/chart.png", 20 * 2**20) is None
    assert paths.file_refusal("images/chart.png", 20 * 2**20 + 1) == "file is 20971521 bytes; the limit is 20971520"
