"""Benchmarks of the opsvalue pipeline against a hand-written floor (README.md)."""
