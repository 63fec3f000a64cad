"""Framing, fragmentation, control frames and closing through ClientProtocol/ServerProtocol.

Each rule of RFC 6455 §5 and §7 is broken here on purpose; the tests check the
exception (``failure_exc``), and what goes on the wire: the close code in the close
frame and, on the server, the EOF that closes TCP first (§7.1.1).
"""

from __future__ import annotations

import inspect
import logging

import pytest

import websocket_ref
import websocket_ref.exceptions as exceptions
from websocket_ref import (
    ClientProtocol,
    Close,
    ConnectionClosedError,
    ConnectionClosedOK,
    Frame,
    InvalidCloseFrame,
    InvalidFrame,
    InvalidState,
    InvalidUTF8,
    Opcode,
    PayloadTooBig,
    Protocol,
    ProtocolError,
    ServerProtocol,
    Side,
    State,
    TooManyFragments,
)
from websocket_ref.masking import apply_mask
from websocket_ref.protocol import (
    COALESCE_LIMIT,
    MAX_FRAGMENTS,
    MAX_PENDING_PONGS,
    SEPARATE_FRAGMENTS,
)

from .utils import (
    MASK,
    RSV1,
    RSV2,
    RSV3,
    FakeClientFactory,
    FakeServerFactory,
    client_frame,
    close_payload,
    connected_pair,
    decode_frames,
    open_client,
    open_server,
    relay,
    server_frame,
    written,
)


@pytest.fixture(params=[Side.CLIENT, Side.SERVER], ids=["client", "server"])
def side(request: pytest.FixtureRequest) -> Side:
    return request.param  # type: ignore[no-any-return]


def make(side: Side, *, join_at_once: bool = False, **kwargs: object) -> Protocol:
    """An OPEN protocol. ``join_at_once``: small fragments are joined from the first,
    not after SEPARATE_FRAGMENTS of them, for tests of the joining and of the limits."""
    protocol = open_client(**kwargs) if side is Side.CLIENT else open_server(**kwargs)
    if join_at_once:
        protocol._separate_limit = 0
    return protocol


def peer_frame(protocol: Protocol, opcode: int, payload: bytes = b"", **kwargs: object) -> bytes:
    """A frame as the peer of ``protocol`` sends it: masked towards a server."""
    if protocol.side is Side.SERVER:
        return client_frame(opcode, payload, **kwargs)
    return server_frame(opcode, payload, **kwargs)


def assert_failed(
    protocol: Protocol, exc_type: type[ProtocolError], code: int, rule: str | None = None
) -> ProtocolError:
    """The protocol failed the connection with ``exc_type`` and sent a close ``code``."""
    exc = protocol.failure_exc
    assert type(exc) is exc_type, repr(exc)
    assert exc.close_code == code
    if rule is not None:
        assert exc.rule == rule
    wire = written(protocol)
    # RFC 6455 §7.1.7: fail the connection: send a close frame with the code...
    assert wire.close_codes == [code]
    close = wire.frames[-1]
    assert Close.parse(close.payload).reason == protocol.close_sent.reason  # type: ignore[union-attr]
    assert len(close.payload) <= 125
    # ...and the server closes TCP first (RFC 6455 §7.1.1)
    assert wire.eof is (protocol.side is Side.SERVER)
    assert protocol.state is State.CLOSING
    assert protocol.close_sent == Close(code, protocol.close_sent.reason)  # type: ignore[union-attr]
    assert protocol.close_expected()
    # Anything that arrives afterwards is ignored.
    protocol.receive_data(peer_frame(protocol, 0x1, b"ignored"))
    assert [e for e in protocol.events_received() if e == Frame(Opcode.TEXT, b"ignored")] == []
    assert protocol.data_to_send() == []
    protocol.receive_eof()
    assert protocol.state is State.CLOSED
    assert protocol.close_code == 1006
    closed = protocol.close_exc
    assert type(closed) is ConnectionClosedError
    assert closed.__cause__ is exc
    return exc


# Sending (RFC 6455 §5.1, §5.3, §5.4)


@pytest.mark.rfc("R6455-5.1-4", "R6455-5.2-7", "R6455-6.1-1", "R6455-6.1-4")
def test_server_sends_unmasked_frames() -> None:
    server = open_server()
    server.send_text("café".encode())
    server.send_binary(b"\x00\xff")
    assert server.data_to_send() == [b"\x81\x05caf\xc3\xa9", b"\x82\x02\x00\xff"]


@pytest.mark.rfc("R6455-5.1-1", "R6455-5.3-1", "R6455-6.1-8")
def test_client_sends_masked_frames() -> None:
    client = open_client()
    client.send_text(b"Hello")
    [chunk] = client.data_to_send()
    assert chunk[:2] == b"\x81\x85"  # RFC 6455 §5.3: MASK bit set
    [frame] = decode_frames(chunk)
    assert frame.masked and frame.payload == b"Hello"


@pytest.mark.rfc("R6455-5.2-1")
def test_reserved_bits_clear_without_extensions(side: Side) -> None:
    # RFC 6455 §5.2: RSV1-3 MUST be 0 unless an extension gives them a meaning.
    protocol = make(side)
    protocol.send_text(b"a", fin=False)
    protocol.send_ping(b"p")
    protocol.send_continuation(b"b", fin=True)
    protocol.send_binary(b"c", compress=True)
    protocol.send_pong(b"q")
    protocol.send_close(1000)
    frames = written(protocol).frames
    assert [f.opcode for f in frames] == [0x1, 0x9, 0x0, 0x2, 0xA, 0x8]
    assert [f.rsv for f in frames] == [0] * 6


@pytest.mark.rfc("R6455-5.5.2-1")
def test_ping_with_or_without_application_data(side: Side) -> None:
    protocol = make(side)
    protocol.send_ping(b"")
    protocol.send_ping(b"application data")
    frames = written(protocol).frames
    assert [(f.opcode, f.fin, f.payload) for f in frames] == [
        (0x9, True, b""),
        (0x9, True, b"application data"),
    ]


@pytest.mark.rfc("R6455-5.8-1", "R6455-5.2-2")
def test_extensions_only_when_negotiated() -> None:
    # RFC 6455 §5.8: extensions are negotiated in the opening handshake. A client that
    # offers permessage-deflate to a server that doesn't accept it uses none...
    from websocket_ref.extensions.permessage_deflate import ClientPerMessageDeflateFactory

    client, server = connected_pair(
        client_kwargs={"extensions": [ClientPerMessageDeflateFactory()]}
    )
    assert client.extensions == [] and server.extensions == []
    client.send_text(b"Hello, " * 20)
    [frame] = written(client).frames
    assert frame.rsv == 0 and frame.payload == b"Hello, " * 20
    # ... and a compressed frame, with RSV1, fails the connection (RFC 6455 §5.2).
    server.receive_data(client_frame(0x1, bytes.fromhex("f248cdc9c90700"), rsv=RSV1))
    assert type(server.failure_exc) is InvalidFrame
    assert written(server).close_codes == [1002]


@pytest.mark.rfc("R6455-7.1.7-6", "R6455-7.2.1-3", "R6455-7.3-2")
def test_client_never_closes_tcp_on_its_own() -> None:
    # RFC 6455 §7.1.7, §7.2.1, §7.3: clients SHOULD NOT close the connection; after a
    # closing handshake or a failure, the client waits for the server's TCP close.
    # It answers the server's close...
    client = open_client()
    client.receive_data(server_frame(0x8, close_payload(1000)))
    assert written(client).eof is False
    # ... starts a closing handshake that the server completes...
    client = open_client()
    client.send_close(1000)
    client.receive_data(server_frame(0x8, close_payload(1000)))
    assert written(client).eof is False
    # ... fails the connection...
    client = open_client()
    client.receive_data(server_frame(0x3, b""))
    assert written(client).close_codes == [1002]
    # ... or receives pings and data for a long while: never an EOF of its own.
    client = open_client()
    for _ in range(100):
        client.receive_data(server_frame(0x9, b"ping") + server_frame(0x1, b"data"))
        wire = written(client)
        assert [f.opcode for f in wire.frames] == [0xA] and wire.eof is False
    # It closes its side only once the server closed its own.
    for client in (open_client(),):
        client.send_close(1000)
        client.data_to_send()
        client.receive_data(server_frame(0x8, close_payload(1000)))
        assert client.data_to_send() == []
        client.receive_eof()
        assert client.data_to_send() == [b""]


@pytest.mark.rfc("R6455-7.3-1")
def test_server_may_close_whenever_desired() -> None:
    # RFC 6455 §7.3: even in the middle of a message the client is sending.
    server = open_server()
    server.receive_data(client_frame(0x1, b"half a ", fin=False))
    server.send_close(1001, "restart")
    wire = written(server)
    assert wire.close_codes == [1001]
    assert server.state is State.CLOSING
    # The client's close frame completes the handshake; the server closes TCP.
    server.receive_data(client_frame(0x8, close_payload(1001)))
    assert written(server).eof


@pytest.mark.rfc("R6455-7.2.1-1")
def test_client_fails_the_connection_on_an_invalid_handshake_response() -> None:
    # RFC 6455 §7.2.1: the client MUST _Fail the WebSocket Connection_ (§7.1.7); the
    # connection was never established, so no Close frame: it closes TCP.
    client = websocket_ref.ClientProtocol(websocket_ref.parse_uri("ws://example.com/"))
    client.send_request(client.connect())
    client.data_to_send()
    client.receive_data(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: bm90IHRoZSByaWdodCBrZXk=\r\n\r\n"
    )
    assert isinstance(client.handshake_exc, exceptions.InvalidHandshake)
    assert client.state is not State.OPEN
    assert client.data_to_send() == [b""]
    [response] = client.events_received()  # reported, for the application to inspect
    assert isinstance(response, websocket_ref.Response)
    # Nothing more is processed.
    client.receive_data(server_frame(0x1, b"ignored"))
    assert client.events_received() == []


@pytest.mark.rfc("R6455-7.2.2-1", "R6455-10.7-2", "R6455-10.7-4")
@pytest.mark.parametrize(
    "request_bytes",
    [
        # a request without Sec-WebSocket-Key: not a valid opening handshake
        b"GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
        # bytes that aren't an HTTP request
        b"\x16\x03\x01 not http at all\r\n\r\n",
    ],
)
def test_server_answers_invalid_handshake_with_400_and_closes(request_bytes: bytes) -> None:
    # RFC 6455 §10.7: an appropriate HTTP status code; RFC 6455 §7.2.2: the server then
    # simply closes the connection (RFC 6455 §10.7: it MAY drop the TCP connection).
    server = ServerProtocol()
    server.receive_data(request_bytes)
    for event in server.events_received():
        assert isinstance(event, websocket_ref.Request)
        server.send_response(server.accept(event))
    writes = server.data_to_send()
    assert writes[0].startswith(b"HTTP/1.1 400 ")
    assert writes[-1] == b""  # EOF: TCP closed by the server
    assert server.state is not State.OPEN
    assert server.handshake_exc is not None


def test_large_payload_is_written_separately(side: Side) -> None:
    protocol = make(side)
    protocol.send_binary(bytes(70000))
    header, payload = protocol.data_to_send()
    assert len(header) == (10 if side is Side.SERVER else 14)
    assert len(payload) == 70000


@pytest.mark.rfc("R6455-5.4-1", "R6455-5.4-6", "R6455-6.1-5", "R6455-6.1-6", "R6455-6.1-7")
def test_send_fragmented_message(side: Side) -> None:
    protocol = make(side)
    protocol.send_text(b"Hel", fin=False)
    protocol.send_ping(b"in between")  # control frames may be interleaved
    protocol.send_continuation(b"l", fin=False)
    protocol.send_continuation(b"o", fin=True)
    protocol.send_binary(b"next message")
    frames = written(protocol).frames
    assert [(f.opcode, f.fin, f.payload) for f in frames] == [
        (0x1, False, b"Hel"),
        (0x9, True, b"in between"),
        (0x0, False, b"l"),
        (0x0, True, b"o"),
        (0x2, True, b"next message"),
    ]


@pytest.mark.rfc("R6455-5.4-4")
def test_send_new_message_while_fragmenting(side: Side) -> None:
    protocol = make(side)
    protocol.send_binary(b"a", fin=False)
    # RFC 6455 §5.4: fragments of different messages MUST NOT be interleaved
    with pytest.raises(InvalidState):
        protocol.send_text(b"b")
    with pytest.raises(InvalidState):
        protocol.send_binary(b"b")


@pytest.mark.rfc("R6455-5.4-4")
def test_send_continuation_without_message(side: Side) -> None:
    protocol = make(side)
    with pytest.raises(InvalidState):
        protocol.send_continuation(b"a", fin=True)
    protocol.send_text(b"a")
    with pytest.raises(InvalidState):
        protocol.send_continuation(b"a", fin=True)


@pytest.mark.rfc("R6455-5.5-1")
def test_send_control_frame_too_long(side: Side) -> None:
    protocol = make(side)
    protocol.send_ping(b"x" * 125)
    protocol.send_pong(b"x" * 125)
    with pytest.raises(InvalidFrame):
        protocol.send_ping(b"x" * 126)
    with pytest.raises(InvalidFrame):
        protocol.send_pong(b"x" * 126)
    assert len(protocol.data_to_send()) == 2


@pytest.mark.rfc("R6455-5.5.1-1", "R6455-5.5.1-2", "R6455-7.1.2-1", "R6455-7.4-1", "R6455-7.4.1-1")
def test_send_close_variants() -> None:
    server = open_server()
    server.send_close()
    assert server.data_to_send() == [b"\x88\x00"]
    assert server.close_sent == Close(1005, "")
    server = open_server()
    server.send_close(1001, "bye")
    assert server.data_to_send() == [b"\x88\x05\x03\xe9bye"]
    assert server.close_sent == Close(1001, "bye")
    assert server.state is State.CLOSING
    assert server.close_expected()
    assert not server.eof_sent  # the server waits for the client's close


@pytest.mark.rfc("R6455-7.4.1-3", "R6455-7.4.1-4", "R6455-7.4.1-6")
@pytest.mark.parametrize("code", [1004, 1005, 1006, 1015, 999, 2000, 5000])
def test_send_close_invalid_code(code: int) -> None:
    server = open_server()
    with pytest.raises(InvalidCloseFrame):
        server.send_close(code)
    assert server.state is State.OPEN
    assert server.data_to_send() == []


@pytest.mark.rfc("R6455-5.4-1", "R6455-7.4.1-1")
def test_close_while_sending_a_fragmented_message_fails_with_1011(side: Side) -> None:
    # A choice (docs/rfc-choices.md), websockets': the message can't be finished, so
    # close() doesn't claim a normal closure (1000): it fails the connection with 1011.
    protocol = make(side)
    protocol.send_text(b"cut", fin=False)
    written(protocol)
    with pytest.raises(InvalidCloseFrame):  # a bad code is refused all the same
        protocol.close(1005)
    assert protocol.state is State.OPEN
    protocol.close(1000, "bye")
    wire = written(protocol)
    assert wire.close_codes == [1011]
    assert protocol.close_sent == Close(1011, "close during fragmented message")
    assert wire.eof is (side is Side.SERVER)  # failing: the server closes TCP at once
    assert protocol.state is State.CLOSING
    with pytest.raises(InvalidState):
        protocol.send_continuation(b"", fin=True)
    # Failed (RFC 6455 §7.1.7): the peer's close frame isn't processed.
    protocol.receive_data(peer_frame(protocol, 0x8, close_payload(1000)))
    assert protocol.events_received() == []
    protocol.receive_eof()
    assert str(protocol.close_exc) == (
        "sent 1011 (internal error) close during fragmented message; no close frame received"
    )


@pytest.mark.rfc("R6455-7.1.2-1")
def test_close_outside_a_fragmented_message_is_send_close(side: Side) -> None:
    protocol = make(side)
    protocol.send_text(b"complete", fin=False)
    protocol.send_continuation(b"", fin=True)
    written(protocol)
    protocol.close()
    assert protocol.close_sent == Close(1000, "")
    protocol = make(side)
    protocol.close(1001, "bye")
    wire = written(protocol)
    assert wire.close_codes == [1001]
    assert not wire.eof
    assert protocol.close_sent == Close(1001, "bye")
    # The closing handshake goes on: the peer's close frame is processed.
    protocol.receive_data(peer_frame(protocol, 0x8, close_payload(1001)))
    assert protocol.close_rcvd == Close(1001, "")
    with pytest.raises(InvalidState):
        protocol.close()
    protocol = make(side)
    protocol.close(None)
    assert protocol.close_sent == Close(1005, "")


def test_send_close_invalid_arguments() -> None:
    server = open_server()
    with pytest.raises(ValueError):
        server.send_close(reason="no code")
    with pytest.raises(InvalidFrame):
        server.send_close(1000, "x" * 124)
    assert server.state is State.OPEN


@pytest.mark.rfc("R6455-5.5.1-5", "R6455-6.1-2", "R6455-5.1-7", "R6455-5.5.2-4")
def test_send_after_close(side: Side) -> None:
    protocol = make(side)
    protocol.send_close(1000)
    for send in (
        lambda: protocol.send_text(b""),
        lambda: protocol.send_binary(b""),
        lambda: protocol.send_continuation(b"", fin=True),
        lambda: protocol.send_ping(b""),
        lambda: protocol.send_pong(b""),
        lambda: protocol.send_close(1000),
    ):
        with pytest.raises(InvalidState):
            send()


def test_send_eof_twice() -> None:
    server = open_server()
    server.send_eof()
    with pytest.raises(InvalidState):
        server.send_eof()
    assert server.data_to_send() == [b""]


# Receiving data frames


@pytest.mark.rfc("R6455-6.2-1", "R6455-6.2-3", "R6455-6.2-4", "R6455-5.4-7")
def test_receive_messages(side: Side) -> None:
    protocol = make(side)
    protocol.receive_data(
        peer_frame(protocol, 0x1, "café".encode())
        + peer_frame(protocol, 0x2, b"\x00\xff")
        + peer_frame(protocol, 0x1, b"")
    )
    assert protocol.events_received() == [
        Frame(Opcode.TEXT, "café".encode()),
        Frame(Opcode.BINARY, b"\x00\xff"),
        Frame(Opcode.TEXT, b""),
    ]
    assert protocol.data_to_send() == []


@pytest.mark.rfc("R6455-5.2-5")
@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 100_000])
def test_receive_length_encodings(side: Side, size: int) -> None:
    protocol = make(side)
    data = bytes(i % 256 for i in range(size))
    protocol.receive_data(peer_frame(protocol, 0x2, data))
    assert protocol.events_received() == [Frame(Opcode.BINARY, data)]


def test_receive_byte_by_byte(side: Side) -> None:
    protocol = make(side)
    wire = peer_frame(protocol, 0x1, "κόσμε".encode() * 30) + peer_frame(protocol, 0x9, b"p")
    events = []
    for i in range(len(wire)):
        protocol.receive_data(wire[i : i + 1])
        events.extend(protocol.events_received())
    assert events == [Frame(Opcode.TEXT, "κόσμε".encode() * 30), Frame(Opcode.PING, b"p")]


def test_receive_large_frame_in_64k_chunks(side: Side) -> None:
    # 16 MiB in one frame, max_size=None, fed as 64 KiB reads.
    size = 16 * 2**20
    protocol = make(side, max_size=None)
    payload = bytes(range(256)) * (size // 256)
    wire = peer_frame(protocol, 0x2, b"", length=size)
    # Towards a server, mask the payload with the key the header carries.
    body = apply_mask(payload, MASK) if protocol.side is Side.SERVER else payload
    stream = wire + body
    events = []
    for start in range(0, len(stream), 65536):
        protocol.receive_data(stream[start : start + 65536])
        events.extend(protocol.events_received())
    assert len(events) == 1
    assert events[0].opcode is Opcode.BINARY
    assert events[0].data == payload


def test_receive_large_text_frame_in_64k_chunks(side: Side) -> None:
    # Partial UTF-8 validation of a frame arriving in pieces must agree with the end.
    protocol = make(side, max_size=None)
    text = ("ASCII and κόσμε and 🎉 " * 100_000).encode()
    stream = peer_frame(protocol, 0x1, text)
    events = []
    for start in range(0, len(stream), 65536):
        protocol.receive_data(stream[start : start + 65536])
        events.extend(protocol.events_received())
    assert events == [Frame(Opcode.TEXT, text)]
    assert protocol.failure_exc is None


# Per-frame rules (RFC 6455 §5.1, §5.2, §5.5)


@pytest.mark.rfc("R6455-5.1-2", "R6455-5.1-3")
def test_unmasked_frame_to_server() -> None:
    server = open_server()
    server.receive_data(server_frame(0x1, b"x"))
    assert_failed(server, InvalidFrame, 1002, "RFC 6455 §5.1")


@pytest.mark.rfc("R6455-5.1-5", "R6455-5.1-6")
def test_masked_frame_to_client() -> None:
    client = open_client()
    client.receive_data(client_frame(0x1, b"x"))
    assert_failed(client, InvalidFrame, 1002, "RFC 6455 §5.1")


@pytest.mark.rfc("R6455-5.2-2")
@pytest.mark.parametrize("rsv", [RSV1, RSV2, RSV3])
def test_reserved_bits(side: Side, rsv: int) -> None:
    protocol = make(side)
    protocol.receive_data(peer_frame(protocol, 0x1, b"x", rsv=rsv))
    assert_failed(protocol, InvalidFrame, 1002, "RFC 6455 §5.2")


@pytest.mark.rfc("R6455-5.2-3", "R6455-5.4-12")
@pytest.mark.parametrize("opcode", [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcodes(side: Side, opcode: int) -> None:
    protocol = make(side)
    protocol.receive_data(peer_frame(protocol, opcode, b""))
    assert_failed(protocol, InvalidFrame, 1002, "RFC 6455 §5.2")


@pytest.mark.rfc("R6455-5.2-4")
def test_64_bit_length_with_msb_set(side: Side) -> None:
    protocol = make(side, max_size=None)
    protocol.receive_data(peer_frame(protocol, 0x2, b"", length=2**63 + 5, length_size=8))
    assert_failed(protocol, InvalidFrame, 1002, "RFC 6455 §5.2")


@pytest.mark.rfc("R6455-5.5-1")
@pytest.mark.parametrize("opcode", [0x8, 0x9, 0xA])
def test_control_frame_too_long(side: Side, opcode: int) -> None:
    protocol = make(side)
    protocol.receive_data(peer_frame(protocol, opcode, close_payload(1000, b"x" * 124)))
    assert_failed(protocol, InvalidFrame, 1002, "RFC 6455 §5.5")


@pytest.mark.rfc("R6455-5.5-1", "R6455-5.4-2")
@pytest.mark.parametrize("opcode", [0x8, 0x9, 0xA])
def test_fragmented_control_frame(side: Side, opcode: int) -> None:
    protocol = make(side)
    protocol.receive_data(peer_frame(protocol, opcode, b"", fin=False))
    assert_failed(protocol, InvalidFrame, 1002, "RFC 6455 §5.5")


def test_error_after_valid_frames_keeps_their_events(side: Side) -> None:
    protocol = make(side)
    protocol.receive_data(peer_frame(protocol, 0x1, b"ok") + peer_frame(protocol, 0x3, b""))
    assert protocol.events_received() == [Frame(Opcode.TEXT, b"ok")]
    assert_failed(protocol, InvalidFrame, 1002)


def test_close_reason_of_a_failure_explains_the_rule(side: Side) -> None:
    protocol = make(side)
    protocol.receive_data(peer_frame(protocol, 0x0, b"x"))
    reason = protocol.close_sent.reason  # type: ignore[union-attr]
    assert reason == "unexpected continuation frame (RFC 6455 §5.4)"


def test_a_failure_keeps_no_traceback_and_so_not_the_read(side: Side) -> None:
    # The failure lives as long as the connection (ConnectionClosedError.__cause__); its
    # traceback would hold the parser's frames, whose locals hold the bytes read.
    for defer in (False, True):
        protocol = make(side)
        protocol.defer_failures = defer
        protocol.receive_data(peer_frame(protocol, 0x1, b"ok") + peer_frame(protocol, 0x3, b""))
        protocol.events_received()
        protocol.fail_pending()
        assert isinstance(protocol.failure_exc, InvalidFrame)
        assert protocol.failure_exc.__traceback__ is None


# Fragmentation (RFC 6455 §5.4)


@pytest.mark.rfc("R6455-5.4-3", "R6455-5.4-7")
def test_fragmented_message(side: Side) -> None:
    protocol = make(side)
    events = []
    for wire in [
        peer_frame(protocol, 0x1, b"Hel", fin=False),
        peer_frame(protocol, 0x0, b"", fin=False),
        peer_frame(protocol, 0x0, b"lo"),
    ]:
        protocol.receive_data(wire)
        events += protocol.events_received()
    assert events == [
        Frame(Opcode.TEXT, b"Hel", fin=False),
        Frame(Opcode.CONT, b"", fin=False),
        Frame(Opcode.CONT, b"lo"),
    ]


@pytest.mark.rfc("R6455-5.4-3", "R6455-5.4-7")
def test_small_fragments_received_together_are_joined(side: Side) -> None:
    # RFC 6455 §5.4: frame boundaries carry no meaning; one event, one growing buffer.
    protocol = make(side, join_at_once=True)
    protocol.receive_data(
        peer_frame(protocol, 0x1, b"Hel", fin=False)
        + peer_frame(protocol, 0x0, b"", fin=False)
        + peer_frame(protocol, 0x0, b"lo")
        + peer_frame(protocol, 0x2, b"a", fin=False)
        + peer_frame(protocol, 0x0, b"b", fin=False)
    )
    assert protocol.events_received() == [
        Frame(Opcode.TEXT, b"Hello"),
        Frame(Opcode.BINARY, b"ab", fin=False),
    ]
    # Events already handed out aren't joined into: the next fragment is an event.
    protocol.receive_data(peer_frame(protocol, 0x0, b"c", fin=False))
    protocol.receive_data(peer_frame(protocol, 0x0, b"d", fin=False))
    assert protocol.events_received() == [Frame(Opcode.CONT, b"cd", fin=False)]
    protocol.receive_data(peer_frame(protocol, 0x0, b"e"))
    assert protocol.events_received() == [Frame(Opcode.CONT, b"e")]


def test_large_fragments_are_not_joined(side: Side) -> None:
    protocol = make(side, join_at_once=True)
    big = bytes(COALESCE_LIMIT)
    protocol.receive_data(
        peer_frame(protocol, 0x2, b"a", fin=False)
        + peer_frame(protocol, 0x0, big, fin=False)  # too large to join
        + peer_frame(protocol, 0x0, b"", fin=False)  # empty: joined without a copy
        + peer_frame(protocol, 0x0, b"b", fin=False)  # would copy a large payload
        + peer_frame(protocol, 0x0, b"c")
    )
    events = protocol.events_received()
    assert events == [
        Frame(Opcode.BINARY, b"a", fin=False),
        Frame(Opcode.CONT, big, fin=False),
        Frame(Opcode.CONT, b"bc"),
    ]


def test_fragments_before_a_failure_are_delivered_joined(side: Side) -> None:
    protocol = make(side, join_at_once=True, max_size=10)
    protocol.receive_data(
        peer_frame(protocol, 0x2, b"abc", fin=False)
        + peer_frame(protocol, 0x0, b"def", fin=False)
        + peer_frame(protocol, 0x0, b"ghijk")
    )
    assert protocol.events_received() == [Frame(Opcode.BINARY, b"abcdef", fin=False)]
    assert_failed(protocol, PayloadTooBig, 1009, "RFC 6455 §10.4")


@pytest.mark.rfc("R6455-5.4-5", "R6455-6.2-2")
def test_control_frames_interleaved_in_fragmented_message(side: Side) -> None:
    # RFC 6455 §5.4: control frames MAY be injected in the middle of a fragmented message
    protocol = make(side)
    protocol.receive_data(
        peer_frame(protocol, 0x2, b"a", fin=False)
        + peer_frame(protocol, 0x9, b"ping")
        + peer_frame(protocol, 0x0, b"b", fin=False)
        + peer_frame(protocol, 0xA, b"pong")
        + peer_frame(protocol, 0x0, b"c")
    )
    assert protocol.events_received() == [
        Frame(Opcode.BINARY, b"a", fin=False),
        Frame(Opcode.PING, b"ping"),
        Frame(Opcode.CONT, b"b", fin=False),
        Frame(Opcode.PONG, b"pong"),
        Frame(Opcode.CONT, b"c"),
    ]
    # The ping is answered right away, in the middle of the message.
    assert [(f.opcode, f.payload) for f in written(protocol).frames] == [(0xA, b"ping")]


@pytest.mark.rfc("R6455-5.5.1-8")
def test_close_in_the_middle_of_a_fragmented_message(side: Side) -> None:
    protocol = make(side)
    protocol.receive_data(
        peer_frame(protocol, 0x1, b"a", fin=False)
        + peer_frame(protocol, 0x8, close_payload(1000))
        + peer_frame(protocol, 0x0, b"b")
    )
    assert protocol.events_received() == [
        Frame(Opcode.TEXT, b"a", fin=False),
        Frame(Opcode.CLOSE, close_payload(1000)),
    ]
    assert written(protocol).close_codes == [1000]


@pytest.mark.rfc("R6455-5.4-4")
@pytest.mark.parametrize("fin", [True, False])
def test_continuation_without_start(side: Side, fin: bool) -> None:
    protocol = make(side)
    protocol.receive_data(peer_frame(protocol, 0x0, b"x", fin=fin))
    assert_failed(protocol, InvalidFrame, 1002, "RFC 6455 §5.4")


def test_continuation_after_complete_message(side: Side) -> None:
    protocol = make(side)
    protocol.receive_data(peer_frame(protocol, 0x1, b"a") + peer_frame(protocol, 0x0, b"b"))
    assert protocol.events_received() == [Frame(Opcode.TEXT, b"a")]
    assert_failed(protocol, InvalidFrame, 1002, "RFC 6455 §5.4")


@pytest.mark.rfc("R6455-5.4-4")
@pytest.mark.parametrize("opcode", [0x1, 0x2])
@pytest.mark.parametrize("fin", [True, False])
def test_new_data_frame_inside_message(side: Side, opcode: int, fin: bool) -> None:
    protocol = make(side)
    protocol.receive_data(
        peer_frame(protocol, 0x2, b"a", fin=False) + peer_frame(protocol, opcode, b"b", fin=fin)
    )
    assert protocol.events_received() == [Frame(Opcode.BINARY, b"a", fin=False)]
    assert_failed(protocol, InvalidFrame, 1002, "RFC 6455 §5.4")


# max_size (RFC 6455 §10.4): 1009 for frames and for reassembled messages


def test_frame_too_big(side: Side) -> None:
    protocol = make(side, max_size=100)
    protocol.receive_data(peer_frame(protocol, 0x2, bytes(101)))
    assert_failed(protocol, PayloadTooBig, 1009, "RFC 6455 §10.4")


@pytest.mark.rfc("R6455-10.4-1", "R6455-10.4-2")
def test_frame_too_big_detected_from_its_header(side: Side) -> None:
    protocol = make(side, max_size=100)
    protocol.receive_data(peer_frame(protocol, 0x2, bytes(200))[:8])  # header (+ mask)
    assert_failed(protocol, PayloadTooBig, 1009, "RFC 6455 §10.4")


def test_message_of_max_size(side: Side) -> None:
    protocol = make(side, join_at_once=True, max_size=100)
    protocol.receive_data(
        peer_frame(protocol, 0x2, bytes(60), fin=False) + peer_frame(protocol, 0x0, bytes(40))
    )
    assert protocol.events_received() == [Frame(Opcode.BINARY, bytes(100))]
    assert protocol.failure_exc is None


@pytest.mark.rfc("R6455-10.4-1", "R6455-10.4-2")
def test_message_too_big(side: Side) -> None:
    protocol = make(side, max_size=100)
    protocol.receive_data(
        peer_frame(protocol, 0x1, bytes(60), fin=False) + peer_frame(protocol, 0x0, bytes(41))
    )
    assert protocol.events_received() == [Frame(Opcode.TEXT, bytes(60), fin=False)]
    assert_failed(protocol, PayloadTooBig, 1009, "RFC 6455 §10.4")


def test_message_too_big_detected_before_last_frame_arrives(side: Side) -> None:
    protocol = make(side, max_size=100)
    wire = peer_frame(protocol, 0x2, bytes(60), fin=False) + peer_frame(protocol, 0x0, bytes(50))
    protocol.receive_data(wire[:-40])  # the second frame's header and part of its payload
    assert protocol.events_received() == [Frame(Opcode.BINARY, bytes(60), fin=False)]
    assert_failed(protocol, PayloadTooBig, 1009, "RFC 6455 §10.4")


def test_message_size_counter_resets_between_messages(side: Side) -> None:
    protocol = make(side, join_at_once=True, max_size=100)
    for _ in range(5):
        protocol.receive_data(
            peer_frame(protocol, 0x2, bytes(50), fin=False) + peer_frame(protocol, 0x0, bytes(50))
        )
    assert protocol.events_received() == [Frame(Opcode.BINARY, bytes(100))] * 5
    assert protocol.failure_exc is None


def test_max_size_none(side: Side) -> None:
    protocol = make(side, max_size=None)
    protocol.receive_data(peer_frame(protocol, 0x2, bytes(3 * 2**20)))
    assert protocol.events_received() == [Frame(Opcode.BINARY, bytes(3 * 2**20))]


def test_default_max_size(side: Side) -> None:
    protocol = make(side)
    assert protocol.max_size == 2**20
    protocol.receive_data(peer_frame(protocol, 0x2, b"", length=2**20 + 1))
    assert_failed(protocol, PayloadTooBig, 1009, "RFC 6455 §10.4")


# max_fragments (RFC 6455 §10.4: "a long stream of small frames that are a part of a
# fragmented message"): 1009 past the limit


def fragments(protocol: Protocol, count: int, *, fin: bool = True) -> bytes:
    """A binary message of ``count`` one-byte frames (the last one with ``fin``)."""
    if count == 1:
        return peer_frame(protocol, 0x2, b"x", fin=fin)
    return (
        peer_frame(protocol, 0x2, b"x", fin=False)
        + peer_frame(protocol, 0x0, b"x", fin=False) * (count - 2)
        + peer_frame(protocol, 0x0, b"x", fin=fin)
    )


def test_default_max_fragments(side: Side) -> None:
    protocol = make(side)
    assert protocol.max_fragments == MAX_FRAGMENTS == 2**17


def test_message_of_max_fragments(side: Side) -> None:
    protocol = make(side, join_at_once=True, max_fragments=10)
    protocol.receive_data(fragments(protocol, 10))
    assert protocol.events_received() == [Frame(Opcode.BINARY, b"x" * 10)]
    assert protocol.failure_exc is None


def test_message_in_too_many_fragments(side: Side) -> None:
    protocol = make(side, join_at_once=True, max_fragments=10)
    protocol.receive_data(fragments(protocol, 11))
    # The ten fragments within the limit are delivered (joined), then 1009.
    assert protocol.events_received() == [Frame(Opcode.BINARY, b"x" * 10, fin=False)]
    assert_failed(protocol, TooManyFragments, 1009, "RFC 6455 §10.4")
    # websockets' exception and words; a PayloadTooBig too (the same 1009).
    assert isinstance(protocol.failure_exc, PayloadTooBig)
    assert protocol.failure_exc.max_fragments == 10
    assert "fragmented message exceeds limit of 10 frames" in str(protocol.failure_exc)


def test_too_many_fragments_detected_from_the_header(side: Side) -> None:
    protocol = make(side, max_fragments=3)
    protocol.receive_data(fragments(protocol, 3, fin=False))
    protocol.receive_data(peer_frame(protocol, 0x0, bytes(100))[:8])  # header (+ mask)
    assert_failed(protocol, TooManyFragments, 1009, "RFC 6455 §10.4")


def test_million_fragment_flood_fails_at_the_limit(side: Side) -> None:
    # The flood of the issue, cut short: after max_fragments frames the connection is
    # failed and the rest of the data is discarded unparsed.
    protocol = make(side, join_at_once=True, max_fragments=1000)
    protocol.receive_data(fragments(protocol, 2000, fin=False))
    assert protocol.events_received() == [Frame(Opcode.BINARY, b"x" * 1000, fin=False)]
    assert_failed(protocol, TooManyFragments, 1009, "RFC 6455 §10.4")


def test_flood_under_the_defaults_gives_a_bounded_number_of_events(side: Side) -> None:
    # Past SEPARATE_FRAGMENTS per batch, small fragments are joined: 2,000 fragments
    # make SEPARATE_FRAGMENTS events, the last holding the rest, never one per frame.
    protocol = make(side, max_fragments=1000)
    protocol.receive_data(fragments(protocol, 2000, fin=False))
    events = protocol.events_received()
    assert len(events) == SEPARATE_FRAGMENTS
    assert b"".join(e.data for e in events if isinstance(e, Frame)) == b"x" * 1000
    assert_failed(protocol, TooManyFragments, 1009, "RFC 6455 §10.4")


@pytest.mark.rfc("R6455-5.4-3")
def test_fragments_arrive_as_sent_up_to_separate_fragments(side: Side) -> None:
    # A message streamed in pieces reaches the reader piece by piece (as websockets
    # delivers them), though the fragments arrived in one read; the count restarts with
    # each events_received(); fragment SEPARATE_FRAGMENTS + 1 onward joins the last event.
    protocol = make(side)
    pieces = [b"%d" % i for i in range(SEPARATE_FRAGMENTS + 3)]
    wire = peer_frame(protocol, 0x1, pieces[0], fin=False)
    for piece in pieces[1:-1]:
        wire += peer_frame(protocol, 0x0, piece, fin=False)
    protocol.receive_data(wire)
    events = protocol.events_received()
    assert [e.data for e in events if isinstance(e, Frame)] == [
        *pieces[: SEPARATE_FRAGMENTS - 1],
        b"".join(pieces[SEPARATE_FRAGMENTS - 1 : -1]),
    ]
    protocol.receive_data(peer_frame(protocol, 0x0, pieces[-1]))
    assert protocol.events_received() == [Frame(Opcode.CONT, pieces[-1])]


def test_fragment_counter_resets_between_messages(side: Side) -> None:
    protocol = make(side, join_at_once=True, max_fragments=10)
    for _ in range(5):
        protocol.receive_data(fragments(protocol, 10))
    assert protocol.events_received() == [Frame(Opcode.BINARY, b"x" * 10)] * 5
    assert protocol.failure_exc is None


def test_control_frames_dont_count_as_fragments(side: Side) -> None:
    protocol = make(side, max_fragments=2)
    protocol.receive_data(
        peer_frame(protocol, 0x1, b"a", fin=False)
        + peer_frame(protocol, 0x9, b"")
        + peer_frame(protocol, 0xA, b"")
        + peer_frame(protocol, 0x0, b"b")
    )
    assert protocol.failure_exc is None


def test_max_fragments_none(side: Side) -> None:
    protocol = make(side, join_at_once=True, max_fragments=None)
    protocol.receive_data(fragments(protocol, MAX_FRAGMENTS + 1))
    assert protocol.failure_exc is None
    [event] = protocol.events_received()
    assert len(event.data) == MAX_FRAGMENTS + 1  # type: ignore[union-attr]


@pytest.mark.parametrize("value", [0, -1])
def test_max_fragments_must_be_positive(value: int) -> None:
    with pytest.raises(ValueError, match="max_fragments"):
        ServerProtocol(max_fragments=value)


def test_control_frames_dont_count_towards_message_size(side: Side) -> None:
    protocol = make(side, max_size=10)
    protocol.receive_data(
        peer_frame(protocol, 0x2, bytes(5), fin=False)
        + peer_frame(protocol, 0x9, bytes(10))
        + peer_frame(protocol, 0x0, bytes(5))
    )
    assert len(protocol.events_received()) == 3
    assert protocol.failure_exc is None


# UTF-8 of text messages (RFC 6455 §5.6, §8.1): 1007 at the first invalid byte


@pytest.mark.rfc("R6455-8.1-1", "R6455-5.6-1", "R6455-10.7-1", "R6455-10.7-3")
def test_invalid_utf8_in_single_frame(side: Side) -> None:
    protocol = make(side)
    protocol.receive_data(peer_frame(protocol, 0x1, b"caf\xc3"))
    assert_failed(protocol, InvalidUTF8, 1007, "RFC 6455 §8.1")


def test_binary_isnt_validated(side: Side) -> None:
    protocol = make(side, join_at_once=True)
    protocol.receive_data(
        peer_frame(protocol, 0x2, b"\xff", fin=False) + peer_frame(protocol, 0x0, b"\xfe")
    )
    assert protocol.events_received() == [Frame(Opcode.BINARY, b"\xff\xfe")]
    assert protocol.failure_exc is None


def test_character_split_across_fragments(side: Side) -> None:
    protocol = make(side)
    euro = "€".encode()
    protocol.receive_data(
        peer_frame(protocol, 0x1, euro[:1], fin=False)
        + peer_frame(protocol, 0x0, euro[1:2], fin=False)
        + peer_frame(protocol, 0x0, euro[2:])
    )
    assert b"".join(f.data for f in protocol.events_received()) == euro  # type: ignore[union-attr]
    assert protocol.failure_exc is None


def test_invalid_utf8_in_a_fragment_fails_before_the_end(side: Side) -> None:
    protocol = make(side)
    protocol.receive_data(
        peer_frame(protocol, 0x1, "κόσμε".encode(), fin=False)
        + peer_frame(protocol, 0x0, b"\xf4\x90", fin=False)  # > U+10FFFF
    )
    assert protocol.events_received() == [Frame(Opcode.TEXT, "κόσμε".encode(), fin=False)]
    assert_failed(protocol, InvalidUTF8, 1007)


def test_incomplete_character_at_end_of_message(side: Side) -> None:
    protocol = make(side)
    protocol.receive_data(
        peer_frame(protocol, 0x1, b"\xe2\x82", fin=False) + peer_frame(protocol, 0x0, b"")
    )
    assert protocol.events_received() == [Frame(Opcode.TEXT, b"\xe2\x82", fin=False)]
    assert_failed(protocol, InvalidUTF8, 1007)


@pytest.mark.rfc("R6455-8.1-1")
def test_invalid_utf8_inside_a_frame_still_arriving(side: Side) -> None:
    # The core validates partial payloads: the error comes before the frame is complete.
    protocol = make(side)
    wire = peer_frame(protocol, 0x1, b"valid start \xff" + b"x" * 1000)
    protocol.receive_data(wire[:30])
    assert protocol.events_received() == []
    assert_failed(protocol, InvalidUTF8, 1007)


def test_invalid_utf8_inside_a_continuation_still_arriving(side: Side) -> None:
    protocol = make(side)
    wire = peer_frame(protocol, 0x1, "κό".encode(), fin=False) + peer_frame(
        protocol, 0x0, "σμε".encode() + b"\xc0\xaf" + b"x" * 1000
    )
    protocol.receive_data(wire[:-900])
    assert protocol.events_received() == [Frame(Opcode.TEXT, "κό".encode(), fin=False)]
    assert_failed(protocol, InvalidUTF8, 1007)


def test_partial_validation_then_completion(side: Side) -> None:
    # A character straddling the partial/complete boundary of one frame.
    protocol = make(side)
    text = ("a" * 20 + "🎉" + "b" * 20).encode()
    wire = peer_frame(protocol, 0x1, text)
    cut = len(wire) - 20 - 2  # in the middle of the 4-byte emoji
    for chunk in (wire[:10], wire[10:cut], wire[cut:]):
        protocol.receive_data(chunk)
    assert protocol.events_received() == [Frame(Opcode.TEXT, text)]
    assert protocol.failure_exc is None


def test_utf8_state_resets_between_messages(side: Side) -> None:
    protocol = make(side)
    protocol.receive_data(peer_frame(protocol, 0x1, "é".encode()))
    protocol.receive_data(peer_frame(protocol, 0x1, b"ok"))
    assert len(protocol.events_received()) == 2
    assert protocol.failure_exc is None


def test_utf8_validated_across_fragments_after_ascii_messages(side: Side) -> None:
    # The validators make their decoder for the first byte that isn't ASCII: after
    # ASCII-only messages, a character split across fragments is still validated
    # incrementally, and an invalid one still fails before the message ends.
    protocol = make(side)
    protocol.receive_data(peer_frame(protocol, 0x1, b"ascii") + peer_frame(protocol, 0x1, b"ok"))
    euro = "€".encode()
    protocol.receive_data(
        peer_frame(protocol, 0x1, b"x" + euro[:1], fin=False)
        + peer_frame(protocol, 0x0, euro[1:2], fin=False)
        + peer_frame(protocol, 0x0, euro[2:])
    )
    assert protocol.failure_exc is None
    protocol.receive_data(
        peer_frame(protocol, 0x1, b"y", fin=False) + peer_frame(protocol, 0x0, b"\xe2", fin=False)
    )
    assert protocol.failure_exc is None
    protocol.receive_data(peer_frame(protocol, 0x0, b"(", fin=False))
    assert_failed(protocol, InvalidUTF8, 1007)


def test_send_text_refusal_after_ascii_fragments(side: Side) -> None:
    # The refused fragment is taken back to the state before it, decoder or not.
    protocol = make(side)
    protocol.send_text(b"ascii", fin=False)
    with pytest.raises(ValueError, match=r"RFC 6455 §5\.6"):
        protocol.send_continuation(b"\xff", fin=False)
    protocol.send_continuation(b"\xe2\x82", fin=False)
    with pytest.raises(ValueError, match=r"RFC 6455 §5\.6"):
        protocol.send_continuation(b"x", fin=True)
    protocol.send_continuation(b"\xac", fin=True)
    assert b"".join(f.payload for f in written(protocol).frames) == "ascii€".encode()


# Ping and pong (RFC 6455 §5.5.2, §5.5.3)


@pytest.mark.rfc("R6455-5.5.2-2", "R6455-5.5.2-3")
@pytest.mark.parametrize("payload", [b"", b"Hello", b"\x00\xff" * 62 + b"!"])
def test_ping_answered_with_same_payload(side: Side, payload: bytes) -> None:
    protocol = make(side)
    protocol.receive_data(peer_frame(protocol, 0x9, payload))
    # The ping is still reported to the application.
    assert protocol.events_received() == [Frame(Opcode.PING, payload)]
    [pong] = written(protocol).frames
    assert (pong.opcode, pong.fin, pong.payload) == (0xA, True, payload)
    assert pong.masked is (side is Side.CLIENT)


def test_server_pong_exact_bytes() -> None:
    server = open_server()
    server.receive_data(client_frame(0x9, b"Hello"))
    # RFC 6455 §5.7: unmasked pong "Hello"
    assert server.data_to_send() == [bytes.fromhex("8a0548656c6c6f")]


@pytest.mark.rfc("R6455-5.5.3-2")
def test_unsolicited_pong(side: Side) -> None:
    protocol = make(side)
    protocol.receive_data(peer_frame(protocol, 0xA, b"heartbeat"))
    assert protocol.events_received() == [Frame(Opcode.PONG, b"heartbeat")]
    assert protocol.data_to_send() == []
    assert protocol.failure_exc is None


@pytest.mark.rfc("R6455-5.5.2-2")
def test_ping_answered_after_close_sent(side: Side) -> None:
    # RFC 6455 §5.5.2: the only exception is a Close frame *received*; after sending
    # ours, a ping that arrives before the peer's Close still gets its pong.
    protocol = make(side)
    protocol.send_close(1000)
    protocol.data_to_send()
    protocol.receive_data(peer_frame(protocol, 0x9, b"late"))
    assert protocol.events_received() == [Frame(Opcode.PING, b"late")]
    [pong] = written(protocol).frames
    assert (pong.opcode, pong.payload) == (0xA, b"late")
    # The peer's close then completes the handshake as usual.
    protocol.receive_data(peer_frame(protocol, 0x8, close_payload(1000)))
    assert protocol.close_rcvd == Close(1000, "")


@pytest.mark.rfc("R6455-5.5.2-2")
def test_a_few_pings_received_together_are_each_answered(side: Side) -> None:
    # Autobahn 2.10 and 2.11: ten pings at once, ten pongs expected (not required by the
    # RFC, which lets a pong answer only the most recent: see below).
    protocol = make(side)
    protocol.receive_data(b"".join(peer_frame(protocol, 0x9, b"%d" % i) for i in range(10)))
    assert protocol.pong_pending
    # The run of pings is reported by the most recent one.
    assert protocol.events_received() == [Frame(Opcode.PING, b"9")]
    pongs = written(protocol).frames
    assert [(f.opcode, f.payload) for f in pongs] == [(0xA, b"%d" % i) for i in range(10)]
    assert not protocol.pong_pending


@pytest.mark.rfc("R6455-5.5.3-1")
def test_pings_past_the_unsent_pong_limit_answered_by_one_pong_for_the_most_recent(
    side: Side,
) -> None:
    # RFC 6455 §5.5.3: with earlier pings not answered yet, a pong for the most recent
    # is enough. Past MAX_PENDING_PONGS pongs not yet taken by data_to_send(), the last
    # one is replaced in place.
    limit = MAX_PENDING_PONGS
    protocol = make(side)
    protocol.receive_data(b"".join(peer_frame(protocol, 0x9, b"%d" % i) for i in range(limit + 5)))
    pongs = written(protocol).frames
    assert [f.payload for f in pongs] == [b"%d" % i for i in range(limit - 1)] + [
        b"%d" % (limit + 4)
    ]
    assert not protocol.pong_pending


@pytest.mark.rfc("R6455-5.5.3-1")
def test_pong_replaced_only_until_taken(side: Side) -> None:
    limit = MAX_PENDING_PONGS
    protocol = make(side)
    protocol.receive_data(b"".join(peer_frame(protocol, 0x9, b"a") for _ in range(limit)))
    protocol.send_text(b"sent after the pongs")
    protocol.receive_data(peer_frame(protocol, 0x9, b"b"))
    # The last pong is replaced where it was queued: before the message.
    assert [(f.opcode, f.payload) for f in written(protocol).frames] == [
        *[(0xA, b"a")] * (limit - 1),
        (0xA, b"b"),
        (0x1, b"sent after the pongs"),
    ]
    # Once the bytes were taken, the next ping gets a pong of its own.
    protocol.receive_data(peer_frame(protocol, 0x9, b"c"))
    assert [(f.opcode, f.payload) for f in written(protocol).frames] == [(0xA, b"c")]


def test_runs_of_pings_and_pongs_reported_by_the_most_recent(side: Side) -> None:
    protocol = make(side)
    protocol.receive_data(
        peer_frame(protocol, 0xA, b"p1")
        + peer_frame(protocol, 0xA, b"p2")
        + peer_frame(protocol, 0x9, b"a")
        + peer_frame(protocol, 0x9, b"b")
        + peer_frame(protocol, 0x1, b"text")
        + peer_frame(protocol, 0x9, b"c")
    )
    assert protocol.events_received() == [
        Frame(Opcode.PONG, b"p2"),
        Frame(Opcode.PING, b"b"),
        Frame(Opcode.TEXT, b"text"),
        Frame(Opcode.PING, b"c"),
    ]
    # Events already handed out aren't replaced.
    protocol.receive_data(peer_frame(protocol, 0x9, b"d"))
    assert protocol.events_received() == [Frame(Opcode.PING, b"d")]


def test_response_then_pings_in_one_read() -> None:
    # The event before a run of control frames may be the handshake response.
    client = ClientProtocol(websocket_ref.parse_uri("ws://localhost/"))
    server = ServerProtocol()
    client.send_request(client.connect())
    for data in client.data_to_send():
        server.receive_data(data)
    [request] = server.events_received()
    server.send_response(server.accept(request))  # type: ignore[arg-type]
    for data in server.data_to_send():
        client.receive_data(data + server_frame(0x9, b"a") + server_frame(0x9, b"b"))
    events = client.events_received()
    assert len(events) == 2 and events[1] == Frame(Opcode.PING, b"b")


def test_ping_flood_queues_a_bounded_number_of_pongs(side: Side) -> None:
    # 100,000 pings that nobody reads the answers of: a few pongs wait, not 100,000.
    protocol = make(side)
    ping = peer_frame(protocol, 0x9, b"flood")
    for _ in range(100):
        protocol.receive_data(ping * 1000)
        protocol.events_received()
    pongs = decode_frames(b"".join(protocol.data_to_send()))
    assert [(f.opcode, f.payload) for f in pongs] == [(0xA, b"flood")] * MAX_PENDING_PONGS


@pytest.mark.rfc("R6455-5.5.2-2")
def test_ping_not_answered_after_close_received(side: Side) -> None:
    # The ping follows the peer's Close frame: it isn't even processed (§5.5.1, §7.1.7).
    protocol = make(side)
    protocol.receive_data(
        peer_frame(protocol, 0x8, close_payload(1000)) + peer_frame(protocol, 0x9, b"late")
    )
    assert [e.opcode for e in protocol.events_received()] == [Opcode.CLOSE]
    assert [f.opcode for f in written(protocol).frames] == [0x8]


@pytest.mark.rfc("R6455-5.5.2-2")
def test_ping_not_answered_after_server_failed_and_closed_tcp() -> None:
    server = open_server()
    server.fail(1011, "oops")
    server.data_to_send()
    server.receive_data(client_frame(0x9, b"late"))
    assert server.data_to_send() == []


# Close frames (RFC 6455 §5.5.1, §7.4)


@pytest.mark.rfc("R6455-5.5.1-2")
def test_close_frame_with_one_byte_payload(side: Side) -> None:
    protocol = make(side)
    protocol.receive_data(peer_frame(protocol, 0x8, b"\x03"))
    assert_failed(protocol, InvalidCloseFrame, 1002, "RFC 6455 §5.5.1")
    assert protocol.close_rcvd is None


@pytest.mark.rfc("R6455-10.7-1")
@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
def test_close_frame_with_invalid_code(side: Side, code: int) -> None:
    protocol = make(side)
    protocol.receive_data(peer_frame(protocol, 0x8, close_payload(code)))
    assert_failed(protocol, InvalidCloseFrame, 1002, "RFC 6455 §7.4")


@pytest.mark.rfc("R6455-5.5.1-3", "R6455-8.1-1")
def test_close_reason_invalid_utf8(side: Side) -> None:
    protocol = make(side)
    protocol.receive_data(peer_frame(protocol, 0x8, close_payload(1000, b"\xce\xba\xe1")))
    assert_failed(protocol, InvalidUTF8, 1007, "RFC 6455 §5.5.1")


@pytest.mark.parametrize(
    "code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]
)
@pytest.mark.rfc("R6455-5.5.1-6", "R6455-5.5.1-7")
def test_close_frame_with_valid_code_is_echoed(side: Side, code: int) -> None:
    protocol = make(side)
    protocol.receive_data(peer_frame(protocol, 0x8, close_payload(code, "reason")))
    assert protocol.events_received() == [Frame(Opcode.CLOSE, close_payload(code, "reason"))]
    assert protocol.failure_exc is None
    wire = written(protocol)
    # RFC 6455 §5.5.1: the endpoint answers with a close frame, echoing the code
    assert wire.close_codes == [code]
    assert protocol.close_rcvd == Close(code, "reason")
    assert protocol.close_sent == Close(code, "")
    assert protocol.close_rcvd_then_sent is True
    assert protocol.state is State.CLOSING


# The closing handshake (RFC 6455 §7.1) and the states


@pytest.mark.rfc(
    "R6455-5.5.1-9", "R6455-5.5.1-10", "R6455-7.1.1-3", "R6455-7.1.1-5", "R6455-7.1.2-2"
)
def test_server_answers_close_and_closes_tcp_first() -> None:
    server = open_server()
    server.receive_data(client_frame(0x8, close_payload(1000, "bye")))
    wire = written(server)
    assert wire.data == b"\x88\x02\x03\xe8"
    # RFC 6455 §7.1.1: the server closes the TCP connection first
    assert wire.eof
    assert server.eof_sent
    assert server.state is State.CLOSING
    assert server.close_expected()
    assert server.close_code is None and server.close_reason is None  # not CLOSED yet
    server.receive_eof()
    assert server.state is State.CLOSED
    assert not server.close_expected()
    assert server.data_to_send() == []
    assert (server.close_code, server.close_reason) == (1000, "bye")
    assert type(server.close_exc) is ConnectionClosedOK


@pytest.mark.rfc("R6455-5.5.1-11", "R6455-7.1.1-5")
def test_client_answers_close_and_waits_for_server_eof() -> None:
    client = open_client()
    client.receive_data(server_frame(0x8, close_payload(1001, "going away")))
    wire = written(client)
    assert wire.close_codes == [1001]
    assert not wire.eof  # RFC 6455 §7.1.1: the client waits for the server to close TCP
    assert client.state is State.CLOSING
    assert client.close_expected()
    client.receive_eof()
    assert client.state is State.CLOSED
    assert client.data_to_send() == [b""]  # then closes its side
    assert (client.close_code, client.close_reason) == (1001, "going away")
    assert type(client.close_exc) is ConnectionClosedOK


def test_client_initiated_close() -> None:
    client, server = connected_pair()
    assert client.state is State.OPEN and server.state is State.OPEN
    client.send_close(1000, "done")
    assert client.state is State.CLOSING
    assert client.close_expected()
    assert relay(client, server) == [Frame(Opcode.CLOSE, close_payload(1000, "done"))]
    assert server.state is State.CLOSING
    events = relay(server, client)  # the echo, then the server's EOF
    assert events == [Frame(Opcode.CLOSE, close_payload(1000))]
    assert client.state is State.CLOSED
    assert client.close_rcvd_then_sent is False
    relay(client, server)  # the client's EOF
    assert server.state is State.CLOSED
    assert (client.close_code, client.close_reason) == (1000, "")
    assert (server.close_code, server.close_reason) == (1000, "done")
    assert type(client.close_exc) is ConnectionClosedOK
    assert type(server.close_exc) is ConnectionClosedOK
    assert server.close_rcvd_then_sent is True
    assert not client.close_expected() and not server.close_expected()


def test_server_initiated_close() -> None:
    client, server = connected_pair()
    server.send_close(1001, "restart")
    wire = server.data_to_send()
    assert wire[-1] != b""  # no EOF until the client answers
    for chunk in wire:
        client.receive_data(chunk)
    assert client.events_received() == [Frame(Opcode.CLOSE, close_payload(1001, "restart"))]
    assert client.state is State.CLOSING
    relay(client, server)
    assert server.state is State.CLOSING
    assert server.close_rcvd_then_sent is False
    assert server.data_to_send() == [b""]  # now the server closes TCP
    client.receive_eof()
    server.receive_eof()
    assert client.state is State.CLOSED and server.state is State.CLOSED
    assert (client.close_code, client.close_reason) == (1001, "restart")
    assert (server.close_code, server.close_reason) == (1001, "")


def test_simultaneous_close() -> None:
    client, server = connected_pair()
    client.send_close(1000)
    server.send_close(1000)
    relay(client, server)
    relay(server, client)
    relay(client, server)
    assert client.state is State.CLOSED and server.state is State.CLOSED
    assert client.close_rcvd_then_sent is False and server.close_rcvd_then_sent is False
    assert client.close_code == 1000 and server.close_code == 1000


def test_close_without_code_reports_1005(side: Side) -> None:
    protocol = make(side)
    protocol.receive_data(peer_frame(protocol, 0x8, b""))
    wire = written(protocol)
    assert wire.frames[0].payload == b""  # echoed as an empty close frame
    assert protocol.close_sent == Close(1005, "")
    protocol.receive_eof()
    assert protocol.close_code == 1005
    assert protocol.close_reason == ""
    assert type(protocol.close_exc) is ConnectionClosedOK


def test_close_with_error_code_is_connection_closed_error(side: Side) -> None:
    protocol = make(side)
    protocol.receive_data(peer_frame(protocol, 0x8, close_payload(1011, "oops")))
    protocol.receive_eof()
    closed = protocol.close_exc
    assert type(closed) is ConnectionClosedError
    assert closed.rcvd.code == 1011
    assert closed.rcvd.reason == "oops"
    assert closed.rcvd == Close(1011, "oops")
    assert closed.sent == Close(1011, "")
    assert closed.rcvd_then_sent is True


@pytest.mark.rfc("R6455-7.1.7-5")
def test_data_after_close_frame_is_ignored(side: Side) -> None:
    # RFC 6455 §5.5.1: after sending a close frame, the peer sends no more data
    protocol = make(side)
    protocol.receive_data(
        peer_frame(protocol, 0x8, close_payload(1000)) + peer_frame(protocol, 0x1, b"late")
    )
    protocol.receive_data(peer_frame(protocol, 0x1, b"later") + b"\xff\xff garbage")
    assert protocol.events_received() == [Frame(Opcode.CLOSE, close_payload(1000))]
    assert protocol.failure_exc is None
    assert written(protocol).close_codes == [1000]


def test_data_received_after_sending_close_is_delivered(side: Side) -> None:
    # Until the peer's close frame arrives, it may still be sending data.
    protocol = make(side)
    protocol.send_close(1000)
    protocol.data_to_send()
    protocol.receive_data(peer_frame(protocol, 0x1, b"in flight"))
    assert protocol.events_received() == [Frame(Opcode.TEXT, b"in flight")]


def test_states_through_a_real_connection() -> None:
    client = ClientProtocol(websocket_ref.parse_uri("ws://example.com/"))
    server = ServerProtocol()
    assert client.state is State.CONNECTING and server.state is State.CONNECTING
    client.send_request(client.connect())
    [request] = relay(client, server)
    assert isinstance(request, websocket_ref.Request)
    server.send_response(server.accept(request))
    assert server.state is State.OPEN
    relay(server, client)
    assert client.state is State.OPEN
    client.send_text(b"hi")
    assert relay(client, server) == [Frame(Opcode.TEXT, b"hi")]
    server.send_close(1000)
    relay(server, client)
    assert client.state is State.CLOSING
    relay(client, server)
    assert server.state is State.CLOSING
    relay(server, client)
    assert client.state is State.CLOSED
    relay(client, server)
    assert server.state is State.CLOSED


# EOF (RFC 6455 §7.1.5: abnormal closure is 1006)


@pytest.mark.rfc("R6455-7.2.1-2")
def test_eof_without_close(side: Side) -> None:
    protocol = make(side)
    protocol.receive_eof()
    assert protocol.state is State.CLOSED
    assert protocol.close_code == 1006
    assert protocol.close_reason == ""
    assert protocol.data_to_send() == [b""]
    closed = protocol.close_exc
    assert type(closed) is ConnectionClosedError
    assert closed.rcvd is None and closed.sent is None


def test_eof_mid_frame(side: Side) -> None:
    protocol = make(side)
    protocol.receive_data(peer_frame(protocol, 0x1, b"truncated")[:-3])
    protocol.receive_eof()
    assert protocol.events_received() == []
    assert protocol.state is State.CLOSED
    assert protocol.close_code == 1006
    assert type(protocol.close_exc) is ConnectionClosedError


def test_eof_mid_header(side: Side) -> None:
    protocol = make(side)
    protocol.receive_data(peer_frame(protocol, 0x2, bytes(300))[:3])
    protocol.receive_eof()
    assert protocol.state is State.CLOSED
    assert protocol.close_code == 1006


def test_eof_after_sending_close(side: Side) -> None:
    protocol = make(side)
    protocol.send_close(1000)
    protocol.data_to_send()
    protocol.receive_eof()
    assert protocol.state is State.CLOSED
    assert protocol.close_code == 1006
    assert type(protocol.close_exc) is ConnectionClosedError
    assert protocol.close_exc.sent == Close(1000, "")


def test_eof_twice_is_harmless(side: Side) -> None:
    protocol = make(side)
    protocol.receive_eof()
    protocol.receive_eof()
    assert protocol.data_to_send() == [b""]


def test_data_after_eof(side: Side) -> None:
    protocol = make(side)
    protocol.receive_eof()
    with pytest.raises(EOFError):
        protocol.receive_data(b"x")


def test_empty_data_is_harmless(side: Side) -> None:
    protocol = make(side)
    protocol.receive_data(b"")
    assert protocol.events_received() == []
    assert protocol.data_to_send() == []


# fail() (RFC 6455 §7.1.7)


@pytest.mark.rfc("R6455-7.1.7-1", "R6455-7.1.7-3", "R6455-7.1.7-4", "R6455-10.7-3")
def test_fail(side: Side) -> None:
    protocol = make(side)
    protocol.fail(1011, "internal error")
    wire = written(protocol)
    assert wire.close_codes == [1011]
    assert wire.eof is (side is Side.SERVER)
    assert protocol.close_sent == Close(1011, "internal error")
    assert protocol.state is State.CLOSING
    protocol.receive_data(peer_frame(protocol, 0x1, b"ignored"))
    assert protocol.events_received() == []


@pytest.mark.rfc("R6455-7.1.7-2")
def test_server_logs_the_failure_once_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="websocket_ref")
    server = open_server()
    server.receive_data(server_frame(0x1, b"not masked"))  # from a client: must be masked
    server.receive_data(client_frame(0x3, b"reserved opcode"))  # ignored: failed already
    server.receive_eof()
    records = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert [(r.name, r.levelname, r.getMessage()) for r in records] == [
        (
            "websocket_ref.server",
            "INFO",
            "failing connection with code 1002: unmasked frame from client (RFC 6455 §5.1)",
        )
    ]


def test_client_logs_the_failure_at_debug_only(caplog: pytest.LogCaptureFixture) -> None:
    # RFC 6455 §7.1.7: the client MAY report the problem: the application gets it.
    caplog.set_level(logging.DEBUG, logger="websocket_ref")
    client = open_client()
    client.receive_data(server_frame(0x3, b""))
    records = [r for r in caplog.records if "failing connection" in r.getMessage()]
    assert [r.levelname for r in records] == ["DEBUG"]
    client.receive_eof()
    assert client.close_exc.__cause__ is client.failure_exc


@pytest.mark.rfc("R6455-7.1.7-5")
def test_no_processing_after_failing_not_even_the_peers_close(side: Side) -> None:
    # RFC 6455 §7.1.7: "MUST NOT continue to attempt to process data (including a
    # responding Close frame) from the remote endpoint after being instructed to _Fail".
    protocol = make(side)
    protocol.receive_data(peer_frame(protocol, 0x1, b"\xff"))  # invalid UTF-8
    assert type(protocol.failure_exc) is InvalidUTF8
    assert written(protocol).close_codes == [1007]
    protocol.receive_data(
        peer_frame(protocol, 0x9, b"ping")
        + peer_frame(protocol, 0x8, close_payload(1007))
        + peer_frame(protocol, 0x1, b"text")
    )
    assert protocol.events_received() == []
    assert protocol.data_to_send() == []  # no pong, no second close frame
    assert protocol.close_rcvd is None
    protocol.receive_eof()
    assert protocol.close_code == 1006


def test_fail_with_1006_sends_no_close_frame(side: Side) -> None:
    protocol = make(side)
    protocol.fail(1006)
    wire = written(protocol)
    assert wire.frames == []
    assert wire.eof is (side is Side.SERVER)
    assert protocol.close_sent is None


def test_fail_after_close_sent_sends_no_second_close(side: Side) -> None:
    protocol = make(side)
    protocol.send_close(1000)
    protocol.data_to_send()
    protocol.receive_data(peer_frame(protocol, 0x3, b""))  # reserved opcode
    assert type(protocol.failure_exc) is InvalidFrame
    wire = written(protocol)
    assert wire.frames == []
    assert wire.eof is (side is Side.SERVER)
    assert protocol.close_sent == Close(1000, "")


def test_fail_truncates_long_reason(side: Side) -> None:
    protocol = make(side)
    protocol.fail(1002, "é" * 200)
    [close] = written(protocol).frames
    assert len(close.payload) <= 125
    reason = Close.parse(close.payload).reason
    assert reason.endswith("...")
    assert reason.startswith("éé")


# The exception family, as `websockets` users know it


def test_exception_tree() -> None:
    E = exceptions
    assert issubclass(E.ConnectionClosedOK, E.ConnectionClosed)
    assert issubclass(E.ConnectionClosedError, E.ConnectionClosed)
    for name in ("SecurityError", "InvalidMessage", "InvalidStatus", "InvalidHeader"):
        assert issubclass(getattr(E, name), E.InvalidHandshake)
    for name in ("InvalidHeaderFormat", "InvalidHeaderValue", "InvalidOrigin", "InvalidUpgrade"):
        assert issubclass(getattr(E, name), E.InvalidHeader)
    for name in ("DuplicateParameter", "InvalidParameterName", "InvalidParameterValue"):
        assert issubclass(getattr(E, name), E.NegotiationError)
    for name in ("InvalidFrame", "InvalidCloseFrame", "InvalidUTF8", "PayloadTooBig"):
        assert issubclass(getattr(E, name), E.ProtocolError)
    assert issubclass(E.InvalidState, AssertionError)
    assert issubclass(E.ConcurrencyError, RuntimeError)
    for name in E.__all__:
        cls = getattr(E, name)
        assert issubclass(cls, E.WebSocketException)
        assert getattr(websocket_ref, name) is cls


def test_exception_tree_matches_websockets() -> None:
    ws_exceptions = pytest.importorskip("websockets.exceptions")
    common = [
        "WebSocketException",
        "ConnectionClosed",
        "ConnectionClosedOK",
        "ConnectionClosedError",
        "InvalidURI",
        "InvalidHandshake",
        "SecurityError",
        "InvalidMessage",
        "InvalidStatus",
        "InvalidHeader",
        "InvalidHeaderFormat",
        "InvalidHeaderValue",
        "InvalidOrigin",
        "InvalidUpgrade",
        "NegotiationError",
        "DuplicateParameter",
        "InvalidParameterName",
        "InvalidParameterValue",
        "ProtocolError",
        "PayloadTooBig",
        "InvalidState",
        "ConcurrencyError",
        "InvalidProxy",
        "RequestLineTooLong",
        "StatusLineTooLong",
        "HeaderLineTooLong",
        "TooManyHeaders",
        "ProxyError",
        "InvalidProxyMessage",
        "InvalidProxyStatus",
        "InvalidMethod",
        "InvalidProtocol",
    ]
    for name in common:
        ours = getattr(exceptions, name)
        theirs = getattr(ws_exceptions, name, None)
        if theirs is None:  # pragma: no cover - older websockets
            continue
        for base in inspect.getmro(theirs)[1:]:
            if base.__module__ == "builtins":
                assert issubclass(ours, base), (name, base)
            elif hasattr(exceptions, base.__name__):
                # Every ancestor websockets gives it, it has here too.
                assert issubclass(ours, getattr(exceptions, base.__name__)), (name, base)


def test_connection_closed_str() -> None:
    rcvd, sent = Close(1000, "bye"), Close(1000, "")
    E = exceptions
    assert str(E.ConnectionClosedOK(None, None)) == "no close frame received or sent"
    assert (
        str(E.ConnectionClosedOK(rcvd, sent, True)) == "received 1000 (OK) bye; then sent 1000 (OK)"
    )
    assert (
        str(E.ConnectionClosedOK(rcvd, sent, False))
        == "sent 1000 (OK); then received 1000 (OK) bye"
    )
    assert str(E.ConnectionClosedError(None, sent)) == "sent 1000 (OK); no close frame received"
    assert str(E.ConnectionClosedError(rcvd, None)) == "received 1000 (OK) bye; no close frame sent"


def test_protocol_error_str_names_the_rule() -> None:
    exc = InvalidFrame("reserved opcode 0x3", rule="RFC 6455 §5.2")
    assert str(exc) == "reserved opcode 0x3 (RFC 6455 §5.2)"
    assert str(ProtocolError("no rule")) == "no rule"


# Extensions on a connection (RFC 6455 §9)


@pytest.mark.rfc("R6455-5.2-1", "R6455-6.2-6")
def test_extensions_apply_in_order_out_and_reverse_in() -> None:
    client, server = connected_pair(
        client_kwargs={
            "extensions": [FakeClientFactory("x-one", RSV1), FakeClientFactory("x-two", RSV2)]
        },
        server_kwargs={
            "extensions": [FakeServerFactory("x-one", RSV1), FakeServerFactory("x-two", RSV2)]
        },
    )
    assert [e.name for e in client.extensions] == ["x-one", "x-two"]
    client.send_text(b"abc")
    [chunk] = client.data_to_send()
    [raw] = decode_frames(chunk)
    assert raw.rsv == RSV1 | RSV2
    assert raw.payload == b"abc"  # reversed twice on the way out
    server.receive_data(chunk)
    assert server.events_received() == [Frame(Opcode.TEXT, b"abc")]
    # The server's last extension decodes first.
    assert [e.decoded[0].rsv2 for e in server.extensions] == [False, True]


def test_extension_sees_control_frames_with_no_size_limit() -> None:
    _client, server = connected_pair(
        client_kwargs={"extensions": [FakeClientFactory()]},
        server_kwargs={"extensions": [FakeServerFactory()]},
    )
    server.receive_data(client_frame(0x9, b"ping"))
    assert server.events_received() == [Frame(Opcode.PING, b"ping")]
    [extension] = server.extensions
    assert extension.decoded == [Frame(Opcode.PING, b"ping")]  # type: ignore[attr-defined]


# Deferred failure: answer the messages before a bad frame, then fail (Autobahn 3.2, 4.1.3, 5.15)


def test_defer_failures_delivers_earlier_messages_then_fails_on_request(side: Side) -> None:
    protocol = make(side)
    protocol.defer_failures = True
    # A good message, a frame with RSV2 set (no extension claims it), then a ping.
    protocol.receive_data(
        peer_frame(protocol, 0x1, b"Hello")
        + peer_frame(protocol, 0x1, b"bad", rsv=RSV2)
        + peer_frame(protocol, 0x9, b"p")
    )
    assert protocol.events_received() == [Frame(Opcode.TEXT, b"Hello")]
    # Nothing is failed yet: the application may still answer what came before.
    assert type(protocol.pending_failure) is InvalidFrame
    assert protocol.failure_exc is None
    assert protocol.state is State.OPEN
    assert protocol.data_to_send() == []
    assert not protocol.close_expected()
    # Reading stopped at the bad frame: the ping after it isn't answered, later data is ignored.
    protocol.receive_data(peer_frame(protocol, 0x9, b"q"))
    assert protocol.events_received() == []
    protocol.send_text(b"Hello")
    protocol.fail_pending()
    assert protocol.pending_failure is None
    wire = written(protocol)
    # RFC 6455 §7.1.7: the reply goes out first, then the close frame of the failure.
    assert [(f.opcode, f.payload) for f in wire.frames[:1]] == [(0x1, b"Hello")]
    assert wire.close_codes == [1002]
    assert wire.eof is (side is Side.SERVER)
    assert protocol.state is State.CLOSING
    assert protocol.close_expected()
    assert type(protocol.failure_exc) is InvalidFrame
    assert protocol.failure_exc.rule == "RFC 6455 §5.2"
    protocol.fail_pending()  # once only
    assert protocol.data_to_send() == []


def test_defer_failures_keeps_close_code_of_the_violation(side: Side) -> None:
    protocol = make(side)
    protocol.defer_failures = True
    protocol.receive_data(peer_frame(protocol, 0x1, b"\xff"))
    assert protocol.events_received() == []
    protocol.fail_pending()
    assert_failed(protocol, InvalidUTF8, 1007)


def test_pending_failure_is_recorded_when_the_peer_goes_away(side: Side) -> None:
    protocol = make(side)
    protocol.defer_failures = True
    protocol.receive_data(peer_frame(protocol, 0x2, b"x") + peer_frame(protocol, 0xB))
    assert protocol.events_received() == [Frame(Opcode.BINARY, b"x")]
    pending = protocol.pending_failure
    assert pending is not None
    protocol.receive_eof()
    assert protocol.pending_failure is None
    assert protocol.failure_exc is pending
    assert protocol.state is State.CLOSED
    assert protocol.close_code == 1006
    assert protocol.close_exc.__cause__ is pending
    protocol.fail_pending()  # nothing left to do
    data = protocol.data_to_send()
    assert all(d == b"" for d in data)


def test_failures_are_not_deferred_by_default(side: Side) -> None:
    protocol = make(side)
    protocol.receive_data(peer_frame(protocol, 0x1, b"Hello") + peer_frame(protocol, 0xB))
    assert protocol.pending_failure is None
    assert protocol.events_received() == [Frame(Opcode.TEXT, b"Hello")]
    assert_failed(protocol, InvalidFrame, 1002)


def test_send_close_before_fail_pending(side: Side) -> None:
    protocol = make(side)
    protocol.defer_failures = True
    protocol.receive_data(peer_frame(protocol, 0x3))  # a reserved opcode
    assert protocol.pending_failure is not None
    protocol.send_close(1000)
    protocol.fail_pending()
    wire = written(protocol)
    assert wire.close_codes == [1000]  # one close frame only
    assert wire.eof is (side is Side.SERVER)


# Sending text: RFC 6455 §5.6 [R6455-5.6-1]: "the whole message MUST contain valid UTF-8"


@pytest.mark.rfc("R6455-5.6-1")
@pytest.mark.parametrize("data", [b"\xff\xfe", b"caf\xc3", b"\xed\xa0\x80", b"ok\xc0\xaf"])
def test_send_text_refuses_invalid_utf8(side: Side, data: bytes) -> None:
    protocol = make(side)
    with pytest.raises(ValueError, match=r"RFC 6455 §5\.6"):
        protocol.send_text(data)
    assert protocol.data_to_send() == []  # nothing went on the wire
    protocol.send_text("café".encode())  # the connection is still usable
    [frame] = written(protocol).frames
    assert frame.payload == "café".encode()


@pytest.mark.rfc("R6455-5.6-1")
def test_send_text_takes_str(side: Side) -> None:
    protocol = make(side)
    protocol.send_text("κόσμε")
    protocol.send_text("a", fin=False)
    protocol.send_continuation("ό", fin=True)
    assert [f.payload for f in written(protocol).frames] == ["κόσμε".encode(), b"a", "ό".encode()]


@pytest.mark.rfc("R6455-5.6-1")
def test_send_text_fragments_checked_across_frames(side: Side) -> None:
    protocol = make(side)
    euro = "€".encode()  # 3 bytes, split over the fragments
    protocol.send_text(euro[:1], fin=False)
    protocol.send_continuation(euro[1:2], fin=False)
    with pytest.raises(ValueError, match=r"RFC 6455 §5\.6"):
        protocol.send_continuation(b"x", fin=False)  # not a continuation byte
    protocol.send_continuation(euro[2:], fin=False)  # the refused fragment changed nothing
    with pytest.raises(ValueError, match=r"RFC 6455 §5\.6"):
        protocol.send_continuation(b"\xe2", fin=True)  # the message can't end mid-character
    protocol.send_continuation(b"", fin=True)
    frames = written(protocol).frames
    assert b"".join(f.payload for f in frames) == euro
    assert [f.fin for f in frames] == [False, False, False, True]
    # Binary messages aren't checked.
    protocol.send_binary(b"\xff\xfe")


def test_prepared_text_refuses_invalid_utf8() -> None:
    from websocket_ref.prepared import prepare

    with pytest.raises(ValueError, match=r"RFC 6455 §5\.6"):
        prepare(b"\xff", text=True)
    assert prepare(b"\xff").data == b"\xff"
