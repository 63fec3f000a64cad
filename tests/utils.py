"""Helpers shared by the tests of the Sans-I/O core.

The frame encoder and decoder here are written independently of
:mod:`websocket_ref.frames`, byte by byte from RFC 6455 §5.2, so that tests can
craft frames the library would refuse to produce and can check the bytes the
library writes without trusting the library's own parser.

This module is imported by other test modules: keep its names stable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from websocket_ref import (
    ClientProtocol,
    InvalidParameterName,
    Protocol,
    Request,
    Response,
    ServerProtocol,
    State,
    parse_uri,
)
from websocket_ref.extensions.base import (
    ClientExtensionFactory,
    Extension,
    ServerExtensionFactory,
)
from websocket_ref.frames import RSV1, RSV2, RSV3, Frame, Opcode
from websocket_ref.headers import ExtensionParameter

__all__ = [
    "RFC_KEY",
    "RFC_ACCEPT",
    "MASK",
    "RawFrame",
    "build_frame",
    "client_frame",
    "server_frame",
    "close_payload",
    "decode_frames",
    "Written",
    "written",
    "open_client",
    "open_server",
    "connected_pair",
    "do_handshake",
    "relay",
    "canonical_events",
    "FakeExtension",
    "FakeClientFactory",
    "FakeServerFactory",
    "RSV1",
    "RSV2",
    "RSV3",
]

#: The example key of RFC 6455 §1.3 and the Sec-WebSocket-Accept it yields.
RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

#: The masking key of the examples of RFC 6455 §5.7.
MASK = b"\x37\xfa\x21\x3d"


def _xor(data: bytes, mask: bytes) -> bytes:
    """The naive per-byte masking of RFC 6455 §5.3, as a reference."""
    return bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def build_frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = None,
    length: int | None = None,
    length_size: int | None = None,
) -> bytes:
    """Encode a frame byte by byte, valid or not.

    ``rsv`` is the reserved bits as in the first byte (``RSV1 | RSV2 | RSV3``),
    ``length`` overrides the announced payload length, ``length_size`` forces the
    encoding of the length: 1 (7 bits), 2 (7+16 bits) or 8 (7+64 bits).
    """
    if length is None:
        length = len(payload)
    if length_size is None:
        length_size = 1 if length < 126 else 2 if length < 0x10000 else 8
    first = (0x80 if fin else 0) | rsv | opcode
    mask_bit = 0x80 if mask is not None else 0
    if length_size == 1:
        head = bytes([first, mask_bit | length])
    elif length_size == 2:
        head = bytes([first, mask_bit | 126]) + length.to_bytes(2, "big")
    else:
        head = bytes([first, mask_bit | 127]) + length.to_bytes(8, "big")
    if mask is None:
        return head + payload
    return head + mask + _xor(payload, mask)


def client_frame(opcode: int, payload: bytes = b"", **kwargs: object) -> bytes:
    """A frame as a client sends it: masked (with the RFC's example key)."""
    return build_frame(opcode, payload, mask=MASK, **kwargs)


def server_frame(opcode: int, payload: bytes = b"", **kwargs: object) -> bytes:
    """A frame as a server sends it: unmasked."""
    return build_frame(opcode, payload, **kwargs)


def close_payload(code: int, reason: bytes | str = b"") -> bytes:
    """The payload of a close frame: a 2-byte code then the reason."""
    if isinstance(reason, str):
        reason = reason.encode()
    return code.to_bytes(2, "big") + reason


@dataclasses.dataclass
class RawFrame:
    """A frame decoded by :func:`decode_frames`: header fields and unmasked payload."""

    opcode: int
    payload: bytes
    fin: bool = True
    rsv: int = 0
    masked: bool = False

    @property
    def close_code(self) -> int | None:
        """The code of a close frame, None if it has none."""
        assert self.opcode == 0x8
        if len(self.payload) < 2:
            return None
        return int.from_bytes(self.payload[:2], "big")


def decode_frames(data: bytes) -> list[RawFrame]:
    """Decode a complete stream of frames; fail on trailing bytes."""
    frames = []
    pos = 0
    while pos < len(data):
        first, second = data[pos], data[pos + 1]
        length = second & 0x7F
        pos += 2
        if length == 126:
            length = int.from_bytes(data[pos : pos + 2], "big")
            pos += 2
        elif length == 127:
            length = int.from_bytes(data[pos : pos + 8], "big")
            pos += 8
        masked = bool(second & 0x80)
        mask = None
        if masked:
            mask = data[pos : pos + 4]
            pos += 4
        payload = data[pos : pos + length]
        assert len(payload) == length, "truncated frame"
        pos += length
        if mask is not None:
            payload = _xor(payload, mask)
        frames.append(RawFrame(first & 0x0F, payload, bool(first & 0x80), first & 0x70, masked))
    return frames


@dataclasses.dataclass
class Written:
    """What a protocol wrote: the frames, whether the last item was EOF, the raw bytes."""

    frames: list[RawFrame]
    eof: bool
    data: bytes

    @property
    def close_codes(self) -> list[int | None]:
        return [f.close_code for f in self.frames if f.opcode == 0x8]


def written(protocol: Protocol, *, handshake: bool = False) -> Written:
    """Drain ``protocol.data_to_send()`` and decode it.

    ``b""`` may only be the last item (nothing can be written after EOF). With
    ``handshake``, the first item is an HTTP message and is left out of ``frames``.
    """
    chunks = protocol.data_to_send()
    eof = False
    if chunks and chunks[-1] == b"":
        eof = True
        chunks = chunks[:-1]
    assert b"" not in chunks, "data written after EOF"
    data = b"".join(chunks)
    if handshake:
        return Written([], eof, data)
    return Written(decode_frames(data), eof, data)


def open_client(**kwargs: object) -> ClientProtocol:
    """A client protocol already in the OPEN state (as after a handshake)."""
    return ClientProtocol(parse_uri("ws://example.com/"), state=State.OPEN, **kwargs)


def open_server(**kwargs: object) -> ServerProtocol:
    """A server protocol already in the OPEN state (as after a handshake)."""
    return ServerProtocol(state=State.OPEN, **kwargs)


def do_handshake(client: ClientProtocol, server: ServerProtocol) -> tuple[Request, Response]:
    """Run the real opening handshake between two protocols; both end OPEN."""
    client.send_request(client.connect())
    for chunk in client.data_to_send():
        server.receive_data(chunk)
    [request] = server.events_received()
    assert isinstance(request, Request)
    server.send_response(server.accept(request))
    for chunk in server.data_to_send():
        client.receive_data(chunk)
    [response] = client.events_received()
    assert isinstance(response, Response)
    assert server.handshake_exc is None, server.handshake_exc
    assert client.handshake_exc is None, client.handshake_exc
    assert client.state is State.OPEN and server.state is State.OPEN
    return request, response


def connected_pair(
    *,
    client_kwargs: dict[str, object] | None = None,
    server_kwargs: dict[str, object] | None = None,
) -> tuple[ClientProtocol, ServerProtocol]:
    """A client and a server that completed a real handshake with each other."""
    client = ClientProtocol(parse_uri("ws://example.com/"), **(client_kwargs or {}))
    server = ServerProtocol(**(server_kwargs or {}))
    do_handshake(client, server)
    return client, server


def relay(src: Protocol, dst: Protocol) -> list[object]:
    """Move everything ``src`` wrote to ``dst`` (EOF included); return ``dst``'s events."""
    for chunk in src.data_to_send():
        if chunk == b"":
            dst.receive_eof()
        else:
            dst.receive_data(chunk)
    return list(dst.events_received())


# A fake extension, to test the negotiation framework of RFC 6455 §9 without deflate.


class FakeExtension(Extension):
    """Reverses the payload of data frames and marks them with its reserved bits.

    Reversing makes the order in which extensions are applied observable; marking
    makes the reserved bits it claims appear on the wire.
    """

    def __init__(
        self, name: str, reserved_bits: int, params: Sequence[ExtensionParameter] = ()
    ) -> None:
        self.name = name
        self.reserved_bits = reserved_bits
        self.params = list(params)
        self.decoded: list[Frame] = []

    def __repr__(self) -> str:
        return f"FakeExtension({self.name!r}, {self.reserved_bits:#x}, {self.params!r})"

    def _bits(self, frame: Frame) -> int:
        return (
            (RSV1 if frame.rsv1 else 0) | (RSV2 if frame.rsv2 else 0) | (RSV3 if frame.rsv3 else 0)
        )

    def encode(self, frame: Frame) -> Frame:
        if frame.opcode not in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
            return frame
        bits = self._bits(frame) | self.reserved_bits
        return Frame(
            frame.opcode,
            frame.data[::-1],
            frame.fin,
            bool(bits & RSV1),
            bool(bits & RSV2),
            bool(bits & RSV3),
        )

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        self.decoded.append(frame)
        if self._bits(frame) & self.reserved_bits != self.reserved_bits:
            return frame
        bits = self._bits(frame) & ~self.reserved_bits
        return Frame(
            frame.opcode,
            frame.data[::-1],
            frame.fin,
            bool(bits & RSV1),
            bool(bits & RSV2),
            bool(bits & RSV3),
        )


class FakeClientFactory(ClientExtensionFactory):
    """Offers ``name`` with ``params``; accepts an answer whose parameters are allowed.

    ``accept`` lists the parameter names the factory understands in an answer; any
    other makes it raise NegotiationError (RFC 6455 §9.1: the client fails then).
    """

    def __init__(
        self,
        name: str = "x-fake",
        reserved_bits: int = RSV1,
        params: Sequence[ExtensionParameter] = (),
        accept: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.reserved_bits = reserved_bits
        self.params = list(params)
        self.accept = set(accept)

    def get_request_params(self) -> list[ExtensionParameter]:
        return list(self.params)

    def process_response_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> Extension:
        for name, _ in params:
            if name not in self.accept:
                raise InvalidParameterName(name)
        return FakeExtension(self.name, self.reserved_bits, params)


class FakeServerFactory(ServerExtensionFactory):
    """Accepts an offer of ``name`` unless it has a parameter not in ``accept``.

    The response echoes the accepted parameters.
    """

    def __init__(
        self, name: str = "x-fake", reserved_bits: int = RSV1, accept: Sequence[str] = ()
    ) -> None:
        self.name = name
        self.reserved_bits = reserved_bits
        self.accept = set(accept)

    def process_request_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> tuple[list[ExtensionParameter], Extension]:
        for name, _ in params:
            if name not in self.accept:
                raise InvalidParameterName(name)
        return list(params), FakeExtension(self.name, self.reserved_bits, params)


def canonical_events(events: Sequence[object]) -> list[object]:
    """Events in the form the core delivers when everything arrives in one read.

    The core joins the fragments of a message that arrive together into one event and
    reports a run of pings (or pongs) by the most recent one, but never joins across
    calls of ``events_received()``: how the bytes were split changes the events, not
    their meaning. This form is the same whatever the split: runs of a message's frames
    joined, runs of pings or of pongs reduced to the last.
    """
    result: list[object] = []
    for event in events:
        last = result[-1] if result else None
        if isinstance(event, Frame) and isinstance(last, Frame):
            if event.opcode is Opcode.CONT and last.opcode < 0x8 and not last.fin:
                result[-1] = dataclasses.replace(last, data=last.data + event.data, fin=event.fin)
                continue
            if event.opcode in (Opcode.PING, Opcode.PONG) and last.opcode is event.opcode:
                result[-1] = event
                continue
        result.append(event)
    return result
