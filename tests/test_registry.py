"""ModelRegistry: round trips, the prefer policy, refusals, corrupt entries, crashes and concurrency."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import onnx
import pytest

from conversion import InputError, ModelRegistry, RegistryError
from conversion.serving.registry import _sha256, check_external_data

from .runtime_models import FRAMEWORKS, data, fitted

REPO = Path(__file__).resolve().parents[1]
SIZES = (1, 16, 256)  # a small calibration grid keeps tests quick; benchmarks use the full one


class _Registry(ModelRegistry):
    """The registry with the small calibration grid on load."""

    def load(self, *args, **kwargs):
        kwargs.setdefault("calibration_sizes", SIZES)
        return super().load(*args, **kwargs)


def _register(reg: ModelRegistry, name: str, framework: str = "xgboost", task: str = "regression", **kw) -> int:
    model, converted = fitted(framework, task)
    kw.setdefault("calibrate", False)
    kw.setdefault("calibration_sizes", SIZES)
    return reg.register(name, model, converted, **kw)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_register_then_load_answers_like_the_native_model(tmp_path, framework) -> None:
    model, _ = fitted(framework, "regression")
    X = data("regression")[0]
    reg = _Registry(tmp_path)
    assert _register(reg, "m", framework, parity_data=X[:100]) == 1
    p = reg.load("m")
    np.testing.assert_allclose(p.predict(X[:20]), model.predict(X[:20]), rtol=1e-5, atol=1e-5)


def test_classifier_round_trip_serves_labels_and_probabilities(tmp_path) -> None:
    model, converted = fitted("xgboost", "classification")
    X = data()[0]
    reg = _Registry(tmp_path)
    reg.register("clf", model, converted, parity_data=X[:100], calibrate=False)
    p = reg.load("clf")
    np.testing.assert_array_equal(p.predict(X[:20]), model.predict(X[:20]))
    np.testing.assert_allclose(p.predict_proba(X[:20]), model.predict_proba(X[:20]), rtol=1e-5)


def test_versions_increase_and_each_version_loads(tmp_path) -> None:
    reg = _Registry(tmp_path)
    assert reg.versions("m") == []
    assert [_register(reg, "m") for _ in range(3)] == [1, 2, 3]
    assert reg.versions("m") == [1, 2, 3] and reg.names() == ["m"]
    for v in (1, "2", "v3", "latest"):
        assert reg.load("m", v, prefer="native").predict(data("regression")[0][:2]).shape == (2,)


def test_metadata_holds_versions_parity_latency_calibration_and_hashes(tmp_path) -> None:
    reg = _Registry(tmp_path)
    X = data("regression")[0]
    _register(reg, "m", parity_data=X[:200], calibrate=True, latency_runs=3)
    meta = json.loads((tmp_path / "m" / "v1" / "metadata.json").read_text())
    assert meta["version"] == 1 and meta["framework"] == "xgboost"
    assert {"onnxgate", "onnx", "onnxruntime", "numpy", "xgboost"} <= set(meta["library_versions"])
    assert meta["parity"]["passed"] is True and meta["parity"]["n_rows"] == 200
    assert [row["batch_size"] for row in meta["latency"]] == [1, 200]
    assert meta["calibration"]["sizes"][0] == 1
    assert set(meta["files"]) >= {"model.onnx", "native.ubj", "probe.npz"}
    assert (tmp_path / "m" / "v1" / "native.ubj").is_file()  # the framework's own format, no pickle


def test_prefer_auto_uses_onnx_only_when_stored_parity_passed(tmp_path) -> None:
    reg = _Registry(tmp_path)
    _register(reg, "unchecked")
    _register(reg, "checked", parity_data=data("regression")[0][:50], calibrate=True)
    assert reg.load("unchecked").policy == "native"
    assert reg.load("checked").policy == "auto"
    assert reg.load("unchecked", prefer="onnx").policy == "onnx"
    assert reg.load("checked", prefer="native").policy == "native"
    with pytest.raises(InputError, match="prefer"):
        reg.load("checked", prefer="fastest")


def test_loading_a_version_without_calibration_measures_nothing(tmp_path, caplog) -> None:
    import logging

    reg = _Registry(tmp_path)
    _register(reg, "m", parity_data=data("regression")[0][:100])  # parity passed, calibrate=False
    with caplog.at_level(logging.INFO, logger="conversion"):
        p = reg.load("m")
    assert p.policy == "auto" and p.calibration is None and "calibration" not in p.converted.metadata
    assert p.route(1) == "onnx" and p.route(100_000) == "onnx"  # the parity-checked path, until measured
    assert "recalibrate()" in caplog.text and "calibration:" not in caplog.text

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="conversion"):
        asked = reg.load("m", calibrate=True)
    assert asked.calibration is not None and asked.calibration.sizes[0] == 1
    assert "measuring where ONNX beats native" in caplog.text and "calibration: 1 rows" in caplog.text


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", "", ".hidden", "a" * 200, "x/../../y"])
def test_names_that_could_escape_the_root_are_refused(tmp_path, name) -> None:
    reg = _Registry(tmp_path / "root")
    with pytest.raises(RegistryError, match="not allowed"):
        _register(reg, name)
    with pytest.raises(RegistryError):
        reg.load(name)
    assert not (tmp_path / "escape").exists()


def test_unknown_names_and_versions_are_clear_errors(tmp_path) -> None:
    reg = _Registry(tmp_path)
    _register(reg, "m")
    with pytest.raises(RegistryError, match="no model named 'other'"):
        reg.load("other")
    with pytest.raises(RegistryError, match="no version 7"):
        reg.load("m", 7)


def test_a_converted_model_from_another_native_model_is_refused(tmp_path) -> None:
    model, _ = fitted("xgboost", "regression")
    _, other = fitted("xgboost", "classification")
    with pytest.raises(RegistryError, match=r"different native model|is a"):
        _Registry(tmp_path).register("m", model, other)


# -- corrupt entries: that version fails clearly, the others keep working --


def test_truncated_onnx_breaks_only_its_version(tmp_path) -> None:
    reg = _Registry(tmp_path)
    _register(reg, "m")
    _register(reg, "m")
    onnx_file = tmp_path / "m" / "v2" / "model.onnx"
    onnx_file.write_bytes(onnx_file.read_bytes()[:100])
    with pytest.raises(RegistryError, match=r"v2: model\.onnx is truncated"):
        reg.load("m", 2)
    with pytest.raises(RegistryError):
        reg.load("m")  # latest is v2: refused, not silently replaced by v1
    assert reg.load("m", 1, prefer="onnx").predict(data("regression")[0][:2]).shape == (2,)


def test_missing_metadata_breaks_only_its_version(tmp_path) -> None:
    reg = _Registry(tmp_path)
    _register(reg, "m")
    _register(reg, "m")
    (tmp_path / "m" / "v1" / "metadata.json").unlink()
    with pytest.raises(RegistryError, match=r"v1 has no metadata\.json.*v2"):
        reg.load("m", 1)
    assert reg.load("m", 2, prefer="native") is not None


def test_unreadable_metadata_is_a_registry_error(tmp_path) -> None:
    reg = _Registry(tmp_path)
    _register(reg, "m")
    (tmp_path / "m" / "v1" / "metadata.json").write_text("{broken")
    with pytest.raises(RegistryError, match="unreadable"):
        reg.load("m")


def _rehash(vdir: Path) -> None:
    """Makes metadata agree with tampered files, so the deeper checks are what refuses them."""
    meta = json.loads((vdir / "metadata.json").read_text())
    meta["files"] = {f: _sha256(vdir / f) for f in meta["files"]}
    (vdir / "metadata.json").write_text(json.dumps(meta))


def test_external_data_outside_the_folder_is_refused(tmp_path) -> None:
    reg = _Registry(tmp_path)
    _register(reg, "m")
    vdir = tmp_path / "m" / "v1"
    model = onnx.load(str(vdir / "model.onnx"))
    tensor = model.graph.initializer[0]
    tensor.data_location = onnx.TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "../../../../etc/passwd"
    (vdir / "model.onnx").write_bytes(model.SerializeToString())
    _rehash(vdir)
    with pytest.raises(RegistryError, match="outside the model folder"):
        reg.load("m")


@pytest.mark.parametrize("location", ["/etc/passwd", "../x.bin", "sub/../../x.bin"])
def test_check_external_data_refuses_paths_that_leave_the_folder(tmp_path, location) -> None:
    _, converted = fitted("xgboost", "regression")
    model = onnx.ModelProto()
    model.CopyFrom(converted.onnx)
    tensor = model.graph.initializer[0]
    tensor.data_location = onnx.TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", location
    with pytest.raises(RegistryError, match="outside"):
        check_external_data(model, tmp_path)


def test_loading_never_unpickles(tmp_path) -> None:
    reg = _Registry(tmp_path)
    _register(reg, "m")
    vdir = tmp_path / "m" / "v1"
    marker = tmp_path / "pwned"
    payload = (b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    (vdir / "native.ubj").write_bytes(payload)
    _rehash(vdir)
    with pytest.raises(RegistryError, match="cannot load the native model"):
        reg.load("m")
    assert not marker.exists()


def test_loading_never_runs_code_from_a_skops_file(tmp_path) -> None:
    from .untrusted_files import malicious_skops

    reg = _Registry(tmp_path)
    _register(reg, "m", "sklearn")
    vdir = tmp_path / "m" / "v1"
    marker = tmp_path / "pwned"
    malicious_skops(vdir / "native.skops", marker, fitted("sklearn", "regression")[0])
    _rehash(vdir)
    with pytest.raises(RegistryError, match=r"runstring.*allow_pickle=True"):
        reg.load("m", allow_pickle=False)
    assert not marker.exists()


# -- crashes and concurrency, with real processes --


def _script(body: str) -> list[str]:
    prelude = textwrap.dedent(
        """
        import sys, time
        import numpy as np, xgboost as xgb
        from conversion import ModelRegistry
        rng = np.random.default_rng(int(sys.argv[2]))
        X = rng.normal(size=(200, 4)).astype(np.float32)
        model = xgb.XGBRegressor(n_estimators=3, max_depth=2, n_jobs=1).fit(X, X[:, 0])
        reg = ModelRegistry(sys.argv[1])
        """
    )
    return [sys.executable, "-c", prelude + textwrap.dedent(body)]


def test_a_process_killed_mid_register_leaves_no_visible_version(tmp_path) -> None:
    marker = tmp_path / "files-written"
    body = f"""
        real = ModelRegistry._write_files
        def slow(self, tmp, *a, **k):
            files = real(self, tmp, *a, **k)
            open({str(marker)!r}, "w").close()
            time.sleep(60)
            return files
        ModelRegistry._write_files = slow
        reg.register("m", model, calibrate=False)
    """
    proc = subprocess.Popen([*_script(body), str(tmp_path / "root"), "0"], cwd=REPO)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, "the registering process died before writing its files"
            assert time.monotonic() < deadline, "the registering process never wrote its files"
            time.sleep(0.1)
        proc.kill()
    finally:
        proc.wait()
    reg = _Registry(tmp_path / "root")
    assert reg.versions("m") == []
    leftovers = [p.name for p in (tmp_path / "root" / "m").iterdir() if p.name.startswith(".tmp-")]
    assert len(leftovers) == 1  # the half-written version, hidden
    assert _register(reg, "m") == 1  # the next writer cleans up after the dead one
    assert not [p for p in (tmp_path / "root" / "m").iterdir() if p.name.startswith(".tmp-")]


def test_concurrent_registrations_from_two_processes_get_distinct_versions(tmp_path) -> None:
    body = """
        for _ in range(3):
            reg.register("shared", model, calibrate=False)
    """
    procs = [subprocess.Popen([*_script(body), str(tmp_path), str(seed)], cwd=REPO) for seed in (1, 2)]
    for p in procs:
        assert p.wait(timeout=300) == 0
    reg = _Registry(tmp_path)
    assert reg.versions("shared") == [1, 2, 3, 4, 5, 6]
    for v in reg.versions("shared"):
        assert reg.metadata("shared", v)["version"] == v
        assert reg.load("shared", v, prefer="native").predict(np.zeros((1, 4), np.float32)).shape == (1,)
    assert os.listdir(tmp_path / "shared").count(".lock") == 1
