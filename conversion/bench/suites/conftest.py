"""The suite is written as a user's would be: it loads onnxgate's benchmark plugin."""

import sys

# Installed onnxgate loads the plugin through its pytest11 entry point, before any conftest;
# naming it here too would register the module twice, which pytest refuses. Without the entry
# point (a source checkout, PYTEST_DISABLE_PLUGIN_AUTOLOAD, -p no:onnxgate) this loads it.
pytest_plugins = [] if "conversion.bench.plugin" in sys.modules else ["conversion.bench.plugin"]
