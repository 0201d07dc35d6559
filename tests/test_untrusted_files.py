"""A .skops file whose object tree calls code is refused at every entry point, and the models
onnxgate converts still load from .skops without asking, with the same fingerprint."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from conversion import ModelFileError
from conversion.cli import main
from conversion.converter.frameworks import adapter_named

from .cases.sklearn import CASES
from .untrusted_files import malicious_skops

pytest.importorskip("skops")


@pytest.fixture
def evil(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "marker"
    return malicious_skops(tmp_path / "model.skops", marker), marker


def test_the_payload_is_real_when_its_types_are_trusted(evil: tuple[Path, Path]) -> None:
    """The file is a working exploit: trusting everything skops lists runs the payload."""
    import skops.io as sio

    path, marker = evil
    sio.load(path, trusted=sio.get_untrusted_types(file=path))
    assert marker.exists()


def test_load_native_refuses_it_naming_the_type_and_the_way_out(evil: tuple[Path, Path]) -> None:
    path, marker = evil
    with pytest.raises(ModelFileError) as exc:
        adapter_named("sklearn").load_native(path)
    message = str(exc.value)
    assert "numpy.testing._private.utils.runstring" in message
    assert "allow_pickle=True" in message and "--trust-pickle" in message and "trusted=" in message
    assert not marker.exists()


@pytest.mark.parametrize("argv", [
    ["convert", "{model}", "--output", "{tmp}/m.onnx"],
    ["check", "{model}"],
    ["run", "--model", "{model}", "--no-bench", "--no-upstream", "--output", "{tmp}/report"],
])
def test_cli_refuses_it(argv: list[str], evil: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    path, marker = evil
    code = main([a.format(model=path, tmp=path.parent) for a in argv] + ["--json"])
    out, err = capsys.readouterr()
    assert code == 2
    assert "runstring" in json.loads(out)["error"] and "--trust-pickle" in err and "Traceback" not in err
    assert not marker.exists()
    assert not (path.parent / "m.onnx").exists()


def test_trust_pickle_is_the_explicit_way_in(evil: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """After inspection a user may trust the file; then, as with a pickle, its code runs."""
    path, marker = evil
    assert main(["convert", str(path), "--trust-pickle", "--output", str(path.parent / "m.onnx")]) == 0
    assert marker.exists()


def _holds_callables(case) -> bool:
    # HistGradientBoosting with categorical_features keeps its encoder's validator as
    # functools.partial(check_array, ...): a callable, which onnxgate never trusts by itself.
    return "categorical" in case.id and "histgradientboosting" in case.id


@pytest.mark.parametrize("case", [c for c in CASES if c.refused is None and not _holds_callables(c)], ids=str)
def test_every_convertible_sklearn_model_loads_from_skops_untouched(case, tmp_path: Path) -> None:
    import skops.io as sio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings of the small MLPs
        model, X = case.fit()
    sio.dump(model, tmp_path / "m.skops")
    adapter = adapter_named("sklearn")
    loaded = adapter.load_native(tmp_path / "m.skops")
    method = "predict_proba" if hasattr(model, "predict_proba") else "predict"
    got, want = getattr(loaded, method)(X[:50]), getattr(model, method)(X[:50])
    # a multi-output classifier's predict_proba: one array per output, of different widths
    for g, w in zip(*((o if isinstance(o, list) else [o]) for o in (got, want)), strict=True):
        np.testing.assert_array_equal(g, w)
    # The fingerprint stored in the ONNX metadata names the same model after the round trip,
    # so `onnxgate check model.skops --onnx model.onnx` can tell it from another model.
    assert adapter.fingerprint(loaded) == adapter.fingerprint(model)


@pytest.mark.parametrize("case", [c for c in CASES if c.refused is None and _holds_callables(c)], ids=str)
def test_a_skops_file_holding_callables_is_refused_with_the_way_in(case, tmp_path: Path) -> None:
    import skops.io as sio

    model, X = case.fit()
    sio.dump(model, tmp_path / "m.skops")
    adapter = adapter_named("sklearn")
    with pytest.raises(ModelFileError, match=r"functools\.partial.*allow_pickle=True"):
        adapter.load_native(tmp_path / "m.skops")
    trusted = sio.load(tmp_path / "m.skops", trusted=sio.get_untrusted_types(file=tmp_path / "m.skops"))
    np.testing.assert_array_equal(adapter.native(trusted, "predict", X[:50]), adapter.native(model, "predict", X[:50]))
