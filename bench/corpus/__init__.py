"""Corpus builders shared by benchmarks and tests (tests import them from here; nothing here is a test)."""
