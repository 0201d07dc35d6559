"""`onnxgate gate --against REF`: the merge base and the working tree, benchmarked side by side in one job.

A baseline recorded earlier, elsewhere, on older code and libraries is history, not a yardstick
(asv continuous, CodSpeed). So this takes the merge base of REF and HEAD, exports it into a
temporary folder, and benchmarks both sides on this runner in alternating blocks (base, head,
head, base, ...: a load that rises or falls during the job falls on both alike). Each side reads
its own models, ``[tool.onnxgate]`` config and data rows; in onnxgate's own repository each side
also runs its own ``conversion`` package, so a change to the engine or the converter is what gets
measured. The blocks of a side merge into one results file (``base.json``, ``head.json``), which
the gate compares with every rule it has plus the side-by-side rule: the row's own time per call,
head against base, which a runtime-wide slowdown cannot hide from.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from conversion.atomic import write_text_atomic
from conversion.errors import InputError, ResultsError

__all__ = ["AgainstOptions", "AgainstRun", "block_order", "environment_differences", "is_pair", "run_against",
           "shard_of"]

log = logging.getLogger(__name__)

# Dependency files: where they differ between the sides, the sides need different environments.
_ENV_GLOBS = ("requirements*.txt", "constraints*.txt", "*.lock", "Pipfile", "environment.yml")
PAIR_KEY = "onnxgate_pair"  # top-level key of base.json and head.json: which side, and the pair they form


@dataclass(frozen=True)
class Side:
    name: str  # "base" | "head"
    tree: Path  # the side's files: models, config, rows (and, in onnxgate's repository, its code)
    python: str  # the interpreter that runs its benchmarks
    commit: str
    own_code: bool  # the tree is onnxgate's own repository: its `conversion` package is what runs


@dataclass
class AgainstOptions:
    ref: str
    output: Path
    profile: str = "quick"
    config: Path | None = None  # --config, a path in both trees
    model_files: list[Path] = field(default_factory=list)  # --model FILE, paths in both trees
    models: list[str] = field(default_factory=list)  # --models: zoo models, or names of your own
    suites: list[Path] = field(default_factory=list)  # --suite: your own pytest-benchmark tests
    batches: str = ""  # --batches N,N and --threads N,N: instead of the profile's (and the config's)
    threads: str = ""
    counts: bool = False
    blocks: int = 1  # suite runs per side, alternating base, head, head, base, ...
    alternations: int = 10  # side-by-side phase: turns per row and side
    base_python: str | None = None
    shard: tuple[int, int] | None = None  # (K, N), 1-based
    verbose: bool = False

    def model_args(self, models: list[str] | None) -> list[str]:
        """The arguments that choose the rows, for `onnxgate bench` and the timing worker alike."""
        out = [] if self.config is None else ["--config", str(self.config)]
        for m in self.model_files:
            out += ["--model", str(m)]
        chosen = self.models if models is None else models
        out += ["--models", ",".join(chosen)] if chosen else []
        return out + [f"--{name}={value}" for name, value in (("batches", self.batches), ("threads", self.threads))
                      if value]


@dataclass
class AgainstRun:
    base: Path  # the merged results files
    head: Path
    base_commit: str
    head_commit: str
    ref: str
    header: list[str]  # what the verdict says first: the two sides, files and environment that differ


def _git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise InputError("--against needs git on PATH, to find the merge base and export it") from None
    if done.returncode != 0:
        raise InputError(f"git {' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


def repo_root(cwd: Path) -> Path:
    try:
        return Path(_git(cwd, "rev-parse", "--show-toplevel"))
    except InputError:
        raise InputError(f"--against compares two commits of a git repository, and {cwd} is not in one; run it in "
                         "your repository, or gate against a results file with --baseline") from None


def merge_base(root: Path, ref: str) -> str:
    """The commit where HEAD left ``ref``; InputError naming the way out (a full-depth checkout)."""
    try:
        _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except InputError:
        raise InputError(f"--against {ref}: no such branch, tag or commit here; fetch it (in CI: actions/checkout "
                         "with fetch-depth: 0) or name another") from None
    try:
        return _git(root, "merge-base", ref, "HEAD")
    except InputError:
        shallow = _git(root, "rev-parse", "--is-shallow-repository") == "true"
        raise InputError(f"--against {ref}: {ref} and HEAD have no common commit"
                         + ("; this clone is shallow, so fetch the history (actions/checkout with fetch-depth: 0)"
                            if shallow else "")) from None


def export_commit(root: Path, commit: str, dest: Path) -> Path:
    """The files of ``commit`` in ``dest`` (git archive: the repository's worktrees and index stay untouched)."""
    dest.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(["git", "archive", "--format=tar", commit], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        tar.extractall(dest, filter="data")
    if proc.wait() != 0:
        raise InputError(f"git archive {commit} failed: {proc.stderr.read().decode(errors='replace').strip()}")
    return dest


def is_onnxgate_tree(tree: Path) -> bool:
    """Whether ``tree`` is onnxgate's own source (then each side runs its own `conversion` package)."""
    try:
        project = tomllib.loads((tree / "pyproject.toml").read_text(encoding="utf-8")).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return False
    return project.get("name") == "onnxgate" and (tree / "conversion" / "__init__.py").is_file()


def _dependencies(tree: Path) -> dict[str, object]:
    """The dependency declarations of a tree: each file's text, and pyproject.toml's dependency tables."""
    out: dict[str, object] = {}
    for pattern in _ENV_GLOBS:
        for path in sorted(tree.glob(pattern)):
            if path.is_file():
                out[path.name] = path.read_bytes()
    try:
        doc = tomllib.loads((tree / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return out
    project = doc.get("project", {})
    out["pyproject.toml [project] dependencies"] = (project.get("dependencies"), project.get("optional-dependencies"))
    out["pyproject.toml [tool.poetry] dependencies"] = doc.get("tool", {}).get("poetry", {}).get("dependencies")
    return out


def environment_differences(base: Path, head: Path) -> list[str]:
    """The dependency files (or pyproject.toml tables) that differ between the two trees."""
    a, b = _dependencies(base), _dependencies(head)
    return [name for name in sorted(set(a) | set(b)) if a.get(name) != b.get(name)]


def block_order(blocks: int) -> list[str]:
    """base, head, head, base, base, head, ...: each pair of blocks reverses the last, so a load that
    rises or falls steadily during the job costs both sides alike."""
    order: list[str] = []
    for i in range(blocks):
        order += ["base", "head"] if i % 2 == 0 else ["head", "base"]
    return order


def shard_of(costs: dict[str, float], shard: tuple[int, int]) -> list[str]:
    """The models of shard K of N: the costliest first, each to the shard with the least cost so far
    (deterministic: ties broken by name), so the jobs of a CI matrix take about as long each."""
    k, n = shard
    loads = [0.0] * n
    members: list[list[str]] = [[] for _ in range(n)]
    for name in sorted(costs, key=lambda m: (-costs[m], m)):
        i = min(range(n), key=lambda j: (loads[j], j))
        loads[i] += costs[name]
        members[i].append(name)
    return sorted(members[k - 1])


def _bench_help(side: Side, env: dict[str, str]) -> str:
    done = subprocess.run([side.python, "-P", "-m", "conversion.cli", "bench", "--help"], cwd=side.tree, env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        where = "the base's onnxgate" if side.own_code else f"onnxgate under {side.python}"
        raise InputError(f"{where} cannot run `onnxgate bench` ({done.stderr.strip().splitlines()[-1:] or '?'}); "
                         "with --base-python, install onnxgate[bench] and your frameworks in that environment")
    return done.stdout


def _env(side: Side) -> dict[str, str]:
    env = dict(os.environ)
    if side.own_code:  # this side's `conversion` package, ahead of any installed onnxgate
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(side.tree), env.get("PYTHONPATH", "")) if p)
    return env


def _run_block(side: Side, rel_cwd: Path, args: Sequence[str], out: Path, log_file: Path, *, verbose: bool) -> Path:
    """One block: `onnxgate bench` of one side, in its tree, under its interpreter; its results file."""
    from conversion.bench.child_process import run_child

    cmd = [side.python, "-P", "-m", "conversion.cli", "bench", *args, "--output", str(out)]
    log.info("%s block: %s", side.name, " ".join(cmd))
    with open(log_file, "wb") as sink:
        stream = None if verbose else sink
        code = run_child(cmd, cwd=side.tree / rel_cwd, env=_env(side), stdout=subprocess.DEVNULL,
                         stderr=stream)
    written = sorted(out.glob("bench-*.json"))
    if code not in (0, 1) or not written:
        tail = "" if verbose else "\n".join(log_file.read_text(errors="replace").splitlines()[-15:])
        raise ResultsError(f"the {side.name} side's benchmarks ({side.commit[:12]}) failed with exit code {code}; "
                           f"its log: {log_file}" + (f"\n{tail}" if tail else ""))
    if code == 1:
        log.warning("some of the %s side's benchmarks failed; its log: %s", side.name, log_file)
    return written[-1]


def _bench_args(options: AgainstOptions, help_text: str, first: bool, models: list[str] | None
                ) -> tuple[list[str], list[str]]:
    """The side's `onnxgate bench` arguments, and the flags its onnxgate does not know (left out, and said)."""
    args = [f"--{options.profile}", *options.model_args(models)]
    for suite in options.suites:
        args += ["--suite", str(suite)]
    if options.counts and first:  # counts do not move with load: one block of each side counts them
        args.append("--counts")
    if options.blocks > 1:
        args += ["--rounds-share", f"{1.0 / options.blocks:.4g}"]
    unknown = [a.split("=")[0] for a in args if a.startswith("--") and a.split("=")[0] not in help_text]
    kept, skip = [], False
    for a in args:  # a flag the side does not know goes, with its value
        if skip:
            skip = False
            continue
        if a.split("=")[0] in unknown:
            skip = "=" not in a and a not in ("--counts",)
            continue
        kept.append(a)
    return kept, unknown


# --- the side-by-side phase: both sides' timing workers, alternating row by row -------------------

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
        env = {**_env(side), "OMP_NUM_THREADS": "1"}
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


def _has_worker(side: Side) -> bool:
    """Whether this side's onnxgate has the timing worker (a base from before it has not)."""
    if side.own_code:
        return (side.tree / "conversion" / "bench" / "timing_worker.py").is_file()
    done = subprocess.run([side.python, "-c", "import conversion.bench.timing_worker"], env=_env(side),
                          capture_output=True, check=False)
    return done.returncode == 0


@contextmanager
def _scratch(output: Path) -> Iterator[Path]:
    tmp = Path(tempfile.mkdtemp(prefix="onnxgate-base-"))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _stamp(path: Path, side: Side, pair: dict[str, str], times: dict[str, dict[str, list[float]]], *,
           dirty: bool) -> None:
    """Marks a side's merged file as one half of this pair, with the commit it measured (the base's
    exported tree has no .git to read it from) and its rows' side-by-side times."""
    from conversion.results.benchmark_runs import Record

    doc = json.loads(path.read_text(encoding="utf-8"))
    doc[PAIR_KEY] = {**pair, "side": side.name}
    doc["commit_info"] = {**(doc.get("commit_info") or {}), "id": side.commit, "dirty": dirty}
    software = ((doc.get("machine_info") or {}).get("onnxgate") or {}).get("software")
    if side.own_code and isinstance(software, dict):
        software["onnxgate_commit"] = side.commit[:12]
    for bench in doc.get("benchmarks") or []:
        info = bench.get("extra_info") or {}
        if info.get("onnxgate_kind") != "latency":
            continue
        key = Record.key_of(str(info.get("model")), str(info.get("runtime")), info.get("provider"),
                            info.get("threads"), int(info.get("batch_size", 0)), fast=bool(info.get("native_call")))
        if key in times:
            info["cpu_rounds"], info["wall_rounds"] = times[key]["cpu"], times[key]["wall"]
    write_text_atomic(path, json.dumps(doc, indent=1) + "\n")


def run_against(options: AgainstOptions, *, cwd: Path | None = None,
                models_of: Callable[[Path, Path], dict[str, float]] | None = None) -> AgainstRun:
    """Benchmarks the merge base of ``options.ref`` and the working tree; writes base.json and head.json.

    Two phases: the benchmark suite of each side in alternating blocks (ratios, counts, parity: every
    rule the gate has), then the side-by-side phase (both sides' timing workers, alternating row by
    row). ``models_of(tree, rel_cwd) -> {name: cost}`` lists a side's models for ``--shard``."""
    from conversion.results.merged_runs import merge_block_files

    cwd = (cwd or Path.cwd()).resolve()
    root = repo_root(cwd)
    rel_cwd = cwd.relative_to(root)
    base_commit = merge_base(root, options.ref)
    head_commit = _git(root, "rev-parse", "HEAD")
    dirty = bool(_git(root, "status", "--porcelain", "--untracked-files=no"))
    out = options.output.resolve()
    logs = out / "blocks"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    with _scratch(out) as tmp:
        base_tree = export_commit(root, base_commit, tmp / "tree")
        sides = {
            "base": Side("base", base_tree, options.base_python or sys.executable, base_commit,
                         is_onnxgate_tree(base_tree)),
            "head": Side("head", root, sys.executable, head_commit, is_onnxgate_tree(root)),
        }
        header = [f"head {head_commit[:12]}{' + uncommitted changes' if dirty else ''} against {base_commit[:12]} "
                  f"(the merge base with {options.ref}), both measured on this runner in one job"]
        changed = [f for f in _git(root, "diff", "--name-only", base_commit).splitlines() if f]
        if changed:
            shown = ", ".join(changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8 else "")
            header.append(f"files changed: {shown}")
        differ = environment_differences(base_tree, root)
        if differ and options.base_python is None:
            header.insert(0, f"the base ran with the head's environment, though {', '.join(differ)} differ: pass "
                             "--base-python with an environment built from the base's files to measure the base's "
                             "dependencies")
        models: dict[str, list[str] | None] = {"base": None, "head": None}
        if options.shard is not None:
            if models_of is None:
                raise InputError("--shard needs the models to split")
            listed = {name: models_of(side.tree, rel_cwd) for name, side in sides.items()}
            mine = shard_of({**listed["base"], **listed["head"]}, options.shard)
            models = {name: [m for m in mine if m in listed[name]] for name in sides}
            header.append(f"shard {options.shard[0]}/{options.shard[1]}: {', '.join(mine) or 'no model'}")
        # What each side's onnxgate accepts; one look where both sides run the same onnxgate.
        same = not (sides["base"].own_code or sides["head"].own_code) and sides["base"].python == sides["head"].python
        helps = {name: _bench_help(side, _env(side)) for name, side in sides.items() if not (same and name == "base")}
        helps.setdefault("base", helps["head"])
        blocks: dict[str, list[Path]] = {"base": [], "head": []}
        order = [name for name in block_order(options.blocks) if models[name] != []]
        for i, name in enumerate(order, 1):
            side = sides[name]
            print(f"onnxgate gate --against: {i}/{len(order) + 1}: the {name}'s benchmarks ({side.commit[:12]})",
                  file=sys.stderr, flush=True)
            args, unknown = _bench_args(options, helps[name], not blocks[name], models[name])
            if unknown and not blocks[name]:
                header.append(f"the {name}'s onnxgate does not know {', '.join(unknown)}: its benchmarks ran without")
            block_dir = logs / f"{i:02d}-{name}"
            block_dir.mkdir()
            blocks[name].append(_run_block(side, rel_cwd, args, block_dir, logs / f"{i:02d}-{name}.log",
                                           verbose=options.verbose))
        for name in ("base", "head"):
            if not blocks[name]:
                raise ResultsError(f"the {name} side has none of this shard's models; nothing to compare")
        times: dict[str, dict[str, dict[str, list[float]]]] = {"base": {}, "head": {}}
        if all(_has_worker(side) for side in sides.values()):
            print(f"onnxgate gate --against: {len(order) + 1}/{len(order) + 1}: base and head side by side, "
                  "row by row", file=sys.stderr, flush=True)
            worker_args = {name: [f"--profile={options.profile}", *options.model_args(models[name])]
                           for name in sides}
            try:
                times = side_by_side(sides, rel_cwd, worker_args, logs, alternations=options.alternations)
            except ResultsError as exc:  # e.g. an older base's worker that does not take these arguments
                header.append(f"times per call were not compared side by side: {exc}")
        else:
            header.append("the base's onnxgate predates side-by-side timing: times per call were not compared "
                          "directly, only through the in-run ratios")
    pair = {"id": uuid.uuid4().hex, "base": base_commit, "head": head_commit, "ref": options.ref,
            "measured": datetime.now(UTC).isoformat(timespec="seconds")}
    merged = {}
    for name in ("base", "head"):
        merged[name] = merge_block_files(blocks[name], out / f"{name}.json")
        _stamp(merged[name], sides[name], pair, times[name], dirty=dirty and name == "head")
    write_text_atomic(out / "header.json", json.dumps(header, indent=1) + "\n")
    return AgainstRun(merged["base"], merged["head"], base_commit, head_commit, options.ref, header)


def is_pair(base: object, head: object) -> bool:
    """Whether two results documents are the two sides of one `--against` run (then side by side rules apply)."""
    a = base.get(PAIR_KEY) if isinstance(base, dict) else None
    b = head.get(PAIR_KEY) if isinstance(head, dict) else None
    return isinstance(a, dict) and isinstance(b, dict) and a.get("id") == b.get("id") and (
        a.get("side"), b.get("side")) == ("base", "head")

