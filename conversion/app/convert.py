"""`onnxgate convert`: a native model file to an ONNX file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from conversion.app.output import EXIT_OK, FORMATTER, emit
from conversion.errors import InputError

__all__ = ["command", "register"]



def register(subparsers: Any) -> argparse.ArgumentParser:
    conv = subparsers.add_parser("convert", help="convert a native model file to ONNX", formatter_class=FORMATTER,
                                 epilog="example:\n  onnxgate convert model.ubj --output model.onnx")
    _add_model_args(conv)
    conv.add_argument("--output", type=Path, help="ONNX file to write (default: beside the model, .onnx)")
    conv.add_argument("--dtype", default=None, choices=("float32", "float64"),
                      help="the ONNX input dtype (default: the precision the native model compares in)")
    conv.add_argument("--quantize", metavar="MODE",
                      help="dynamic-int8 or static-int8: an INT8 graph of a linear/logistic/MLP model "
                           "(not exact; static-int8 needs --data)")
    conv.add_argument("--data", type=Path, help="with --quantize static-int8: calibration rows (.npy or numeric .csv)")
    conv.add_argument("--optimized", action="store_true",
                      help="save the graph as this onnxruntime optimizes it (loads faster; only under this version)")
    conv.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    conv.set_defaults(func=command)
    return conv


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", type=Path, help="native model file: .json/.ubj, .txt, .cbm, .skops (or a pickle)")
    p.add_argument("--framework", help="xgboost, lightgbm, catboost or sklearn (default: from the file)")
    p.add_argument("--trust-pickle", action="store_true",
                   help="allow reading a pickle; unpickling runs code from the file, so only for files you trust")


def command(args: argparse.Namespace) -> int:
    from conversion.converter.convert import convert
    from conversion.model_files import load_user_model

    user = load_user_model(args.model, framework=args.framework, trust_pickle=args.trust_pickle)
    calibration = None
    if args.data is not None:
        from conversion.model_files import load_rows

        calibration = load_rows(args.data, convert(user.model).n_features, None)
    converted = convert(user.model, dtype=args.dtype, quantize=args.quantize, calibration=calibration)
    out = args.output or user.path.with_suffix(".onnx")
    try:
        path = converted.save(out, optimized=args.optimized)
    except OSError as exc:
        raise InputError(f"cannot write {out}: {exc.strerror or exc}; pass --output with a writable path") from exc
    size = path.stat().st_size
    data = {"onnx": str(path), "framework": converted.framework, "task": converted.task,
            "n_features": converted.n_features, "methods": list(converted.methods), "bytes": size}
    what = f"{converted.framework} {converted.task}, {converted.n_features} features"
    if args.quantize:
        what += f", {args.quantize}: not exact, check it with onnxgate check --quantize {args.quantize}"
    if args.optimized:
        what += ", graph optimized offline for this onnxruntime"
    emit(args, data, f"converted {user.path} ({what}) -> {path} ({size:,} bytes)")
    return EXIT_OK
