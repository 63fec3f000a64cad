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

:class:`PayloadCollectorPython` puts a large payload together from the pieces that
arrive (unmasked once each): it keeps them and joins them at the end. Its C version
(:data:`PayloadCollector`) copies each piece into one ``bytes`` object that grows with
them, to exactly what has arrived, and becomes the payload: the same bytes, half the
memory allocated and freed per payload. That matters to glibc's allocator, which gives
the top of its heap back to the OS whenever more than twice the largest block it has
unmapped so far is free there, and takes page faults to get it back: the pieces and the
joined payload (twice the payload) cross that line at every message for a process whose
largest block was one payload; the payload alone doesn't (``bench/README.md``,
"Compression and large messages").
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Protocol

__all__ = [
    "apply_mask",
    "apply_mask_python",
    "ACCELERATED",
    "NO_SPEEDUPS_ENV",
    "PayloadCollector",
    "PayloadCollectorPython",
]

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


class PayloadCollectorPython:
    """Put a payload of ``expected`` bytes together from pieces as they arrive.

    The reference: each piece is kept (unmasked, or as it is), and :meth:`finish`
    joins them. :data:`PayloadCollector`, the C version, gives the same bytes and the
    same errors.
    """

    __slots__ = ("_chunks", "expected", "size")

    def __init__(self, expected: int) -> None:
        if expected < 0:
            raise ValueError("expected must be >= 0")
        self._chunks: list[bytes] = []
        #: The payload's length: never collect more.
        self.expected = expected
        #: Bytes collected so far.
        self.size = 0

    def append(self, data: BytesLike, mask: bytes | None, /) -> None:
        """Add the next piece: as it is if ``mask`` is None, else unmasked with it from
        the key octet where the payload collected so far ends (RFC 6455 §5.3)."""
        if mask is not None and len(mask) != 4:
            raise ValueError("mask must contain 4 bytes")
        size = len(data) if not isinstance(data, memoryview) else data.nbytes
        if size > self.expected - self.size:
            raise ValueError("more bytes than the payload's length")
        if not size:
            return
        if mask is None:
            chunk = data if type(data) is bytes else bytes(data)
        else:
            shift = self.size & 3
            chunk = apply_mask(data, mask[shift:] + mask[:shift] if shift else mask)
        self._chunks.append(chunk)
        self.size += size

    def peek(self, start: int, /) -> bytes:
        """The bytes collected from offset ``start`` on (empty if ``start`` is past them)."""
        if start < 0:
            raise ValueError("start must be >= 0")
        if start >= self.size:
            return b""
        # Typically ``start`` is where the previous peek stopped: the last chunk or two.
        pieces: list[bytes] = []
        offset = self.size
        for chunk in reversed(self._chunks):
            offset -= len(chunk)
            if offset <= start:
                pieces.append(chunk[start - offset :] if offset < start else chunk)
                break
            pieces.append(chunk)
        pieces.reverse()
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def finish(self) -> bytes:
        """The bytes collected, as one ``bytes`` object; the collector is empty again."""
        chunks = self._chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._chunks = []
        self.size = 0
        return data


class Collector(Protocol):
    """What :class:`PayloadCollectorPython` and its C version both are."""

    @property
    def size(self) -> int: ...

    def append(self, data: BytesLike, mask: bytes | None, /) -> None: ...

    def peek(self, start: int, /) -> bytes: ...

    def finish(self) -> bytes: ...


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


def _load_collector() -> Callable[[int], Collector]:
    """The C ``PayloadCollector`` if it was built and isn't disabled, else the reference."""
    if os.environ.get(NO_SPEEDUPS_ENV, "") not in ("", "0"):
        return PayloadCollectorPython
    try:
        from ._speedups import PayloadCollector as accelerated
    except ImportError:  # pragma: no cover - depends on whether a compiler was available
        return PayloadCollectorPython
    return accelerated


_accelerated = _load_accelerated()

#: The implementation in use: the C accelerator when available, else pure Python.
apply_mask: Callable[[BytesLike, bytes], bytes] = _accelerated or apply_mask_python
#: True if :func:`apply_mask` is the C accelerator.
ACCELERATED = _accelerated is not None
#: The payload collector in use: the C version when available, else the reference.
PayloadCollector: Callable[[int], Collector] = _load_collector()
