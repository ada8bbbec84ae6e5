"""`python -m dagster_project.cli`: the `opsvalue` command without its console script."""

from dagster_project.cli import run_cli

run_cli()
