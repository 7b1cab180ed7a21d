"""Benchmarks for Severus: a real ``severus host`` process driven by separate load generators.

Run ``python -m bench [--quick] [--json] [--only NAME,...]`` from the repository root;
see bench/README.md for what each figure means.
"""
