"""Frame serialization and parsing (RFC 6455 §5.2): many small frames, a few large ones."""

from __future__ import annotations

import pytest
from payloads import json_payload

from websocket_ref.frame_parser import FrameParser
from websocket_ref.frames import Frame, Opcode, serialize_frame

# (label, payload size, frames per round)
CASES = {"small": (32, 1000), "large": (2**20, 4)}


def _wire(size: int, count: int, *, masked: bool) -> bytes:
    frame = Frame(Opcode.BINARY, json_payload(size))
    return b"".join(b"".join(serialize_frame(frame, mask=masked)) for _ in range(count))


@pytest.mark.parametrize("masked", [True, False], ids=["client", "server"])
@pytest.mark.parametrize("case", CASES.keys())
def test_serialize(benchmark, case: str, masked: bool) -> None:
    size, count = CASES[case]
    benchmark.group = f"serialize {case} ({count} x {size} B)"
    frame = Frame(Opcode.BINARY, json_payload(size))

    def serialize() -> None:
        for _ in range(count):
            serialize_frame(frame, mask=masked)

    benchmark(serialize)


@pytest.mark.parametrize("masked", [True, False], ids=["from-client", "from-server"])
@pytest.mark.parametrize("case", CASES.keys())
def test_parse(benchmark, case: str, masked: bool) -> None:
    size, count = CASES[case]
    benchmark.group = f"parse {case} ({count} x {size} B)"
    wire = _wire(size, count, masked=masked)

    def parse() -> int:
        parser = FrameParser(mask_expected=masked, max_size=None)
        buf = bytearray(wire)
        frames = 0
        while parser.parse(buf) is not None:
            frames += 1
        return frames

    assert benchmark(parse) == count
