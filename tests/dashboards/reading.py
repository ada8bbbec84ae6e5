"""Reading built pages as a browser and plotly.js would: elements, inline scripts, label text."""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser

# plotly.js's label markup (src/lib/svg_text_utils.js): the text is split on tags first, then
# each piece between tags has its entities decoded, once. These are the entities it knows.
PLOTLY_TAG = re.compile(r"(<[^<>]*>)")
PLOTLY_ENTITY = re.compile(r"&(#\d+|#x[\da-fA-F]+|[a-z]+);")
PLOTLY_ENTITIES = {
    "mu": "μ",
    "amp": "&",
    "lt": "<",
    "gt": ">",
    "nbsp": "\xa0",
    "times": "×",
    "plusmn": "±",
    "deg": "°",
}


def _plotly_entity(match: re.Match[str]) -> str:
    name = match.group(1)
    if name.startswith("#x"):
        return chr(int(name[2:], 16))
    if name.startswith("#"):
        return chr(int(name[1:]))
    return PLOTLY_ENTITIES.get(name, match.group(0))


def plotly_shown(text: str) -> tuple[str, list[str]]:
    """(the text plotly.js shows for a label, the tags it would render from it)."""
    pieces = PLOTLY_TAG.split(text)
    tags = [p for p in pieces if PLOTLY_TAG.fullmatch(p)]
    shown = "".join(PLOTLY_ENTITY.sub(_plotly_entity, p) for p in pieces if p not in tags)
    return shown, tags


class PageParser(HTMLParser):
    """Every element, comment and inline script of a page, attributes and text decoded."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.comments: list[str] = []
        self.scripts: list[str] = []  # the raw content of every script element
        self._script: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._script = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append("".join(self._script))
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script.append(data)

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)

    def tag_counts(self) -> Counter[str]:
        return Counter(tag for tag, _ in self.tags)

    def attribute_values(self, name: str) -> list[str]:
        return [attrs[name] or "" for _, attrs in self.tags if name in attrs]


def parse_page(content: str) -> PageParser:
    parser = PageParser()
    parser.feed(content)
    parser.close()
    return parser


def inline_script(content: str) -> str | None:
    """The raw text of the page's page-data script, as the HTML parser delimits it."""
    scripts = [s for s in parse_page(content).scripts if s.strip()]
    assert len(scripts) <= 1, "one inline script at most: the page data"
    return scripts[0] if scripts else None


def page_data(content: str) -> dict:
    """The page's chart data, parsed as site.js does (JSON.parse of the script's text)."""
    raw = inline_script(content)
    return json.loads(raw) if raw is not None else {}


def element_text(content: str, pattern: str) -> str:
    """The text of the first element matching `pattern` (a regex over the raw HTML), decoded."""
    match = re.search(pattern, content, re.S)
    assert match, pattern
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1)))


# --- the why views (dashboards/why_view.py) ---------------------------------------------------


@dataclass
class Shown:
    """One waterfall as the page shows it."""

    metric: str
    comparison: str
    child_level: str
    parent_change: float
    rows: list[dict[str, str | None]] = field(default_factory=list)
    total: float | None = None
    inputs: bool = False  # over the formula's inputs (fct_driver_attribution), not the children


def waterfalls(content: str) -> list[Shown]:
    """Every waterfall of a page, its rows' attributes in order."""
    found: list[Shown] = []
    for tag, attrs in parse_page(content).tags:
        classes = (attrs.get("class") or "").split()
        if tag == "figure" and "wf" in classes:
            found.append(
                Shown(
                    attrs["data-metric"] or "",
                    attrs["data-comparison"] or "",
                    attrs.get("data-child-level") or "",
                    float(attrs["data-parent-change"] or "nan"),
                    inputs="wf--inputs" in classes,
                )
            )
        elif tag == "li" and "wf__row--total" in classes:
            found[-1].total = float(attrs["data-contribution"] or "nan")
        elif tag == "li" and "wf__row" in classes:
            found[-1].rows.append({**attrs, "kind": classes[1].removeprefix("wf__row--")})
    return found


def movers(content: str) -> list[dict[str, str | None]]:
    return [
        attrs
        for tag, attrs in parse_page(content).tags
        if tag == "li" and "top-mover" in (attrs.get("class") or "").split()
    ]


def number(value: str | None) -> float | None:
    return None if value in (None, "") else float(value)
