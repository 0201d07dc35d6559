"""The user's benchmark configuration: ``[tool.onnxgate]`` in pyproject.toml (or ``--config FILE``).

```toml
[tool.onnxgate]
batch_sizes = [1, 256, 4096]        # optional; providers and threads likewise
providers = ["cpu"]
threads = [1]
[tool.onnxgate.models.fraud]
path = "models/fraud.ubj"           # .json/.ubj, .txt, .cbm, .skops; a pickle only with trust_pickle = true
data = "data/rows.csv"              # optional: rows for parity and latency (header row = feature names)
framework = "lightgbm"              # optional: when the file's name and first bytes do not tell
```

Paths resolve against the folder of the file they are written in, so the same config works
from any working directory. Every mistake raises ``ConfigError`` naming the file and the key.
"""

from __future__ import annotations

import csv
import json
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from conversion.converter.frameworks import framework_names
from conversion.errors import ConfigError, OnnxGateError
from conversion.regular_files import check_regular_file, read_regular_file
from conversion.runtime.providers import ALIASES

__all__ = ["BenchConfig", "ModelEntry", "Rows", "find_config", "load_config", "read_rows", "with_flags",
           "with_models", "write_config"]

PYPROJECT = "pyproject.toml"
TABLE = "tool.onnxgate"
# Model names become part of benchmark keys (``model|runtime|bN``) and file names.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class ModelEntry:
    """One ``[tool.onnxgate.models.NAME]`` table, its paths resolved."""

    name: str
    path: Path
    data: Path | None = None
    trust_pickle: bool = False
    source: Path | None = None  # the config file it came from, for messages
    framework: str | None = None  # None: told by the file's name or first bytes

    @property
    def where(self) -> str:
        return f"[{TABLE}.models.{self.name}]" + (f" in {self.source}" if self.source else "")

    def load(self) -> Any:
        """The fitted native model; a refusal names this entry (e.g. a pickle without trust_pickle)."""
        from conversion.model_files import load_user_model

        try:
            return load_user_model(self.path, framework=self.framework, trust_pickle=self.trust_pickle).model
        except OnnxGateError as exc:
            hint = "; in this config, --trust-pickle is trust_pickle = true" if "pickle" in str(exc).lower() else ""
            raise ConfigError(f"{self.where}: {exc}{hint}") from exc

    def rows(self) -> Rows | None:
        """The rows of ``data``, or None when the entry names none."""
        return None if self.data is None else read_rows(self.data, where=f"{self.where}, key 'data'")


@dataclass(frozen=True)
class BenchConfig:
    """The whole ``[tool.onnxgate]`` table; None means "not set": the suite's own defaults apply."""

    source: Path | None = None
    batch_sizes: tuple[int, ...] | None = None
    providers: tuple[str, ...] | None = None
    threads: tuple[int, ...] | None = None
    models: dict[str, ModelEntry] = field(default_factory=dict)


@dataclass(frozen=True)
class Rows:
    """Rows of a ``data`` CSV: the matrix and the header's feature names."""

    X: np.ndarray
    feature_names: tuple[str, ...]


def find_config(cwd: Path | None = None) -> Path | None:
    """``pyproject.toml`` of the current directory when it has a ``[tool.onnxgate]`` table."""
    candidate = (cwd or Path.cwd()) / PYPROJECT
    if not candidate.is_file():
        return None
    return candidate if _onnxgate_table(_read_toml(candidate), candidate, required=False) is not None else None


def load_config(path: str | Path | None = None, *, cwd: Path | None = None) -> BenchConfig:
    """Reads ``path`` (``--config FILE``), or the current directory's pyproject.toml if it has the table.

    Without either, returns an empty config, so callers fall back to the embedded zoo.
    """
    if path is None:
        found = find_config(cwd)
        if found is None:
            return BenchConfig()
        file = found
    else:
        file = Path(path)
        if not file.is_absolute():
            file = (cwd or Path.cwd()) / file
        if not file.exists():
            raise ConfigError(f"config file {file} does not exist; pass --config with a pyproject.toml "
                              f"(or TOML file) that has a [{TABLE}] table")
    table = _onnxgate_table(_read_toml(file), file, required=True)
    assert table is not None
    return _parse(table, file.resolve())


def with_models(config: BenchConfig, files: Sequence[str | Path], *, cwd: Path | None = None) -> BenchConfig:
    """``config`` plus ad-hoc ``--model FILE`` entries, each named by its file stem."""
    if not files:
        return config
    models = dict(config.models)
    for given in files:
        p = Path(given).expanduser()
        file = p if p.is_absolute() else (cwd or Path.cwd()) / p
        where = f"--model {given}"
        if not file.exists():
            raise ConfigError(f"{where}: {file} does not exist; pass a native model file (.json/.ubj, .txt, .cbm, "
                              ".skops)")
        check_regular_file(file, what=f"{where}: model file", kind="model", error=ConfigError)
        name = file.stem
        if not _NAME.match(name):
            raise ConfigError(f"{where}: the file name {name!r} cannot name a model (letters, digits, '-', '_', '.'); "
                              "rename the file or list it in [tool.onnxgate.models.NAME]")
        if name in models:
            raise ConfigError(f"{where}: a model named {name!r} is already listed"
                              + (f" in {config.source}" if config.source else "")
                              + "; each model needs its own name (rename the file, or list it in the config "
                                "under another name)")
        models[name] = ModelEntry(name, file.resolve())
    return replace(config, models=models)


def with_flags(config: BenchConfig, *, data: Path | None = None, trust_pickle: bool = False,
               framework: str | None = None) -> BenchConfig:
    """``config`` with the command line's ``--data``, ``--trust-pickle`` and ``--framework`` in every entry,
    so conversion and the benchmark child read each model the same way."""
    if data is None and not trust_pickle and framework is None:
        return config
    given = None if data is None else Path(data).expanduser().resolve()
    models = {name: replace(e, data=e.data or given, trust_pickle=e.trust_pickle or trust_pickle,
                            framework=framework or e.framework)
              for name, e in config.models.items()}
    return replace(config, models=models)


def write_config(config: BenchConfig, file: Path) -> Path:
    """``config`` as a ``[tool.onnxgate]`` file with absolute paths, for a benchmark child to read as it is."""
    def text(value: Any) -> str:
        return json.dumps(str(value))  # a JSON string is a TOML basic string (ASCII, \\ and \" escapes)

    lines = [f"# written by onnxgate from {config.source or 'the command line'} and its flags", f"[{TABLE}]"]
    for key in ("batch_sizes", "providers", "threads"):
        value = getattr(config, key)
        if value is not None:
            lines.append(f"{key} = [{', '.join(text(v) if isinstance(v, str) else str(v) for v in value)}]")
    for name, e in config.models.items():
        lines += ["", f"[{TABLE}.models.{text(name)}]", f"path = {text(e.path.resolve())}"]
        if e.data is not None:
            lines.append(f"data = {text(e.data.resolve())}")
        if e.trust_pickle:
            lines.append("trust_pickle = true")
        if e.framework is not None:
            lines.append(f"framework = {text(e.framework)}")
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return file


def only_models(config: BenchConfig, names: Sequence[str]) -> BenchConfig:
    """``config`` with only the models ``names`` (``--models`` with your own models, a CI shard's share)."""
    unknown = [n for n in names if n not in config.models]
    if unknown:
        import difflib

        hints = [f"{n!r} (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(n, config.models, 1))
                 else repr(n) for n in unknown]
        raise ConfigError(f"no model named {', '.join(hints)}"
                          + (f" in {config.source}" if config.source else "")
                          + f"; the models are {', '.join(config.models) or 'none'}")
    return replace(config, models={n: config.models[n] for n in names})


def _read_toml(file: Path) -> dict[str, Any]:
    raw = read_regular_file(file, what="config file", kind="config", error=ConfigError)
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file} is not valid TOML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {file}: {exc}") from exc


def _onnxgate_table(doc: dict[str, Any], file: Path, *, required: bool) -> dict[str, Any] | None:
    """``[tool.onnxgate]``; in a file without a ``[tool]`` table (an onnxgate.toml), the whole file."""
    if "tool" not in doc and file.name != PYPROJECT and doc:
        return doc
    table = doc.get("tool", {}).get("onnxgate") if isinstance(doc.get("tool"), dict) else None
    if table is None:
        if required:
            raise ConfigError(f"{file} has no [{TABLE}] table; add one (see `onnxgate bench --help`)")
        return None
    if not isinstance(table, dict):
        raise ConfigError(f"{file}: {TABLE} must be a table, got {type(table).__name__}")
    return table


_TOP_KEYS = ("batch_sizes", "providers", "threads", "models")
_MODEL_KEYS = ("path", "data", "trust_pickle", "framework")


def _unknown(keys: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    extra = sorted(set(keys) - set(allowed))
    if extra:
        import difflib

        named = [f"{k!r} (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(k, allowed, 1))
                 else repr(k) for k in extra]
        raise ConfigError(f"{where}: unknown key{'s' if len(extra) > 1 else ''} {', '.join(named)}; "
                          f"allowed: {', '.join(allowed)}")


def _positive_ints(value: Any, key: str, where: str) -> tuple[int, ...]:
    ok = isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                                   for v in value)
    if not ok:
        raise ConfigError(f"{where}: {key} must be a non-empty list of positive integers, e.g. {key} = [1, 256], "
                          f"got {value!r}")
    return tuple(dict.fromkeys(value))  # duplicates would only measure the same thing twice


def _providers(value: Any, where: str) -> tuple[str, ...]:
    if not (isinstance(value, list) and value and all(isinstance(v, str) and v for v in value)):
        raise ConfigError(f"{where}: providers must be a non-empty list of names, e.g. providers = [\"cpu\"], "
                          f"got {value!r}")
    out = []
    for name in value:
        canonical = ALIASES.get(name.lower(), name)
        if not canonical.endswith("ExecutionProvider"):
            raise ConfigError(f"{where}: providers: unknown provider {name!r}; use one of {', '.join(ALIASES)} or "
                              "an ONNX Runtime name such as CPUExecutionProvider")
        out.append(canonical)
    # Availability is checked when benchmarking: one config serves CPU and GPU runners alike.
    return tuple(dict.fromkeys(out))


def _path(value: Any, key: str, base: Path, where: str) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: {key} must be a file path string, got {value!r}")
    p = Path(value).expanduser()
    resolved = p if p.is_absolute() else base / p
    if not resolved.exists():
        rel = "" if p.is_absolute() else f" (relative paths resolve against {base})"
        raise ConfigError(f"{where}: {key} = {value!r}: {resolved} does not exist{rel}")
    kind = "data" if key == "data" else "model"
    return check_regular_file(resolved, what=f"{where}: {key} = {value!r}:", kind=kind, error=ConfigError)


def _model(name: str, table: Any, file: Path) -> ModelEntry:
    where = f"[{TABLE}.models.{name}] in {file}"
    if not _NAME.match(name):
        raise ConfigError(f"[{TABLE}.models.{name!r}] in {file}: a model name may hold letters, digits, '-', '_' "
                          "and '.', starting with a letter or digit (it names results and baselines)")
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: must be a table with path = \"...\", got {table!r}")
    _unknown(table, _MODEL_KEYS, where)
    if "path" not in table:
        raise ConfigError(f"{where}: missing key 'path' (the native model file, e.g. path = \"models/{name}.ubj\")")
    trust = table.get("trust_pickle", False)
    if not isinstance(trust, bool):
        raise ConfigError(f"{where}: trust_pickle must be true or false, got {trust!r}")
    framework = table.get("framework")
    if framework is not None and framework not in framework_names():
        raise ConfigError(f"{where}: framework = {framework!r} is not one of {', '.join(framework_names())}")
    base = file.parent
    data = _path(table["data"], "data", base, where) if "data" in table else None
    return ModelEntry(name, _path(table["path"], "path", base, where), data, trust, file, framework)


def _parse(table: dict[str, Any], file: Path) -> BenchConfig:
    where = f"[{TABLE}] in {file}"
    _unknown(table, _TOP_KEYS, where)
    models = table.get("models", {})
    if not isinstance(models, dict):
        raise ConfigError(f"{where}: models must be tables, e.g. [{TABLE}.models.fraud] with path = \"...\"")
    return BenchConfig(
        source=file,
        batch_sizes=_positive_ints(table["batch_sizes"], "batch_sizes", where) if "batch_sizes" in table else None,
        providers=_providers(table["providers"], where) if "providers" in table else None,
        threads=_positive_ints(table["threads"], "threads", where) if "threads" in table else None,
        models={name: _model(name, entry, file) for name, entry in models.items()},
    )


def read_rows(path: Path, *, where: str = "") -> Rows:
    """A CSV whose first line names the features; empty cells are missing values (NaN)."""
    label = f"{where}: " if where else ""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            lines = [(i, row) for i, row in enumerate(reader, start=2) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{label}cannot read {path}: {exc}") from exc
    if not header:
        raise ConfigError(f"{label}{path} is empty; its first line must name the features")
    names = tuple(h.strip() for h in header)
    if all(_number(h) is not None for h in names):
        raise ConfigError(f"{label}{path}: the first line must name the features (a header row), got numbers "
                          f"{', '.join(names[:5])}")
    X = np.empty((len(lines), len(names)), dtype=np.float64)
    for r, (line_no, row) in enumerate(lines):
        if len(row) != len(names):
            raise ConfigError(f"{label}{path} line {line_no} has {len(row)} cells, the header {len(names)}")
        for c, cell in enumerate(row):
            value = _number(cell)
            if value is None:
                raise ConfigError(f"{label}{path} line {line_no}, column {names[c]!r}: {cell!r} is not a number "
                                  "(leave a cell empty for a missing value)")
            X[r, c] = value
    return Rows(X, names)


def _number(cell: str) -> float | None:
    text = cell.strip()
    if not text:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return None
