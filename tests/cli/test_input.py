"""Text from the command line never reaches SQL or a file name unchecked."""

from __future__ import annotations

import pytest

from dagster_project import cli
from tests.conftest import make_workspace, point_settings_at

HOSTILE = ["x'; drop table marts.fct_kpi_values; --", "../../etc", "LIF JS", ""]


@pytest.mark.parametrize("org", HOSTILE)
def test_site_refuses_an_org_that_is_no_org_code(org, tmp_path, capsys):
    point_settings_at(make_workspace(tmp_path))
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["site", "--org", org])
    assert exit_info.value.code == 2
    assert "is not an org code" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [tmp_path / "dagster_home"], "nothing was written"


def test_catalog_show_treats_a_hostile_name_as_an_unknown_metric(dbt_manifest, capsys):
    assert cli.main(["catalog", "show", HOSTILE[0]]) != 0
    assert "no metric named" in capsys.readouterr().err


def test_site_for_an_unknown_but_well_formed_org_says_so(built, tmp_path, capsys):
    point_settings_at(built)
    out = tmp_path / "pack"
    assert cli.main(["site", "--org", "XX-99", "--out", str(out)]) == 2
    assert "XX-99" in capsys.readouterr().err
    assert not out.exists()
