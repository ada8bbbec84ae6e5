"""The site's files of their own kind, kept as real files in dashboards/static/ (package data).

- `site.css` and `site.js` are copied byte for byte into every site's assets/ folder;
- `page.html` is the shell every page is rendered into (`layout.render_shell`): its
  `${name}` placeholders are `string.Template`'s, so no templating engine is needed, and a
  value is inserted once, never scanned again for placeholders.

Nothing in these files loads anything from the network.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from string import Template

PAGE_TEMPLATE = "page.html"


def static_dir() -> Traversable:
    """dashboards/static/ of the installed package (a folder in a checkout or a wheel)."""
    return files("dashboards") / "static"


def static_bytes(name: str) -> bytes:
    """The bytes of one static file, as the site receives them."""
    return (static_dir() / name).read_bytes()


@cache  # parsed once per process: every page of a build shares it
def page_template() -> Template:
    return Template(static_bytes(PAGE_TEMPLATE).decode("utf-8"))
