"""The user's models on the command line: --config and the repeatable --model, --batches and --threads.

`bench`, `run`, `check` and `gate --against` read them the same way.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_model_sources", "add_sizes", "user_config"]


def add_model_sources(p: argparse.ArgumentParser, *, model_help: str) -> None:
    """--config and the repeatable --model: the user's models instead of the embedded zoo."""
    p.add_argument("--config", type=Path,
                   help="a pyproject.toml (or TOML file) whose [tool.onnxgate] lists your models "
                        "(default: ./pyproject.toml when it lists models)")
    p.add_argument("--model", type=Path, action="append", default=[], help=model_help)


def add_sizes(p: Any) -> None:
    """--batches and --threads: the batch sizes and thread counts to measure, instead of the profile's."""
    p.add_argument("--batches", default="", metavar="N,N",
                   help="comma-separated batch sizes instead of the profile's (and the config's batch_sizes)")
    p.add_argument("--threads", default="", metavar="N,N",
                   help="comma-separated ONNX Runtime thread counts instead of 1 and all cores (and the config's)")


def user_config(args: argparse.Namespace) -> Any:
    """The user's models as a BenchConfig, or None for the embedded zoo.

    ``--config FILE``, else ./pyproject.toml when its [tool.onnxgate] lists models; plus every
    ``--model FILE``, named by its stem. Read here, in the caller's directory, so a mistake is a
    one-line error before anything runs.
    """
    from conversion.bench.config import load_config, with_models
    from conversion.errors import ConfigError

    config = load_config(args.config)
    if args.config is not None and not config.models and not args.model:
        raise ConfigError(f"{config.source} lists no models; add [tool.onnxgate.models.NAME] tables with "
                          "path = \"...\", or pass --model FILE")
    config = with_models(config, args.model)
    return config if config.models else None
