"""Running a converted graph: providers, the inference engine, timing and the seed's latency measure.

Imports ``converter`` and no other core sub-package (parity, serving).
"""
