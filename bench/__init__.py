"""Benchmarks for household-risk-monitor: `python -m bench --size quick|full [--only NAME ...]`.

Every figure is measured side by side with its reference in the same run (the machine is shared and
noisy), printed as it is measured, and written to `bench/results/latest.json`.  See BENCHMARKS.md.
"""
