"""A session made through onnxgate makes no DNS query: ONNX Runtime's telemetry is off unless
the user opts in. Real sessions in real processes, their network calls traced with strace."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SESSION_S = 15  # ONNX Runtime 1.32 made its first lookup a few seconds after the session started

# One tiny model served by the engine for SESSION_S seconds; "import conversion" first or not at all.
_SESSION = textwrap.dedent(f"""
    import sys, time
    if sys.argv[1] == "onnxgate":
        import conversion
    import numpy as np, onnxruntime as ort
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    if sys.argv[1] == "onnxgate":  # and the engine's own session, as a user would serve a model
        from sklearn.tree import DecisionTreeRegressor
        X = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
        engine = conversion.InferenceEngine(conversion.convert(DecisionTreeRegressor(max_depth=2).fit(X, X[:, 0])))
    end = time.monotonic() + {SESSION_S}
    while time.monotonic() < end:
        session.run(None, {{"x": np.zeros((1, 2), np.float32)}})
        if sys.argv[1] == "onnxgate":
            engine.predict(X[:1])
        time.sleep(0.05)
""")


def _traced(kind: str, home: Path, trace: Path, env_extra: dict[str, str]) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("ORT_DISABLE_TELEMETRY", "ONNXGATE_ALLOW_TELEMETRY")}
    env.update(HOME=str(home), PYTHONPATH=str(REPO), **env_extra)
    return subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=connect,sendto,sendmsg,sendmmsg", "-o", str(trace),
                             sys.executable, "-c", _SESSION, kind], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _dns_queries(trace: Path) -> int:
    return sum("htons(53)" in line for line in trace.read_text().splitlines())


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (apt-get install strace)")
def test_a_session_through_onnxgate_makes_no_dns_query(tmp_path: Path) -> None:
    runs = {kind: (tmp_path / kind, tmp_path / f"{kind}.strace") for kind in ("plain", "onnxgate")}
    procs = {kind: _traced(kind, home, trace, {}) for kind, (home, trace) in runs.items()}
    for proc in procs.values():  # both at once: one SESSION_S wait, not two
        _, err = proc.communicate(timeout=SESSION_S * 8)
        if proc.returncode != 0 and b"ptrace" in err:
            pytest.skip(f"strace cannot trace here: {err.decode(errors='replace').strip()[:200]}")
        assert proc.returncode == 0, err.decode(errors="replace")
    plain = _dns_queries(runs["plain"][1])
    if plain == 0:
        pytest.skip("ONNX Runtime made no DNS query here even with telemetry on: nothing to tell apart")
    assert _dns_queries(runs["onnxgate"][1]) == 0, "onnxgate's session looked a host up"
    assert not (runs["onnxgate"][0] / ".cache" / "Microsoft").exists()


@pytest.mark.parametrize("env, expected", [
    ({}, "1"),                                      # off by default
    ({"ONNXGATE_ALLOW_TELEMETRY": "1"}, "None"),    # the user opted in: untouched
    ({"ORT_DISABLE_TELEMETRY": "0"}, "0"),          # the user decided: untouched
], ids=["default", "opt-in", "user-set"])
def test_telemetry_is_off_unless_the_user_decides(env: dict[str, str], expected: str) -> None:
    clean = {k: v for k, v in os.environ.items() if k not in ("ORT_DISABLE_TELEMETRY", "ONNXGATE_ALLOW_TELEMETRY")}
    code = "import os, conversion; print(os.environ.get('ORT_DISABLE_TELEMETRY'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**clean, "PYTHONPATH": str(REPO), **env},
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == expected
