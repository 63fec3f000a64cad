"""Properties of the Sans-I/O core, checked by hypothesis on generated inputs.

* frames survive serialize → parse, whatever their opcode, flags and size;
* parsing doesn't depend on how the stream is cut into reads (down to 1 byte);
* arbitrary bytes fed to either side give events or errors of the project's family,
  never another exception, and never an unbounded buffer;
* masking is an involution and agrees with the RFC's per-byte definition;
* the incremental UTF-8 validator agrees with ``bytes.decode("utf-8")``.
"""

from __future__ import annotations

import itertools

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from websocket_ref import (
    ClientProtocol,
    Frame,
    InvalidHandshake,
    InvalidUTF8,
    Opcode,
    ProtocolError,
    Request,
    Response,
    ServerProtocol,
    State,
    parse_uri,
)
from websocket_ref.frame_parser import FrameParser
from websocket_ref.frames import RSV1, RSV2, RSV3, serialize_frame
from websocket_ref.handshake import accept_key
from websocket_ref.http11 import MAX_LINE_LENGTH, MAX_NUM_HEADERS, parse_request
from websocket_ref.masking import apply_mask, apply_mask_python
from websocket_ref.protocol import Protocol, Reading
from websocket_ref.utf8 import Utf8Validator

from .utils import (
    MASK,
    build_frame,
    canonical_events,
    client_frame,
    open_client,
    open_server,
)

# Strategies

CONTROL = [Opcode.CLOSE, Opcode.PING, Opcode.PONG]
# Payload sizes around the boundaries of the three length encodings (RFC 6455 §5.2).
BOUNDARY_SIZES = [125, 126, 127, 65535, 65536, 65537]


@st.composite
def payloads(draw: st.DrawFn, max_size: int) -> bytes:
    if max_size > 125 and draw(st.integers(0, 9)) == 0:
        size = draw(st.sampled_from([s for s in BOUNDARY_SIZES if s <= max_size]))
        return bytes([draw(st.integers(0, 255))]) * size
    return draw(st.binary(max_size=min(max_size, 300)))


@st.composite
def frames(draw: st.DrawFn, max_size: int = 70_000) -> Frame:
    opcode = draw(st.sampled_from(list(Opcode)))
    control = opcode in CONTROL
    return Frame(
        opcode,
        draw(payloads(125 if control else max_size)),
        fin=True if control else draw(st.booleans()),
        rsv1=draw(st.booleans()),
        rsv2=draw(st.booleans()),
        rsv3=draw(st.booleans()),
    )


@st.composite
def split(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` cut at arbitrary points; sometimes into single bytes."""
    if len(data) <= 2000 and draw(st.integers(0, 4)) == 0:
        return [data[i : i + 1] for i in range(len(data))]
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=12))))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


# Frames: serialize → parse


def parse_stream(chunks: list[bytes], *, mask_expected: bool) -> list[Frame]:
    parser = FrameParser(mask_expected=mask_expected, max_size=None)
    parser.allowed_rsv = RSV1 | RSV2 | RSV3
    buf = bytearray()
    result = []
    for chunk in chunks:
        buf += chunk
        while (frame := parser.parse(buf)) is not None:
            result.append(frame)
    assert not buf and parser.header is None
    return result


@given(frame=frames(), mask=st.booleans())
def test_frame_roundtrip(frame: Frame, mask: bool) -> None:
    wire = b"".join(serialize_frame(frame, mask=mask))
    assert parse_stream([wire], mask_expected=mask) == [frame]


@given(st.data(), st.lists(frames(max_size=1000), max_size=8), st.booleans())
def test_frame_parsing_is_independent_of_splits(
    data: st.DataObject, frame_list: list[Frame], mask: bool
) -> None:
    wire = b"".join(b"".join(serialize_frame(f, mask=mask)) for f in frame_list)
    chunks = data.draw(split(wire))
    assert b"".join(chunks) == wire
    assert parse_stream(chunks, mask_expected=mask) == frame_list


# Protocols: the same events and the same bytes written, however the stream is cut.


def outcome(protocol: Protocol, chunks: list[bytes]) -> tuple[object, ...]:
    events = []
    for chunk in chunks:
        protocol.receive_data(chunk)
        events.extend(protocol.events_received())
    exc = protocol.failure_exc
    return (
        canonical_events(events),
        b"".join(protocol.data_to_send()) if protocol.side else protocol.data_to_send(),
        type(exc),
        getattr(exc, "close_code", None),
        protocol.state,
    )


CLOSE_PAYLOADS = st.builds(
    lambda code, reason: code.to_bytes(2, "big") + reason.encode(),
    st.sampled_from([1000, 1001, 1005, 1011, 2000, 3000]),
    st.text(max_size=10),
)


@st.composite
def client_streams(draw: st.DrawFn) -> bytes:
    """Bytes a client could send a server: mostly masked frames, valid or not, and noise."""
    parts = []
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.integers(0, 9)) == 0:
            parts.append(draw(st.binary(max_size=20)))  # noise
            continue
        # Data and control opcodes, a continuation, and two reserved opcodes.
        opcode = draw(st.sampled_from([0x0, 0x1, 0x2, 0x8, 0x9, 0xA, 0x3, 0xB]))
        payload = draw(
            st.one_of(
                st.binary(max_size=130),
                st.text(max_size=40).map(str.encode),
                CLOSE_PAYLOADS,
            )
        )
        # Mostly well-formed flags, sometimes not.
        fin = draw(st.booleans()) if draw(st.integers(0, 3)) == 0 else opcode != 0x0
        rsv = draw(st.sampled_from([0, 0, 0, 0, RSV1, RSV3]))
        parts.append(client_frame(opcode, payload, fin=fin, rsv=rsv))
    return b"".join(parts)


@given(st.data(), client_streams())
def test_server_outcome_is_independent_of_splits(data: st.DataObject, stream: bytes) -> None:
    whole = outcome(open_server(max_size=200), [stream])
    pieces = outcome(open_server(max_size=200), data.draw(split(stream)))
    assert pieces == whole


@given(st.data(), st.lists(frames(max_size=300), max_size=6))
def test_client_outcome_is_independent_of_splits(
    data: st.DataObject, frame_list: list[Frame]
) -> None:
    stream = b"".join(b"".join(serialize_frame(f, mask=False)) for f in frame_list)
    whole = outcome(open_client(max_size=200), [stream])
    pieces = outcome(open_client(max_size=200), data.draw(split(stream)))
    # A client masks with random keys: compare what it wrote once unmasked.
    assert pieces[0] == whole[0]
    assert pieces[2:] == whole[2:]


# Arbitrary bytes: only events and errors of the family; memory stays bounded.

MAX_SIZE = 64
FRAME_BOUND = MAX_SIZE + 14  # a frame of max_size with the largest header
MAX_HEAD_SIZE = (MAX_NUM_HEADERS + 1) * (MAX_LINE_LENGTH + 2) + 2


def check_invariants(protocol: Protocol, events: list[object]) -> None:
    for event in events:
        assert isinstance(event, (Request, Response, Frame))
    if protocol.failure_exc is not None:
        assert isinstance(protocol.failure_exc, ProtocolError)
    if protocol.handshake_exc is not None:
        assert isinstance(protocol.handshake_exc, InvalidHandshake)
    # Memory stays bounded whatever arrives: at most one frame of max_size with its
    # header, or one handshake head, is buffered; nothing once reading stopped.
    buffered = len(protocol._buffer)
    if protocol.reading is Reading.FRAMES:
        assert buffered <= FRAME_BOUND
    elif protocol.reading is Reading.HANDSHAKE:
        assert buffered <= MAX_HEAD_SIZE
    elif protocol.reading in (Reading.DISCARD, Reading.EOF):
        assert buffered == 0
    else:
        assert protocol.reading is Reading.RESPONSE_BODY
        assert buffered == 0  # the body reader took it (bounded by MAX_BODY_SIZE)
    # Text messages delivered complete are valid UTF-8 (the core checked them).
    message: list[bytes] | None = None
    for event in events:
        if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
            message = [event.data]
        elif isinstance(event, Frame) and event.opcode is Opcode.BINARY:
            message = None
        elif isinstance(event, Frame) and event.opcode is Opcode.CONT and message is not None:
            message.append(event.data)
        else:
            continue
        if message is not None and isinstance(event, Frame) and event.fin:
            b"".join(message).decode()
            message = None


def feed(protocol: Protocol, chunks: list[bytes], *, accept: bool = False) -> list[object]:
    events: list[object] = []
    for chunk in chunks:
        if protocol.reading is Reading.EOF:
            break
        protocol.receive_data(chunk)
        new = protocol.events_received()
        if accept:
            for event in new:
                if isinstance(event, Request):
                    assert isinstance(protocol, ServerProtocol)
                    protocol.send_response(protocol.accept(event))
                    new += protocol.events_received()
        events.extend(new)
        check_invariants(protocol, events)
        for write in protocol.data_to_send():
            assert isinstance(write, bytes)
    protocol.receive_eof()
    assert protocol.state is State.CLOSED
    check_invariants(protocol, events)
    return events


REQUEST = (
    b"GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


@given(st.data(), st.binary(max_size=500), st.booleans())
def test_arbitrary_bytes_to_server_before_handshake(
    data: st.DataObject, garbage: bytes, prefix: bool
) -> None:
    stream = (REQUEST[: data.draw(st.integers(0, len(REQUEST)))] if prefix else b"") + garbage
    feed(ServerProtocol(max_size=MAX_SIZE), data.draw(split(stream)), accept=True)


@given(st.data(), st.binary(max_size=500))
def test_arbitrary_bytes_to_server_after_handshake(data: st.DataObject, garbage: bytes) -> None:
    feed(ServerProtocol(max_size=MAX_SIZE), data.draw(split(REQUEST + garbage)), accept=True)


@given(st.data(), st.binary(max_size=500))
def test_arbitrary_bytes_to_open_server(data: st.DataObject, garbage: bytes) -> None:
    # Masked headers are unlikely in random bytes: mask the garbage as a frame stream too.
    feed(open_server(max_size=MAX_SIZE), data.draw(split(garbage)))


@given(st.data(), st.binary(max_size=500))
def test_arbitrary_frames_to_open_server(data: st.DataObject, garbage: bytes) -> None:
    stream = b"".join(
        client_frame(b & 0x0F, garbage[i : i + 7], fin=bool(b & 0x80), rsv=b & 0x70)
        for i, b in enumerate(garbage[::7])
    )
    feed(open_server(max_size=MAX_SIZE), data.draw(split(stream)))


@given(st.data(), st.binary(max_size=500))
def test_arbitrary_bytes_to_open_client(data: st.DataObject, garbage: bytes) -> None:
    feed(open_client(max_size=MAX_SIZE), data.draw(split(garbage)))


@given(st.data(), st.binary(max_size=500), st.booleans())
def test_arbitrary_bytes_to_client_during_handshake(
    data: st.DataObject, garbage: bytes, valid_head: bool
) -> None:
    client = ClientProtocol(parse_uri("ws://example.com/"), max_size=MAX_SIZE)
    client.send_request(client.connect())
    client.data_to_send()
    head = b""
    if valid_head:
        head = (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(client.key).encode() + b"\r\n\r\n"
        )
    feed(client, data.draw(split(head + garbage)))


@given(st.binary(max_size=200), st.integers(0, 2**20))
def test_oversized_announcements_are_refused_from_the_header(prefix: bytes, extra: int) -> None:
    # A frame announcing more than max_size never makes the core buffer its payload.
    server = open_server(max_size=MAX_SIZE)
    server.receive_data(build_frame(0x2, b"", length=MAX_SIZE + 1 + extra, mask=MASK) + prefix)
    assert server.failure_exc is not None
    assert server.failure_exc.close_code == 1009
    assert len(server._buffer) == 0


# Masking (RFC 6455 §5.3)


def naive_mask(data: bytes, mask: bytes) -> bytes:
    return bytes(b ^ mask[i % 4] for i, b in enumerate(data))


@given(st.binary(max_size=2000), st.binary(min_size=4, max_size=4))
def test_masking_twice_is_identity(data: bytes, mask: bytes) -> None:
    assert apply_mask(apply_mask(data, mask), mask) == data


@given(st.binary(max_size=2000), st.binary(min_size=4, max_size=4))
def test_masking_agrees_with_naive_reference(data: bytes, mask: bytes) -> None:
    assert apply_mask(data, mask) == naive_mask(data, mask)
    assert apply_mask_python(data, mask) == naive_mask(data, mask)


@given(st.binary(max_size=500), st.binary(min_size=4, max_size=4), st.integers(0, 3))
def test_masking_rotated_key_continues_a_payload(data: bytes, mask: bytes, start: int) -> None:
    # What peek_payload relies on: unmasking from offset k uses the key rotated by k % 4.
    assume(start <= len(data))
    rotated = mask[start % 4 :] + mask[: start % 4]
    assert apply_mask(data[start:], rotated) == naive_mask(data, mask)[start:]


# UTF-8 (RFC 6455 §8.1)


def utf8_bytes() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=60),
        st.text(max_size=30).map(lambda s: s.encode("utf-8", "surrogatepass")),
        st.lists(st.sampled_from([b"\xed\xa0\x80", b"\xf4\x90", b"\xc0", b"\x80", b"a"])).flatmap(
            lambda bad: st.text(max_size=20).map(lambda s: s.encode() + b"".join(bad))
        ),
    )


def is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@given(st.data(), utf8_bytes())
def test_utf8_validator_agrees_with_decode(data: st.DataObject, text: bytes) -> None:
    chunks = data.draw(split(text))
    validator = Utf8Validator()
    valid = True
    try:
        for chunk in chunks:
            validator.feed(chunk)
        validator.feed(b"", final=True)
    except InvalidUTF8:
        valid = False
    assert valid is is_utf8(text)


@given(st.data(), utf8_bytes())
def test_utf8_validator_fails_at_first_invalid_prefix(data: st.DataObject, text: bytes) -> None:
    # The validator raises on the first piece after which no completion can be valid.
    chunks = data.draw(split(text))
    validator = Utf8Validator()
    seen = b""
    for chunk in chunks:
        seen += chunk
        try:
            validator.feed(chunk)
        except InvalidUTF8:
            assert not any(is_utf8(seen + tail) for tail in COMPLETIONS)
            return
        assert any(is_utf8(seen + tail) for tail in COMPLETIONS)


# Every way to complete a partial character: 0-3 continuation bytes of suitable ranges.
COMPLETIONS = [b""] + [
    bytes([a]) + bytes([b]) * n
    for a in (0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF)
    for b in (0x80,)
    for n in range(3)
]


@given(st.data())
@settings(max_examples=30)
def test_request_parsing_is_independent_of_splits(data: st.DataObject) -> None:
    chunks = data.draw(split(REQUEST + b"\x81"))
    buf = bytearray()
    request = None
    for chunk in chunks:
        buf += chunk
        if request is None:
            request = parse_request(buf)
    assert request is not None
    assert request.serialize() == REQUEST
    assert buf == b"\x81"
