"""check_parity: does the ONNX model compute what the native model computes, and if not, why."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from ..converter.converted import ConvertedModel
from ..converter.inputs import as_rows, native_view
from .error_bound import dense_error_bound
from .tree_summary import TreeSummary, summarize_trees

__all__ = ["ParityReport", "Tolerance", "check_parity", "classify_rows", "default_tolerance"]


@dataclass(frozen=True)
class Tolerance:
    """``|onnx - native| <= atol + rtol * |native|`` per value; ``exact`` for labels.

    ``atol`` may be an array shaped like the output (a per-row bound from the arithmetic).
    """

    atol: float | np.ndarray = 0.0
    rtol: float = 0.0
    exact: bool = False
    why: str = ""

    def close(self, native: np.ndarray, onnx_out: np.ndarray) -> np.ndarray:
        if self.exact or native.dtype.kind not in "fc":
            return native == onnx_out
        both_nan = np.isnan(native) & np.isnan(onnx_out)
        with np.errstate(invalid="ignore"):
            ok = np.abs(onnx_out - native) <= self.atol + self.rtol * np.abs(native)
        return ok | both_nan | (native == onnx_out)


LABELS = Tolerance(exact=True, why="a label either matches or the row took another branch")


def default_tolerance(
    method: str, converted: ConvertedModel, trees: TreeSummary, X: np.ndarray | None = None
) -> Tolerance:
    """The tolerance for one output of one model.

    Labels are exact. Scores and probabilities may differ only by summation error: adding n
    leaf values in floating point errs by at most about ``n * eps / 2`` times the largest
    partial sum, bounded by ``S = n * max|leaf| + |base|``, on each side (ONNX Runtime sums in
    the model dtype, natives in float64 or float32 in another order). That bound, applied
    absolute and relative (``exp`` turns an absolute raw error into a relative one; sigmoid and
    softmax have slope <= 1), is still a small fraction of one leaf for ensembles up to about
    a thousand trees, so a branch flip, which moves the output by a whole leaf, is never hidden.
    """
    if method == "predict" and converted.task == "classification":
        return LABELS
    if trees.n_trees == 0:
        if X is not None:
            per_row = dense_error_bound(converted.onnx, X, [method]).get(method)
            if per_row is not None:
                # native and ONNX each err by at most the bound, in different directions
                native = np.dtype(converted.methods.get(method, "float64"))
                eps = max(float(np.finfo(converted.dtype).eps),
                          float(np.finfo(native).eps) if native.kind == "f" else 0.0)
                return Tolerance(atol=2 * per_row, rtol=2 * eps,
                                 why="forward error bound of the dense arithmetic, per row")
        dense = _dense_layers(converted.onnx, method)
        if dense is not None:
            return dense
    # The coarser of the ONNX dtype and the native output dtype bounds what can agree
    # (XGBoost returns float32 even when the ONNX model runs in float64).
    native = np.dtype(converted.methods.get(method, "float64"))
    eps = max(float(np.finfo(converted.dtype).eps), float(np.finfo(native).eps) if native.kind == "f" else 0.0)
    n = max(trees.n_trees, 1)
    bound = 4 * eps + eps * n * trees.magnitude
    return Tolerance(
        atol=bound, rtol=bound, why=f"{n} trees summed in {converted.dtype}, |sum| <= {trees.magnitude:.3g}"
    )


def _dense_layers(model: onnx.ModelProto, method: str) -> Tolerance | None:
    """The tolerance of a graph of dense layers (skl2onnx's linear models and MLPs), or None.

    A dot product of k terms summed in another order than numpy's BLAS errs by at most
    ``k * eps * sum|x_i w_i|``; with inputs of order one that is ``k * max|W| * eps`` per
    layer, and each following layer multiplies the error it receives by at most its own
    ``k * max|W|``, hence the product. The eps is that of the dtype the graph computes in (a
    float32 input is cast to float64 first) and of the native output. Linear models have no
    branches, so there is no flip this bound could hide; a wrong weight moves outputs by far more.
    """
    weights = {init.name: init for init in model.graph.initializer}
    magnitude, found = 1.0, False
    for node in model.graph.node:
        if node.op_type in ("MatMul", "Gemm") and len(node.input) > 1 and node.input[1] in weights:
            w = numpy_helper.to_array(weights[node.input[1]]).astype(np.float64)
            trans_b = node.op_type == "Gemm" and any(a.name == "transB" and a.i for a in node.attribute)
            k = w.shape[1] if trans_b else w.shape[0]
            magnitude *= max(k * float(np.abs(w).max(initial=0.0)), 1.0)
            found = True
    if not found:
        return None
    out = next((o for o in model.graph.output if o.name == method), None)
    elem = out.type.tensor_type.elem_type if out is not None else onnx.TensorProto.FLOAT
    computed_in = onnx.helper.tensor_dtype_to_np_dtype(elem) if elem in (1, 11) else np.float32  # FLOAT, DOUBLE
    eps = float(np.finfo(computed_in).eps)
    bound = 4 * eps + eps * magnitude
    return Tolerance(atol=bound, rtol=bound, why=f"dense layers, error growth <= {magnitude:.3g} (inputs of order one)")


def classify_rows(X: np.ndarray, rows: np.ndarray, splits: dict[int, np.ndarray]) -> list[str]:
    """Why each mismatched row may differ: 'nan_inf_routing', 'threshold_ulp' or 'other'."""
    causes = []
    for r in rows:
        x = X[r]
        used = [f for f in splits if f < x.size]
        if any(not np.isfinite(x[f]) for f in used):
            causes.append("nan_inf_routing")
            continue
        near = False
        for f in used:
            t = splits[f]
            i = np.searchsorted(t, x[f])
            for j in (i - 1, i):
                if 0 <= j < t.size and abs(t[j] - x[f]) <= 2 * np.spacing(np.float32(abs(t[j]))):
                    near = True
        causes.append("threshold_ulp" if near else "other")
    return causes


@dataclass
class ParityReport:
    """The outcome of comparing native and ONNX outputs on the same rows."""

    passed: bool
    n_rows: int
    max_abs_error: float
    max_rel_error: float
    mismatched_rows: int
    label_flips: int
    worst_rows: list[dict[str, Any]] = field(default_factory=list)
    cause: dict[int, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    tolerances: dict[str, Tolerance] = field(default_factory=dict)
    # rows the native model and the engine both refuse (e.g. NaN into a model that takes none)
    refused_by_both: int = 0

    @property
    def causes(self) -> dict[str, int]:
        return dict(Counter(self.cause.values()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "n_rows": self.n_rows,
            "max_abs_error": self.max_abs_error,
            "max_rel_error": self.max_rel_error,
            "mismatched_rows": self.mismatched_rows,
            "label_flips": self.label_flips,
            "refused_by_both": self.refused_by_both,
            "causes": self.causes,
            "problems": self.problems,
            "worst_rows": self.worst_rows,
        }

    def __str__(self) -> str:
        head = "parity passed" if self.passed else "parity FAILED"
        lines = [
            f"{head}: {self.n_rows} rows, {self.mismatched_rows} mismatched, {self.label_flips} label flips, "
            f"max abs error {self.max_abs_error:.3g}, max rel error {self.max_rel_error:.3g}"
            + (f", {self.refused_by_both} refused by both" if self.refused_by_both else "")
        ]
        lines += [f"  problem: {p}" for p in self.problems]
        if self.cause:
            lines.append("  triage: " + ", ".join(f"{k}={v}" for k, v in sorted(self.causes.items())))
        for w in self.worst_rows:
            lines.append(
                f"  row {w['row']} [{w['method']}] native={w['native']} onnx={w['onnx']} cause={w['cause']} x={w['x']}"
            )
        return "\n".join(lines)


def _joined(method: str, native: Any, got: Any) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Both sides as one array each: a list of per-output arrays (a multi-output
    classifier's predict_proba) side by side, once both lists have the same shapes."""
    if not isinstance(native, list) and not isinstance(got, list):
        return native, got, []
    shapes = [[np.shape(a) for a in side] if isinstance(side, list) else np.shape(side) for side in (native, got)]
    if shapes[0] != shapes[1]:
        return np.zeros(0), np.zeros(1), [f"{method}: native returns {_form(native)} but ONNX {_form(got)}"]
    if not native:
        return np.zeros((0, 0)), np.zeros((0, 0)), []
    return np.hstack(native), np.hstack(got), []


def _form(out: Any) -> str:
    if isinstance(out, list):
        return f"a list of {len(out)} arrays of shapes {[np.shape(a) for a in out]}"
    return f"one array of shape {np.shape(out)}"


def _compare(
    method: str, native: np.ndarray, got: np.ndarray, tol: Tolerance
) -> tuple[np.ndarray, float, float, list[str]]:
    problems = []
    if native.shape[:1] == got.shape[:1] == (0,):
        # Nothing to compare. Shapes of empty results can differ only in the class count:
        # XGBClassifier returns (0, 2) for an empty multiclass batch, onnxgate (0, n_classes).
        return np.zeros(0, dtype=bool), 0.0, 0.0, problems
    if native.shape != got.shape:
        problems.append(f"{method}: native shape {native.shape} but ONNX shape {got.shape}")
        return np.zeros(0, dtype=bool), np.inf, np.inf, problems
    if native.dtype != got.dtype and not (native.dtype.kind in "OUS" and got.dtype.kind in "OUS"):
        problems.append(f"{method}: native dtype {native.dtype} but ONNX dtype {got.dtype}")
    ok = tol.close(native, got)
    row_ok = ok.reshape(ok.shape[0], -1).all(axis=1) if ok.size else np.ones(native.shape[0], dtype=bool)
    if native.dtype.kind != "f" or native.size == 0:
        return ~row_ok, 0.0, 0.0, problems
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = np.where(np.isnan(native) & np.isnan(got), 0.0, np.abs(got.astype(np.float64) - native))
        rel = diff / np.maximum(np.abs(native), np.finfo(np.float64).tiny)
    # initial: rows NaN on both sides count as 0 difference (and no all-NaN warning)
    return ~row_ok, float(np.nanmax(diff, initial=0.0)), float(np.nanmax(rel, initial=0.0)), problems


def _refused_rows(fn: Any, n: int, refusal: tuple[type[BaseException], ...]) -> tuple[np.ndarray, str, Any]:
    """Which of ``n`` rows ``fn`` (called with row indices) refuses (raises ``refusal`` on), the
    first reason, and the output on every row when none is refused (one call), else None."""
    try:
        return np.zeros(n, dtype=bool), "", fn(np.arange(n))
    except refusal as exc:
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    refused = np.zeros(n, dtype=bool)
    for i in range(n):  # only after a refusal: find the rows it is about
        try:
            fn(np.arange(i, i + 1))
        except refusal:
            refused[i] = True
    return refused, reason, None


def check_parity(
    model: Any,
    converted: ConvertedModel,
    X: Any,
    *,
    tolerance: Tolerance | dict[str, Tolerance] | None = None,
    engine: Any = None,
    worst: int = 5,
) -> ParityReport:
    """Runs every native method the ONNX model reproduces on ``X`` and compares the outputs.

    The native model gets exactly the rows given (a DataFrame's columns put in the model's
    order, values untouched; a DataFrame of category labels as the DataFrame itself); the ONNX
    side gets them through the engine, which casts them (and reads labels) as it does in
    serving. Rows both sides refuse (NaN into a model that takes none) are counted as
    ``refused_by_both``; a row only one side refuses is a mismatch.
    """
    from ..converter.frameworks import adapter_named
    from ..errors import InputError
    from ..runtime.engine import InferenceEngine

    adapter = adapter_named(converted.framework)
    # Parity is the same on every call path (tests/test_engine.py): no need to measure the fastest.
    engine = engine or InferenceEngine(converted, call_path="run")
    cats = engine.categories
    # A CatBoost matrix holds labels, which the engine hashes row by row (and refuses per row)
    labels_matrix = cats is not None and cats.hashed and not hasattr(X, "columns")
    Xn = as_rows(X, n_features=converted.n_features, feature_names=converted.feature_names,
                 categories=None if labels_matrix else cats)
    given = Xn if labels_matrix else native_view(X, Xn, n_features=converted.n_features,
                                                 feature_names=converted.feature_names, categories=cats)
    frame = given if hasattr(given, "iloc") else None

    def take(idx: np.ndarray) -> Any:  # both sides read the same rows of the given input
        return frame.iloc[idx] if frame is not None else given[idx]
    trees = summarize_trees(converted.onnx)
    n = Xn.shape[0]
    bad_rows = np.zeros(n, dtype=bool)
    refused_by_both = np.zeros(n, dtype=bool)
    one_sided: dict[int, str] = {}
    max_abs = max_rel = 0.0
    flips = 0
    problems: list[str] = []
    per_method: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
    tolerances: dict[str, Tolerance] = {}
    for method in converted.methods:
        def native_fn(idx: np.ndarray, method: str = method) -> np.ndarray:
            if frame is not None:
                return adapter.native_frame(model, method, take(idx))
            return adapter.native_rows(model, method, take(idx))

        def onnx_fn(idx: np.ndarray, method: str = method) -> np.ndarray:
            return engine.run(method, take(idx))

        native_refuses, native_why, native_all = _refused_rows(native_fn, n, (Exception,))
        onnx_refuses, onnx_why, onnx_all = _refused_rows(onnx_fn, n, (InputError,))
        refused_by_both |= native_refuses & onnx_refuses
        for side, only, why in (("native", native_refuses & ~onnx_refuses, native_why),
                                ("onnx", onnx_refuses & ~native_refuses, onnx_why)):
            if only.any():
                answered = "ONNX" if side == "native" else "the native model"
                problems.append(
                    f"{method}: {int(only.sum())} rows refused by {side} only ({why}), answered by {answered}"
                )
                bad_rows |= only
                one_sided.update(dict.fromkeys(np.flatnonzero(only).tolist(), f"refused_by_{side}_only"))
        keep = ~(native_refuses | onnx_refuses)
        idx_keep = np.flatnonzero(keep)
        Xk = Xn[keep] if not keep.all() else Xn
        if native_all is not None and onnx_all is not None:  # no row refused: both already answered all
            native, got, shape_problems = _joined(method, native_all, onnx_all)
        else:
            native, got, shape_problems = _joined(method, native_fn(idx_keep), onnx_fn(idx_keep))
        if shape_problems:
            problems += shape_problems
            bad_rows[idx_keep] = True
            continue
        if isinstance(tolerance, dict) and method in tolerance:
            tol = tolerance[method]
        elif isinstance(tolerance, Tolerance) and not (method == "predict" and converted.task == "classification"):
            tol = tolerance
        else:
            tol = default_tolerance(method, converted, trees, engine.prepare(take(idx_keep)) if Xk.shape[0] else None)
        tolerances[method] = tol
        rows, m_abs, m_rel, probs = _compare(method, native, got, tol)
        problems += probs
        if rows.size:
            bad_rows[idx_keep[rows]] = True
            per_method[method] = (idx_keep, rows, native, got)
        if method == "predict" and converted.task == "classification" and rows.size:
            flips = int(rows.sum())
        max_abs, max_rel = max(max_abs, m_abs), max(max_rel, m_rel)
    idx = np.flatnonzero(bad_rows)
    X64 = Xn.astype(np.float64, copy=False)
    causes = dict(zip(idx.tolist(), classify_rows(X64, idx, trees.splits), strict=True))
    causes.update(one_sided)
    worst_rows = []
    for method, (idx_keep, rows, native, got) in per_method.items():
        for r in np.flatnonzero(rows)[:worst]:
            row = int(idx_keep[r])
            worst_rows.append(
                {
                    "row": row,
                    "method": method,
                    "native": np.asarray(native[r]).tolist(),
                    "onnx": np.asarray(got[r]).tolist(),
                    "cause": causes[row],
                    "x": Xn[row].tolist(),
                }
            )
    return ParityReport(
        passed=not idx.size and not problems,
        n_rows=int(n),
        max_abs_error=max_abs,
        max_rel_error=max_rel,
        mismatched_rows=int(idx.size),
        label_flips=flips,
        worst_rows=worst_rows[: worst * 2],
        cause=causes,
        problems=problems,
        tolerances=tolerances,
        refused_by_both=int(refused_by_both.sum()),
    )
