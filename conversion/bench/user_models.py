"""A user's models (``[tool.onnxgate]`` entries, ``--model FILE``) as benchmark subjects.

They take the zoo's place in the same latency suite: a ``UserSpec`` builds into the same
``ZooModel`` shape (model, held-out rows, task), so preparation, pairing, interleaving and
the results schema are the zoo's, and every model is measured one way.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from conversion.bench.config import BenchConfig, ModelEntry
from conversion.bench.zoo import ZooModel, ZooSpec

__all__ = ["UserSpec", "spec_of_subject", "subject_of", "user_specs"]


@dataclass(frozen=True)
class UserSpec:
    """One user model, named by its config key (or, for ``--model FILE``, the file's stem)."""

    entry: ModelEntry
    # Rows saved by the onnxgate_latency fixture (an .npy file): its in-memory rows, for counting.
    rows: Path | None = None

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def dataset(self) -> str:
        return "user data" if self.entry.data is not None else "generated rows"

    @property
    def size(self) -> str:
        return "user"

    @cached_property
    def framework(self) -> str:
        # From the file name or its first bytes, without loading it (ids and extra_info need it early).
        from conversion.model_files import sniff, suffixes

        known = self.entry.framework or suffixes().get(self.entry.path.suffix)
        if known:
            return known
        fmt = sniff(self.entry.path)
        if fmt is not None and fmt.framework:
            return fmt.framework
        # A pickle tells its framework only once loaded (it is loaded once per process, see _build).
        from conversion.converter.frameworks import adapter_for
        from conversion.errors import OnnxGateError

        try:
            return adapter_for(self.build().model).name
        except OnnxGateError:
            return "unknown"  # preparing the model raises the same refusal again, with its message

    def build(self) -> ZooModel:
        return _build(self)


@cache
def _build(spec: UserSpec) -> ZooModel:
    """Loads the model once per process; rows from ``data`` or spread over the model's split points."""
    import numpy as np

    from conversion.converter.convert import convert
    from conversion.converter.frameworks import adapter_for
    from conversion.converter.inputs import CategoryLabels
    from conversion.errors import ConversionRefusedError, UnsupportedModelError
    from conversion.model_files import load_rows, rows_for

    model = spec.entry.load()
    adapter = adapter_for(model)
    # Converted here for the task and the rows; preparation converts again, timed, like the zoo's.
    made = None
    try:
        converted = convert(model)
        task = converted.task
        columns = (converted.n_features, converted.feature_names, CategoryLabels.from_metadata(converted.metadata))
    except (ConversionRefusedError, UnsupportedModelError):
        # Refused on purpose (CatBoost's CTRs): its native rows are still measured, on rows its
        # adapter makes without a graph; preparation converts again and names the refusal.
        sample = adapter.native_sample(model)
        if sample is None:
            raise
        converted, (made, task) = None, sample
        columns = (made.shape[1], adapter.feature_names(model), None)
    if spec.rows is not None:
        X = np.load(spec.rows, allow_pickle=False)
    elif spec.entry.data is not None:
        X = load_rows(spec.entry.data, *columns)
    else:
        X = rows_for(converted) if converted is not None else made
    return ZooModel(spec, model, X, task)  # type: ignore[arg-type]


def user_specs(config: BenchConfig) -> tuple[UserSpec, ...]:
    return tuple(UserSpec(entry) for entry in config.models.values())


def subject_of(spec: Any) -> dict[str, Any]:
    """A zoo or user model spec as JSON, for a worker process (the counting one) to rebuild it."""
    if isinstance(spec, ZooSpec):
        return {"zoo": spec.name}
    e = spec.entry
    return {"user": {"name": e.name, "path": str(e.path), "data": None if e.data is None else str(e.data),
                     "trust_pickle": e.trust_pickle, "source": None if e.source is None else str(e.source),
                     "framework": e.framework,
                     "rows": None if spec.rows is None else str(spec.rows)}}


def spec_of_subject(subject: dict[str, Any]) -> ZooSpec | UserSpec:
    """The spec ``subject_of`` wrote; a user model keeps its entry's trust rules (``trust_pickle``)."""
    if "zoo" in subject:
        from conversion.bench.cases import parse_specs

        return parse_specs([subject["zoo"]])[0]
    u = subject["user"]
    entry = ModelEntry(u["name"], Path(u["path"]), None if u["data"] is None else Path(u["data"]),
                       bool(u["trust_pickle"]), None if u["source"] is None else Path(u["source"]),
                       u.get("framework"))
    return UserSpec(entry, None if u.get("rows") is None else Path(u["rows"]))
