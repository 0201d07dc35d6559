"""A user's models (``[tool.onnxgate]`` entries, ``--model FILE``) as benchmark subjects.

They take the zoo's place in the same latency suite: a ``UserSpec`` builds into the same
``ZooModel`` shape (model, held-out rows, task), so preparation, pairing, interleaving and
the results schema are the zoo's, and every model is measured one way.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property

from conversion.bench.config import BenchConfig, ModelEntry
from conversion.bench.zoo import ZooModel

__all__ = ["UserSpec", "user_specs"]


@dataclass(frozen=True)
class UserSpec:
    """One user model, named by its config key (or, for ``--model FILE``, the file's stem)."""

    entry: ModelEntry

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

        known = suffixes().get(self.entry.path.suffix)
        if known:
            return known
        fmt = sniff(self.entry.path)
        return fmt.framework if fmt is not None and fmt.framework else "unknown"

    def build(self) -> ZooModel:
        return _build(self)


@cache
def _build(spec: UserSpec) -> ZooModel:
    """Loads the model once per process; rows from ``data`` or spread over the model's split points."""
    from conversion.convert import convert
    from conversion.inputs import CategoryLabels
    from conversion.model_files import load_rows, rows_for

    model = spec.entry.load()
    # Converted here for the task and the rows; preparation converts again, timed, like the zoo's.
    converted = convert(model)
    if spec.entry.data is not None:
        X = load_rows(spec.entry.data, converted.n_features, converted.feature_names,
                      CategoryLabels.from_metadata(converted.metadata))
    else:
        X = rows_for(converted)
    return ZooModel(spec, model, X, converted.task)  # type: ignore[arg-type]


def user_specs(config: BenchConfig) -> tuple[UserSpec, ...]:
    return tuple(UserSpec(entry) for entry in config.models.values())
