"""Masking of frame payloads (RFC 6455 §5.3).

Masking XORs each payload byte ``i`` with ``mask[i % 4]``. A per-byte Python loop runs
at a few MB/s; here the payload and the repeated mask are turned into two big integers
and XORed at C speed, which keeps masking within a small factor of a memory copy. An
optional C accelerator (``websocket_ref._speedups``) replaces this where it was built.
"""

from __future__ import annotations

__all__ = ["apply_mask", "apply_mask_python", "ACCELERATED"]

BytesLike = bytes | bytearray | memoryview


def apply_mask_python(data: BytesLike, mask: bytes) -> bytes:
    """Return ``data`` XORed with the 4-byte ``mask`` repeated over its length."""
    if len(mask) != 4:
        raise ValueError("mask must contain 4 bytes")
    size = len(data)
    if size == 0:
        return b""
    quads, rest = divmod(size, 4)
    key = mask * quads + mask[:rest]
    masked = int.from_bytes(data, "little") ^ int.from_bytes(key, "little")
    return masked.to_bytes(size, "little")


try:  # pragma: no cover - depends on whether the accelerator was compiled
    from ._speedups import apply_mask as _apply_mask_c  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    apply_mask = apply_mask_python
    ACCELERATED = False
else:  # pragma: no cover
    apply_mask = _apply_mask_c
    ACCELERATED = True
