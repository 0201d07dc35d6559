"""Developer experiments, run from a source checkout and never installed (``python -m benchmarks.proof.NAME``).

``prove_gate`` (with ``prove_counts`` and ``prove_blind``) measures the gate's detection and
false alarms, ``drift`` lists the packages ``nox -s latest`` upgraded, ``provider_latency`` times
each execution provider for ``nox -s openvino``, ``screenshot`` draws ``docs/report-1280.png`` and
``docs/report-390.png``, and ``ort_deep_trees`` finds where onnxruntime's TreeEnsemble fails.
"""
