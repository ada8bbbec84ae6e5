"""opsvalue: operations value-management warehouse (Dagster code location and CLI)."""
