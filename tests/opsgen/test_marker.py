"""The marker: generate() replaces only files it wrote, and refuses any folder holding others.

Every refusal is checked to leave the folder exactly as it was, byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from opsgen.guard import GenerationRefused
from opsgen.marker import MARKER, SHOWN, Marker, check_folder, read_marker
from tests.opsgen.extracts import run

CLAIMS_MONTH = "claims/claims_2026-09.csv"  # a file every run of tests/opsgen/extracts.run writes


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` and its bytes (links as the path they point to)."""
    files = {}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_symlink():
            files[name] = os.readlink(path).encode()
        elif path.is_file():
            files[name] = path.read_bytes()
    return files


def write(folder: Path, relative: str, text: str = "delivered,by,someone\n1,2,3\n") -> Path:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def assert_refused(out: Path, *names: str) -> None:
    """generate() refuses `out`, names it and `names`, and leaves every byte as it was."""
    before = snapshot(out)
    with pytest.raises(GenerationRefused) as refusal:
        run(out)
    message = str(refusal.value)
    assert str(out) in message
    for name in names:
        assert name in message
    assert "Nothing was written or deleted" in message
    assert snapshot(out) == before, "a refusal writes and deletes nothing"


@pytest.fixture
def owned(clean: Path, tmp_path: Path) -> Path:
    """A copy of a generated folder: the generator's own, marker included."""
    out = tmp_path / "raw"
    shutil.copytree(clean, out)
    return out


def test_check_folder_accepts_a_missing_or_empty_folder(tmp_path: Path) -> None:
    assert check_folder(tmp_path / "missing") == {}
    assert check_folder(tmp_path) == {}
    (tmp_path / "claims" / "empty").mkdir(parents=True)
    assert check_folder(tmp_path) == {}, "empty folders hold no files"


def test_generate_marker_lists_every_file_it_wrote(clean: Path) -> None:
    doc = json.loads((clean / MARKER).read_text(encoding="utf-8"))
    assert {k: doc[k] for k in ("seed", "scale", "months", "defects")} == {
        "seed": 42,
        "scale": 0.002,
        "months": 3,
        "defects": 0.0,
    }
    written = {p.relative_to(clean).as_posix() for p in clean.rglob("*") if p.is_file()}
    assert set(doc["files"]) == written - {MARKER}
    for name, record in doc["files"].items():
        data = (clean / name).read_bytes()
        assert record == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}, name


@pytest.mark.parametrize("prepare", ["missing", "empty", "empty_subfolders"])
def test_generate_writes_into_a_missing_or_empty_folder(
    clean: Path, tmp_path: Path, prepare: str
) -> None:
    out = tmp_path / "raw"
    if prepare != "missing":
        out.mkdir()
    if prepare == "empty_subfolders":
        (out / "claims").mkdir()
        (out / "_manifest").mkdir()
    run(out)
    assert snapshot(out) == snapshot(clean)


def test_generate_replaces_its_own_previous_output(owned: Path, clean: Path) -> None:
    run(owned)
    assert snapshot(owned) == snapshot(clean), "the same arguments write the same bytes"
    run(owned, seed=43)
    assert snapshot(owned)[CLAIMS_MONTH] != snapshot(clean)[CLAIMS_MONTH]
    assert (
        read_marker(owned)[CLAIMS_MONTH].sha256
        == hashlib.sha256((owned / CLAIMS_MONTH).read_bytes()).hexdigest()
    ), "the marker follows the new content"
    run(owned, defects=0.1)
    run(owned)
    assert snapshot(owned) == snapshot(clean), "and back, each run over the last"


@pytest.mark.parametrize(
    "relative",
    [
        "claims/claims_2026-07.csv",  # a delivered month outside the period: "stale" to a rerun
        "claims/claims_2026-10-31.csv",  # a daily delivery
        "delivered.csv",
        "newsource/newsource_2026-10.csv",  # a source the generator does not know
    ],
)
def test_generate_refuses_a_folder_with_a_foreign_csv(owned: Path, relative: str) -> None:
    write(owned, relative)
    assert_refused(owned, relative)


@pytest.mark.parametrize("relative", [CLAIMS_MONTH, "policies/policies_initial.csv", "a.csv"])
def test_generate_refuses_a_delivery_folder_it_never_wrote(tmp_path: Path, relative: str) -> None:
    out = tmp_path / "raw"
    write(out, relative)  # including files of the very names it would write
    assert_refused(out, relative)


@pytest.mark.parametrize(
    "relative",
    [
        "claims/notes.txt",
        "policies/policies_2026-09.parquet",  # the contract takes parquet too
        "_manifest/other.json",
        ".DS_Store",
        "claims/README.md",  # only the folder's own README.md, at the top, is left alone
        "deep/er/still/file",
    ],
)
def test_generate_refuses_a_folder_with_a_foreign_non_csv_file(owned: Path, relative: str) -> None:
    write(owned, relative, "not the generator's")
    assert_refused(owned, relative)


def test_generate_refuses_a_folder_with_a_link(owned: Path, tmp_path: Path) -> None:
    target = write(tmp_path / "elsewhere", "claims.csv")
    (owned / "claims" / "linked.csv").symlink_to(target)
    (owned / "linked_folder").symlink_to(target.parent, target_is_directory=True)
    assert_refused(owned, "claims/linked.csv", "linked_folder")
    assert target.exists()


def _append_row(path: Path) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write("CLM9999999999,delivered later\n")


def _same_size_edit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    position = data.rindex(b"1")
    data[position : position + 1] = b"2"
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(b"")


def _replace_by_a_link_to_a_copy(path: Path) -> None:
    copy = path.with_name("." + path.name + ".copy")
    shutil.copy2(path, copy)
    path.unlink()
    path.symlink_to(copy)


@pytest.mark.parametrize(
    ("relative", "change"),
    [
        (CLAIMS_MONTH, _append_row),
        (CLAIMS_MONTH, _same_size_edit),  # only the hash tells
        ("_manifest/defects.csv", _truncate),
        ("org_units/org_units.csv", _same_size_edit),
        ("contacts/contacts_2026-10.csv", _replace_by_a_link_to_a_copy),
    ],
)
def test_generate_refuses_a_modified_generated_file(owned: Path, relative: str, change) -> None:
    change(owned / relative)
    assert_refused(owned, relative)


def test_generate_refuses_a_generated_folder_without_its_marker(owned: Path) -> None:
    (owned / MARKER).unlink()
    assert_refused(owned, "_manifest/defects.csv", "more")  # every file is foreign now


@pytest.mark.parametrize("marker", ["{not json", "[]", '{"files": {"a": 1}}', ""])
def test_generate_refuses_a_generated_folder_with_a_broken_marker(owned: Path, marker: str) -> None:
    (owned / MARKER).write_text(marker, encoding="utf-8")
    assert_refused(owned, "_manifest/defects.csv", "more")


def test_generate_refusal_names_a_few_foreign_files_and_counts_the_rest(tmp_path: Path) -> None:
    out = tmp_path / "raw"
    for k in range(SHOWN + 3):
        write(out, f"claims/delivered_{k}.csv")
    before = snapshot(out)
    with pytest.raises(GenerationRefused) as refusal:
        run(out)
    assert str(refusal.value).count("claims/delivered_") == SHOWN
    assert "and 3 more" in str(refusal.value)
    assert snapshot(out) == before


def test_generate_refuses_an_out_that_is_a_file(tmp_path: Path) -> None:
    out = write(tmp_path, "raw", "a file")
    with pytest.raises(GenerationRefused, match="is not a folder"):
        run(out)
    assert out.read_text(encoding="utf-8") == "a file"


def test_generate_with_force_writes_over_foreign_files(tmp_path: Path, clean: Path) -> None:
    out = tmp_path / "raw"
    write(out, CLAIMS_MONTH)  # same name as a generated file: replaced
    write(out, "claims/claims_2026-01.csv")  # a month outside the period: deleted, as documented
    note = write(out, "claims/notes.txt", "kept")
    run(out, force=True)
    generated = snapshot(out)
    assert generated.pop("claims/notes.txt") == b"kept"
    assert generated == snapshot(clean)
    assert_refused(out, "claims/notes.txt")  # still someone else's
    note.unlink()
    run(out)  # the files it wrote over are its own now
    assert snapshot(out) == snapshot(clean)


def test_generate_leaves_the_folders_own_readme_alone(tmp_path: Path, clean: Path) -> None:
    out = tmp_path / "raw"
    readme = write(out, "README.md", "# data/raw, the delivery folder\n")
    run(out)
    run(out)
    assert readme.read_text(encoding="utf-8") == "# data/raw, the delivery folder\n"
    assert "README.md" not in read_marker(out)
    generated = snapshot(out)
    del generated["README.md"]
    assert generated == snapshot(clean)


def test_generate_after_a_run_stopped_mid_file_needs_no_force(owned: Path, clean: Path) -> None:
    # What Writer does before writing a file, then a crash half-way through writing it.
    marker = Marker(owned, read_marker(owned), {"seed": 42})
    marker.start([owned / CLAIMS_MONTH, owned / "claims" / "claims_2026-11.csv"])
    (owned / CLAIMS_MONTH).write_text("claim_id,poli", encoding="utf-8")
    write(owned, "claims/claims_2026-11.csv", "claim_id")
    run(owned)
    assert snapshot(owned) == snapshot(clean)


def test_generate_after_a_run_killed_mid_chunk_needs_no_force(owned: Path, clean: Path) -> None:
    """A later chunk of a file is written to a hidden part file beside it and then added to its
    end (writer.part_path); a run killed in between leaves it. It is the generator's own when the
    marker lists the file beside it: the next run neither refuses the folder nor keeps it."""
    marker = Marker(owned, read_marker(owned), {"seed": 42})
    marker.start([owned / CLAIMS_MONTH])
    part = write(owned, "claims/.claims_2026-09.csv.part", "c1,SB1\n")
    # and one beside a month the next run no longer writes (its file is deleted as stale)
    marker.start([owned / "claims" / "claims_2026-07.csv"])
    write(owned, "claims/claims_2026-07.csv", "claim_id")
    old_part = write(owned, "claims/.claims_2026-07.csv.part", "c1,SB1\n")
    run(owned)
    assert not part.exists() and not old_part.exists()
    assert snapshot(owned) == snapshot(clean)
    assert ".claims_2026-07.csv.part" not in json.dumps(json.loads((owned / MARKER).read_text()))


def test_generate_refuses_a_part_file_beside_a_file_it_did_not_write(owned: Path) -> None:
    write(owned, "claims/.delivered.csv.part", "c1,SB1\n")
    assert_refused(owned, "claims/.delivered.csv.part")
