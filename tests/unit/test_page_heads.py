"""What each page tells search engines and link previews: a post's own summary as its description
(not the site's on every page), and one canonical address for every listing, in the site's URL."""

from __future__ import annotations

from html.parser import HTMLParser

from newsdrop.local.inprocess import InProcessPipeline

CONFIG = "title: 快讯\ndescription: 站点简介\nurl: https://news.example.com\nbaseurl: /wire\n"
POST = (
    "---\ntitle: 央行开展逆回购\ndate: 2024-05-20 09:20:00 +0800\ncategories: macro\ntags: 货币政策\n---\n"
    "央行今日开展逆回购操作。\n"
)


class Head(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.meta: dict[str, list[str]] = {}
        self.canonical: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "meta" and (found.get("name") or found.get("property")):
            self.meta.setdefault(str(found.get("name") or found.get("property")), []).append(str(found.get("content")))
        if tag == "link" and found.get("rel") == "canonical":
            self.canonical.append(str(found.get("href")))


def head_of(pipeline: InProcessPipeline, key: str) -> Head:
    head = Head()
    head.feed(pipeline.site.objects[key].body.decode())
    return head


def built() -> InProcessPipeline:
    pipeline = InProcessPipeline()
    pipeline.upload("_config.yml", CONFIG.encode())
    pipeline.upload("_posts/2024-05-20-repo.md", POST.encode())
    pipeline.drain()
    assert pipeline.rejections == []
    return pipeline


def test_a_post_describes_itself_and_other_pages_describe_the_site() -> None:
    pipeline = built()
    post = head_of(pipeline, "macro/2024/05/20/repo.html")
    assert post.meta["description"] == ["央行今日开展逆回购操作。"]
    assert post.canonical == ["https://news.example.com/wire/macro/2024/05/20/repo.html"]
    assert head_of(pipeline, "index.html").meta["description"] == ["站点简介"]


def test_every_listing_names_its_one_address() -> None:
    pipeline = built()
    pages = {
        "index.html": "/",
        "macro/index.html": "/macro/",
        "tags/货币政策/index.html": "/tags/%E8%B4%A7%E5%B8%81%E6%94%BF%E7%AD%96/",
        "2024/05/20/index.html": "/2024/05/20/",
        "archive/index.html": "/archive/",
        "search/index.html": "/search/",
    }
    for key, path in pages.items():
        head = head_of(pipeline, key)
        address = "https://news.example.com/wire" + path
        assert head.canonical == [address], key
        assert head.meta["og:url"] == [address] and head.meta["og:type"] == ["website"], key
        assert head.meta["og:title"][0].endswith("快讯"), key
