"""The zoo latency suite that `onnxgate bench` runs, shipped with the package so it runs from any directory."""
