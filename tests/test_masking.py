"""Masking of payloads (RFC 6455 §5.3): the pure-Python path and the C accelerator.

Both implementations are checked against a literal reading of the RFC. The C tests are
skipped only where the accelerator couldn't be built (no compiler) *and* we're not on
CI: CI builds it, so there a missing accelerator is a failure, not a skip.
"""

from __future__ import annotations

import array
import itertools
import os
import random
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from types import ModuleType

import pytest

from websocket_ref import masking
from websocket_ref.masking import BytesLike, apply_mask, apply_mask_python

from .utils import MASK


def _load_speedups() -> ModuleType | None:
    try:
        from websocket_ref import _speedups
    except ImportError:
        if os.environ.get("CI"):
            raise  # CI must build the accelerator: fail loudly
        return None
    return _speedups


speedups = _load_speedups()


def naive_mask(data: bytes, mask: bytes) -> bytes:
    """RFC 6455 §5.3 read literally: octet i XOR mask octet (i modulo 4)."""
    return bytes(octet ^ mask[i % 4] for i, octet in enumerate(data))


MaskFunc = Callable[[BytesLike, bytes], bytes]


def _c_apply_mask() -> MaskFunc:
    if speedups is None:
        pytest.skip("C accelerator not built (no compiler?); required on CI")
    return speedups.apply_mask  # type: ignore[no-any-return]


@pytest.fixture(params=["python", "c"])
def mask_func(request: pytest.FixtureRequest) -> MaskFunc:
    if request.param == "python":
        return apply_mask_python
    return _c_apply_mask()


def test_rfc_example(mask_func: MaskFunc) -> None:
    # RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d.
    assert mask_func(b"Hello", MASK) == bytes.fromhex("7f9f4d5158")


def test_empty_payload(mask_func: MaskFunc) -> None:
    assert mask_func(b"", MASK) == b""


# Sizes around every boundary of both implementations: the C word loops (8, 32 bytes),
# the Python switch to translate() (1 KiB) and the C release of the GIL (64 KiB).
SIZES = [*range(0, 41), 63, 64, 65, 1000, 1023, 1024, 1025, 1027, 4099, 65535, 65536, 65539]


@pytest.mark.parametrize("size", SIZES)
def test_agrees_with_naive_reference(mask_func: MaskFunc, size: int) -> None:
    data = bytes((i * 7 + 3) % 256 for i in range(size))
    mask = b"\x01\x80\xfe\x7f"
    result = mask_func(data, mask)
    assert type(result) is bytes
    assert result == naive_mask(data, mask)


def test_large_random_payload(mask_func: MaskFunc) -> None:
    data = os.urandom(3 * 2**20 + 5)
    mask = os.urandom(4)
    result = mask_func(data, mask)
    # The reference is slow per byte: check the whole thing via the other invariant
    # (masking twice is the identity) and a sample of positions via the definition.
    assert mask_func(result, mask) == data
    for i in (0, 1, 2, 3, 4, 1023, 65536, 2**20 + 1, len(data) - 1):
        assert result[i] == data[i] ^ mask[i % 4]


def test_leading_and_trailing_zero_bytes_survive(mask_func: MaskFunc) -> None:
    # An integer-based implementation must not drop zero bytes at either end.
    data = b"\x00\x00abc\x00\x00"
    assert mask_func(data, b"\x00\x00\x00\x00") == data
    assert mask_func(data, MASK) == naive_mask(data, MASK)


@pytest.mark.parametrize("size", [10, 5000])
@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_accepts_bytes_like(mask_func: MaskFunc, wrap: type, size: int) -> None:
    data = bytes(range(256)) * (size // 256) + b"abcdefghij"[: size % 256]
    assert mask_func(wrap(data), MASK) == naive_mask(data, MASK)


def test_accepts_memoryview_slice(mask_func: MaskFunc) -> None:
    buf = bytearray(b"xxhello worldyy")
    with memoryview(buf) as view:
        assert mask_func(view[2:13], MASK) == naive_mask(b"hello world", MASK)


@pytest.mark.parametrize("size", [11, 3001])
def test_accepts_non_contiguous_memoryview(mask_func: MaskFunc, size: int) -> None:
    buf = bytes(range(256)) * (2 * size // 256 + 1)
    with memoryview(buf) as view:
        strided = view[: 2 * size : 2]
        assert mask_func(strided, MASK) == naive_mask(strided.tobytes(), MASK)


def test_accepts_multibyte_items(mask_func: MaskFunc) -> None:
    # A buffer of 4-byte items is masked as its raw bytes, not item by item.
    items = array.array("I", range(300))
    raw = items.tobytes()
    with memoryview(items) as view:
        assert mask_func(view, MASK) == naive_mask(raw, MASK)


def test_masking_twice_is_identity(mask_func: MaskFunc) -> None:
    data = bytes(range(256)) * 3
    assert mask_func(mask_func(data, MASK), MASK) == data


@pytest.mark.parametrize("size", [7, 70000])
def test_does_not_modify_input(mask_func: MaskFunc, size: int) -> None:
    data = bytearray(b"payload") * (size // 7)
    before = bytes(data)
    mask_func(data, MASK)
    assert data == before


@pytest.mark.parametrize("mask", [b"", b"\x00", b"\x00" * 3, b"\x00" * 5])
def test_mask_must_have_four_bytes(mask_func: MaskFunc, mask: bytes) -> None:
    with pytest.raises(ValueError, match="4 bytes"):
        mask_func(b"data", mask)


def test_c_rejects_what_isnt_a_buffer() -> None:
    c_mask = _c_apply_mask()
    with pytest.raises(TypeError):
        c_mask("text", MASK)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        c_mask(b"data", "mask")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        c_mask(b"data")  # type: ignore[call-arg]


def test_c_accelerator_is_used_when_built() -> None:
    c_mask = _c_apply_mask()
    if os.environ.get(masking.NO_SPEEDUPS_ENV, "") not in ("", "0"):
        pytest.skip(f"{masking.NO_SPEEDUPS_ENV} is set in this run")
    assert masking.ACCELERATED
    assert apply_mask is c_mask


def _masking_state(env_value: str) -> str:
    """``ACCELERATED`` and the implementation name, as a fresh interpreter sees them."""
    env = {**os.environ, masking.NO_SPEEDUPS_ENV: env_value}
    # The child gets this process's sys.path, in the same order, so that it imports the
    # very same websocket_ref (installed, or the source tree).
    code = (
        f"import sys; sys.path[:] = {sys.path!r}; "
        "from websocket_ref import masking; "
        "print(masking.ACCELERATED, masking.apply_mask.__name__, "
        "masking.apply_mask(b'Hello', bytes.fromhex('37fa213d')).hex(), "
        "masking.PayloadCollector.__name__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_environment_variable_forces_pure_python() -> None:
    assert _masking_state("1") == "False apply_mask_python 7f9f4d5158 PayloadCollectorPython"


def test_accelerator_loaded_unless_disabled() -> None:
    _c_apply_mask()
    assert _masking_state("0") == "True apply_mask 7f9f4d5158 PayloadCollector"
    assert _masking_state("") == "True apply_mask 7f9f4d5158 PayloadCollector"


# PayloadCollector: a large payload put together from its pieces (the frame parser's).

CollectorType = Callable[[int], masking.Collector]


@pytest.fixture(params=["python", "c"])
def collector_type(request: pytest.FixtureRequest) -> CollectorType:
    if request.param == "python":
        return masking.PayloadCollectorPython
    if speedups is None:
        pytest.skip("C accelerator not built (no compiler?); required on CI")
    return speedups.PayloadCollector  # type: ignore[no-any-return]


def test_c_collector_is_used_when_built() -> None:
    if speedups is None or os.environ.get(masking.NO_SPEEDUPS_ENV, "") not in ("", "0"):
        pytest.skip("C accelerator not built, or disabled in this run")
    assert masking.PayloadCollector is speedups.PayloadCollector


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize(
    "cuts", [[], [1], [1, 2, 3], [4, 8], [5, 70000], [65536], [3, 65539, 65540], [131071]]
)
def test_collector_gives_the_payload(
    collector_type: CollectorType, masked: bool, cuts: list[int]
) -> None:
    payload = random.Random(len(cuts)).randbytes(200_000)
    mask = MASK if masked else None
    wire = apply_mask(payload, MASK) if masked else payload
    collector = collector_type(len(payload))
    bounds = [0, *cuts, len(payload)]
    for start, end in itertools.pairwise(bounds):
        # Pieces come as bytes, bytearray or a memoryview, as the frame parser gives them.
        piece = wire[start:end]
        collector.append([piece, bytearray(piece), memoryview(piece)][start % 3], mask)
        assert collector.size == end
        for peek in (0, start, max(start - 3, 0), end - 1, end, end + 10):
            assert collector.peek(peek) == payload[peek:end]
    assert collector.finish() == payload
    assert collector.size == 0 and collector.peek(0) == b""


def test_collector_is_empty_after_finish(collector_type: CollectorType) -> None:
    collector = collector_type(10)
    assert collector.finish() == b""
    collector.append(b"abc", None)
    assert collector.finish() == b"abc"
    collector.append(b"defg", MASK)  # the mask starts over with a new payload
    assert collector.finish() == apply_mask(b"defg", MASK)


def test_collector_takes_non_contiguous_memoryview(collector_type: CollectorType) -> None:
    data = bytes(range(100))
    collector = collector_type(50)
    collector.append(memoryview(data)[::2], None)
    assert collector.finish() == data[::2]


def test_collector_refuses_more_than_expected(collector_type: CollectorType) -> None:
    collector = collector_type(5)
    collector.append(b"abc", None)
    with pytest.raises(ValueError, match="more bytes than the payload's length"):
        collector.append(b"def", MASK)
    assert collector.size == 3
    collector.append(b"de", None)
    assert collector.finish() == b"abcde"


@pytest.mark.parametrize("mask", [b"", b"\x00" * 3, b"\x00" * 5])
def test_collector_mask_must_have_four_bytes(collector_type: CollectorType, mask: bytes) -> None:
    with pytest.raises(ValueError, match="4 bytes"):
        collector_type(10).append(b"data", mask)


def test_collector_refuses_negative_numbers(collector_type: CollectorType) -> None:
    with pytest.raises(ValueError, match="expected must be >= 0"):
        collector_type(-1)
    with pytest.raises(ValueError, match="start must be >= 0"):
        collector_type(1).peek(-1)


def test_c_collector_grows_with_what_arrived() -> None:
    # A peer declares a huge length and sends little: memory follows what arrived, never
    # the declared length.
    if speedups is None:
        pytest.skip("C accelerator not built (no compiler?); required on CI")
    collector = speedups.PayloadCollector(1 << 40)
    tracemalloc.start()
    try:
        arrived = 0
        for size in (1, 1000, 65536, 300_000):
            collector.append(bytes(size), MASK)
            arrived += size
            used, _ = tracemalloc.get_traced_memory()
            assert arrived <= used <= arrived + 4096
        data = collector.finish()
        used, _ = tracemalloc.get_traced_memory()
        assert len(data) == arrived and used <= arrived + 4096
    finally:
        tracemalloc.stop()
