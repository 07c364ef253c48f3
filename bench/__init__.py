"""newsdrop's benchmark: `python -m bench.run [--quick]` (see bench/README.md).

Lives outside tests/ on purpose: it measures and reports, it never asserts timings.
"""
