"""files.source_folders: the one rule for which folders of raw hold a source."""

from dagster_project.defs.ingest.files import source_folders


def test_source_folders_skips_underscore_and_dot_folders_and_files(tmp_path):
    for name in ("contacts", "_manifest", ".hidden", "claims"):
        (tmp_path / name).mkdir()
    (tmp_path / "loose.csv").write_text("a\n", encoding="utf-8")
    assert [p.name for p in source_folders(tmp_path)] == ["claims", "contacts"]
