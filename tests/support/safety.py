"""What a published site must never contain, checked object by object.

`audit_site` parses every HTML page (and the HTML inside feeds) and lists anything that could run
script, load a frame, post a form or rewrite the page's base: the theme's own search script, the
404 page's own folder script, the search page's button for more results and its notice for
readers without JavaScript, its stylesheet and its empty `data:,` favicon are the only exceptions.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

from newsdrop.cli.main import BUILD_MARK

FORBIDDEN_ELEMENTS = frozenset(
    {"script", "iframe", "frame", "frameset", "form", "base", "object", "embed", "applet", "svg", "math",
     "input", "button", "textarea", "select", "style", "bgsound", "xml", "xss", "noscript", "template", "portal"}
)  # fmt: skip
URL_ATTRIBUTES = frozenset(
    {"href", "src", "action", "formaction", "xlink:href", "background", "poster", "srcset", "data", "codebase",
     "cite", "lowsrc", "dynsrc", "longdesc", "usemap", "ping", "manifest", "content"}
)  # fmt: skip
SCRIPT_SCHEMES = ("javascript:", "vbscript:", "livescript:", "data:")
STYLE_TRICKS = ("url(", "expression(", "javascript:", "behavior", "-moz-binding", "@import", "\\")
OWN_SCRIPT = re.compile(r"\A/assets/search\.[0-9a-f]+\.js\Z")
# The 404 page's script: sends a folder asked for without its slash on to the folder, else offers a search.
NOT_FOUND_SCRIPT = re.compile(r"\A/assets/folder\.[0-9a-f]+\.js\Z")
# The theme's own <link>s, by rel: its stylesheet, empty favicon, feed and the page's canonical address.
OWN_LINKS = {
    "stylesheet": re.compile(r"\A/assets/style\.[0-9a-f]+\.css\Z"),
    "icon": re.compile(r"\Adata:,\Z"),
    "alternate": re.compile(r"\A/feed\.xml\Z"),
    "canonical": re.compile(r"\Ahttps?://[^\s\"<>]+\Z"),
}
_INVISIBLE = re.compile(r"[\s\x00-\x1f]")
# A redirect page (a post's earlier URL) sends readers on to a path of this site, nowhere else.
OWN_REFRESH = re.compile(r"\A0; url=/(?!/)[^\s\"'<>:]*\Z")


class Audit(HTMLParser):
    """Every element and attribute of one page, judged; `problems` lists what must not be there."""

    def __init__(self, key: str) -> None:
        super().__init__(convert_charrefs=True)
        self.key = key
        self.problems: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        own_script = OWN_SCRIPT if self.key != "404.html" else NOT_FOUND_SCRIPT
        if tag == "script" and own_script.match(values.get("src", "")) and len(values) <= 3:
            pass  # the search page's and the 404 page's own script files
        elif tag == "link" and (own := OWN_LINKS.get(values.get("rel", ""))) and own.match(values.get("href", "")):
            pass
        elif tag == "form" and values.get("action") == "/search/" and values.get("method") == "get":
            pass  # the theme's search box
        elif tag == "input" and values.get("type") == "search" and values.get("name") == "q":
            pass
        elif (
            tag == "button"
            and self.key == "search/index.html"
            and values == {"id": "more", "type": "button", "hidden": ""}
        ):
            pass  # the search page's own "more results", which submits nothing
        elif tag == "noscript" and self.key == "search/index.html" and not values:
            pass  # the search page's own notice that search needs JavaScript
        elif tag in FORBIDDEN_ELEMENTS or tag == "link":
            self.problems.append(f"<{tag}> element")
        if tag == "meta" and "http-equiv" in values and not OWN_REFRESH.match(values.get("content", "")):
            self.problems.append("<meta http-equiv>")  # only a redirect page's refresh to a path of this site
        for name, value in values.items():
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}> event handler")
            if name in URL_ATTRIBUTES and tag != "link" and not (tag == "meta" and name == "content"):
                scheme = _INVISIBLE.sub("", value).lower()
                if scheme.startswith(SCRIPT_SCHEMES):
                    self.problems.append(f"<{tag} {name}={value[:40]!r}> script or data URL")
            if name == "style" and any(trick in value.lower() for trick in STYLE_TRICKS):
                self.problems.append(f"<{tag} style={value[:40]!r}>")
        if tag == "img":
            self.images.append(values.get("src", ""))
        if tag == "a" and "href" in values:
            self.links.append(values["href"])

    handle_startendtag = handle_starttag


def audit_page(key: str, body: bytes) -> Audit:
    audit = Audit(key)
    audit.feed(body.decode())
    audit.close()
    return audit


def audit_site(objects: dict[str, bytes]) -> list[str]:
    """Problems found in a site's objects, as "key: problem" lines; empty when the site is safe."""
    found: list[str] = []
    for key, body in sorted(objects.items()):
        if key.startswith("/") or "\\" in key or ".." in key.split("/") or "\x00" in key:
            found.append(f"{key!r}: key outside the site")
        if key.endswith(".html"):
            found += [f"{key}: {p}" for p in audit_page(key, body).problems]
        elif key.endswith(".xml"):
            root = ET.fromstring(body)  # well-formed: every name was escaped
            for element in root.iter():
                for name, value in element.attrib.items():
                    if name in URL_ATTRIBUTES and _INVISIBLE.sub("", value).lower().startswith(SCRIPT_SCHEMES):
                        found.append(f"{key}: {element.tag} {name}={value[:40]!r}")
                if element.tag.endswith("}content") and element.text:  # HTML carried in the feed
                    found += [f"{key}: {p}" for p in audit_page(key, element.text.encode()).problems]
        elif key.endswith(".json"):
            json.loads(body)
    return found


def read_site(out: Path) -> dict[str, bytes]:
    """The objects `newsdrop build` wrote, by site key (its mark of a folder it filled is none)."""
    return {
        p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != BUILD_MARK
    }
