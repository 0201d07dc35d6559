"""The README's latency table: wrapper call, fastest native call and onnxgate's engine, interleaved in one loop.

    python -m benchmarks.proof.native_paths [--batches 1,256,4096,10000] [--threads 1] [--json FILE]

Per zoo model (synthetic, 100 trees), per batch size: median CPU time per call of each native
path (and installed peer) and of the engine, each path timed against the engine round by round
in a loop of its own (conversion.runtime.timing.interleaved); a speedup is the median of the
per-round ratios. On the
same float32 rows, the engine on one intra-op thread (or ``--threads``); the clocks follow
conversion.runtime.timing.cpu_clock. This is the direct
check of the speedup `onnxgate bench` reports through its reference model (results/speedups.py).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from conversion import InferenceEngine
from conversion.bench.peers import installed_peers
from conversion.bench.prepared import draw_batch, prepare
from conversion.bench.zoo import ZooSpec
from conversion.converter.frameworks import adapter_named
from conversion.runtime.timing import interleaved

FRAMEWORKS = ("xgboost", "lightgbm", "catboost", "sklearn")
BUDGET_S = 3.0  # per model and batch size, all paths together


def measure(framework: str, batches: list[int], threads: int, *, peers: bool = False) -> list[dict[str, object]]:
    prep = prepare(ZooSpec(framework, "synthetic", "small"))
    model, method = prep.zoo.model, prep.method
    adapter = adapter_named(framework)
    engine = InferenceEngine(prep.converted, providers=["CPUExecutionProvider"], threads=threads)
    built = {}
    for name in installed_peers(framework) if peers else ():
        peer = prep.peer(name)
        print(f"{prep.zoo.name}: {name} {peer.version} " + (f"built in {peer.compile_s:.1f} s, {peer.parity}: "
              f"{peer.parity_detail}" if peer.call else peer.why_not), flush=True)
        if peer.call is not None:
            built[name] = peer.call
    out = []
    for n in batches:
        X = draw_batch(prep.zoo.X, n)
        fns = {"wrapper": adapter.native_call(model, method, X), "onnx": lambda X=X: engine.run(method, X)}
        if prep.fast.call is not None:
            fns["fast"] = lambda X=X: prep.fast.call(X)
        fns.update({name: (lambda X=X, call=call: call(X)) for name, call in built.items()})
        for fn in fns.values():  # warm-up
            fn()
        med: dict[str, float] = {}
        rounds = 0
        # Each path against the engine in a loop of its own: a heavy neighbour (the wrapper's pandas and
        # validation) evicts a one-row call's caches, which a server calling one path never sees.
        for name in [k for k in fns if k != "onnx"]:
            pair_fns = {name: fns[name], "onnx": fns["onnx"]}
            t0 = time.perf_counter()
            for fn in pair_fns.values():
                fn()
            one = time.perf_counter() - t0
            rounds = int(min(301, max(7, BUDGET_S / len(fns) / max(one, 1e-9))))
            t = interleaved(pair_fns, rounds=rounds, clocks={"process": time.process_time_ns,
                                                              "thread": time.thread_time_ns})
            # The one CPU-clock rule (cpu_clock): native calls on the process clock (their libraries' own
            # threads count), the one-thread engine on the calling thread's.
            onnx_clock = "thread" if threads == 1 else "process"
            ratio = float(np.median(t[name]["process"] / np.maximum(t["onnx"][onnx_clock], 1)))
            med[name] = float(np.median(t[name]["process"])) / 1e3  # microseconds
            med.setdefault("onnx", float(np.median(t["onnx"][onnx_clock])) / 1e3)
            med[f"{name}/onnx"] = ratio
        best = min(("wrapper", "fast"), key=lambda k: med.get(k, np.inf))
        out.append({"model": prep.zoo.name, "batch": n, "rounds": rounds, "wrapper_us": med["wrapper"],
                    "fast_us": med.get("fast"), "fast_call": prep.fast.name or prep.fast.why_not,
                    "onnx_us": med["onnx"], "speedup_vs_fastest": med[f"{best}/onnx"],
                    "speedup_vs_wrapper": med["wrapper/onnx"],
                    "peers_us": {name: med[name] for name in built},
                    "peers_speedup": {name: med[f"{name}/onnx"] for name in built}})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", default="1,256,4096,10000")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    ap.add_argument("--peers", action="store_true", help="also time the installed compiled peers ([peers])")
    ap.add_argument("--json")
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    rows = []
    for fw in args.frameworks.split(","):
        for r in measure(fw, batches, args.threads, peers=args.peers):
            rows.append(r)
            fast = f"{r['fast_us']:.1f}" if r["fast_us"] is not None else "-"
            print(f"{r['model']:<26} b{r['batch']:<6} wrapper {r['wrapper_us']:>10.1f} us  fast {fast:>10} us  "
                  f"onnx {r['onnx_us']:>10.1f} us  vs fastest {r['speedup_vs_fastest']:6.2f}x  "
                  f"vs wrapper {r['speedup_vs_wrapper']:6.2f}x  ({r['rounds']} rounds)"
                  + "".join(f"  {k} {v:.1f} us ({1 / r['peers_speedup'][k]:.2f}x ONNX's speed)"
                            for k, v in r["peers_us"].items()), flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
