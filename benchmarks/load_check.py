"""Does every zoo graph load, or get refused, within a limit under the installed onnxruntime?

``python benchmarks/load_check.py`` converts the zoo's small models (synthetic and categorical
data), then builds an ``InferenceEngine`` for each in a fresh process under a timeout. Each
either serves (a session, with the time it took) or is refused by onnxgate's onnxruntime guard
(``RuntimeVersionError``, with its one line); a load that passes the limit, a crash or another
error fails the check. ``nox -s lowest`` runs it on the lowest declared versions (issue 21:
onnxruntime 1.21-1.22 took minutes on the categorical graphs). ``--save-graphs DIR`` also
writes the .onnx files, to load under other releases.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIMIT = 5.0  # seconds per engine; the measured loads take 0.01-0.02 s, the refusal well under 1 s

_CHILD = """
import sys, time
from conversion import InferenceEngine, RuntimeVersionError
t = time.perf_counter()
try:
    InferenceEngine(sys.argv[1], threads=1, warmup=False)
except RuntimeVersionError as exc:
    print(f"refused in {time.perf_counter() - t:.3f} s: {exc}")
else:
    print(f"served: session in {time.perf_counter() - t:.3f} s")
"""

MODELS = (("xgboost", "synthetic"), ("sklearn", "categorical"), ("lightgbm", "categorical"),
          ("xgboost", "categorical"))


def _graphs(out: Path) -> list[Path]:
    from conversion import convert
    from conversion.bench.zoo import ZooSpec, build

    paths = []
    for framework, dataset in MODELS:
        spec = ZooSpec(framework, dataset, "small")
        paths.append(convert(build(spec).model).save(out / f"{spec.name}.onnx"))
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=float, default=LIMIT, help="seconds allowed per engine (default %(default)s)")
    parser.add_argument("--save-graphs", type=Path, help="also keep the .onnx files in this folder")
    args = parser.parse_args(argv)
    from conversion.converter.ort_versions import installed_onnxruntime  # conversion first: ORT's telemetry off

    version = installed_onnxruntime()

    with tempfile.TemporaryDirectory() as tmp:
        out = args.save_graphs or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        failed = 0
        for path in _graphs(out):
            start = time.perf_counter()
            try:
                done = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True,
                                      timeout=args.limit + 10)  # + interpreter and import time
                said = done.stdout.strip().splitlines() or done.stderr.strip().splitlines() or ["no output"]
                line, ok = said[-1], done.returncode == 0 and bool(done.stdout.strip())
            except subprocess.TimeoutExpired:
                line, ok = f"still loading after {time.perf_counter() - start:.0f} s", False
            if ok and (took := float(line.split(" in ", 1)[1].split(" s", 1)[0])) > args.limit:
                line, ok = f"{line} (over the {args.limit} s limit)", took <= args.limit
            failed += not ok
            print(f"{'ok  ' if ok else 'FAIL'} onnxruntime {version} {path.stem}: {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
