"""The adapter table: which framework adapter handles which model.

Built in one explicit function so tests can build an isolated table; third parties add an
adapter with :func:`register_adapter`.
"""

from __future__ import annotations

from typing import Any

from ...errors import OnnxGateError, UnsupportedModelError
from .base import Adapter, Lowered, import_optional

__all__ = [
    "Adapter",
    "Lowered",
    "AdapterTable",
    "default_adapters",
    "adapter_for",
    "adapters",
    "framework_names",
    "register_adapter",
    "import_optional",
]


class AdapterTable:
    """Adapters by framework name; a duplicate name is refused unless ``overwrite=True``."""

    def __init__(self, adapters: list[Adapter] | None = None) -> None:
        self._by_name: dict[str, Adapter] = {}
        for adapter in adapters or []:
            self.register(adapter)

    def register(self, adapter: Adapter, *, overwrite: bool = False) -> None:
        if adapter.name in self._by_name and not overwrite:
            raise OnnxGateError(
                f"an adapter for {adapter.name!r} is registered already; pass overwrite=True to replace it"
            )
        self._by_name[adapter.name] = adapter

    def __getitem__(self, name: str) -> Adapter:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnsupportedModelError(
                f"unknown framework {name!r}; known: {', '.join(sorted(self._by_name))}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def for_model(self, model: Any) -> Adapter:
        for adapter in self._by_name.values():
            if adapter.matches(model):
                return adapter
        listed = "; ".join(f"{a.name}: {', '.join(a.supported)}" for a in self._by_name.values())
        raise UnsupportedModelError(
            f"cannot convert a {type(model).__module__}.{type(model).__name__}. Supported models: {listed}"
        )


def default_adapters() -> AdapterTable:
    from .catboost import CatBoostAdapter
    from .lightgbm import LightGBMAdapter
    from .sklearn import SklearnAdapter
    from .xgboost import XGBoostAdapter

    return AdapterTable([XGBoostAdapter(), LightGBMAdapter(), CatBoostAdapter(), SklearnAdapter()])


_DEFAULT: AdapterTable | None = None


def _table() -> AdapterTable:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = default_adapters()
    return _DEFAULT


def adapter_for(model: Any) -> Adapter:
    return _table().for_model(model)


def adapter_named(name: str) -> Adapter:
    return _table()[name]


def adapters() -> tuple[Adapter, ...]:
    """Every registered adapter, in registration order: the one list of frameworks."""
    return tuple(_table()._by_name.values())


def framework_names() -> tuple[str, ...]:
    """("xgboost", "lightgbm", "catboost", "sklearn"), plus any adapter registered since."""
    return tuple(a.name for a in adapters())


def register_adapter(adapter: Adapter, *, overwrite: bool = False) -> None:
    """The one documented way to add a converter for another framework."""
    _table().register(adapter, overwrite=overwrite)
