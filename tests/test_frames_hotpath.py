"""The receive hot path of the frame parser: its short-frame fast path and its collection
of large payloads piece by piece. Both are optimizations; these tests pin down that they
behave exactly like the general path (RFC 6455 §5.2) and that they keep their promises
about memory (the buffer never holds a large payload).
"""

from __future__ import annotations

import os

import pytest

from websocket_ref.exceptions import InvalidFrame, InvalidUTF8, PayloadTooBig, ProtocolError
from websocket_ref.frame_parser import COLLECT_THRESHOLD, FrameParser
from websocket_ref.frames import RSV1, RSV2, RSV3, Frame, Opcode, parse_frame
from websocket_ref.masking import apply_mask_python
from websocket_ref.protocol import State

from .utils import MASK, build_frame, open_client, open_server

LARGE = COLLECT_THRESHOLD + 12345


def wire_frame(opcode: int, payload: bytes, *, masked: bool, **kwargs: object) -> bytes:
    """A frame on the wire; large masked payloads are masked with the tested
    pure-Python masking rather than the (slow) per-byte reference of tests.utils."""
    if not masked or len(payload) < 4096:
        return build_frame(opcode, payload, mask=MASK if masked else None, **kwargs)  # type: ignore[arg-type]
    head = build_frame(opcode, b"", length=len(payload), mask=MASK, **kwargs)  # type: ignore[arg-type]
    return head + apply_mask_python(payload, MASK)


def outcome(parser: FrameParser, data: bytes) -> tuple[object, bytes]:
    """What parsing ``data`` gives: a frame, None, or the error; and what's left."""
    buf = bytearray(data)
    try:
        result: object = parser.parse(buf)
    except ProtocolError as exc:
        result = (type(exc), str(exc), exc.rule)
    return result, bytes(buf)


# The fast path for short frames


# (payload length, bytes of the length field): 7-bit, 16-bit, and a non-minimal 16-bit.
LENGTHS = [(0, 1), (125, 1), (5000, 2), (5, 2)]


def raw_frame(first: int, masked: bool, length: int, length_size: int) -> bytes:
    """A frame with any first byte, as tests.utils.build_frame would encode it."""
    payload = bytes(i % 251 for i in range(length))
    return build_frame(
        first & 0x0F,
        payload,
        fin=bool(first & 0x80),
        rsv=first & 0x70,
        mask=MASK if masked else None,
        length_size=length_size,
    )


@pytest.mark.parametrize("via", ["buffer", "feed"])
@pytest.mark.parametrize("allowed_rsv", [0, RSV1, RSV1 | RSV2 | RSV3])
@pytest.mark.parametrize("mask_expected", [False, True])
def test_fast_path_agrees_with_the_reference_on_every_first_byte(
    mask_expected: bool, allowed_rsv: int, via: str
) -> None:
    # Every first byte (opcode, FIN, RSV bits) x masked or not x length encodings,
    # complete or cut short, followed by the start of another frame.
    for first in range(256):
        for masked in (False, True):
            for length, length_size in LENGTHS:
                data = raw_frame(first, masked, length, length_size)
                for cut in {len(data), len(data) - 1, 3}:
                    fast = FrameParser(mask_expected=mask_expected, max_size=None)
                    fast.allowed_rsv = allowed_rsv
                    chunk = data[:cut] + b"\x81"
                    expected = reference_outcome(
                        chunk, mask_expected=mask_expected, allowed_rsv=allowed_rsv
                    )
                    if via == "buffer":
                        got = outcome(fast, chunk)
                    else:  # parsed where it is, what's left moved to the buffer
                        fast.feed(chunk)
                        got = outcome(fast, b"")
                        expected = (expected[0], got[1])
                    assert got == expected, (first, masked, length, cut)


def reference_outcome(
    data: bytes, *, mask_expected: bool, allowed_rsv: int = 0, max_size: int | None = None
) -> tuple[object, bytes]:
    """What the reference parser gives for ``data``, as :func:`outcome` reports it."""
    try:
        parsed = parse_frame(
            data, mask_expected=mask_expected, allowed_rsv=allowed_rsv, max_size=max_size
        )
    except ProtocolError as exc:
        return (type(exc), str(exc), exc.rule), data
    if parsed is None:
        return None, data
    frame, end = parsed
    return frame, data[end:]


def test_fast_path_reports_rsv_bits() -> None:
    parser = FrameParser(mask_expected=True, max_size=None)
    parser.allowed_rsv = RSV1 | RSV3
    buf = bytearray(build_frame(0x2, b"data", rsv=RSV1 | RSV3, mask=MASK))
    assert parser.parse(buf) == Frame(Opcode.BINARY, b"data", rsv1=True, rsv3=True)
    assert not buf


def test_allowed_rsv_can_change_between_frames() -> None:
    # Extensions are negotiated after the parser exists: the fast path must follow.
    parser = FrameParser(mask_expected=False, max_size=None)
    with pytest.raises(InvalidFrame, match="RSV1"):
        parser.parse(bytearray(build_frame(0x1, b"x", rsv=RSV1)))
    parser.allowed_rsv = RSV1
    assert parser.allowed_rsv == RSV1
    assert parser.parse(bytearray(build_frame(0x1, b"x", rsv=RSV1))) == Frame(
        Opcode.TEXT, b"x", rsv1=True
    )


@pytest.mark.parametrize("size", [4, 1000])
@pytest.mark.parametrize("delta", [-1, 0])
def test_fast_path_enforces_max_size(size: int, delta: int) -> None:
    parser = FrameParser(mask_expected=False, max_size=size + delta)
    buf = bytearray(build_frame(0x2, bytes(size)))
    if delta < 0:
        # RFC 6455 §10.4: the frame is refused from its header
        with pytest.raises(PayloadTooBig):
            parser.parse(buf)
    else:
        assert parser.parse(buf) == Frame(Opcode.BINARY, bytes(size))


def test_many_short_frames_in_one_buffer() -> None:
    frames = [Frame(Opcode.TEXT, b"m%d" % i * (i % 7) ** 4, fin=i % 3 != 1) for i in range(200)]
    data = b"".join(build_frame(int(f.opcode), f.data, fin=f.fin, mask=MASK) for f in frames)
    parser = FrameParser(mask_expected=True, max_size=None)
    buf = bytearray(data)
    parsed = []
    while (frame := parser.parse(buf)) is not None:
        parsed.append(frame)
    assert parsed == frames
    assert not buf


# Large payloads, collected piece by piece


def pieces_of(data: bytes, sizes: list[int]) -> list[bytes]:
    """Cut ``data`` into pieces of the given sizes, cycling through them."""
    pieces = []
    pos = 0
    i = 0
    while pos < len(data):
        size = sizes[i % len(sizes)]
        pieces.append(data[pos : pos + size])
        pos += size
        i += 1
    return pieces


PIECE_SIZES = [[65536], [1, 2, 3, 70001], [4099, 65537], [10**6]]


@pytest.mark.parametrize("sizes", PIECE_SIZES, ids=str)
@pytest.mark.parametrize("masked", [False, True])
def test_large_frames_through_the_parser(masked: bool, sizes: list[int]) -> None:
    payloads = [os.urandom(LARGE), b"small", os.urandom(COLLECT_THRESHOLD)]
    data = b"".join(wire_frame(0x2, p, masked=masked) for p in payloads)
    parser = FrameParser(mask_expected=masked, max_size=None)
    buf = bytearray()
    parsed = []
    for piece in pieces_of(data, sizes):
        buf += piece
        while (frame := parser.parse(buf)) is not None:
            parsed.append(frame.data)
        # A large payload never waits in the buffer: at most a header does.
        assert len(buf) < COLLECT_THRESHOLD or parser.header is None
    assert parsed == payloads
    assert not buf and parser.header is None and not parser.collecting


@pytest.mark.parametrize("sizes", PIECE_SIZES, ids=str)
@pytest.mark.parametrize("side", ["server", "client"])
def test_large_messages_through_the_protocol(side: str, sizes: list[int]) -> None:
    # receive_data() hands bytes of a payload in progress straight to the parser.
    masked = side == "server"
    protocol = open_server(max_size=None) if masked else open_client(max_size=None)
    text = ("héllo wörld " * (LARGE // 12)).encode()
    messages = [
        (Opcode.TEXT, text),
        (Opcode.BINARY, os.urandom(LARGE)),
        (Opcode.TEXT, b"tiny"),
        (Opcode.BINARY, os.urandom(3 * COLLECT_THRESHOLD)),
    ]
    data = b"".join(wire_frame(int(op), p, masked=masked) for op, p in messages)
    received = []
    for piece in pieces_of(data, sizes):
        protocol.receive_data(piece)
        received += protocol.events_received()
        assert len(protocol._buffer) < COLLECT_THRESHOLD + 14
    assert [(f.opcode, f.data) for f in received] == messages  # type: ignore[union-attr]
    assert protocol.state is State.OPEN


def test_large_fragmented_text_message_split_inside_characters() -> None:
    protocol = open_server(max_size=None)
    text = ("€uro " * 40000).encode()  # 3-byte characters: frame edges cut them
    first, second = text[: LARGE - 1], text[LARGE - 1 :]
    data = wire_frame(0x1, first, masked=True, fin=False) + wire_frame(0x0, second, masked=True)
    for piece in pieces_of(data, [65536 - 7]):
        protocol.receive_data(piece)
    frames = protocol.events_received()
    assert b"".join(f.data for f in frames) == text  # type: ignore[union-attr]
    assert protocol.state is State.OPEN


def test_invalid_utf8_in_a_large_frame_fails_before_it_ends() -> None:
    # RFC 6455 §8.1: fail at the first invalid byte, not at the end of the frame
    protocol = open_server(max_size=None)
    payload = b"a" * 70000 + b"\xff" + b"a" * 200000
    data = wire_frame(0x1, payload, masked=True)
    pieces = pieces_of(data, [65536])
    for piece in pieces[:2]:
        protocol.receive_data(piece)
    assert protocol.state is State.CLOSING
    assert isinstance(protocol.failure_exc, InvalidUTF8)
    assert protocol.close_sent is not None and protocol.close_sent.code == 1007
    # What comes next is ignored, and the abandoned payload is released.
    protocol.receive_data(pieces[2])
    assert not protocol._frames.collecting
    assert protocol.events_received() == []


def test_large_frame_over_max_size_is_refused_from_its_header() -> None:
    # RFC 6455 §10.4: refused before its payload is collected
    parser = FrameParser(mask_expected=False, max_size=COLLECT_THRESHOLD)
    head = build_frame(0x2, b"", length=COLLECT_THRESHOLD + 1)
    with pytest.raises(PayloadTooBig):
        parser.parse(bytearray(head + b"x" * 1000))
    assert not parser.collecting


@pytest.mark.parametrize("masked", [False, True])
def test_peek_payload_of_a_collected_payload(masked: bool) -> None:
    payload = os.urandom(LARGE)
    data = wire_frame(0x1, payload, masked=masked)
    parser = FrameParser(mask_expected=masked, max_size=None)
    buf = bytearray()
    for piece in pieces_of(data[:-1000], [1, 4097, 30000]):
        buf += piece
        assert parser.parse(buf) is None
    arrived = len(payload) - 1000
    for start in (0, 1, 2, 3, 4097, 30001, arrived - 1, arrived):
        assert parser.peek_payload(buf, start) == payload[start:arrived]
    assert parser.peek_payload(buf, arrived + 10) == b""


def test_feed_cuts_frames_out_of_fresh_bytes() -> None:
    # feed() + parse(): frames straight from the bytes read; only an incomplete frame
    # at their end is copied into the buffer.
    frames = [build_frame(0x1, b"a" * n, mask=MASK) for n in (0, 1, 125, 126, 5000, 70000)]
    data = b"".join(frames)
    parser = FrameParser(mask_expected=True, max_size=None)
    buf = bytearray()
    parser.feed(data[:-10])
    parsed = []
    while (frame := parser.parse(buf)) is not None:
        parsed.append(frame)
    assert [len(f.data) for f in parsed] == [0, 1, 125, 126, 5000]
    assert parser.collecting and not buf  # the large payload is collected, not buffered
    parser.feed(data[-10:])
    assert parser.parse(buf) == Frame(Opcode.TEXT, b"a" * 70000)
    assert parser.parse(buf) is None and not buf


def test_feed_leaves_an_incomplete_frame_in_the_buffer() -> None:
    data = build_frame(0x2, b"one") + build_frame(0x2, b"two" * 100)
    parser = FrameParser(mask_expected=False, max_size=None)
    buf = bytearray()
    parser.feed(data[:-50])
    assert parser.parse(buf) == Frame(Opcode.BINARY, b"one")
    assert parser.parse(buf) is None
    assert buf == data[5:-50]  # header included: the general path takes over
    buf += data[-50:]
    assert parser.parse(buf) == Frame(Opcode.BINARY, b"two" * 100)


def test_feed_reports_errors_like_the_buffer() -> None:
    cases = [bytes([0x83, 0x00]), build_frame(0x9, b"", fin=False), build_frame(0x2, bytes(200))]
    for data in cases:
        fed = FrameParser(mask_expected=False, max_size=100)
        fed.feed(data)
        expected = reference_outcome(data, mask_expected=False, max_size=100)
        assert outcome(fed, b"")[0] == expected[0]
        assert isinstance(expected[0], tuple)  # an error: reserved opcode, fragmented ping, size


def test_large_payload_keeps_what_follows_it() -> None:
    payload = os.urandom(LARGE)
    data = wire_frame(0x2, payload, masked=False) + build_frame(0x1, b"next")
    protocol = open_client(max_size=None)
    protocol.receive_data(data[:5000])
    protocol.receive_data(data[5000:])
    frames = protocol.events_received()
    assert frames == [Frame(Opcode.BINARY, payload), Frame(Opcode.TEXT, b"next")]


def test_receive_data_copies_a_bytearray() -> None:
    # The caller may reuse its buffer: the core mustn't keep a reference to it.
    payload = bytes(LARGE)
    data = wire_frame(0x2, payload, masked=False)
    protocol = open_client(max_size=None)
    protocol.receive_data(data[:100])
    reused = bytearray(data[100:-100])
    protocol.receive_data(reused)
    reused[:] = b"\xff" * len(reused)
    protocol.receive_data(bytearray(data[-100:]))
    assert protocol.events_received() == [Frame(Opcode.BINARY, payload)]


def test_resetting_the_header_abandons_a_collected_payload() -> None:
    parser = FrameParser(mask_expected=False, max_size=None)
    buf = bytearray(wire_frame(0x2, bytes(LARGE), masked=False)[:20000])
    assert parser.parse(buf) is None and parser.collecting
    parser.header = None
    assert not parser.collecting
    buf = bytearray(build_frame(0x1, b"fresh"))
    assert parser.parse(buf) == Frame(Opcode.TEXT, b"fresh")
