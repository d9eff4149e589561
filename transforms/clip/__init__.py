"""One clip inside a worker: open, probe, timeline (header tier or packets), continuity, QA.

No Beam here: this code runs in the isolated reader processes. It must be picklable
where it crosses a process, retry-safe, and bounded in memory per clip."""
