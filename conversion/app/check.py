"""`onnxgate check`: does the ONNX graph compute what the native model computes, row for row."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from conversion.app.model_sources import add_model_sources, user_config
from conversion.app.output import EXIT_FAILED, EXIT_OK, FORMATTER, emit
from conversion.errors import InputError

__all__ = ["command", "register"]



def register(subparsers: Any) -> argparse.ArgumentParser:
    check = subparsers.add_parser("check", help="check that an ONNX model computes what the native model computes",
                                  formatter_class=FORMATTER,
                                  epilog="examples:\n  onnxgate check model.ubj\n"
                                         "  onnxgate check          # every model of ./pyproject.toml\n"
                                         "  onnxgate check model.txt --onnx model.onnx --data rows.npy\n"
                                         "exit code 1 when any row differs")
    check.add_argument("file", nargs="?", type=Path, metavar="model",
                       help="native model file: .json/.ubj, .txt, .cbm, .skops (or a pickle); without it, the "
                            "models of --config / --model / ./pyproject.toml's [tool.onnxgate]")
    check.add_argument("--framework", help="xgboost, lightgbm, catboost or sklearn (default: from the file)")
    check.add_argument("--trust-pickle", action="store_true",
                       help="allow reading a pickle; unpickling runs code from the file, so only for files you trust")
    add_model_sources(check, model_help="also check this native model file, named by its stem (repeatable)")
    check.add_argument("--onnx", type=Path, help="the ONNX file to check (default: convert the model now)")
    check.add_argument("--data", type=Path,
                       help="rows to test (.npy or numeric .csv; default: rows on the split points)")
    check.add_argument("--quantize", metavar="MODE",
                       help="dynamic-int8 or static-int8: check that INT8 variant, as an accuracy delta judged by "
                            "--max-abs and --max-flip-rate")
    check.add_argument("--max-abs", type=float, default=0.05,
                       help="lossy variants: largest allowed absolute score error (default 0.05)")
    check.add_argument("--max-flip-rate", type=float, default=0.01,
                       help="lossy variants: largest allowed share of flipped labels (default 0.01)")
    check.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    check.set_defaults(func=command)
    return check


def _check_one(path: Path, args: argparse.Namespace, *, trust_pickle: bool, data: Path | None
               ) -> tuple[bool, dict[str, Any], str]:
    """Parity of one model file on its rows and the same rows with NaN: (passed, JSON, text)."""
    from conversion.converter.convert import convert
    from conversion.converter.inputs import CategoryLabels
    from conversion.model_files import attach_onnx, fingerprint_differs, load_rows, load_user_model, rows_for
    from conversion.parity.check import check_parity
    from conversion.parity.matrix import NAN_NOT_CHECKED, takes_nan, with_nan

    user = load_user_model(path, framework=args.framework, trust_pickle=trust_pickle)
    reference = convert(user.model)
    converted = attach_onnx(args.onnx, reference) if args.onnx else reference
    labels = CategoryLabels.from_metadata(converted.metadata)
    X = load_rows(data, converted.n_features, converted.feature_names, labels) if data else rows_for(converted)
    if args.quantize:
        converted = convert(user.model, quantize=args.quantize, calibration=X)
    if converted.metadata.get("exact") == "false":  # a lossy variant: a stated accuracy delta, not parity
        from conversion.parity.accuracy import AccuracyTolerance, accuracy_delta

        delta = accuracy_delta(user.model, converted, X,
                               tolerance=AccuracyTolerance(max_abs=args.max_abs, flip_rate=args.max_flip_rate))
        note = " (static-int8 calibrated on these rows)" if converted.metadata.get("variant") == "static-int8" else ""
        return delta.passed, {"passed": delta.passed, "accuracy": delta.to_dict()}, str(delta) + note
    reports = {"clean": check_parity(user.model, converted, X)}
    # NaN rows only where the native model takes NaN: otherwise both sides refuse them, by design.
    if takes_nan(reference):
        reports["nan"] = check_parity(user.model, converted, with_nan(X))
    passed = all(r.passed for r in reports.values())
    other = fingerprint_differs(converted, reference) if args.onnx else None
    if other and not passed:
        failed = max(r.mismatched_rows for r in reports.values())
        raise InputError(f"{args.onnx} was made from another model: {other}, and it differs from {user.path} on up to "
                         f"{failed} rows. Pass the model it was converted from, or convert this one (onnxgate convert)")
    text = "\n".join(f"{kind} rows: {report}" for kind, report in reports.items())
    if "nan" not in reports:
        text += f"\nnan rows: {NAN_NOT_CHECKED}"
    return passed, {"passed": passed, **{k: r.to_dict() for k, r in reports.items()}}, text


def command(args: argparse.Namespace) -> int:
    if args.file is not None and args.config is None and not args.model:
        passed, data, text = _check_one(args.file, args, trust_pickle=args.trust_pickle, data=args.data)
        emit(args, data, text)
        return EXIT_OK if passed else EXIT_FAILED
    if args.file is not None:
        args.model = [args.file, *args.model]
    user = user_config(args)
    if user is None:
        raise InputError("no model to check: pass a model file, --model FILE, or --config FILE (or run in a folder "
                         "whose pyproject.toml lists models in [tool.onnxgate])")
    if (args.onnx or args.data) and len(user.models) != 1:
        raise InputError("--onnx and --data belong to one model; with several models, give each its rows as "
                         "data = \"rows.csv\" in its [tool.onnxgate.models.NAME] table")
    results = {name: _check_one(entry.path, args, trust_pickle=args.trust_pickle or entry.trust_pickle,
                                data=entry.data or args.data)
               for name, entry in user.models.items()}
    passed = all(r[0] for r in results.values())
    text = "\n".join(f"{name}: {'passed' if ok else 'FAILED'}\n  " + body.replace("\n", "\n  ")
                     for name, (ok, _, body) in results.items())
    emit(args, {"passed": passed, "models": {name: r[1] for name, r in results.items()}}, text)
    return EXIT_OK if passed else EXIT_FAILED
