"""The app layer: what the onnxgate command runs (the merge-base gate so far)."""
