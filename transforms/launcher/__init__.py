"""Code that runs once per run on the launcher: finding inputs, selecting them, planning
what to read again, guarding removals, summarizing the run."""
