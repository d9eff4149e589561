"""The benchmark harness: running and measuring commands, the baselines, results and their report."""
