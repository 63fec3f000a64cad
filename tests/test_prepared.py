"""Per-message compression control and prepared messages in the Sans-I/O core.

* ``send_text(..., compress=False)``: RFC 7692 §1 lets an endpoint choose not to
  compress a message, which it says with RSV1 clear on the message's first frame (RFC
  7692 §6: never set on the others).
* ``send_prepared()``: a message framed once and shared by server connections whose
  encoding keeps no per-connection state (RFC 6455 §5.1: server frames are unmasked;
  RFC 7692 §7.1.1.1: no context takeover means every message starts afresh).
"""

from __future__ import annotations

import zlib

import pytest

from websocket_ref import ClientProtocol, InvalidState, Opcode, ServerProtocol
from websocket_ref.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websocket_ref.prepared import PreparedMessage, prepare

from .utils import (
    RSV1,
    RawFrame,
    connected_pair,
    decode_frames,
    open_client,
    open_server,
    relay,
    written,
)

TAIL = b"\x00\x00\xff\xff"
MESSAGE = b"The quick brown fox jumps over the lazy dog. " * 40


def deflate_pair(
    server_no_context_takeover: bool = True,
    server_max_window_bits: int | None = None,
    **settings: int,
) -> tuple[ClientProtocol, ServerProtocol]:
    """A client and a server that negotiated permessage-deflate in a real handshake."""
    return connected_pair(
        client_kwargs={"extensions": [ClientPerMessageDeflateFactory()]},
        server_kwargs={
            "extensions": [
                ServerPerMessageDeflateFactory(
                    server_no_context_takeover=server_no_context_takeover,
                    server_max_window_bits=server_max_window_bits,
                    compress_settings=settings or None,
                )
            ]
        },
    )


# compress=False


@pytest.mark.parametrize("side", ["client", "server"])
def test_compress_false_sends_rsv1_clear(side: str) -> None:
    client, server = deflate_pair(server_no_context_takeover=False)
    sender, receiver = (client, server) if side == "client" else (server, client)
    sender.send_text(MESSAGE, compress=False)
    sender.send_binary(MESSAGE)
    sender.send_binary(MESSAGE, compress=False)
    chunks = sender.data_to_send()
    frames = written_frames(chunks)
    assert [f.rsv for f in frames] == [0, RSV1, 0]
    assert frames[0].payload == MESSAGE and frames[2].payload == MESSAGE
    assert len(frames[1].payload) < len(MESSAGE) // 5
    for chunk in chunks:
        receiver.receive_data(chunk)
    events = receiver.events_received()
    assert [(e.opcode, e.data) for e in events] == [
        (Opcode.TEXT, MESSAGE),
        (Opcode.BINARY, MESSAGE),
        (Opcode.BINARY, MESSAGE),
    ]
    assert receiver.failure_exc is None


def written_frames(chunks: list[bytes]) -> list[RawFrame]:
    return decode_frames(b"".join(chunks))


def test_compress_false_keeps_the_window_in_step() -> None:
    # With context takeover, an uncompressed message in between doesn't enter either
    # side's window: later compressed messages still inflate (checked by the peer).
    client, server = deflate_pair(server_no_context_takeover=False)
    for compress in (True, False, True, True, False, True):
        server.send_text(MESSAGE, compress=compress)
    events = relay(server, client)
    assert [e.data for e in events] == [MESSAGE] * 6  # type: ignore[attr-defined]
    assert client.failure_exc is None


@pytest.mark.rfc("R7692-6-1")
def test_compress_false_on_a_fragmented_message() -> None:
    client, _ = deflate_pair()
    client.send_binary(b"abc" * 100, fin=False, compress=False)
    client.send_continuation(b"def" * 100, fin=True)
    client.send_binary(b"ghi" * 100)  # the next message is compressed again
    frames = written(client).frames
    assert [(f.opcode, f.rsv, f.fin) for f in frames] == [
        (Opcode.BINARY, 0, False),
        (Opcode.CONT, 0, True),
        (Opcode.BINARY, RSV1, True),
    ]
    assert frames[1].payload == b"def" * 100


def test_compress_false_without_compression_is_a_no_op() -> None:
    server = open_server()
    server.send_text(b"plain", compress=False)
    assert written(server).frames[0].payload == b"plain"


# Prepared messages


def test_prepare() -> None:
    assert prepare("é").opcode is Opcode.TEXT and prepare("é").data == "é".encode()
    assert prepare("é", text=False).opcode is Opcode.BINARY
    assert prepare(b"x").opcode is Opcode.BINARY
    assert prepare(bytearray(b"x"), text=True).opcode is Opcode.TEXT
    assert prepare(memoryview(b"xy")).data == b"xy"
    assert prepare("x", compress=False).compress is False
    with pytest.raises(TypeError):
        prepare(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        PreparedMessage(Opcode.PING, b"")
    with pytest.raises(ValueError, match="UTF-8"):
        prepare(b"\xff", text=True)  # RFC 6455 §5.6: refused before anything is sent
    assert "TEXT" in repr(prepare("x"))


def test_servers_without_context_takeover_share_one_frame() -> None:
    pairs = [deflate_pair() for _ in range(5)]
    prepared = prepare(MESSAGE)
    wires = []
    for client, server in pairs:
        server.send_prepared(prepared)
        [wire] = server.data_to_send()
        wires.append(wire)
        # The client reads it as any compressed message.
        client.receive_data(wire)
        [event] = client.events_received()
        assert event.data == MESSAGE  # type: ignore[union-attr]
    assert len(prepared.frames) == 1
    # Not only equal: the same object, compressed and framed once.
    assert all(wire is wires[0] for wire in wires)
    frame = written_frames([wires[0]])[0]
    assert frame.rsv == RSV1 and not frame.masked
    assert zlib.decompressobj(wbits=-12).decompress(frame.payload + TAIL) == MESSAGE


def test_prepared_frame_equals_a_regular_send() -> None:
    _, first = deflate_pair()
    _, second = deflate_pair()
    first.send_prepared(prepare(MESSAGE))
    second.send_binary(MESSAGE)
    assert first.data_to_send() == [b"".join(second.data_to_send())]


def test_different_parameters_get_their_own_frame() -> None:
    prepared = prepare(MESSAGE)
    servers = [
        deflate_pair(server_max_window_bits=10)[1],
        deflate_pair(server_max_window_bits=10)[1],
        deflate_pair(server_max_window_bits=11)[1],
        deflate_pair(level=1)[1],
        open_server(),
        open_server(),
    ]
    for server in servers:
        server.send_prepared(prepared)
    assert len(prepared.frames) == 4
    wires = [server.data_to_send()[0] for server in servers]
    assert wires[0] is wires[1] and wires[4] is wires[5]
    assert written_frames([wires[4]])[0].payload == MESSAGE


def test_window_of_8_bits_shares_with_9() -> None:
    # zlib compresses with a 9-bit window for both (see _zlib_window_bits): same bytes.
    prepared = prepare(MESSAGE)
    deflate_pair(server_max_window_bits=8)[1].send_prepared(prepared)
    deflate_pair(server_max_window_bits=9)[1].send_prepared(prepared)
    assert len(prepared.frames) == 1


def test_context_takeover_isnt_shared() -> None:
    prepared = prepare(MESSAGE)
    pairs = [deflate_pair(server_no_context_takeover=False) for _ in range(2)]
    for _, server in pairs:
        server.send_prepared(prepared)
        server.send_prepared(prepared)  # the second compresses better: the window has it
        first, second = written_frames(server.data_to_send())
        assert len(second.payload) < len(first.payload)
    assert prepared.frames == {}


def test_context_takeover_stream_stays_valid() -> None:
    client, server = deflate_pair(server_no_context_takeover=False)
    prepared = prepare(MESSAGE)
    server.send_prepared(prepared)
    server.send_text(MESSAGE)
    server.send_prepared(prepared)
    assert [e.data for e in relay(server, client)] == [MESSAGE] * 3  # type: ignore[attr-defined]
    assert client.failure_exc is None


def test_clients_never_share() -> None:
    # RFC 6455 §5.3: every client frame has a fresh, unpredictable masking key.
    prepared = prepare(b"data")
    clients = [open_client(), open_client()]
    for client in clients:
        client.send_prepared(prepared)
    frames = [written(client).frames[0] for client in clients]
    assert all(f.masked and f.payload == b"data" for f in frames)
    assert prepared.frames == {}


def test_prepared_uncompressed() -> None:
    prepared = prepare(MESSAGE, compress=False)
    client, server = deflate_pair()
    other = deflate_pair()[1]
    server.send_prepared(prepared)
    other.send_prepared(prepared)
    [wire] = server.data_to_send()
    assert other.data_to_send()[0] is wire
    assert written_frames([wire])[0].rsv == 0
    client.receive_data(wire)
    assert client.events_received()[0].data == MESSAGE  # type: ignore[union-attr]


def test_prepared_needs_an_open_connection_and_no_fragmented_message() -> None:
    server = open_server()
    server.send_binary(b"a", fin=False)
    with pytest.raises(InvalidState):
        server.send_prepared(prepare(b"x"))
    server.send_continuation(b"b", fin=True)
    server.send_close(1000)
    with pytest.raises(InvalidState):
        server.send_prepared(prepare(b"x"))
