"""Results files and the gate that judges them: reads files only, never live state.

Layer 2 of 5 (core < results < bench < report < app): imports the core, nothing above it.
"""
