"""Masking of frame payloads (RFC 6455 §5.3).

Masking XORs each payload byte ``i`` with ``mask[i % 4]``. A per-byte Python loop runs
at a few MB/s, so the pure-Python version hands the per-byte work to C loops of the
standard library instead: small payloads and the repeated mask become two big integers
XORed at once; large ones, where converting to integers dominates, are masked as four
interleaved byte streams (every fourth byte shares one mask byte), each one
``bytes.translate``-d through a 256-byte XOR table. The optional C accelerator
(``websocket_ref._speedups``, built at install time where a compiler exists) replaces
both with one pass at about memory-copy speed; setting ``WEBSOCKET_REF_NO_SPEEDUPS=1``
in the environment forces pure Python.
"""

from __future__ import annotations

import os
from collections.abc import Callable

__all__ = ["apply_mask", "apply_mask_python", "ACCELERATED", "NO_SPEEDUPS_ENV"]

BytesLike = bytes | bytearray | memoryview

# Payload size from which four translate() passes beat the big-integer XOR (measured:
# converting to and from integers costs more per byte, four slices cost more up front).
_TRANSLATE_THRESHOLD = 1024

# _XOR_TABLES[k] maps byte b to b ^ k; built on first use, 256 bytes each.
_XOR_TABLES: dict[int, bytes] = {}


def _xor_table(key: int) -> bytes:
    table = _XOR_TABLES.get(key)
    if table is None:
        table = _XOR_TABLES[key] = bytes([b ^ key for b in range(256)])
    return table


def apply_mask_python(data: BytesLike, mask: bytes) -> bytes:
    """Return ``data`` XORed with the 4-byte ``mask`` repeated over its length."""
    if len(mask) != 4:
        raise ValueError("mask must contain 4 bytes")
    size = len(data) if not isinstance(data, memoryview) else data.nbytes
    if size == 0:
        return b""
    if size < _TRANSLATE_THRESHOLD:
        quads, rest = divmod(size, 4)
        key = mask * quads + mask[:rest]
        masked = int.from_bytes(data, "little") ^ int.from_bytes(key, "little")
        return masked.to_bytes(size, "little")
    out = bytearray(data)
    for phase in range(4):
        out[phase::4] = out[phase::4].translate(_xor_table(mask[phase]))
    return bytes(out)


#: Name of the environment variable that, set to a non-empty value other than ``0``,
#: makes :mod:`websocket_ref` ignore the C accelerator (to test or compare both paths).
NO_SPEEDUPS_ENV = "WEBSOCKET_REF_NO_SPEEDUPS"


def _load_accelerated() -> Callable[[BytesLike, bytes], bytes] | None:
    """The C ``apply_mask`` if it was built and isn't disabled, else None."""
    if os.environ.get(NO_SPEEDUPS_ENV, "") not in ("", "0"):
        return None
    try:
        from ._speedups import apply_mask as accelerated
    except ImportError:  # pragma: no cover - depends on whether a compiler was available
        return None
    return accelerated


_accelerated = _load_accelerated()

#: The implementation in use: the C accelerator when available, else pure Python.
apply_mask: Callable[[BytesLike, bytes], bytes] = _accelerated or apply_mask_python
#: True if :func:`apply_mask` is the C accelerator.
ACCELERATED = _accelerated is not None
