"""Benchmarks, not tests: `python -m bench` (see __main__.py)."""
