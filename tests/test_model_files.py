"""A user's model file is recognised through the adapters: a new framework brings its own format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import conversion.converter.frameworks as frameworks
from conversion.converter.frameworks import Adapter, default_adapters
from conversion.errors import ModelFileError
from conversion.model_files import load_user_model


class _ToyAdapter(Adapter):
    """A fifth framework as a third party would add it: one class, registered in the table."""

    name = "toy"
    package = "toy"
    extra = "toy"
    supported = ("ToyModel",)
    file_suffixes = (".toy",)

    def sniff(self, head: bytes) -> str | None:
        return "a toy model" if head.startswith(b"TOY1") else None

    def load_native(self, path: Path, *, allow_pickle: bool = False) -> Any:
        return {"toy": path.read_bytes()[4:].decode()}

    def to_ir(self, model: Any) -> Any:
        raise NotImplementedError

    def native(self, model: Any, method: str, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def native_bytes(self, model: Any) -> bytes:
        return b""


@pytest.fixture
def with_toy(monkeypatch: pytest.MonkeyPatch) -> None:
    table = default_adapters()
    table.register(_ToyAdapter())
    monkeypatch.setattr(frameworks, "_DEFAULT", table)


def test_a_registered_framework_is_read_from_its_suffix(with_toy: None, tmp_path: Path) -> None:
    path = tmp_path / "model.toy"
    path.write_bytes(b"TOY1hello")
    user = load_user_model(path)
    assert (user.framework, user.model) == ("toy", {"toy": "hello"})


def test_a_registered_framework_is_recognised_by_content(with_toy: None, tmp_path: Path) -> None:
    path = tmp_path / "model.bin"  # a suffix nobody claims: the first bytes decide
    path.write_bytes(b"TOY1hello")
    assert load_user_model(path).framework == "toy"
    with pytest.raises(ModelFileError, match="looks like a toy model, but --framework xgboost"):
        load_user_model(path, framework="xgboost")


def test_a_lightgbm_file_named_ubj_is_not_blamed_on_a_flag_never_given(tmp_path: Path) -> None:
    lgb = pytest.importorskip("lightgbm")
    X = np.random.default_rng(0).normal(size=(100, 3))
    path = tmp_path / "model.ubj"
    lgb.LGBMRegressor(n_estimators=2, verbose=-1).fit(X, X[:, 0]).booster_.save_model(str(path))
    with pytest.raises(ModelFileError) as info:
        load_user_model(path)
    message = str(info.value)
    assert "--framework xgboost was given" not in message
    assert "its .ubj name says xgboost" in message and "--framework lightgbm" in message
    assert load_user_model(path, framework="lightgbm").framework == "lightgbm"  # the way out works


def test_a_csv_short_of_a_column_names_it(tmp_path: Path) -> None:
    from conversion.errors import InputError
    from conversion.model_files import load_rows

    rows = tmp_path / "rows.csv"
    rows.write_text("age,income,score\n1,2,3\n")
    with pytest.raises(InputError, match=r"has 3 columns .*expects 4 features: missing tenure$"):
        load_rows(rows, 4, ["age", "income", "tenure", "score"])
    rows.write_text("age,income,tenure,score,id\n1,2,3,4,5\n")
    with pytest.raises(InputError, match=r"expects 4 features: extra id$"):
        load_rows(rows, 4, ["age", "income", "tenure", "score"])
