"""A site whose settings give it a `baseurl` is served under it by `newsdrop dev`, as mounted there."""

from __future__ import annotations

from tests.conftest import ROOT
from tests.e2e.conftest import DevStack


def test_the_local_stack_serves_the_site_under_its_baseurl_once_the_setting_lands(dev_stack: DevStack) -> None:
    settings = (ROOT / "samples" / "site" / "_config.yml").read_text(encoding="utf-8") + "baseurl: /blog\n"
    dev_stack.s3().put_object(Bucket="newsdrop-source", Key="_config.yml", Body=settings.encode())
    # The settings change re-renders every page; the home page links under the mount point once it has.
    dev_stack.wait_for("/blog/", lambda s, b: s == 200 and 'href="/blog/feed.xml"' in b, timeout=60)
    status, _, followed = dev_stack.get("/")  # the address the stack printed leads there
    assert status == 200 and 'href="/blog/feed.xml"' in followed
    assert dev_stack.get("/blog/feed.xml")[0] == 200
    assert dev_stack.get("/feed.xml")[0] == 404  # outside the mount point, as behind the real one
    # The sample post's image and links, written root-relative as the README says to, are under it too.
    page = "/blog/fx/2024/05/22/fx-weekly.html"
    status, body = dev_stack.wait_for(page, lambda s, b: s == 200 and 'src="/blog/images/' in b, timeout=60)
    image = body.split('src="', 1)[1].split('"', 1)[0]
    # The image is copied by its own event, which may land after the page that shows it.
    dev_stack.wait_for(image, lambda s, _b: s == 200)
