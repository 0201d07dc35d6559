"""A forward error bound for graphs of dense arithmetic (linear models, MLPs, scalers), per row.

A dot product of k terms in floating point errs by at most ``k * eps * sum|w_i x_i|`` whatever
the summation order, and an error already in ``x`` reaches the output multiplied by ``|w|``.
So the bound of each tensor is carried through the graph beside its magnitude (the same
computation on absolute values): ``E_out = E_in @ |W| + |x| @ |E_W| + k * eps * (|x| @ |W|)``.
Activations used by scikit-learn have slopes of at most one (ReLU, tanh, sigmoid <= 1/4,
softmax <= 2 per output). The native model computes the same formula in another order, so
native and ONNX may differ by twice the bound. Unlike a fixed rtol, the bound follows
cancellation: a score near zero made of large terms gets the tolerance its terms allow.

The values of every intermediate tensor come from onnx's reference evaluator on the rows
being compared; an operator without a rule here makes the bound unknown (the caller then
falls back to the per-model bound).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import onnx
from onnx import numpy_helper

__all__ = ["dense_error_bound"]

log = logging.getLogger(__name__)

Bound = tuple[np.ndarray, np.ndarray]  # (magnitude, error) of one tensor
Rule = Callable[[onnx.NodeProto, list[Bound], list[np.ndarray], np.ndarray], Bound | None]


def _attr(node: onnx.NodeProto, name: str, default: int | float) -> int | float:
    for a in node.attribute:
        if a.name == name:
            return a.i if a.type == onnx.AttributeProto.INT else a.f
    return default


def _same(node: onnx.NodeProto, b: list[Bound], v: list[np.ndarray], out: np.ndarray) -> Bound:
    m, e = b[0]
    return np.broadcast_to(m, v[0].shape).reshape(out.shape), np.broadcast_to(e, v[0].shape).reshape(out.shape)


def _squash(limit: float, slope: float) -> Rule:
    def rule(node: onnx.NodeProto, b: list[Bound], v: list[np.ndarray], out: np.ndarray) -> Bound:
        m, e = b[0]
        return np.minimum(m, limit), e * slope
    return rule


def _softmax(node: onnx.NodeProto, b: list[Bound], v: list[np.ndarray], out: np.ndarray) -> Bound:
    axis = int(_attr(node, "axis", -1))
    e = np.broadcast_to(b[0][1], out.shape)
    # |d p_i| <= p_i (|d z_i| + sum_j p_j |d z_j|) <= 2 max|d z|; exp and the sum add k roundings.
    k = out.shape[axis]
    return np.ones_like(out), 2 * np.max(e, axis=axis, keepdims=True) + k * np.finfo(out.dtype).eps


def _add(node: onnx.NodeProto, b: list[Bound], v: list[np.ndarray], out: np.ndarray) -> Bound:
    (ma, ea), (mb, eb) = b
    return ma + mb, ea + eb


def _mul(node: onnx.NodeProto, b: list[Bound], v: list[np.ndarray], out: np.ndarray) -> Bound:
    (ma, ea), (mb, eb) = b
    return ma * mb, ea * mb + eb * ma + ea * eb


def _div(node: onnx.NodeProto, b: list[Bound], v: list[np.ndarray], out: np.ndarray) -> Bound | None:
    (ma, ea), (_, eb) = b
    den = np.abs(v[1])
    if np.any(den <= 2 * eb):  # the denominator's error may reach zero: no first-order bound
        return None
    return ma / den, (ea + np.abs(out) * eb) / (den - eb)


def _matmul(node: onnx.NodeProto, b: list[Bound], v: list[np.ndarray], out: np.ndarray) -> Bound:
    (ma, ea), (mb, eb) = b
    if node.op_type == "Gemm":
        if _attr(node, "transA", 0):
            ma, ea = ma.T, ea.T
        if _attr(node, "transB", 0):
            mb, eb = mb.T, eb.T
    k = ma.shape[-1]
    mag = ma @ mb
    err = ea @ mb + ma @ eb + k * np.finfo(out.dtype).eps * mag
    if node.op_type == "Gemm":
        alpha, beta = abs(_attr(node, "alpha", 1.0)), abs(_attr(node, "beta", 1.0))
        mag, err = alpha * mag, alpha * err
        if len(b) > 2:
            mag, err = mag + beta * b[2][0], err + beta * b[2][1]
    return mag, err


def _reduce_sum(node: onnx.NodeProto, b: list[Bound], v: list[np.ndarray], out: np.ndarray) -> Bound:
    axes = tuple(int(a) for a in v[1]) if len(v) > 1 else None
    keep = bool(_attr(node, "keepdims", 1))
    m, e = (np.broadcast_to(x, v[0].shape) for x in b[0])
    k = v[0].size // max(out.size, 1)
    mag = m.sum(axis=axes, keepdims=keep)
    return mag, e.sum(axis=axes, keepdims=keep) + k * np.finfo(out.dtype).eps * mag


def _concat(node: onnx.NodeProto, b: list[Bound], v: list[np.ndarray], out: np.ndarray) -> Bound:
    axis = int(_attr(node, "axis", 0))
    ms = [np.broadcast_to(m, x.shape) for (m, _), x in zip(b, v, strict=True)]
    es = [np.broadcast_to(e, x.shape) for (_, e), x in zip(b, v, strict=True)]
    return np.concatenate(ms, axis=axis), np.concatenate(es, axis=axis)


def _where(node: onnx.NodeProto, b: list[Bound], v: list[np.ndarray], out: np.ndarray) -> Bound:
    cond = v[0]
    return np.where(cond, b[1][0], b[2][0]), np.where(cond, b[1][1], b[2][1])


def _gather(node: onnx.NodeProto, b: list[Bound], v: list[np.ndarray], out: np.ndarray) -> Bound:
    axis = int(_attr(node, "axis", 0))
    m, e = (np.broadcast_to(x, v[0].shape) for x in b[0])
    return np.take(m, v[1], axis=axis), np.take(e, v[1], axis=axis)


# op -> (rule, which inputs must carry a bound: the rest are only read as values)
_RULES: dict[str, tuple[Rule, slice]] = {
    **dict.fromkeys(("Identity", "Cast", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Relu", "Abs", "Neg"),
                    (_same, slice(0, 1))),
    "Tanh": (_squash(1.0, 1.0), slice(0, 1)),
    "Sigmoid": (_squash(1.0, 0.25), slice(0, 1)),
    "Softmax": (_softmax, slice(0, 1)),
    "Add": (_add, slice(0, 2)),
    "Sub": (_add, slice(0, 2)),
    "Mul": (_mul, slice(0, 2)),
    "Div": (_div, slice(0, 2)),
    "MatMul": (_matmul, slice(0, 2)),
    "Gemm": (_matmul, slice(0, 3)),
    "ReduceSum": (_reduce_sum, slice(0, 1)),
    "Concat": (_concat, slice(0, None)),
    "Where": (_where, slice(1, 3)),
    "Gather": (_gather, slice(0, 1)),
}


def dense_error_bound(model: onnx.ModelProto, X: np.ndarray, outputs: list[str]) -> dict[str, np.ndarray]:
    """Per element of each float output in ``outputs``, a bound on ``|onnx - native|`` for rows ``X``.

    Outputs whose bound is unknown (an operator without a rule, a denominator near zero) are
    left out.
    """
    from onnx.reference import ReferenceEvaluator

    graph = model.graph
    try:
        with np.errstate(all="ignore"):  # overflow in exp is part of the model (and of the native one)
            values = ReferenceEvaluator(model).run(None, {graph.input[0].name: X}, intermediate=True)
    except Exception as exc:  # an operator the reference evaluator lacks: no per-row bound
        log.debug("reference evaluation failed, no per-row error bound: %s", exc)
        return {}
    bounds: dict[str, Bound] = {graph.input[0].name: (np.abs(X.astype(np.float64)), np.zeros(X.shape))}
    for init in graph.initializer:
        c = numpy_helper.to_array(init)
        if c.dtype.kind == "f":
            bounds[init.name] = (np.abs(c.astype(np.float64)), np.zeros(c.shape))
    for node in graph.node:
        entry = _RULES.get(node.op_type)
        out = values.get(node.output[0]) if node.output else None
        if entry is None or out is None or np.asarray(out).dtype.kind != "f":
            continue
        rule, needs = entry
        names = list(node.input)
        if any(n not in bounds for n in names[needs]):
            continue
        ins = [bounds.get(n, (np.zeros(1), np.zeros(1))) for n in names]
        vals = [np.asarray(values[n]) for n in names]
        with np.errstate(all="ignore"):
            got = rule(node, ins, vals, np.asarray(out))
            if got is None:
                continue
            mag, err = got
            err = err + np.finfo(out.dtype).eps * np.abs(out)  # the operation's own rounding
        bounds[node.output[0]] = (mag, err)
    result = {}
    for name in outputs:
        if name in bounds and np.asarray(values[name]).dtype.kind == "f":
            result[name] = np.broadcast_to(bounds[name][1], np.asarray(values[name]).shape)
    return result
