"""`opsvalue generate` through the real command line: bounds, refusals and their exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dagster_project import cli
from tests.conftest import make_workspace, point_settings_at

TINY = ["--scale", "0.002", "--months", "2"]

OUT_OF_BOUNDS = [
    ("--scale", "nan"),
    ("--scale", "NaN"),
    ("--scale", "inf"),
    ("--scale", "-inf"),
    ("--scale", "0"),
    ("--scale", "-1"),
    ("--scale", "1e9"),
    ("--scale", "20.5"),
    ("--scale", "abc"),
    ("--scale", ""),
    ("--months", "0"),
    ("--months", "-1"),
    ("--months", "121"),
    ("--months", "100000"),
    ("--months", "1.5"),
    ("--months", "twelve"),
    ("--seed", "-1"),
    ("--seed", "x"),
    ("--defects", "nan"),
    ("--defects", "inf"),
    ("--defects", "1"),
    ("--defects", "-0.1"),
    ("--defects", "lots"),
]


@pytest.mark.parametrize(("flag", "value"), OUT_OF_BOUNDS)
def test_generate_rejects_arguments_out_of_bounds(flag, value, tmp_path, capsys):
    out = tmp_path / "raw"
    with pytest.raises(SystemExit) as exit_info:
        # flag=value, so that "-inf" and "-1" reach the flag and are not read as options
        cli.main(["generate", "--out", str(out), f"{flag}={value}"])
    assert exit_info.value.code == 2
    assert f"argument {flag}: must be" in capsys.readouterr().err
    assert not out.exists(), "nothing is written"


def test_generate_accepts_the_bounds_themselves() -> None:
    args = cli.build_parser().parse_args(
        ["generate", "--scale", "20", "--months", "120", "--seed", "0", "--defects", "0"]
    )
    assert (args.scale, args.months, args.seed, args.defects, args.force) == (20, 120, 0, 0, False)
    args = cli.build_parser().parse_args(["generate", "--scale", "1e-3", "--months", "1"])
    assert (args.scale, args.months) == (0.001, 1)


def test_generate_help_documents_the_limits_and_the_refusal(capsys) -> None:
    with pytest.raises(SystemExit):
        cli.main(["generate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "at most 20" in text and "from 1 to 120" in text
    assert "--force" in text and "refuse" in text and "generated.json" in text
    assert "MB per unit of scale and month" in text


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


@pytest.mark.parametrize("foreign", ["claims/claims_2026-09.csv", "notes.txt", "a/b/c.parquet"])
def test_generate_refuses_a_folder_with_foreign_files(foreign, tmp_path, capsys):
    out = tmp_path / "raw"
    (out / foreign).parent.mkdir(parents=True)
    (out / foreign).write_text("delivered\n", encoding="utf-8")
    assert cli.main(["generate", "--out", str(out), *TINY]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "not generated" in err and foreign in err and "--force" in err
    assert _snapshot(out) == {foreign: b"delivered\n"}, "nothing written or deleted"


def test_generate_with_force_writes_and_reruns_into_its_own_folder(tmp_path, capsys):
    out = tmp_path / "raw"
    (out / "claims").mkdir(parents=True)
    (out / "claims" / "claims_2026-10.csv").write_text("delivered\n", encoding="utf-8")
    assert cli.main(["generate", "--out", str(out), *TINY, "--force"]) == 0
    assert "generated" in capsys.readouterr().err
    written = _snapshot(out)
    assert written["claims/claims_2026-10.csv"] != b"delivered\n"
    assert cli.main(["generate", "--out", str(out), *TINY]) == 0, "its own folder now"
    assert _snapshot(out) == written


def test_demo_refuses_to_generate_over_a_folder_with_foreign_files(tmp_path, capsys):
    ws = make_workspace(tmp_path)
    point_settings_at(ws)
    ws.raw_dir.mkdir()
    (ws.raw_dir / "notes.txt").write_text("not an extract", encoding="utf-8")
    assert cli.main(["demo"]) == 1
    assert "notes.txt" in capsys.readouterr().err
    assert _snapshot(ws.raw_dir) == {"notes.txt": b"not an extract"}
    assert not ws.warehouse.exists(), "the pipeline did not run"


def _opsvalue(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed command's code path: `run_cli`, which leaves through os._exit."""
    command = [sys.executable, "-m", "dagster_project.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)


def test_opsvalue_generate_exit_codes_in_a_process_of_its_own(tmp_path: Path) -> None:
    out = tmp_path / "raw"
    bad = _opsvalue("generate", "--out", str(out), "--scale", "inf")
    assert bad.returncode == 2 and "--scale: must be" in bad.stderr
    assert not out.exists()
    out.mkdir()
    (out / "delivered.csv").write_text("a,b\n", encoding="utf-8")
    refused = _opsvalue("generate", "--out", str(out), *TINY)
    assert refused.returncode == 1 and "delivered.csv" in refused.stderr
    assert _snapshot(out) == {"delivered.csv": b"a,b\n"}
