"""What a page loads: every URL in src/href/action/srcset/poster/data attributes and in
inline CSS url(...), so a test can assert a page names no other host (it must work on a
closed network) and that each of its own assets is served."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

URL_ATTRIBUTES = frozenset({"src", "href", "action", "srcset", "poster", "data", "formaction"})
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)""")
IMPORT = re.compile(r"""@import\s+['"]([^'"]+)""")


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"
        for name, value in attrs:
            if value is None:
                continue
            if name in URL_ATTRIBUTES:
                parts = value.split(",") if name == "srcset" else [value]
                self.urls += [p.strip().split(" ")[0] for p in parts if p.strip()]
            elif name == "style":
                self.urls += CSS_URL.findall(value)

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.urls += CSS_URL.findall(data) + IMPORT.findall(data)


def references(html: str) -> list[str]:
    parser = _Refs()
    parser.feed(html)
    return parser.urls


def css_references(css: str) -> list[str]:
    return CSS_URL.findall(css) + IMPORT.findall(css)


def external(urls: list[str], allowed_hosts: frozenset[str] = frozenset()) -> list[str]:
    """The URLs that name a host (or a scheme other than data:) outside `allowed_hosts`."""
    out = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme in ("data", "") and not parts.netloc:
            continue
        if parts.hostname in allowed_hosts:
            continue
        out.append(url)
    return out


def scripts_fetch_nothing_else(js: str) -> list[str]:
    """Absolute http(s) URLs a script names (a library's comments may cite its home page,
    so the caller decides what matters; used on our own scripts, which must name none)."""
    return re.findall(r"https?://[^\s'\"`)]+", js)
