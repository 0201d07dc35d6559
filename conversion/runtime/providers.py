"""ONNX Runtime execution providers: which to use, in what order, with which options.

The preference order and each provider's option builder live in one table, so adding a
provider is one row, and option building is testable without the hardware.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import onnxruntime as ort

from ..errors import ProviderError

__all__ = [
    "ALIASES",
    "PROVIDERS",
    "ProviderSpec",
    "available_providers",
    "cuda_options",
    "openvino_options",
    "resolve_providers",
    "tensorrt_options",
]

CPU = "CPUExecutionProvider"


def cuda_options(*, device_id: int = 0, gpu_mem_limit: int | None = None, **extra: Any) -> dict[str, str]:
    """CUDA provider options. ORT takes strings; TF32 stays off because it would break exact parity."""
    opts = {
        "device_id": str(device_id),
        "arena_extend_strategy": "kSameAsRequested",
        "cudnn_conv_algo_search": "HEURISTIC",
        "do_copy_in_default_stream": "1",
        "use_tf32": "0",
    }
    if gpu_mem_limit is not None:
        if gpu_mem_limit <= 0:
            raise ProviderError(f"gpu_mem_limit must be a positive number of bytes, got {gpu_mem_limit}")
        opts["gpu_mem_limit"] = str(int(gpu_mem_limit))
    opts.update({k: str(v) for k, v in extra.items()})
    return opts


def tensorrt_options(
    *, device_id: int = 0, cache_dir: str | None = None, max_workspace_size: int = 1 << 30, **extra: Any
) -> dict[str, str]:
    """TensorRT provider options. FP16/INT8 stay off: reduced precision would break exact parity."""
    opts = {
        "device_id": str(device_id),
        "trt_fp16_enable": "False",
        "trt_int8_enable": "False",
        "trt_max_workspace_size": str(int(max_workspace_size)),
        # Building a TensorRT engine takes seconds to minutes; caching it makes restarts cheap.
        "trt_engine_cache_enable": "True" if cache_dir else "False",
    }
    if cache_dir:
        opts["trt_engine_cache_path"] = str(cache_dir)
    opts.update({k: str(v) for k, v in extra.items()})
    return opts


def openvino_options(*, device_type: str = "CPU", **extra: Any) -> dict[str, str]:
    """OpenVINO provider options; the CPU device with its default (FP32) precision."""
    opts = {"device_type": device_type}
    opts.update({k: str(v) for k, v in extra.items()})
    return opts


def _no_options() -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    options: Callable[..., dict[str, str]]


# Preference order when the caller names none: the first available wins, CPU always last.
PROVIDERS: tuple[ProviderSpec, ...] = (
    ProviderSpec("TensorrtExecutionProvider", tensorrt_options),
    ProviderSpec("CUDAExecutionProvider", cuda_options),
    ProviderSpec("OpenVINOExecutionProvider", openvino_options),
    ProviderSpec(CPU, _no_options),
)
_BY_NAME = {p.name: p for p in PROVIDERS}
ALIASES: dict[str, str] = {
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "cpu": CPU,
}

ProviderArg = str | tuple[str, Mapping[str, Any]]


def provider_label(provider: str) -> str:
    """The short name in benchmark ids and noise classes: CPUExecutionProvider -> "cpu"."""
    return provider.removesuffix("ExecutionProvider").lower()


def available_providers() -> list[str]:
    return list(ort.get_available_providers())


def _canonical(name: str) -> str:
    return ALIASES.get(name.lower(), name) if isinstance(name, str) else name


def resolve_providers(
    providers: Sequence[ProviderArg] | None,
    *,
    available: Sequence[str] | None = None,
) -> list[tuple[str, dict[str, str]]]:
    """Turns the caller's provider list (or None for the best available) into (name, options) pairs.

    An explicitly named provider that this onnxruntime build lacks raises ProviderError listing
    the ones it has. CPU is appended as the last resort, because ORT places every node a
    provider cannot run (tree ensembles on CUDA, for instance) on the CPU provider.
    """
    have = list(available if available is not None else available_providers())
    if providers is None:
        chosen = [(p.name, p.options()) for p in PROVIDERS if p.name in have]
    else:
        if isinstance(providers, str):
            providers = [providers]
        chosen = []
        for item in providers:
            name, opts = (item, None) if isinstance(item, str) else (item[0], dict(item[1]))
            name = _canonical(name)
            if name not in have:
                raise ProviderError(
                    f"execution provider {name!r} is not available in this onnxruntime build; "
                    f"available: {', '.join(have)}. Install onnxruntime-gpu for CUDA/TensorRT or "
                    "onnxruntime-openvino for OpenVINO, or pass providers=None for the best available"
                )
            spec = _BY_NAME.get(name)
            base = spec.options() if spec else {}
            base.update({k: str(v) for k, v in (opts or {}).items()})
            chosen.append((name, base))
    if CPU not in [n for n, _ in chosen] and CPU in have:
        chosen.append((CPU, {}))
    return chosen
