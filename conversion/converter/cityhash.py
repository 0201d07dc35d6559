"""CatBoost's hash of a categorical value: the low 32 bits of CityHash64 (version 1.0, the
one in catboost's util/digest/city.cpp) of the value's bytes, as a signed int32 (how the
model's JSON stores one-hot split values). ``CalcCatFeatureHash`` in
catboost/libs/cat_feature/cat_feature.cpp.

Pure Python on 64-bit integers masked to 64 bits; a label is hashed once per distinct value.
"""

from __future__ import annotations

import struct

__all__ = ["catboost_hash", "city_hash64"]

_M = (1 << 64) - 1
_K0 = 0xC3A5C85C97CB3127
_K1 = 0xB492B66FBE98F273
_K2 = 0x9AE16A3B2F90404F
_K3 = 0xC949D7C7509E6557
_KMUL = 0x9DDFEA08EB382D69


def _u64(s: bytes, i: int) -> int:
    return struct.unpack_from("<Q", s, i)[0]


def _u32(s: bytes, i: int) -> int:
    return struct.unpack_from("<I", s, i)[0]


def _rot(v: int, shift: int) -> int:
    return v if shift == 0 else ((v >> shift) | (v << (64 - shift))) & _M


def _mix(v: int) -> int:
    return v ^ (v >> 47)


def _len16(u: int, v: int) -> int:
    a = ((u ^ v) * _KMUL) & _M
    a ^= a >> 47
    b = ((v ^ a) * _KMUL) & _M
    b ^= b >> 47
    return (b * _KMUL) & _M


def _len0to16(s: bytes) -> int:
    n = len(s)
    if n > 8:
        a, b = _u64(s, 0), _u64(s, n - 8)
        return _len16(a, _rot((b + n) & _M, n)) ^ b
    if n >= 4:
        a = _u32(s, 0)
        return _len16((n + (a << 3)) & _M, _u32(s, n - 4))
    if n:
        y = s[0] + (s[n >> 1] << 8)
        z = n + (s[n - 1] << 2)
        return (_mix(((y * _K2) ^ (z * _K3)) & _M) * _K2) & _M
    return _K2


def _len17to32(s: bytes) -> int:
    n = len(s)
    a = (_u64(s, 0) * _K1) & _M
    b = _u64(s, 8)
    c = (_u64(s, n - 8) * _K2) & _M
    d = (_u64(s, n - 16) * _K0) & _M
    return _len16((_rot((a - b) & _M, 43) + _rot(c, 30) + d) & _M, (a + _rot(b ^ _K3, 20) - c + n) & _M)


def _weak32(w: int, x: int, y: int, z: int, a: int, b: int) -> tuple[int, int]:
    a = (a + w) & _M
    b = _rot((b + a + z) & _M, 21)
    c = a
    a = (a + x + y) & _M
    b = (b + _rot(a, 44)) & _M
    return (a + z) & _M, (b + c) & _M


def _weak32_at(s: bytes, i: int, a: int, b: int) -> tuple[int, int]:
    return _weak32(_u64(s, i), _u64(s, i + 8), _u64(s, i + 16), _u64(s, i + 24), a, b)


def _len33to64(s: bytes) -> int:
    n = len(s)
    z = _u64(s, 24)
    a = (_u64(s, 0) + (n + _u64(s, n - 16)) * _K0) & _M
    b = _rot((a + z) & _M, 52)
    c = _rot(a, 37)
    a = (a + _u64(s, 8)) & _M
    c = (c + _rot(a, 7)) & _M
    a = (a + _u64(s, 16)) & _M
    vf = (a + z) & _M
    vs = (b + _rot(a, 31) + c) & _M
    a = (_u64(s, 16) + _u64(s, n - 32)) & _M
    z = _u64(s, n - 8)
    b = _rot((a + z) & _M, 52)
    c = _rot(a, 37)
    a = (a + _u64(s, n - 24)) & _M
    c = (c + _rot(a, 7)) & _M
    a = (a + _u64(s, n - 16)) & _M
    wf = (a + z) & _M
    ws = (b + _rot(a, 31) + c) & _M
    r = _mix(((vf + ws) * _K2 + (wf + vs) * _K0) & _M)
    return (_mix((r * _K0 + vs) & _M) * _K2) & _M


def city_hash64(s: bytes) -> int:
    """CityHash64 v1.0 of ``s`` as an unsigned 64-bit integer."""
    n = len(s)
    if n <= 16:
        return _len0to16(s)
    if n <= 32:
        return _len17to32(s)
    if n <= 64:
        return _len33to64(s)
    x = _u64(s, 0)
    y = _u64(s, n - 16) ^ _K1
    z = _u64(s, n - 56) ^ _K0
    v = _weak32_at(s, n - 64, n, y)
    w = _weak32_at(s, n - 32, (n * _K1) & _M, _K0)
    z = (z + _mix(v[1]) * _K1) & _M
    x = (_rot((z + x) & _M, 39) * _K1) & _M
    y = (_rot(y, 33) * _K1) & _M
    left, at = (n - 1) & ~63, 0
    while True:
        x = (_rot((x + y + v[0] + _u64(s, at + 16)) & _M, 37) * _K1) & _M
        y = (_rot((y + v[1] + _u64(s, at + 48)) & _M, 42) * _K1) & _M
        x ^= w[1]
        y ^= v[0]
        z = _rot(z ^ w[0], 33)
        v = _weak32_at(s, at, (v[1] * _K1) & _M, (x + w[0]) & _M)
        w = _weak32_at(s, at + 32, (z + w[1]) & _M, y)
        z, x = x, z
        at += 64
        left -= 64
        if left == 0:
            break
    return _len16((_len16(v[0], w[0]) + _mix(y) * _K1 + z) & _M, (_len16(v[1], w[1]) + x) & _M)


def catboost_hash(value: str | bytes) -> int:
    """The int32 CatBoost stores for a categorical value (the text, or bytes, CatBoost hashes)."""
    h = city_hash64(value.encode("utf-8") if isinstance(value, str) else value) & 0xFFFFFFFF
    return h - (1 << 32) if h >= (1 << 31) else h
