"""Serving a model: the predictor (auto / onnx / native, with fallback), its calibration and the registry.

The top of the core: it may import ``converter``, ``runtime`` and ``parity``.
"""
