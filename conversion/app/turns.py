"""The side-by-side phase of `onnxgate gate --against`: both sides' timing workers, taking turns row by row.

Each side's worker (conversion/bench/timing_worker.py) prepares the rows its benchmark suite
measures; the two then take turns on each row, base then head, then head then base, a few
milliseconds of calls a turn, so both sides of a row are timed in one state of the machine.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from conversion.app.sides import Side, side_env
from conversion.errors import ResultsError

__all__ = ["TURN_ROUNDS", "TURN_S", "has_worker", "side_by_side"]

# A turn lasts about TURN_S of calls (at least 3, at most 40 rounds): short enough that both sides of a
# row see one state of the machine, long enough that the cache the other side's turn left cold is a
# small part of it. The first turn's times set the row's rounds per turn.
TURN_S = 0.005
TURN_ROUNDS = (3, 40)


def _rounds_per_turn(per_call_s: float) -> int:
    return int(min(TURN_ROUNDS[1], max(TURN_ROUNDS[0], TURN_S / max(per_call_s, 1e-9))))


class _Worker:
    """One side's conversion/bench/timing_worker process."""

    def __init__(self, side: Side, rel_cwd: Path, args: Sequence[str], log_file: Path) -> None:
        from conversion.bench.child_process import start_child

        self.side = side
        self._log = open(log_file, "wb")  # noqa: SIM115  (closed in close())
        cmd = [side.python, "-P", "-m", "conversion.bench.timing_worker", *args]
        # One thread for native libraries, as the benchmark runner gives them (bench/runner.py says why): a
        # LightGBM call's OpenMP threads spinning beside the pinned worker moved its one-row time 50% in A/A.
        env = {**side_env(side), "OMP_NUM_THREADS": "1"}
        self.proc = start_child(cmd, fixed_layout=True, cwd=side.tree / rel_cwd, env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=self._log, text=True)
        self.log_file = log_file

    def _reply(self) -> dict[str, object]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-10:])
            raise ResultsError(f"the {self.side.name} side's timing worker ended early (log: {self.log_file})"
                               + (f"\n{tail}" if tail else ""))
        return json.loads(line)

    def rows(self) -> dict[str, int]:
        return {str(r["key"]): int(r["batch_size"]) for r in self._reply()["rows"]}  # type: ignore[union-attr]

    def time(self, key: str, rounds: int) -> dict[str, list[float]]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"key": key, "rounds": rounds}) + "\n")
        self.proc.stdin.flush()
        return self._reply()  # type: ignore[return-value]

    def close(self) -> None:
        from conversion.bench.child_process import end_child

        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            end_child(self.proc)
        self._log.close()


def _same_core(pids: Iterable[int]) -> None:
    """Both workers' calling threads on one core: they never run at once, and a neighbour that loads
    one core then slows both sides alike (measured: unpinned, one side read 16-25% faster at one row
    than the other in A/A runs at load 9, with p > 0.9: a lasting per-core difference, not noise)."""
    if not hasattr(os, "sched_setaffinity"):
        return
    core = min(os.sched_getaffinity(0))
    for pid in pids:
        try:
            os.sched_setaffinity(pid, {core})
        except OSError:  # a container that forbids it: the alternation alone still applies
            return


def side_by_side(sides: dict[str, Side], rel_cwd: Path, args: dict[str, list[str]], logs: Path, *,
                 alternations: int) -> dict[str, dict[str, dict[str, list[float]]]]:
    """{side: {row key: {"cpu": [...], "wall": [...]}}} for every row both sides have, timed in turns
    (base then head, then head then base, ...), a few rounds a turn."""
    workers = {name: _Worker(side, rel_cwd, args[name], logs / f"worker-{name}.log") for name, side in sides.items()}
    try:
        rows = {name: w.rows() for name, w in workers.items()}
        _same_core(w.proc.pid for w in workers.values())
        both = sorted(set(rows["base"]) & set(rows["head"]))
        times: dict[str, dict[str, dict[str, list[float]]]] = {"base": {}, "head": {}}
        per_turn = dict.fromkeys(both, TURN_ROUNDS[0])
        for turn in range(alternations):
            for key in both:
                for name in ("base", "head") if turn % 2 == 0 else ("head", "base"):
                    got = workers[name].time(key, per_turn[key])
                    mine = times[name].setdefault(key, {"cpu": [], "wall": []})
                    mine["cpu"] += got["cpu"]
                    mine["wall"] += got["wall"]
                if turn == 0:  # the first turn is a probe of the call's length (its rounds count too)
                    per_turn[key] = _rounds_per_turn(statistics.median(times["base"][key]["wall"]))
        return times
    finally:
        for w in workers.values():
            w.close()


def has_worker(side: Side) -> bool:
    """Whether this side's onnxgate has the timing worker (a base from before it has not)."""
    if side.own_code:
        return (side.tree / "conversion" / "bench" / "timing_worker.py").is_file()
    done = subprocess.run([side.python, "-c", "import conversion.bench.timing_worker"], env=side_env(side),
                          capture_output=True, check=False)
    return done.returncode == 0
