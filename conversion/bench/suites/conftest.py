"""The suite is written as a user's would be: it loads onnxgate's benchmark plugin."""

pytest_plugins = ["conversion.bench.plugin"]
