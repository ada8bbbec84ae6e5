"""The fixed organisation of the demo group: its tree, legacy codes, shared-service centers.

The tree does not grow with scale; each sub-branch gets a random profile (size, speed, quality,
automation, service, complaints) that the source builders read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from opsgen.table import Table
from opsgen.volumes import BoolArray, FloatArray, IntArray, Period, lognormal

GROUP_CODE = "GRP"
GROUP_NAME = "中瑞保险集团"
# (code, short name, legal name, branches); branch = (province code, province, size, places).
# Municipality branches (BJ, SH) have district sub-branches; provinces have city-level central
# sub-branches (中心支公司), except county-level cities.
ORG_TREE: tuple[tuple[str, str, str, tuple[tuple[str, str, float, tuple[str, ...]], ...]], ...] = (
    (
        "LIF",
        "人寿",
        "中瑞人寿保险有限公司",
        (
            ("BJ", "北京", 1.4, ("朝阳", "海淀", "东城", "西城", "丰台")),
            ("SH", "上海", 1.4, ("浦东", "黄浦", "徐汇", "静安")),
            ("GD", "广东", 1.5, ("广州", "深圳", "佛山", "东莞", "珠海", "汕头")),
            ("JS", "江苏", 1.2, ("南京", "苏州", "无锡", "常州", "南通", "昆山")),
            ("ZJ", "浙江", 1.1, ("杭州", "宁波", "温州")),
            ("SC", "四川", 0.9, ("成都", "绵阳", "德阳", "宜宾")),
        ),
    ),
    (
        "PNC",
        "财险",
        "中瑞财产保险有限公司",
        (
            ("BJ", "北京", 1.3, ("朝阳", "海淀", "通州")),
            ("SH", "上海", 1.3, ("浦东", "闵行", "嘉定", "松江")),
            ("GD", "广东", 1.5, ("广州", "深圳", "佛山", "惠州", "中山")),
            ("SD", "山东", 1.1, ("济南", "青岛", "烟台", "潍坊", "临沂")),
            ("HB", "湖北", 0.8, ("武汉", "宜昌", "襄阳")),
        ),
    ),
    (
        "HLT",
        "健康",
        "中瑞健康保险有限公司",
        (
            ("BJ", "北京", 1.3, ("朝阳", "海淀", "西城")),
            ("SH", "上海", 1.3, ("浦东", "徐汇", "长宁")),
            ("GD", "广东", 1.4, ("广州", "深圳", "东莞", "佛山")),
            ("HN", "河南", 0.9, ("郑州", "洛阳", "新乡", "南阳")),
        ),
    ),
)
MUNICIPALITIES = frozenset({"BJ", "SH"})
COUNTY_LEVEL = frozenset({"昆山"})
INITIAL_VALID_FROM = np.datetime64("2015-01-01")
# Kunshan sits next to Shanghai; the life company hands it to the Shanghai branch mid-period.
REORG_CODE = "LIF-JS-06"
REORG_NEW_PARENT = "LIF-SH"
# Legacy codes some systems still send (the pre-merger core systems); each maps to a sub-branch.
ALIASES = (
    ("BJ001", "LIF-BJ-01"),
    ("BJ002", "LIF-BJ-02"),
    ("SH001", "LIF-SH-01"),
    ("GZ001", "LIF-GD-01"),
    ("KS001", "LIF-JS-06"),
    ("3701", "PNC-SD-01"),
    ("3702", "PNC-SD-02"),
    ("4201", "PNC-HB-01"),
    ("4403", "PNC-GD-02"),
    ("HN-ZZ", "HLT-HN-01"),
    ("HN-LY", "HLT-HN-02"),
)
# (code, name, function, subsidiary). The group's shared-service centers are legally part of the
# life company, which hosts them for all three subsidiaries.
CENTERS = (
    ("C-CLM-LIF", "人寿理赔中心", "claims", "LIF"),
    ("C-CLM-PNC", "财险理赔中心", "claims", "PNC"),
    ("C-CLM-HLT", "健康理赔中心", "claims", "HLT"),
    ("C-NB-LIF", "人寿新契约中心", "new_business", "LIF"),
    ("C-NB-PNC", "财险承保中心", "new_business", "PNC"),
    ("C-NB-HLT", "健康核保中心", "new_business", "HLT"),
    ("C-SVC", "集团保全服务中心", "servicing", "LIF"),
    ("C-CC", "集团客户服务中心", "contact_center", "LIF"),
    ("C-CC-PNC", "财险客服中心", "contact_center", "PNC"),
    ("C-OPS", "集团运营共享中心", "operations", "LIF"),
    ("C-RPA", "集团自动化中心", "automation", "LIF"),
)
CENTER_CODES = tuple(c[0] for c in CENTERS)
CENTER = {code: i for i, code in enumerate(CENTER_CODES)}
SUBSIDIARY_CODES = tuple(s[0] for s in ORG_TREE)


# Share of rows from an aliased sub-branch that a source sends under the legacy code.
ALIAS_USE = {
    "policies": 0.15,
    "claims": 0.08,
    "applications": 0.05,
    "endorsements": 0.05,
    "contacts": 0.04,
    "tasks": 0.04,
    "complaints": 0.10,
    "nps_responses": 0.04,
}


@dataclass(frozen=True)
class Org:
    """The org tree, the code vocabulary written to the files and each sub-branch's profile."""

    units: pd.DataFrame  # one row per unit (first version): code, name, level, parent
    vocab: tuple[str, ...]  # canonical codes, aliases, variant spellings, unknown codes
    canonical: IntArray  # vocab index -> unit index
    variants: IntArray  # (units, 3) vocab indexes of lower-case / padded spellings
    unknowns: IntArray  # (units, 2) vocab indexes of codes missing from the master
    alias_of_unit: IntArray  # unit index -> vocab index of its alias, -1 if none
    sb_unit: IntArray  # sub-branch -> unit index (= vocab index of its canonical code)
    sb_subsidiary: IntArray  # sub-branch -> 0 LIF, 1 PNC, 2 HLT
    size: FloatArray  # relative size within the subsidiary
    speed: FloatArray  # > 1 slower processing
    quality: FloatArray  # > 1 more errors, NIGO, returns
    automation: FloatArray  # multiplies auto-processing rates
    service: FloatArray  # shift of the NPS promoter share
    complaints: FloatArray  # multiplies the complaint rate

    @property
    def n_sb(self) -> int:
        return int(self.sb_unit.size)

    def shares(self, mix: Sequence[float]) -> FloatArray:
        """Share of a volume per sub-branch for a subsidiary mix: sums to 1."""
        within = self.size / np.bincount(self.sb_subsidiary, weights=self.size)[self.sb_subsidiary]
        return within * np.asarray(mix)[self.sb_subsidiary]


def org_unit_rows() -> pd.DataFrame:
    """The fixed tree as one row per unit: code, name, level, parent, subsidiary, size factor."""
    rows = [(GROUP_CODE, GROUP_NAME, "group", None, -1, 1.0)]
    for s, (sub, _short, legal, _branches) in enumerate(ORG_TREE):
        rows.append((sub, legal, "subsidiary", GROUP_CODE, s, 1.0))
    for s, (sub, short, _legal, branches) in enumerate(ORG_TREE):
        for prov, prov_name, size, _places in branches:
            rows.append((f"{sub}-{prov}", f"{short}{prov_name}分公司", "branch", sub, s, size))
    for s, (sub, short, _legal, branches) in enumerate(ORG_TREE):
        for prov, prov_name, size, places in branches:
            for k, place in enumerate(places, start=1):
                if prov in MUNICIPALITIES:
                    name = f"{short}{prov_name}{place}支公司"
                elif place in COUNTY_LEVEL:
                    name = f"{short}{place}支公司"
                else:
                    name = f"{short}{place}中心支公司"
                rows.append((f"{sub}-{prov}-{k:02d}", name, "sub_branch", f"{sub}-{prov}", s, size))
    return pd.DataFrame(rows, columns=["code", "name", "level", "parent", "subsidiary", "size"])


def build_org(rng: np.random.Generator) -> Org:
    units = org_unit_rows()
    codes = units["code"].tolist()
    index = {code: i for i, code in enumerate(codes)}
    n = len(codes)
    vocab = [*codes, *(alias for alias, _ in ALIASES)]
    canonical = [*range(n), *(index[target] for _, target in ALIASES)]
    variants = np.empty((n, 3), dtype=np.int64)
    unknowns = np.empty((n, 2), dtype=np.int64)
    for i, (code, name) in enumerate(zip(codes, units["name"], strict=True)):
        spellings = (code.lower(), f" {code}", f" {code.lower()}  ")
        # A sub-branch not yet in the master (…-9k) or the unit's name typed instead of its code.
        missing = f"{code[:-2]}9{code[-1]}" if code.count("-") == 2 else f"{code}-X"
        for j, text in enumerate(spellings):
            variants[i, j] = len(vocab)
            vocab.append(text)
            canonical.append(i)
        for j, text in enumerate((missing, name)):
            unknowns[i, j] = len(vocab)
            vocab.append(text)
            canonical.append(i)
    alias_of_unit = np.full(n, -1, dtype=np.int64)
    for k, (_, target) in enumerate(ALIASES):
        alias_of_unit[index[target]] = n + k
    sb = units.index[units["level"] == "sub_branch"].to_numpy()
    n_sb = sb.size
    return Org(
        units=units,
        vocab=tuple(vocab),
        canonical=np.asarray(canonical, dtype=np.int64),
        variants=variants,
        unknowns=unknowns,
        alias_of_unit=alias_of_unit,
        sb_unit=sb.astype(np.int64),
        sb_subsidiary=units.loc[sb, "subsidiary"].to_numpy(np.int64),
        size=units.loc[sb, "size"].to_numpy(float) * lognormal(rng, 1.0, 0.45, n_sb),
        speed=lognormal(rng, 1.0, 0.25, n_sb),
        quality=lognormal(rng, 1.0, 0.3, n_sb),
        automation=lognormal(rng, 1.0, 0.07, n_sb),
        service=rng.normal(0.0, 0.05, n_sb),
        complaints=lognormal(rng, 1.0, 0.4, n_sb),
    )


def reorg_date(period: Period) -> np.datetime64:
    """First day of the month in the middle of the period."""
    return (period.first_month + np.timedelta64(period.months // 2, "M")).astype("datetime64[D]")


def center_for(function: str, subsidiary: IntArray) -> IntArray:
    """The center of a function serving each row's subsidiary."""
    options = [c for c in CENTERS if c[2] == function]
    table = np.array(
        [
            CENTER[next((c[0] for c in options if c[3] == sub), options[0][0])]
            for sub in SUBSIDIARY_CODES
        ]
    )
    return table[subsidiary]


def served(org: Org) -> BoolArray:
    """(centers, sub-branches): which center works for which sub-branch."""
    contact = center_for("contact_center", org.sb_subsidiary)
    rows = []
    for code, _name, function, sub in CENTERS:
        if function in ("claims", "new_business"):
            rows.append(org.sb_subsidiary == SUBSIDIARY_CODES.index(sub))
        elif function == "contact_center":
            rows.append(contact == CENTER[code])
        else:
            rows.append(np.ones(org.n_sb, dtype=bool))
    return np.array(rows)


def served_sub_branch(rng: np.random.Generator, org: Org, center: IntArray) -> IntArray:
    """Per row, a sub-branch among those the row's center serves, in proportion to size."""
    serves = served(org)
    sb = np.zeros(center.size, dtype=np.int64)
    for c in np.unique(center):
        rows = np.flatnonzero(center == c)
        weight = org.size * serves[c]
        sb[rows] = rng.choice(org.n_sb, rows.size, p=weight / weight.sum())
    return sb


def apply_aliases(rng: np.random.Generator, table: Table, org: Org, share: float) -> None:
    """Some systems still send the legacy code of an aliased sub-branch (not a defect)."""
    for col in table.targets.org_cols:
        alias = org.alias_of_unit[org.canonical[table.cols[col]]]
        use = (alias >= 0) & (rng.random(len(table)) < share)
        table.cols[col] = np.where(use, alias, table.cols[col])
