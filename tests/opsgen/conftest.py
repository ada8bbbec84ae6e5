"""Clean and defective extracts, generated once for the opsgen tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.opsgen.extracts import DEFECT_RATE, run


# once for the whole folder: test_generator, test_org and test_defects all read them
@pytest.fixture(scope="package")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run(tmp_path_factory.mktemp("clean") / "raw")


@pytest.fixture(scope="package")
def defective(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run(tmp_path_factory.mktemp("defective") / "raw", defects=DEFECT_RATE)
