"""How many processes a local run uses (pure functions, no Beam)."""

from pipeline.layout import local_layout, prestart_count


def test_readers_per_in_process_worker():
    assert local_layout(1, "process") == (1, 1)
    assert local_layout(2, "process") == (1, 2)
    assert local_layout(4, "process") == (1, 4)
    assert local_layout(8, "process") == (2, 4)   # two Beam workers, four readers each
    assert local_layout(6, "none") == (6, 1)      # no readers: Beam workers read themselves


def test_prestart_only_for_local_isolated_index_runs():
    assert prestart_count(["index", "--input", "x", "--output", "y", "--workers", "2"]) == 2
    assert prestart_count(["index", "--workers=3", "--input", "x"]) == 3
    assert prestart_count(["index", "--workers", "8"]) == 0           # readers live in SDK workers
    assert prestart_count(["index", "--isolation", "none"]) == 0
    assert prestart_count(["index", "--runner", "PrismRunner"]) == 0
    assert prestart_count(["index", "--help"]) == 0
    assert prestart_count(["reconcile", "out"]) == 0
    assert prestart_count(["index", "--workers", "many"]) == 0
