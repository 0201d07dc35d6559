"""Hypothesis profiles for the parity suite.

Choose one with ``--hypothesis-profile NAME`` or the ONNXGATE_HYPOTHESIS_PROFILE variable:
``dev`` (fast local loop), ``ci`` (derandomized, 100 examples per model, what CI runs),
``nightly`` (2000 examples per model, randomized, to find new edge cases).
"""

from __future__ import annotations

import os

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # onnxgate[all] without the test extra still runs benchmarks/ (no hypothesis there)
    settings = None

if settings is not None:
    _COMMON = {
        "deadline": None,  # first calls include ONNX Runtime session warm-up; speed is benchmarked elsewhere
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    }
    settings.register_profile("dev", max_examples=15, **_COMMON)
    settings.register_profile("ci", max_examples=100, derandomize=True, print_blob=True, **_COMMON)
    settings.register_profile("nightly", max_examples=2000, **_COMMON)
    settings.load_profile(os.environ.get("ONNXGATE_HYPOTHESIS_PROFILE", "dev"))
