"""MessageBuffer: the fragments of a message joined in one growing buffer."""

from __future__ import annotations

import tracemalloc

from websocket_ref.frames import Frame, Opcode
from websocket_ref.messages import MessageBuffer


def test_single_frame_is_not_copied() -> None:
    data = b"payload" * 10
    message = MessageBuffer()
    message.add(Frame(Opcode.BINARY, data))
    assert message.data() is data
    assert message.message(None) is data
    assert len(message) == len(data)


def test_fragments_are_joined() -> None:
    message = MessageBuffer()
    message.add(Frame(Opcode.TEXT, "é".encode()[:1], fin=False))
    message.add(Frame(Opcode.CONT, b"", fin=False))
    message.add(Frame(Opcode.CONT, "é".encode()[1:] + b"t", fin=False))
    message.add(Frame(Opcode.CONT, b"\xc3\xa9"))
    assert message.opcode is Opcode.TEXT
    assert message.message(None) == "été"
    assert message.message(False) == "été".encode()
    assert len(message) == 5


def test_binary_decoded_on_request() -> None:
    message = MessageBuffer()
    message.add(Frame(Opcode.BINARY, b"a", fin=False))
    message.add(Frame(Opcode.CONT, b"b"))
    assert message.message(None) == b"ab"
    assert message.message(True) == "ab"


def test_as_frame_keeps_what_was_joined() -> None:
    message = MessageBuffer()
    message.add(Frame(Opcode.TEXT, b"a", fin=False))
    message.add(Frame(Opcode.CONT, b"b", fin=False))
    assert message.as_frame() == Frame(Opcode.TEXT, b"ab", fin=False)


def test_memory_doesnt_grow_with_the_number_of_fragments() -> None:
    # One growing buffer: 100,000 one-byte fragments take about 100 kB, not one
    # object per fragment (~100 bytes each, 10 MB).
    fragment = Frame(Opcode.CONT, b"x", fin=False)
    message = MessageBuffer()
    message.add(Frame(Opcode.BINARY, b"x", fin=False))
    tracemalloc.start()
    try:
        for _ in range(100_000):
            message.add(fragment)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(message) == 100_001
    assert peak < 400_000
