"""ModelRegistry: versioned native + ONNX models on disk, with their parity proof and latency.

Layout: ``<root>/<name>/v<N>/`` holds ``model.onnx``, ``native<suffix>`` (the framework's own
format), ``probe.npz`` (rows and the native outputs at registration) and ``metadata.json``.
A version is written into a hidden temp dir and becomes visible only by one atomic rename,
under a per-name file lock, so readers never see half a version and writers never collide.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from filelock import FileLock
from onnx import external_data_helper

from .._version import __version__
from ..atomic import write_text_atomic
from ..converter.converted import ConvertedModel, describe
from ..errors import InputError, ModelFileError, RegistryError
from .calibration import DEFAULT_SIZES
from .predictor import Predictor

__all__ = ["ModelRegistry"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_VERSION_DIR = re.compile(r"^v([0-9]+)$")
_TMP_PREFIX = ".tmp-"
PREFER = ("auto", "onnx", "native")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_external_data(model: onnx.ModelProto, folder: Path) -> None:
    """Refuses tensors whose external data lives outside ``folder`` (a crafted file could read any path)."""
    base = folder.resolve()
    for tensor in external_data_helper._get_all_tensors(model):
        if not external_data_helper.uses_external_data(tensor):
            continue
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        target = (base / location).resolve()
        if not location or Path(location).is_absolute() or not target.is_relative_to(base):
            raise RegistryError(
                f"tensor {tensor.name!r} keeps its data in {location!r}, outside the model folder {base}; "
                "refusing to load it. Re-save the model with its external data beside the .onnx file"
            )


class ModelRegistry:
    """A file-based registry of converted models; safe for concurrent writers on one filesystem."""

    def __init__(self, root: str | os.PathLike[str], *, lock_timeout: float = 60.0) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.lock_timeout = lock_timeout

    # -- paths --

    def _model_dir(self, name: str) -> Path:
        if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
            raise RegistryError(
                f"model name {name!r} is not allowed; use letters, digits, '.', '_' and '-' "
                "(starting with a letter or digit, no '..', at most 128 characters)"
            )
        path = self.root / name
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise RegistryError(f"model name {name!r} resolves outside the registry root {self.root}")
        return path

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _NAME.fullmatch(p.name))

    def versions(self, name: str) -> list[int]:
        """The visible versions of ``name``, oldest first (empty if there are none)."""
        folder = self._model_dir(name)
        if not folder.is_dir():
            return []
        found = (_VERSION_DIR.fullmatch(p.name) for p in folder.iterdir() if p.is_dir())
        return sorted(int(m.group(1)) for m in found if m)

    def _version_dir(self, name: str, version: int | str) -> tuple[int, Path]:
        have = self.versions(name)
        if not have:
            known = ", ".join(self.names()) or "none"
            raise RegistryError(f"no model named {name!r} in {self.root}; registered: {known}")
        if version == "latest":
            number = have[-1]
        else:
            text = str(version).removeprefix("v")
            if not text.isdigit() or int(text) not in have:
                raise RegistryError(f"{name!r} has no version {version!r}; versions: {', '.join(map(str, have))}")
            number = int(text)
        return number, self._model_dir(name) / f"v{number}"

    # -- register --

    def register(
        self,
        name: str,
        native_model: Any,
        converted: ConvertedModel | None = None,
        *,
        parity_data: Any = None,
        calibrate: bool = True,
        latency_runs: int = 20,
        calibration_sizes: Sequence[int] = DEFAULT_SIZES,
    ) -> int:
        """Converts (if needed), checks parity on ``parity_data``, stores everything; returns the version."""
        from ..converter.convert import convert
        from ..converter.frameworks import adapter_for
        from ..parity.check import check_parity
        from ..runtime.latency import measure_latency_improvement

        folder = self._model_dir(name)
        adapter = adapter_for(native_model)
        converted = converted if converted is not None else convert(native_model)
        if converted.framework != adapter.name:
            raise RegistryError(
                f"the converted model is a {converted.framework} model but native_model is {adapter.name}"
            )
        stored_hash = converted.metadata.get("model_sha256")
        if stored_hash and stored_hash != adapter.fingerprint(native_model):
            raise RegistryError("the converted model was made from a different native model (fingerprints differ); "
                                "pass the native model it was converted from, or converted=None")
        meta: dict[str, Any] = {
            "name": name,
            "framework": converted.framework,
            "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "library_versions": {"onnxgate": __version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__,
                                 "numpy": np.__version__, converted.framework: adapter.version()},
            "model": describe(converted),
            "parity": None,
            "latency": None,
            "calibration": None,
        }
        meta["model"].pop("calibration", None)
        probe = None
        if parity_data is not None:
            report = check_parity(native_model, converted, parity_data)
            meta["parity"] = report.to_dict()
            probe = np.ascontiguousarray(np.asarray(parity_data, dtype=converted.dtype)[:64])
            if not report.passed:
                log.warning("parity failed for %s; it is stored, and load(prefer='auto') will serve native:\n%s",
                            name, report)
            lat = measure_latency_improvement(native_model, converted, parity_data, latency_runs,
                                              batch_sizes=sorted({1, min(1000, report.n_rows)}))
            meta["latency"] = [{k: r[k] for k in ("batch_size", "native_p50_ms", "onnx_p50_ms", "speedup_p50",
                                                  "native_rows_per_s", "onnx_rows_per_s")} for r in lat["rows"]]
            if calibrate and report.passed:
                predictor = Predictor(native_model, converted, policy="auto", calibration_data=parity_data,
                                      calibration_sizes=calibration_sizes)
                meta["calibration"] = json.loads(predictor.calibration.to_json()) if predictor.calibration else None
        else:
            log.info("no parity_data for %s: parity is unchecked, so load(prefer='auto') will serve native", name)

        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{_TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            files = self._write_files(tmp, native_model, converted, adapter, probe)
            meta["files"] = {f: _sha256(tmp / f) for f in files}
            meta["native_file"] = files[1]
            with self._lock(folder):
                self._remove_stale_temps(folder)
                version = (self.versions(name) or [0])[-1] + 1
                meta["version"] = version
                write_text_atomic(tmp / "metadata.json", json.dumps(meta, indent=2, sort_keys=True, default=str))
                _fsync_dir(tmp)
                os.rename(tmp, folder / f"v{version}")  # the one step that makes the version visible
                _fsync_dir(folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        log.info("registered %s v%d in %s", name, version, folder)
        return version

    def _write_files(self, tmp: Path, native_model: Any, converted: ConvertedModel, adapter: Any,
                     probe: np.ndarray | None) -> list[str]:
        converted.save(tmp / "model.onnx")
        native_name = f"native{adapter.native_suffix}"
        try:
            adapter.save_native(native_model, tmp / native_name)
        except NotImplementedError as exc:
            raise RegistryError(f"the {adapter.name} adapter cannot save native models yet ({exc})") from exc
        files = ["model.onnx", native_name]
        if probe is not None and probe.size:
            outputs = {}
            for method in converted.methods:
                out = adapter.native_rows(native_model, method, probe)
                if out.dtype.kind in "biuf":  # object arrays would need pickle to store
                    outputs[f"out_{method}"] = out
            np.savez(tmp / "probe.npz", X=probe, **outputs)
            files.append("probe.npz")
        return files

    def _lock(self, folder: Path) -> FileLock:
        return FileLock(str(folder / ".lock"), timeout=self.lock_timeout)

    def _remove_stale_temps(self, folder: Path) -> None:
        """Temp dirs of writers that died mid-register (their pid is gone): never visible, now removed."""
        for p in folder.iterdir():
            if p.name.startswith(_TMP_PREFIX):
                pid = p.name[len(_TMP_PREFIX):].split("-", 1)[0]
                if pid.isdigit() and not _pid_alive(int(pid)):
                    shutil.rmtree(p, ignore_errors=True)

    # -- load --

    def metadata(self, name: str, version: int | str = "latest") -> dict[str, Any]:
        number, vdir = self._version_dir(name, version)
        path = vdir / "metadata.json"
        try:
            meta = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            raise RegistryError(f"{name} v{number} has no metadata.json; the entry is incomplete or damaged. "
                                f"Other versions: {self._others(name, number)}") from None
        except (OSError, ValueError) as exc:
            raise RegistryError(f"{name} v{number}: metadata.json is unreadable ({exc}); "
                                f"other versions: {self._others(name, number)}") from exc
        if not isinstance(meta, dict) or "files" not in meta or "framework" not in meta:
            raise RegistryError(
                f"{name} v{number}: metadata.json lacks 'files'/'framework'; it was not written by ModelRegistry"
            )
        return meta

    def _others(self, name: str, number: int) -> str:
        return ", ".join(f"v{v}" for v in self.versions(name) if v != number) or "none"

    def _verified(self, name: str, number: int, vdir: Path, meta: dict[str, Any]) -> None:
        for fname, digest in meta["files"].items():
            path = (vdir / fname).resolve()
            if not path.is_relative_to(vdir.resolve()):
                raise RegistryError(f"{name} v{number}: metadata names a file outside its folder ({fname!r})")
            if not path.is_file():
                raise RegistryError(
                    f"{name} v{number}: {fname} is missing; other versions: {self._others(name, number)}"
                )
            if _sha256(path) != digest:
                raise RegistryError(f"{name} v{number}: {fname} is truncated or was changed after registration "
                                    f"(sha256 differs); re-register it. Other versions: {self._others(name, number)}")

    def load_converted(self, name: str, version: int | str = "latest") -> ConvertedModel:
        number, vdir = self._version_dir(name, version)
        meta = self.metadata(name, number)
        self._verified(name, number, vdir, meta)
        model = onnx.ModelProto()
        try:
            model.ParseFromString((vdir / "model.onnx").read_bytes())
        except Exception as exc:
            raise RegistryError(f"{name} v{number}: model.onnx is not a readable ONNX file ({exc})") from exc
        check_external_data(model, vdir)
        if any(external_data_helper.uses_external_data(t) for t in external_data_helper._get_all_tensors(model)):
            external_data_helper.load_external_data_for_model(model, str(vdir))
        try:
            converted = ConvertedModel.from_bytes(model.SerializeToString(), source=f"{name} v{number} model.onnx")
        except ModelFileError as exc:
            raise RegistryError(str(exc)) from exc
        if meta.get("calibration"):
            converted.metadata["calibration"] = json.dumps(meta["calibration"])
        return converted

    def _load_native(self, name: str, number: int, vdir: Path, meta: dict[str, Any], allow_pickle: bool) -> Any:
        from ..converter.frameworks import adapter_named

        adapter = adapter_named(meta["framework"])
        try:
            native = adapter.load_native(vdir / meta["native_file"], allow_pickle=allow_pickle)
        except (ModelFileError, NotImplementedError) as exc:
            raise RegistryError(f"{name} v{number}: cannot load the native model: {exc}") from exc
        probe = vdir / "probe.npz"
        if probe.is_file():
            with np.load(probe, allow_pickle=False) as stored:
                for key in stored.files:
                    if not key.startswith("out_"):
                        continue
                    method = key[4:]
                    try:
                        got = adapter.native_rows(native, method, stored["X"])
                        same = got.shape == stored[key].shape and np.allclose(got, stored[key], equal_nan=True)
                    except Exception as exc:  # a reloaded model that cannot even run the method
                        log.debug("probe of %s() failed: %s", method, exc)
                        same = False
                    if not same:
                        log.warning("%s v%d: the reloaded native model does not reproduce its registered %s() "
                                    "outputs (the %s adapter loses information on reload); serving ONNX only",
                                    name, number, method, meta["framework"])
                        return None
        return native

    def load(
        self,
        name: str,
        version: int | str = "latest",
        prefer: str = "auto",
        *,
        allow_pickle: bool = False,
        providers: Any = None,
        threads: int | None = None,
        calibration_sizes: Sequence[int] = DEFAULT_SIZES,
        calibrate: bool = False,
    ) -> Predictor:
        """A Predictor for one version. ``prefer="auto"`` uses ONNX only where its stored parity passed.

        Loading never measures: a version registered without a calibration for this machine
        routes every batch to ONNX until ``predictor.recalibrate()``, or ``calibrate=True`` here.
        """
        if prefer not in PREFER:
            raise InputError(f"prefer={prefer!r}; allowed: {', '.join(PREFER)}")
        number, vdir = self._version_dir(name, version)
        meta = self.metadata(name, number)
        converted = self.load_converted(name, number)
        native = self._load_native(name, number, vdir, meta, allow_pickle)
        passed = bool((meta.get("parity") or {}).get("passed"))
        policy = {"auto": "auto" if passed else "native", "onnx": "onnx", "native": "native"}[prefer]
        if policy == "onnx" and not passed:
            log.warning("%s v%d: serving ONNX as asked, although its parity %s", name, number,
                        "failed" if meta.get("parity") else "was never checked")
        if native is None:
            if policy == "native" or (not passed and prefer == "auto"):
                raise RegistryError(f"{name} v{number}: the native model cannot be served (see the log) and the ONNX "
                                    "model has no passing parity report; re-register it with parity_data")
            policy = "onnx"
        return Predictor(native, converted, policy=policy, providers=providers, threads=threads,
                         calibration_sizes=calibration_sizes, calibrate=calibrate)
