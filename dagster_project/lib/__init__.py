"""Reusable code that defines no assets: settings, DuckDB helpers, contract, dbt translator."""
