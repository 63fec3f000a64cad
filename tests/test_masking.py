"""Masking of payloads (RFC 6455 §5.3)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from websocket_ref.masking import BytesLike, apply_mask, apply_mask_python

from .utils import MASK


def naive_mask(data: bytes, mask: bytes) -> bytes:
    """RFC 6455 §5.3 read literally: octet i XOR mask octet (i modulo 4)."""
    return bytes(octet ^ mask[i % 4] for i, octet in enumerate(data))


IMPLEMENTATIONS = [apply_mask_python]
if apply_mask is not apply_mask_python:  # pragma: no cover - only with the C accelerator
    IMPLEMENTATIONS.append(apply_mask)


MaskFunc = Callable[[BytesLike, bytes], bytes]


@pytest.fixture(params=IMPLEMENTATIONS, ids=lambda f: f.__module__ + "." + f.__name__)
def mask_func(request: pytest.FixtureRequest) -> MaskFunc:
    return request.param  # type: ignore[no-any-return]


def test_rfc_example(mask_func: MaskFunc) -> None:
    # RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d.
    assert mask_func(b"Hello", MASK) == bytes.fromhex("7f9f4d5158")


def test_empty_payload(mask_func: MaskFunc) -> None:
    assert mask_func(b"", MASK) == b""


@pytest.mark.parametrize("size", [*range(0, 17), 63, 64, 65, 1000, 4099])
def test_agrees_with_naive_reference(mask_func: MaskFunc, size: int) -> None:
    data = bytes((i * 7 + 3) % 256 for i in range(size))
    mask = b"\x01\x80\xfe\x7f"
    result = mask_func(data, mask)
    assert type(result) is bytes
    assert result == naive_mask(data, mask)


def test_leading_and_trailing_zero_bytes_survive(mask_func: MaskFunc) -> None:
    # An integer-based implementation must not drop zero bytes at either end.
    data = b"\x00\x00abc\x00\x00"
    assert mask_func(data, b"\x00\x00\x00\x00") == data
    assert mask_func(data, MASK) == naive_mask(data, MASK)


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_accepts_bytes_like(mask_func: MaskFunc, wrap: type) -> None:
    data = b"abcdefghij"
    assert mask_func(wrap(data), MASK) == naive_mask(data, MASK)


def test_accepts_memoryview_slice(mask_func: MaskFunc) -> None:
    buf = bytearray(b"xxhello worldyy")
    with memoryview(buf) as view:
        assert mask_func(view[2:13], MASK) == naive_mask(b"hello world", MASK)


def test_masking_twice_is_identity(mask_func: MaskFunc) -> None:
    data = bytes(range(256)) * 3
    assert mask_func(mask_func(data, MASK), MASK) == data


def test_does_not_modify_input(mask_func: MaskFunc) -> None:
    data = bytearray(b"payload")
    mask_func(data, MASK)
    assert data == b"payload"


@pytest.mark.parametrize("mask", [b"", b"\x00", b"\x00" * 3, b"\x00" * 5])
def test_mask_must_have_four_bytes(mask: bytes) -> None:
    with pytest.raises(ValueError):
        apply_mask_python(b"data", mask)
