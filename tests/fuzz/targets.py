"""Fuzz targets: the parsers that read what a peer sends, each fed arbitrary bytes.

Each target takes one ``bytes`` input and checks the parser's contract:

* it raises nothing but the documented exceptions (anything else is a crash);
* it makes the same decision whether the input arrives whole or cut into pieces (the
  cuts are drawn from the input itself);
* it keeps at most a bounded amount buffered.

A parse that doesn't return is a hang: the hypothesis tests run under pytest-timeout,
and atheris reports it with ``-timeout``. The same targets serve both: ``test_fuzz.py``
runs them with a bounded, deterministic hypothesis profile on every CI run;
``run_atheris.py`` runs coverage-guided campaigns (see its docstring).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from websocket_ref.exceptions import (
    InvalidHandshake,
    InvalidHeader,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
)
from websocket_ref.frame_parser import FrameParser
from websocket_ref.frames import Close, Frame
from websocket_ref.headers import (
    parse_authorization_basic,
    parse_connection,
    parse_extension,
    parse_subprotocol,
    parse_upgrade,
)
from websocket_ref.http11 import BodyReader, parse_request, parse_response_head

__all__ = ["TARGETS", "cuts"]

MAX_SIZE = 1024


def cuts(data: bytes) -> list[bytes]:
    """Cut ``data`` in pieces whose sizes come from its first byte (a cheap, stable
    way to explore splits without a second input)."""
    if not data:
        return [b""]
    step = data[0] % 7 + 1
    body = data[1:]
    return [body[i : i + step] for i in range(0, len(body), step)] or [b""]


def _parse_frames(pieces: list[bytes], mask_expected: bool) -> tuple[list[tuple[object, ...]], str]:
    """Frames parsed from the pieces, and how parsing ended ("" or an exception type)."""
    parser = FrameParser(mask_expected=mask_expected, max_size=MAX_SIZE)
    buf = bytearray()
    frames: list[tuple[object, ...]] = []
    try:
        for piece in pieces:
            if buf or not piece:
                buf += piece
            else:
                parser.feed(piece)
            while (frame := parser.parse(buf)) is not None:
                assert isinstance(frame, Frame)
                frames.append((frame.opcode, frame.data, frame.fin, frame.rsv1, frame.rsv2))
                if frame.opcode == 0x8:
                    with contextlib.suppress(ProtocolError):
                        Close.parse(frame.data)
            # Bounded: at most one frame of MAX_SIZE and its header waits.
            assert len(buf) <= MAX_SIZE + 14, len(buf)
    except (ProtocolError, PayloadTooBig) as exc:
        return frames, type(exc).__name__
    return frames, ""


def frames(data: bytes) -> None:
    """The frame parser, both directions: whole input vs. cut in pieces."""
    for mask_expected in (False, True):
        whole = _parse_frames([data[1:]], mask_expected)
        pieces = _parse_frames(cuts(data), mask_expected)
        assert whole == pieces, (whole, pieces)


def _http(parse: Callable[[bytearray, int], object], pieces: list[bytes]) -> tuple[object, str]:
    buf = bytearray()
    scanned = 0
    try:
        for piece in pieces:
            buf += piece
            result = parse(buf, scanned)
            if result is not None:
                return result, ""
            scanned = len(buf)
            assert len(buf) <= (128 + 1) * (8192 + 2) + 2
    except InvalidHandshake as exc:
        return None, type(exc).__name__
    return None, "incomplete"


def http_request(data: bytes) -> None:
    """The handshake request parser (server side)."""
    whole = _http(parse_request, [data[1:]])
    pieces = _http(parse_request, cuts(data))
    assert whole == pieces, (whole, pieces)


def http_response(data: bytes) -> None:
    """The handshake response parser and the body reader (client side)."""
    whole = _http(parse_response_head, [data[1:]])
    pieces = _http(parse_response_head, cuts(data))
    assert whole[1] == pieces[1], (whole, pieces)
    head = whole[0]
    if head is not None:
        status, _, headers = head  # type: ignore[misc]
        try:
            reader = BodyReader(status, headers, max_size=MAX_SIZE)
            buf = bytearray(data)
            reader.feed(buf)
            reader.feed_eof()
            assert len(reader.body) <= MAX_SIZE
        except InvalidHandshake:
            pass


def extension_header(data: bytes) -> None:
    """The grammars of the handshake's headers: extensions, subprotocols, Connection,
    Upgrade, Authorization, then permessage-deflate's negotiation of what parsed."""
    text = data.decode("latin-1")
    for parse in (parse_connection, parse_upgrade, parse_subprotocol, parse_authorization_basic):
        with contextlib.suppress(InvalidHeader):
            parse(text)
    try:
        extensions = parse_extension(text)
    except InvalidHeader:
        return
    from websocket_ref.extensions.permessage_deflate import (
        ClientPerMessageDeflateFactory,
        ServerPerMessageDeflateFactory,
    )

    for _, params in extensions:
        with contextlib.suppress(NegotiationError):
            ServerPerMessageDeflateFactory().process_request_params(params, [])
        with contextlib.suppress(NegotiationError):
            ClientPerMessageDeflateFactory().process_response_params(params, [])


TARGETS: dict[str, Callable[[bytes], None]] = {
    "frames": frames,
    "http_request": http_request,
    "http_response": http_response,
    "extension_header": extension_header,
}
