"""Benchmarks: run as modules (`python -m bench.tiers`); not part of the test suite."""
