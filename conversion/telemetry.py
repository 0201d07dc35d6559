"""ONNX Runtime's telemetry, off unless the user opts in.

ONNX Runtime 1.32 looks up a Microsoft telemetry host a few seconds after a session is
created and keeps a database under ~/.cache; ``ort.disable_telemetry_events()`` does not stop
that, the environment variable ``ORT_DISABLE_TELEMETRY=1`` does, and only when it is set
before onnxruntime is imported. So onnxgate sets it first thing, unless the user set it
themselves (either way) or asked for telemetry with ``ONNXGATE_ALLOW_TELEMETRY=1``.
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["OPT_IN", "ORT_VARIABLE", "disable_ort_telemetry"]

log = logging.getLogger(__name__)

ORT_VARIABLE = "ORT_DISABLE_TELEMETRY"
OPT_IN = "ONNXGATE_ALLOW_TELEMETRY"


def disable_ort_telemetry() -> bool:
    """Sets ORT_DISABLE_TELEMETRY=1 unless the user decided; True when onnxgate set it."""
    if os.environ.get(OPT_IN) == "1" or ORT_VARIABLE in os.environ:
        return False
    os.environ[ORT_VARIABLE] = "1"
    if "onnxruntime" in sys.modules:
        log.warning("onnxruntime was imported before onnxgate, so its telemetry stays on for this process; "
                    "import onnxgate first or set %s=1 in the environment", ORT_VARIABLE)
    return True
