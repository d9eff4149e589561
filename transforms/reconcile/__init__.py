"""Reconciliation: matching manifest rows with index rows, totals, breakdowns, copies,
discrepancies, and the HTML report."""
