"""nox sessions for environments the main venv cannot host.

``onnxruntime-openvino`` ships its own ``onnxruntime`` module, so it cannot live beside the
stock wheel: this session builds a separate venv, runs the engine tests there and measures
latency per provider (``nox -s openvino``).
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = []  # nothing runs by accident; name the session

# Everything onnxgate's runtime and engine tests need, except the stock onnxruntime wheel.
_RUNTIME_DEPS = ["numpy>=1.26", "onnx>=1.16", "scipy>=1.11", "filelock>=3.13", "pytest>=8", "hypothesis>=6.100"]
_FRAMEWORKS = ["xgboost>=2.0", "scikit-learn>=1.4"]


@nox.session(python="3.11")
def openvino(session: nox.Session) -> None:
    """Engine tests and a CPU vs OpenVINO latency measurement with onnxruntime-openvino."""
    session.install("onnxruntime-openvino", *_RUNTIME_DEPS, *_FRAMEWORKS)
    # --no-deps: the project's dependency on `onnxruntime` would replace the OpenVINO build.
    session.install("--no-deps", "-e", ".")
    session.run("python", "-c", "import onnxruntime as o; print(o.__version__, o.get_available_providers())")
    session.run("pytest", "-x", "-q", "-p", "no:cacheprovider", "tests/test_engine.py", *session.posargs)
    session.run("python", "-m", "benchmarks.provider_latency", "--providers",
                "CPUExecutionProvider", "OpenVINOExecutionProvider")
