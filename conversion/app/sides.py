"""The two sides of `onnxgate gate --against`: the merge base and the working tree, their files and environments.

The base's files come from ``git archive`` into a temporary folder, so the repository's worktrees and
index are never touched; the head is the working tree, uncommitted changes included.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from conversion.errors import InputError

__all__ = ["Side", "environment_differences", "export_commit", "git", "is_onnxgate_tree", "merge_base", "repo_root",
           "side_env"]

# Dependency files: where they differ between the sides, the sides need different environments.
_ENV_GLOBS = ("requirements*.txt", "constraints*.txt", "*.lock", "Pipfile", "environment.yml")


@dataclass(frozen=True)
class Side:
    name: str  # "base" | "head"
    tree: Path  # the side's files: models, config, rows (and, in onnxgate's repository, its code)
    python: str  # the interpreter that runs its benchmarks
    commit: str
    own_code: bool  # the tree is onnxgate's own repository: its `conversion` package is what runs


def git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise InputError("--against needs git on PATH, to find the merge base and export it") from None
    if done.returncode != 0:
        raise InputError(f"git {' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


def repo_root(cwd: Path) -> Path:
    try:
        return Path(git(cwd, "rev-parse", "--show-toplevel"))
    except InputError:
        raise InputError(f"--against compares two commits of a git repository, and {cwd} is not in one; run it in "
                         "your repository, or gate against a results file with --baseline") from None


def merge_base(root: Path, ref: str) -> str:
    """The commit where HEAD left ``ref``; InputError naming the way out (a full-depth checkout)."""
    try:
        git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except InputError:
        raise InputError(f"--against {ref}: no such branch, tag or commit here; fetch it (in CI: actions/checkout "
                         "with fetch-depth: 0) or name another") from None
    try:
        return git(root, "merge-base", ref, "HEAD")
    except InputError:
        shallow = git(root, "rev-parse", "--is-shallow-repository") == "true"
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


def side_env(side: Side) -> dict[str, str]:
    env = dict(os.environ)
    if side.own_code:  # this side's `conversion` package, ahead of any installed onnxgate
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(side.tree), env.get("PYTHONPATH", "")) if p)
    return env
