"""Checks every reconcile test makes: the count identity holds, and agrees with the discrepancies."""

from __future__ import annotations


def assert_counts_add_up(report: dict) -> None:
    """`report`: the --json output (or Reconciliation.to_json())."""
    identity, counts = report["identity"], report["discrepancy_counts"]
    assert identity["holds"], identity["text"]
    for name in ("inputs", "expected", "indexed"):
        side = identity[name]
        if side is not None:
            assert side["total"] == sum(value for key, value in side.items() if key != "total"), (name, side)
    inputs = identity["inputs"]
    assert inputs["videos"] == report["totals"]["videos"]
    assert inputs["unreadable"] == counts.get("unreadable", 0) == report["totals"]["errors"]
    assert inputs["duplicates"] == counts.get("duplicate", 0) == report["totals"]["duplicates"]
    assert inputs["excerpts"] == counts.get("excerpt", 0) == report["totals"]["excerpts"]
    if identity["expected"] is None:
        return
    expected, indexed = identity["expected"], identity["indexed"]
    assert expected["matched"] == indexed["matched"]
    assert expected["missing"] == counts.get("missing", 0)
    assert expected["ambiguous"] == counts.get("ambiguous", 0)
    unlisted_unreadable = sum(1 for d in report["discrepancies"]
                              if d["kind"] == "unreadable" and d["manifest_row"] is None)
    assert indexed["unexpected"] == counts.get("unexpected", 0) + unlisted_unreadable
    listed_copies = sum(1 for d in report["discrepancies"]
                        if d["kind"] in ("duplicate", "excerpt") and d["manifest_row"] is not None)
    assert expected["listed_copies"] == listed_copies
