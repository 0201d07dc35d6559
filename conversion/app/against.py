"""`onnxgate gate --against REF`: the merge base and the working tree, benchmarked side by side in one job.

A baseline recorded earlier, elsewhere, on older code and libraries is history, not a yardstick
(asv continuous, CodSpeed). So this takes the merge base of REF and HEAD (sides.py) and measures
both on this runner, in two phases: each side's benchmark suite, in its own tree (its models,
``[tool.onnxgate]`` config and rows; in onnxgate's own repository its own ``conversion`` package),
in alternating blocks (base, head, head, base, ...); then both sides' timing workers taking turns
row by row (turns.py). A side's blocks merge into one results file (``base.json``, ``head.json``)
that carries the workers' times, and the gate judges the pair with every rule it has plus the
side-by-side rule (results/gate/side_by_side.py).
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from conversion.app.sides import (
    Side,
    environment_differences,
    export_commit,
    git,
    is_onnxgate_tree,
    merge_base,
    repo_root,
    side_env,
)
from conversion.app.turns import has_worker, side_by_side
from conversion.atomic import write_text_atomic
from conversion.errors import InputError, ResultsError

__all__ = ["PAIR_KEY", "AgainstOptions", "AgainstRun", "block_order", "is_pair", "run_against", "shard_of"]

log = logging.getLogger(__name__)

PAIR_KEY = "onnxgate_pair"  # top-level key of base.json and head.json: which side, and the pair they form


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


def _run_block(side: Side, rel_cwd: Path, args: Sequence[str], out: Path, log_file: Path, *, verbose: bool) -> Path:
    """One block: `onnxgate bench` of one side, in its tree, under its interpreter; its results file."""
    from conversion.bench.child_process import run_child

    cmd = [side.python, "-P", "-m", "conversion.cli", "bench", *args, "--output", str(out)]
    log.info("%s block: %s", side.name, " ".join(cmd))
    with open(log_file, "wb") as sink:
        stream = None if verbose else sink
        code = run_child(cmd, cwd=side.tree / rel_cwd, env=side_env(side), stdout=subprocess.DEVNULL,
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
    from conversion.results.latency_info import LATENCY_KIND, LatencyInfo

    doc = json.loads(path.read_text(encoding="utf-8"))
    doc[PAIR_KEY] = {**pair, "side": side.name}
    doc["commit_info"] = {**(doc.get("commit_info") or {}), "id": side.commit, "dirty": dirty}
    software = ((doc.get("machine_info") or {}).get("onnxgate") or {}).get("software")
    if side.own_code and isinstance(software, dict):
        software["onnxgate_commit"] = side.commit[:12]
    for bench in doc.get("benchmarks") or []:
        info = bench.get("extra_info") or {}
        if info.get("onnxgate_kind") != LATENCY_KIND:
            continue
        row = LatencyInfo.from_extra_info(info)
        timed = times.get(str(row.key))
        if timed is not None:  # through LatencyInfo's fields, whichever onnxgate wrote the rest of the row
            row = replace(row, cpu_rounds=tuple(timed["cpu"]), wall_rounds=tuple(timed["wall"]))
            bench["extra_info"] = {**info, **row.as_extra_info()}
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
    head_commit = git(root, "rev-parse", "HEAD")
    dirty = bool(git(root, "status", "--porcelain", "--untracked-files=no"))
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
        changed = [f for f in git(root, "diff", "--name-only", base_commit).splitlines() if f]
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
        base, head = sides["base"], sides["head"]
        same = not (base.own_code or head.own_code) and base.python == head.python
        helps = {"head": _bench_help(head, side_env(head))}
        helps["base"] = helps["head"] if same else _bench_help(base, side_env(base))
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
        if all(has_worker(side) for side in sides.values()):
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

