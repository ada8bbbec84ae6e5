"""The folder a site build writes into: which folders it may write, and what it may delete there.

A build marks its folder with `.opsvalue-site`, a small JSON file naming the kind of site (the
full site, or a pack for one org) and the pages the build wrote. A build then writes only into
a new or empty folder, or one marked for the same scope, and deletes only pages that its own
earlier builds listed there:

- a folder holding anything else (someone's CSVs, another tool's pages) is refused, never
  cleaned;
- a folder keeps the scope it was first built for: the group's site never becomes a branch's
  pack, and a branch's pack (which may be published to that branch) never becomes the group's
  site or another branch's pack. To change it, delete the folder or choose another one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dashboards.org_tree import CENTER, TIERS

MARKER = ".opsvalue-site"
FULL = "full"
PACK = "pack"
# Folders of org pages, where builds from before the marker wrote their pages.
PAGE_FOLDERS = (*TIERS[1:], CENTER)
FOREIGN_SHOWN = 5  # entries of a refused folder named in the message


class SiteFolderError(ValueError):
    """The folder is not one this build may write into."""


@dataclass(frozen=True)
class SiteMark:
    """What a folder's marker says: the kind of site, its org (packs) and the pages written."""

    kind: str
    org: str | None = None
    pages: tuple[str, ...] | None = None  # None: not known (a folder adopted by publish_site)

    def same_scope(self, other: SiteMark) -> bool:
        return (self.kind, self.org) == (other.kind, other.org)

    def describe(self) -> str:
        return f"a pack for {self.org}" if self.kind == PACK else "the full site"


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` in one step, so a web server never serves a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def is_page_path(text: str) -> bool:
    """A page path a marker may list: relative, inside the folder, an .html file."""
    path = PurePosixPath(text)
    return not path.is_absolute() and ".." not in path.parts and path.suffix == ".html"


def read_mark(site_dir: Path) -> SiteMark | None:
    """The folder's marker; None when it has none. Raises SiteFolderError for a broken one."""
    path = site_dir / MARKER
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        pages = data.get("pages")
        mark = SiteMark(
            kind=str(data["kind"]),
            org=data.get("org"),
            pages=None if pages is None else tuple(str(p) for p in pages),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SiteFolderError(f"{path} is not a marker an opsvalue site build wrote") from exc
    if mark.kind not in (FULL, PACK) or not all(map(is_page_path, mark.pages or ())):
        raise SiteFolderError(f"{path} is not a marker an opsvalue site build wrote")
    return mark


def write_mark(site_dir: Path, mark: SiteMark) -> None:
    data = {
        "kind": mark.kind,
        "org": mark.org,
        "pages": None if mark.pages is None else sorted(mark.pages),
    }
    write_atomic(site_dir / MARKER, (json.dumps(data, indent=1) + "\n").encode("utf-8"))


def folder_entries(site_dir: Path) -> list[str]:
    """The folder's entries by name, folders with a trailing "/"."""
    return sorted(p.name + ("/" if p.is_dir() else "") for p in site_dir.iterdir())


def claim(site_dir: Path, wanted: SiteMark) -> SiteMark | None:
    """The mark of the folder's last build, when a build of `wanted`'s scope may write there.

    None for a folder that does not exist yet or is empty. Raises SiteFolderError for a file, a
    folder holding files no site build marked, or a folder marked for another scope.
    """
    if not site_dir.exists():
        return None
    if not site_dir.is_dir():
        raise SiteFolderError(f"refusing to build the site into {site_dir}: it is not a folder")
    mark = read_mark(site_dir)
    if mark is None:
        entries = folder_entries(site_dir)
        if not entries:
            return None
        shown = ", ".join(entries[:FOREIGN_SHOWN])
        if len(entries) > FOREIGN_SHOWN:
            shown += f" and {len(entries) - FOREIGN_SHOWN} more"
        raise SiteFolderError(
            f"refusing to build the site into {site_dir}: the folder is not empty and no "
            f"opsvalue site build wrote it (no {MARKER} file); it holds {shown}. "
            "Choose a new or empty folder."
        )
    if not mark.same_scope(wanted):
        raise SiteFolderError(
            f"refusing to build {wanted.describe()} into {site_dir}: it holds "
            f"{mark.describe()}, and a site folder keeps the scope it was built for (it may "
            "be published to that audience). Choose another folder, or delete this one first."
        )
    return mark


def stale_pages(site_dir: Path, previous: SiteMark | None, keep: Iterable[str]) -> list[Path]:
    """Pages the folder's earlier builds wrote that this build (`keep`) no longer has."""
    if previous is None:
        return []
    kept = set(keep)
    if previous.pages is not None:
        listed = [site_dir / p for p in previous.pages if p not in kept]
        return sorted(p for p in listed if p.is_file())
    # A live site from before the marker, adopted by publish_site: its builds wrote the HTML
    # files of the top folder and the page folders (and nothing else wrote there).
    found = list(site_dir.glob("*.html"))
    for folder in PAGE_FOLDERS:
        found += (site_dir / folder).glob("*.html")
    return sorted(p for p in found if p.relative_to(site_dir).as_posix() not in kept)
