"""Masking (RFC 6455 §5.3): the C accelerator, the pure-Python path and a memory copy.

The copy (``bytes(bytearray)``: allocate and memcpy) is the floor to compare with:
masking also allocates the result and touches every byte once. Target for 1 MiB: the
accelerator at least 50% of the copy's speed.
"""

from __future__ import annotations

import os

import pytest

from websocket_ref.masking import apply_mask_python

try:
    from websocket_ref._speedups import apply_mask as apply_mask_c
except ImportError:  # pragma: no cover - no compiler at install time
    apply_mask_c = None

SIZES = {"125B": 125, "4KiB": 4096, "64KiB": 65536, "1MiB": 2**20, "16MiB": 2**24}


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
@pytest.mark.parametrize("impl", ["copy", "c", "python"])
def test_mask(benchmark, impl: str, size: int, mask: bytes) -> None:
    benchmark.group = f"mask {size} B"
    data = bytearray(os.urandom(size))
    if impl == "copy":
        benchmark(bytes, data)
        return
    if impl == "c":
        if apply_mask_c is None:
            pytest.skip("C accelerator not built")
        func = apply_mask_c
    else:
        func = apply_mask_python
    result = benchmark(func, data, mask)
    assert len(result) == size
