"""Native model -> ONNX: the framework adapters (``frameworks/``), the tree form (``tree_ir``), the
emitters (``emit_*``), the input contract (``inputs``, ``category_labels``), ``ConvertedModel``.

The lowest of the core's sub-packages: it imports no other one (runtime, parity, serving).
"""
