"""``tidings bench``: workloads that measure the DESIGN §8 targets.

Figures come from these commands, never from timed tests; the tests only check
that each workload runs and counts correctly. ``docs/benchmarks.md`` records
what the commands printed on a named machine.
"""
