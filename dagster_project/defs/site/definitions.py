"""The dashboard site, built from the published snapshot."""

import dagster as dg

from dagster_project.defs.site.assets import site

defs = dg.Definitions(assets=[site])
