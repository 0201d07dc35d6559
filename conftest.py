"""Hypothesis profiles for the parity suite.

Choose one with ``--hypothesis-profile NAME`` or the ONNXGATE_HYPOTHESIS_PROFILE variable:
``dev`` (fast local loop), ``ci`` (derandomized, 30 examples per test, what scripts/test.sh and
CI run), ``exhaustive`` (derandomized, 100 examples, what CI ran until issue 29), ``nightly``
(2000 examples per test, randomized, to find new edge cases; ``nox -s nightly``, docs/loops.md).
"""

from __future__ import annotations

import os

# One OpenMP thread per test process: scikit-learn's HistGradientBoosting has no n_jobs and
# started a team of threads for every 20-row call, spinning against the other xdist worker, at
# up to 60 times the CPU time of one thread (docs/loops.md). Predictions do not depend
# on the thread count. The variable is read when an OpenMP library loads; pyproject's warning
# filter has already loaded scikit-learn's, which threadpoolctl limits directly.
if "OMP_NUM_THREADS" not in os.environ:  # a value the caller set is theirs
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # no scikit-learn installed, so nothing started OpenMP yet
        pass
    else:
        threadpool_limits(limits=1, user_api="openmp")

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
    # 30: every parity configuration keeps its test; the examples beyond go to the exhaustive
    # and nightly profiles (the loop's 8-minute budget: docs/loops.md).
    settings.register_profile("ci", max_examples=30, derandomize=True, print_blob=True, **_COMMON)
    settings.register_profile("exhaustive", max_examples=100, derandomize=True, print_blob=True, **_COMMON)
    settings.register_profile("nightly", max_examples=2000, **_COMMON)
    settings.load_profile(os.environ.get("ONNXGATE_HYPOTHESIS_PROFILE", "dev"))
