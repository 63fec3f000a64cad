"""permessage-deflate (RFC 7692): compressing and inflating realistic JSON messages."""

from __future__ import annotations

import pytest
from payloads import json_payload

from websocket_ref.frames import Frame, Opcode

deflate = pytest.importorskip(
    "websocket_ref.extensions.permessage_deflate",
    reason="websocket_ref.extensions.permessage_deflate isn't available in this build",
)

SIZES = {"1KiB": 1024, "64KiB": 65536, "1MiB": 2**20}


def _extension(window_bits: int = 15) -> object:
    return deflate.PerMessageDeflate(
        False, False, window_bits, window_bits, compress_settings={"memLevel": 5}
    )


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_compress(benchmark, size: int) -> None:
    benchmark.group = f"deflate {size} B JSON"
    extension = _extension()
    frame = Frame(Opcode.TEXT, json_payload(size))
    encoded = benchmark(extension.encode, frame)
    assert encoded.rsv1 and len(encoded.data) < size


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_decompress(benchmark, size: int) -> None:
    benchmark.group = f"deflate {size} B JSON"
    # Without context takeover, every message inflates independently: the same
    # compressed frame can be decoded again and again.
    sender = deflate.PerMessageDeflate(True, True, 15, 15)
    receiver = deflate.PerMessageDeflate(True, True, 15, 15)
    payload = json_payload(size)
    frame = sender.encode(Frame(Opcode.TEXT, payload))
    decoded = benchmark(receiver.decode, frame, max_size=None)
    assert decoded.data == payload
