"""The HTML report, built from results files alone (build.py), its plots and verdicts.

Layer 4 of 5 (core < results < bench < report < app). Needs the ``report`` extra (jinja2, matplotlib).
"""
