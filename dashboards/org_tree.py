"""The org tree the site shows: current units and the back-office centers, and a pack's subtree."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from dashboards.marts import Record, as_date, as_text

log = logging.getLogger(__name__)


TIERS = ("group", "subsidiary", "branch", "sub_branch")


CENTER = "center"


GROUP = "group"


@dataclass(frozen=True)
class OrgUnit:
    """One page of the site: a unit of the org tree (current version) or a center."""

    code: str
    name: str
    level: str
    parent: str | None = None
    detail: str | None = None  # centers: the function they serve


@dataclass(frozen=True)
class OrgTree:
    """The current org tree, with centers hanging off the group; `root` is the site's top."""

    units: Mapping[str, OrgUnit]
    root: str | None
    _children: Mapping[str, tuple[str, ...]] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, units: Iterable[OrgUnit], root: str | None) -> OrgTree:
        by_code = {u.code: u for u in units}
        children: dict[str, list[str]] = {}
        for unit in by_code.values():
            parent = by_code.get(unit.parent or "")
            if parent is not None and next_tier(parent.level) == unit.level:
                children.setdefault(parent.code, []).append(unit.code)
        return cls(
            units=by_code,
            root=root if root in by_code else None,
            _children={k: tuple(sorted(v)) for k, v in children.items()},
        )

    def __contains__(self, code: object) -> bool:
        return code in self.units

    def unit(self, code: str) -> OrgUnit:
        return self.units[code]

    def children(self, code: str) -> list[OrgUnit]:
        """The units one tier below, by code; centers are nobody's children."""
        return [self.units[c] for c in self._children.get(code, ())]

    def parent(self, code: str) -> OrgUnit | None:
        return self.units.get(self.units[code].parent or "")

    def ancestors(self, code: str) -> list[OrgUnit]:
        """The units above `code` that are in this tree, top first."""
        chain: list[OrgUnit] = []
        parent = self.parent(code)
        while parent is not None and parent.code not in {u.code for u in chain}:
            chain.insert(0, parent)
            parent = self.parent(parent.code)
        return chain

    def breadcrumbs(self, code: str) -> list[OrgUnit]:
        """Ancestors in the tree, then the unit itself; nothing above a scoped root."""
        return [*self.ancestors(code), self.units[code]]

    def siblings(self, code: str) -> list[OrgUnit]:
        """The units the page's unit is ranked among, itself included; empty at the top.

        Centers are compared with the other centers; a unit whose parent is outside the tree
        (the root of a scoped build) has no siblings here.
        """
        unit = self.units[code]
        if unit.level == CENTER:
            centers = self.centers()
            return centers if len(centers) > 1 else []
        parent = self.parent(code)
        return self.children(parent.code) if parent is not None else []

    def centers(self) -> list[OrgUnit]:
        return sorted((u for u in self.units.values() if u.level == CENTER), key=lambda u: u.code)

    def descendants(self, code: str) -> list[OrgUnit]:
        """Every unit below `code`, depth first, children in code order."""
        found: list[OrgUnit] = []
        for child in self.children(code):
            found.append(child)
            found.extend(self.descendants(child.code))
        return found

    def ordered(self) -> list[OrgUnit]:
        """Every unit: the root's subtree depth first, then the centers."""
        top = [self.units[self.root], *self.descendants(self.root)] if self.root else []
        seen = {u.code for u in top}
        rest = sorted(
            (u for u in self.units.values() if u.code not in seen),
            key=lambda u: (level_rank(u.level), u.code),
        )
        return top + rest


def level_rank(level: str) -> int:
    order = (*TIERS, CENTER)
    return order.index(level) if level in order else len(order)


def next_tier(level: str) -> str | None:
    """The tier below `level`: group -> subsidiary -> branch -> sub_branch -> None."""
    if level not in TIERS or level == TIERS[-1]:
        return None
    return TIERS[TIERS.index(level) + 1]


def current_org_rows(rows: Iterable[Record]) -> list[Record]:
    """The current row of every org code: is_current (or an open validity), latest valid_from."""
    best: dict[str, Record] = {}
    for row in rows:
        code = as_text(row.get("org_code"))
        is_current = row.get("is_current")
        current = bool(is_current) if is_current is not None else row.get("valid_to") is None
        if code is None or not current:
            continue
        held = best.get(code)
        since = as_date(row.get("valid_from")) or date.min
        if held is None or since >= (as_date(held.get("valid_from")) or date.min):
            best[code] = row
    return list(best.values())


def build_org_tree(
    org_rows: Iterable[Record],
    center_rows: Iterable[Record],
    center_codes_with_values: Iterable[str] = (),
) -> OrgTree:
    """The current org tree from dim_org, with every center (dim_centers, or with values)."""
    units: list[OrgUnit] = []
    for row in current_org_rows(org_rows):
        code = str(row["org_code"]).strip()
        level = as_text(row.get("org_level")) or ""
        if level not in TIERS:
            log.warning("site: org %s has unknown level %r; no page", code, level)
            continue
        name = as_text(row.get("org_name")) or code
        units.append(OrgUnit(code, name, level, as_text(row.get("parent_code"))))
    groups = sorted(u.code for u in units if u.level == GROUP)
    root = groups[0] if groups else None
    codes = {u.code for u in units}
    centers: dict[str, OrgUnit] = {}
    for row in center_rows:
        code = as_text(row.get("center_code"))
        if code and code not in codes:
            name = as_text(row.get("center_name")) or code
            centers[code] = OrgUnit(code, name, CENTER, root, as_text(row.get("function")))
    for code in center_codes_with_values:
        if code not in centers and code not in codes:
            centers[code] = OrgUnit(code, code, CENTER, root)
    return OrgTree.of([*units, *centers.values()], root)


def scope_tree(tree: OrgTree, code: str) -> OrgTree:
    """The subtree of one unit, for a manager's pack: nothing above or beside it.

    A center's pack is its own page only; the group's pack is the whole site.
    """
    if code not in tree:
        known = ", ".join(sorted(tree.units)[:12])
        raise ValueError(f"unknown org code {code!r}: not a current unit or center (e.g. {known})")
    if code == tree.root:
        return tree
    top = tree.unit(code)
    members = [OrgUnit(top.code, top.name, top.level, None, top.detail)]
    if top.level != CENTER:
        members.extend(tree.descendants(code))
    return OrgTree.of(members, code)
