"""The public input contract: source columns, types and meta, read from the dbt source YAML files.

The contract is documented once, in `dbt/models/staging/<source>/_<source>__sources.yml`; Python
reads it from there instead of keeping a second list of columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dagster_project.core.settings import get_settings

SOURCES_GLOB = "*/_*__sources.yml"


@dataclass(frozen=True)
class Column:
    """One contract column: its name, DuckDB data type (lower case) and meaning."""

    name: str
    data_type: str
    description: str = ""


@dataclass(frozen=True)
class SourceMeta:
    """Meta of one source: its key columns, owning department and delivery cadence."""

    key: tuple[str, ...]
    data_owner: str
    delivery_cadence: str


@dataclass(frozen=True)
class SourceContract:
    """One source of the input contract: its columns in delivery order and its meta."""

    name: str
    system: str
    description: str
    data_owner: str
    delivery_cadence: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]

    @property
    def meta(self) -> SourceMeta:
        return SourceMeta(self.key, self.data_owner, self.delivery_cadence)


def staging_dir() -> Path:
    """Folder holding one sub-folder per source system."""
    return get_settings().dbt_project_dir / "models" / "staging"


def _is_delivered(doc: dict[str, Any]) -> bool:
    """Sources in schema `raw` are delivered extracts; others (the pipeline's own `meta` tables,
    read by the data-quality scorecard) are not part of the input contract."""
    sources = doc.get("sources") or []
    return not sources or all(s.get("schema", "raw") == "raw" for s in sources)


def _parse_source(path: Path, doc: dict[str, Any]) -> SourceContract:
    folder = path.parent.name
    sources = doc.get("sources") or []
    if len(sources) != 1 or sources[0].get("name") != folder:
        raise ValueError(f"{path}: expected exactly one source named {folder!r}")
    source = sources[0]
    tables = [t for t in source.get("tables") or [] if t.get("name") == folder]
    if len(tables) != 1:
        raise ValueError(f"{path}: expected one table named {folder!r}")
    columns = tuple(
        Column(str(c["name"]), str(c["data_type"]).lower(), str(c.get("description", "")))
        for c in tables[0].get("columns") or []
    )
    if not columns:
        raise ValueError(f"{path}: table {folder!r} lists no columns")
    meta = source.get("meta") or {}
    key = tuple(str(k) for k in meta.get("key") or [])
    unknown = set(key) - {c.name for c in columns}
    if not key or unknown:
        raise ValueError(f"{path}: meta.key {key} is empty or names unknown columns {unknown}")
    # The source description opens with the system's name: "Claims system (理赔系统). Delivered as"
    system = str(source.get("description", "")).split(". Delivered", 1)[0].strip()
    return SourceContract(
        name=folder,
        system=system or folder,
        description=str(tables[0].get("description", "")),
        data_owner=str(meta.get("data_owner", "")),
        delivery_cadence=str(meta.get("delivery_cadence", "")),
        key=key,
        columns=columns,
    )


def load_contract(directory: Path | None = None) -> dict[str, SourceContract]:
    """Every source of the contract, keyed by source name, in alphabetical order."""
    directory = directory or staging_dir()
    paths = sorted(directory.glob(SOURCES_GLOB))
    if not paths:
        raise FileNotFoundError(f"no {SOURCES_GLOB} files under {directory}")
    docs = [(p, yaml.safe_load(p.read_text(encoding="utf-8"))) for p in paths]
    contracts = [_parse_source(p, doc) for p, doc in docs if _is_delivered(doc)]
    return {c.name: c for c in sorted(contracts, key=lambda c: c.name)}


def contract_columns(directory: Path | None = None) -> dict[str, list[tuple[str, str]]]:
    """{source: [(column, data_type), ...]} in the column order of the contract."""
    return {
        name: [(c.name, c.data_type) for c in source.columns]
        for name, source in load_contract(directory).items()
    }


def source_meta(directory: Path | None = None) -> dict[str, SourceMeta]:
    """{source: SourceMeta} with the key columns, data owner and delivery cadence."""
    return {name: source.meta for name, source in load_contract(directory).items()}
