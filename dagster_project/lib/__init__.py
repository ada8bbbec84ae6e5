"""Reusable code that defines no assets: settings, DuckDB helpers, the source contract, the dbt translator."""
