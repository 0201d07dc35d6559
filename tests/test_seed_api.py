"""The seed's ONNXConverter interface: same calls, exact conversions, errors instead of silent None."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np
import pytest

from conversion import InferenceEngine, InputError, ONNXConverter, UnsupportedModelError, load

from .runtime_models import FRAMEWORKS, N_FEATURES, data, fitted

SEED_KEYS = ("native_avg_ms", "onnx_avg_ms", "improvement_pct", "speedup_factor")


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_convert_model_saves_name_dot_onnx_that_answers_like_the_model(tmp_path, framework) -> None:
    model, _ = fitted(framework)
    conv = ONNXConverter(onnx_dir=tmp_path / "models" / "onnx")
    path = conv.convert_model(model, f"my_{framework}_model", input_shape=(N_FEATURES,), model_type=framework)
    assert Path(path) == tmp_path / "models" / "onnx" / f"my_{framework}_model.onnx"
    X = data()[0][:20]
    np.testing.assert_array_equal(InferenceEngine(load(path)).predict(X), model.predict(X))


def test_default_directory_is_the_seeds(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    model, _ = fitted("xgboost")
    path = ONNXConverter().convert_model(model, "m")
    assert Path(path) == Path("models/onnx/m.onnx") and Path(path).is_file()


@pytest.mark.parametrize("shape", [N_FEATURES, (N_FEATURES,), (None, N_FEATURES), [1, N_FEATURES]])
def test_input_shape_forms_the_seed_accepted(tmp_path, shape) -> None:
    model, _ = fitted("xgboost")
    assert Path(ONNXConverter(tmp_path).convert_model(model, "m", input_shape=shape)).is_file()


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"model_type": "lightgbm"}, "model_type='lightgbm' but the model is a XGBClassifier"),
        ({"model_type": "tensorflow"}, "unknown"),
        ({"input_shape": (N_FEATURES + 1,)}, "trained on 6 features"),
        ({"input_shape": (1, 2, 3)}, "input_shape"),
        ({"input_shape": ()}, "input_shape"),
    ],
)
def test_bad_arguments_raise_input_error(tmp_path, kwargs, fragment) -> None:
    model, _ = fitted("xgboost")
    with pytest.raises(InputError, match=fragment):
        ONNXConverter(tmp_path).convert_model(model, "m", **kwargs)
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("name", ["../outside", "a/b", "", ".."])
def test_model_names_that_are_not_plain_file_names_are_refused(tmp_path, name) -> None:
    model, _ = fitted("xgboost")
    with pytest.raises(InputError, match="plain file name"):
        ONNXConverter(tmp_path / "onnx").convert_model(model, name)
    assert not (tmp_path / "outside.onnx").exists()


def test_model_type_aliases_are_accepted(tmp_path) -> None:
    model, _ = fitted("xgboost")
    assert Path(ONNXConverter(tmp_path).convert_model(model, "m", model_type="XGB")).is_file()


def test_unsupported_models_are_refused_not_returned_as_none(tmp_path) -> None:
    with pytest.raises(UnsupportedModelError):
        ONNXConverter(tmp_path).convert_model({"not": "a model"}, "m")


def test_measure_latency_improvement_keeps_the_seeds_signature_and_keys(tmp_path) -> None:
    model, _ = fitted("xgboost")
    conv = ONNXConverter(tmp_path)
    path = conv.convert_model(model, "m")
    r = conv.measure_latency_improvement(model=model, onnx_path=path, test_data=data()[0][:30], n_runs=4)
    assert all(np.isfinite(r[k]) for k in SEED_KEYS)
    assert r["n_runs"] == 4 and r["batch_size"] == 30


def test_status_lists_each_library_with_a_version_or_the_install_command(monkeypatch) -> None:
    real = importlib.metadata.version

    def without_lightgbm(dist: str) -> str:
        if dist in ("lightgbm", "skl2onnx"):
            raise importlib.metadata.PackageNotFoundError(dist)
        return real(dist)

    monkeypatch.setattr(importlib.metadata, "version", without_lightgbm)
    status = ONNXConverter().status()
    assert set(status["frameworks"]) == {"xgboost", "lightgbm", "catboost", "sklearn"}
    assert status["frameworks"]["xgboost"] == {"available": True, "version": real("xgboost")}
    assert status["frameworks"]["lightgbm"] == {"available": False, "install": "pip install 'onnxgate[lightgbm]'"}
    assert status["converters"]["skl2onnx"]["install"] == "pip install 'onnxgate[sklearn]'"
    assert status["converters"]["onnxruntime"]["available"] is True
    assert "CPUExecutionProvider" in status["providers"]
