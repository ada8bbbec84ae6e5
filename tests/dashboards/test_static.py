"""The site's CSS, JavaScript and page shell are real files that parse and ship with the package.

No CSS or JavaScript linter installs from the package registries without Node.js, so these
checks parse the files with pure-Python parsers: tinycss2 (the CSS Syntax spec's error
recovery, so a broken rule or declaration is reported instead of silently dropped by browsers)
and esprima (site.js is plain ES5, which it parses fully). The browser tests run site.js for real.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import esprima
import tinycss2

from dashboards.templates import page_template, static_bytes, static_dir

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "dashboards" / "static"


def css_errors(text: str) -> list[str]:
    """Parse errors of a stylesheet, nested blocks (@media) included: 'line:col message'."""

    def walk(nodes: list) -> list[str]:
        found = []
        for node in nodes:
            if node.type == "error":
                found.append(f"{node.source_line}:{node.source_column} {node.message}")
            elif node.type in ("qualified-rule", "at-rule") and node.content is not None:
                found += walk(
                    tinycss2.parse_blocks_contents(
                        node.content, skip_comments=True, skip_whitespace=True
                    )
                )
        return found

    return walk(tinycss2.parse_stylesheet(text, skip_comments=True, skip_whitespace=True))


def js_errors(text: str) -> list[str]:
    """Syntax errors of a classic script (not a module), as esprima reports them."""
    try:
        esprima.parseScript(text)
    except esprima.Error as exc:
        return [str(exc)]
    return []


def test_css_errors_reports_broken_declarations_and_rules() -> None:
    assert css_errors("a { color: red; }\n@media (max-width: 9px) { b { width: 1px } }") == []
    assert len(css_errors("a { color red; }")) == 1
    assert len(css_errors("@media screen { b { width 1px } }")) == 1
    assert css_errors("a { color: red; } }")  # a stray closing brace


def test_css_errors_finds_none_in_the_site_stylesheet() -> None:
    assert css_errors(static_bytes("site.css").decode("utf-8")) == []


def test_js_errors_reports_a_syntax_error() -> None:
    assert js_errors("(function () { var a = 1; })();") == []
    assert js_errors("(function () { var a = ; })();")


def test_js_errors_finds_none_in_the_site_script() -> None:
    assert js_errors(static_bytes("site.js").decode("utf-8")) == []


def test_page_template_uses_braced_placeholders_only() -> None:
    template = page_template()
    slots = [m.group("braced") for m in template.pattern.finditer(template.template)]
    assert {"title", "body", "notices", "hero", "data_script", "assets"} <= set(slots)
    assert None not in slots  # "$name" or "$$" would be read differently from "${name}"


def test_static_dir_is_the_package_folder() -> None:
    shipped = sorted(p.name for p in static_dir().iterdir())
    assert shipped == sorted(p.name for p in STATIC.iterdir())
    assert {"site.css", "site.js", "page.html"} <= set(shipped)


def test_package_data_covers_every_static_file() -> None:
    """An installed (non-editable) package has what the site reads: pyproject lists it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["dashboards"]
    files = [p.relative_to(STATIC.parent).as_posix() for p in STATIC.rglob("*") if p.is_file()]
    assert files
    missing = [f for f in files if not any(fnmatch.fnmatchcase(f, pat) for pat in patterns)]
    assert missing == []
