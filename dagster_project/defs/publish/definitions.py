"""Publication: the read-only snapshot readers open."""

import dagster as dg

from dagster_project.defs.publish.assets import publication

defs = dg.Definitions(assets=[publication])
