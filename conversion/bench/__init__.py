"""Benchmarks: the pytest plugin, the zoo, the cases and profiles, the runner and the zoo suite.

Layer 3 of 5 (core < results < bench < report < app). Needs the ``bench`` extra (pytest,
pytest-benchmark); importing this package itself needs nothing beyond the core.
"""
