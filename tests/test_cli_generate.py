"""`opsvalue generate` through the real command line: its bounds and their exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dagster_project import cli

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
    assert (args.scale, args.months, args.seed, args.defects) == (20, 120, 0, 0)
    args = cli.build_parser().parse_args(["generate", "--scale", "1e-3", "--months", "1"])
    assert (args.scale, args.months) == (0.001, 1)


def test_generate_help_documents_the_limits_and_the_refusal(capsys) -> None:
    with pytest.raises(SystemExit):
        cli.main(["generate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "at most 20" in text and "from 1 to 120" in text
    assert "refuses" in text
    assert "MB per unit of scale and month" in text


def _opsvalue(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed command's code path: `run_cli`, which leaves through os._exit."""
    command = [sys.executable, "-m", "dagster_project.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)


def test_opsvalue_generate_exit_codes_in_a_process_of_its_own(tmp_path: Path) -> None:
    out = tmp_path / "raw"
    bad = _opsvalue("generate", "--out", str(out), "--scale", "inf")
    assert bad.returncode == 2 and "--scale: must be" in bad.stderr
    assert not out.exists()
