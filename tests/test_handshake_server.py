"""The server side of the opening handshake (RFC 6455 §4.2, §4.4, §9.1, §10.2)."""

from __future__ import annotations

import functools
import http
import re
from collections.abc import Sequence

import pytest

from websocket_ref import (
    Frame,
    HeaderLineTooLong,
    Headers,
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderFormat,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidMethod,
    InvalidOrigin,
    InvalidProtocol,
    InvalidState,
    InvalidUpgrade,
    NegotiationError,
    Opcode,
    Request,
    RequestLineTooLong,
    Response,
    ServerProtocol,
    State,
    TooManyHeaders,
)
from websocket_ref.http11 import MAX_LINE_LENGTH, MAX_NUM_HEADERS

from .utils import (
    RFC_ACCEPT,
    RFC_KEY,
    RSV1,
    RSV2,
    FakeExtension,
    FakeServerFactory,
    client_frame,
    close_payload,
    decode_frames,
    written,
)

BASE_HEADERS = [
    ("Host", "server.example.com"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", RFC_KEY),
    ("Sec-WebSocket-Version", "13"),
]


def request_bytes(
    *,
    remove: Sequence[str] = (),
    replace: dict[str, str] | None = None,
    extra: Sequence[tuple[str, str]] = (),
    line: bytes = b"GET /chat HTTP/1.1",
) -> bytes:
    replace = replace or {}
    headers = Headers()
    for name, value in BASE_HEADERS:
        if name in remove:
            continue
        headers[name] = replace.get(name, value)
    headers.update(extra)
    return line + b"\r\n" + headers.serialize()


def received(data: bytes, **kwargs: object) -> tuple[ServerProtocol, Request]:
    server = ServerProtocol(**kwargs)  # type: ignore[arg-type]
    server.receive_data(data)
    [request] = server.events_received()
    assert isinstance(request, Request)
    assert server.request is request
    return server, request


def parse_response(data: bytes) -> tuple[int, Headers, bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = Headers([tuple(line.split(": ", 1)) for line in lines])  # type: ignore[misc]
    return int(status_line.split(" ")[1]), headers, body


# A valid handshake


@pytest.mark.rfc(
    "R6455-4.2.2-1",
    "R6455-4.2.2-13",
    "R6455-4.2.2-14",
    "R6455-4.2.2-15",
    "R6455-4.2.2-16",
    "R6455-4.2.2-10",
    "R6455-11.3.3-1",
)
def test_accept_rfc_example() -> None:
    server, request = received(request_bytes())
    assert request.path == "/chat"
    response = server.accept(request)
    assert server.handshake_exc is None
    assert response.status_code == 101
    assert response.reason_phrase == "Switching Protocols"
    # RFC 6455 §1.3: the RFC's example key and accept value
    assert response.headers["Sec-WebSocket-Accept"] == RFC_ACCEPT
    assert response.headers["Upgrade"] == "websocket"
    assert response.headers["Connection"] == "Upgrade"
    assert "Date" in response.headers
    assert "Sec-WebSocket-Protocol" not in response.headers
    assert "Sec-WebSocket-Extensions" not in response.headers
    assert server.state is State.CONNECTING
    server.send_response(response)
    assert server.state is State.OPEN
    assert server.response is response
    wire = written(server, handshake=True)
    assert not wire.eof
    assert wire.data == response.serialize()
    assert wire.data.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert not server.close_expected()


def test_request_byte_by_byte() -> None:
    server = ServerProtocol()
    data = request_bytes()
    for i in range(len(data)):
        server.receive_data(data[i : i + 1])
        events = server.events_received()
        assert (len(events) == 1) is (i == len(data) - 1)
    assert isinstance(events[0], Request)


@pytest.mark.parametrize(
    ("upgrade", "connection"),
    [
        ("WebSocket", "upgrade"),
        ("websocket", "keep-alive, Upgrade"),  # Firefox
        ("h2c, WEBSOCKET", "UPGRADE,keep-alive"),
        ("websocket", "close, ,Upgrade"),
    ],
)
@pytest.mark.rfc("R6455-4.2.1-5", "R6455-4.2.1-6")
def test_upgrade_tokens_case_insensitive_in_lists(upgrade: str, connection: str) -> None:
    server, request = received(
        request_bytes(replace={"Upgrade": upgrade, "Connection": connection})
    )
    assert server.accept(request).status_code == 101


@pytest.mark.rfc("R6455-4.2.1-6")
def test_connection_in_several_header_lines() -> None:
    data = request_bytes(replace={"Connection": "keep-alive"}, extra=[("Connection", "Upgrade")])
    server, request = received(data)
    assert server.accept(request).status_code == 101


@pytest.mark.rfc("R6455-4.1-37")
def test_frames_pipelined_behind_the_request() -> None:
    # A client may send frames right after its request (RFC 6455 §4.1 allows it once
    # the response arrives, but bytes can be in flight); they're parsed after OPEN.
    data = request_bytes() + client_frame(0x1, b"early") + client_frame(0x9, b"ping")
    server, request = received(data)
    assert server.events_received() == []
    server.send_response(server.accept(request))
    assert server.events_received() == [
        Frame(Opcode.TEXT, b"early"),
        Frame(Opcode.PING, b"ping"),
    ]
    wire = written(server, handshake=True).data
    assert wire.endswith(b"\x8a\x04ping")  # the automatic pong follows the 101


@pytest.mark.rfc("R6455-4.1-37")
def test_frames_pipelined_behind_the_request_reach_the_loop_that_accepts() -> None:
    # The loop of the class docstring (and of websockets' Sans-I/O servers): the frames
    # that send_response() releases come next in the same iteration, with no second call
    # of events_received() and no more data from the client (which waits for the echo).
    server = ServerProtocol()
    server.receive_data(request_bytes() + client_frame(0x1, b"early") + client_frame(0x9, b"p"))
    seen: list[object] = []
    for event in server.events_received():
        seen.append(event)
        if isinstance(event, Request):
            server.send_response(server.accept(event))
    assert [type(event) for event in seen] == [Request, Frame, Frame]
    assert seen[1:] == [Frame(Opcode.TEXT, b"early"), Frame(Opcode.PING, b"p")]
    assert server.events_received() == []  # each event is handed over once
    assert written(server, handshake=True).data.endswith(b"\x8a\x01p")


def test_frames_pipelined_behind_a_refused_request_are_dropped() -> None:
    server = ServerProtocol()
    server.receive_data(request_bytes(replace={"Sec-WebSocket-Version": "8"}) + client_frame(1))
    seen: list[object] = []
    for event in server.events_received():
        seen.append(event)
        if isinstance(event, Request):
            server.send_response(server.accept(event))
    assert [type(event) for event in seen] == [Request]
    assert server.events_received() == []


def test_frames_arriving_while_accepting_are_buffered() -> None:
    server, request = received(request_bytes())
    server.receive_data(client_frame(0x2, b"later"))
    assert server.events_received() == []
    server.send_response(server.accept(request))
    assert server.events_received() == [Frame(Opcode.BINARY, b"later")]


@pytest.mark.rfc("R6455-4.1-37")
def test_data_before_the_response_is_bounded_and_fails_the_connection() -> None:
    from websocket_ref import ProtocolError
    from websocket_ref.server import EARLY_DATA_LIMIT

    server, request = received(request_bytes())
    chunk = client_frame(0x2, bytes(1000))
    for _ in range(EARLY_DATA_LIMIT // len(chunk) + 10):
        server.receive_data(chunk)
    # RFC 6455 §4.1: the client MUST wait for the response: what's past the limit is dropped.
    assert len(server._buffer) <= EARLY_DATA_LIMIT
    assert server.events_received() == []
    server.send_response(server.accept(request))
    wire = written(server, handshake=True)
    status, _, frames = parse_response(wire.data)
    assert status == 101
    assert [f.close_code for f in decode_frames(frames)] == [1002]
    assert wire.eof  # RFC 6455 §7.1.1: the server closes TCP first
    assert type(server.failure_exc) is ProtocolError
    assert server.failure_exc.rule == "RFC 6455 §4.1"
    assert server.close_sent is not None and server.close_sent.code == 1002
    assert server.events_received() == []  # the dropped stream can't be parsed


def test_data_before_a_rejection_is_bounded() -> None:
    from websocket_ref.server import EARLY_DATA_LIMIT

    server, _ = received(request_bytes())
    for _ in range(100):
        server.receive_data(bytes(1000))
    assert len(server._buffer) <= EARLY_DATA_LIMIT
    server.send_response(server.reject(403, "no"))
    assert server.failure_exc is None
    assert parse_response(written(server, handshake=True).data)[0] == 403


# Invalid requests: accept() answers with an HTTP error and sets handshake_exc.


def refused_by_accept(
    data: bytes, exc_type: type[Exception], status: int, **kwargs: object
) -> tuple[ServerProtocol, Response]:
    server, request = received(data, **kwargs)
    response = server.accept(request)
    assert type(server.handshake_exc) is exc_type, repr(server.handshake_exc)
    assert response.status_code == status
    assert response.reason_phrase == http.HTTPStatus(status).phrase
    server.send_response(response)
    wire = written(server, handshake=True)
    # RFC 6455 §4.2.2: the error response, then the server closes the connection
    assert wire.eof
    code, headers, body = parse_response(wire.data)
    assert code == status
    assert headers["Content-Length"] == str(len(body))
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "close" in headers["Connection"].lower().replace(" ", "").split(",")
    assert body == response.body
    assert body.startswith(b"Failed to open a WebSocket connection")
    assert server.state is State.CONNECTING
    assert server.close_expected()
    with pytest.raises(InvalidState):
        server.send_text(b"no")
    # Whatever the client sends next is ignored.
    server.receive_data(client_frame(0x1, b"ignored"))
    assert server.events_received() == []
    server.receive_eof()
    assert server.state is State.CLOSED
    assert server.data_to_send() == []
    return server, response


@pytest.mark.parametrize(
    ("changes", "exc_type", "name"),
    [
        ({"remove": ["Upgrade"]}, InvalidUpgrade, "Upgrade"),
        ({"replace": {"Upgrade": "h2c"}}, InvalidUpgrade, "Upgrade"),
        ({"remove": ["Connection"]}, InvalidUpgrade, "Connection"),
        ({"replace": {"Connection": "keep-alive"}}, InvalidUpgrade, "Connection"),
    ],
)
@pytest.mark.rfc("R6455-4.2.1-1", "R6455-4.2.1-5", "R6455-4.2.1-6")
def test_not_an_upgrade_426(
    changes: dict[str, object], exc_type: type[Exception], name: str
) -> None:
    server, response = refused_by_accept(request_bytes(**changes), exc_type, 426)  # type: ignore[arg-type]
    # RFC 7231 §6.5.15: a 426 MUST send Upgrade; RFC 7230 §6.7: with Upgrade, a sender
    # MUST also send Connection with the "upgrade" option.
    assert response.headers["Upgrade"] == "websocket"
    assert response.headers["Connection"].lower().replace(" ", "").split(",") == [
        "upgrade",
        "close",
    ]
    assert isinstance(server.handshake_exc, InvalidHeader)
    assert server.handshake_exc.name == name


@pytest.mark.parametrize(
    ("changes", "exc_type", "name"),
    [
        # RFC 6455 §4.2.1 item 2: Host
        ({"remove": ["Host"]}, InvalidHeader, "Host"),
        ({"extra": [("Host", "other.example.com")]}, InvalidHeader, "Host"),
        # RFC 6455 §4.2.1 item 5: a key that decodes to 16 bytes
        ({"remove": ["Sec-WebSocket-Key"]}, InvalidHeader, "Sec-WebSocket-Key"),
        ({"extra": [("Sec-WebSocket-Key", RFC_KEY)]}, InvalidHeader, "Sec-WebSocket-Key"),
        (
            {"replace": {"Sec-WebSocket-Key": "not base64!"}},
            InvalidHeaderValue,
            "Sec-WebSocket-Key",
        ),
        (
            {"replace": {"Sec-WebSocket-Key": "AAAAAAAAAAAAAAAAAAAA"}},  # 15 bytes
            InvalidHeaderValue,
            "Sec-WebSocket-Key",
        ),
        (
            {"replace": {"Sec-WebSocket-Key": "AAAAAAAAAAAAAAAAAAAAAAAAAA=="}},  # 19 bytes
            InvalidHeaderValue,
            "Sec-WebSocket-Key",
        ),
        (
            {"replace": {"Connection": "Upgrade;"}},
            InvalidHeaderFormat,
            "Connection",
        ),
    ],
)
@pytest.mark.rfc("R6455-4.2.1-1", "R6455-4.2.1-4", "R6455-4.2.1-7", "R6455-11.3.1-1")
def test_invalid_headers_400(
    changes: dict[str, object], exc_type: type[Exception], name: str
) -> None:
    server, _ = refused_by_accept(request_bytes(**changes), exc_type, 400)  # type: ignore[arg-type]
    assert isinstance(server.handshake_exc, InvalidHeader)
    assert server.handshake_exc.name == name


@pytest.mark.parametrize(
    ("changes", "exc_type"),
    [
        ({"remove": ["Sec-WebSocket-Version"]}, InvalidHeader),
        ({"replace": {"Sec-WebSocket-Version": "8"}}, InvalidHeaderValue),
        ({"replace": {"Sec-WebSocket-Version": "14"}}, InvalidHeaderValue),
        ({"extra": [("Sec-WebSocket-Version", "8")]}, InvalidHeader),
    ],
)
@pytest.mark.rfc(
    "R6455-4.2.1-8", "R6455-4.2.2-7", "R6455-4.4-1", "R6455-11.3.5-1", "R6455-11.3.5-2"
)
def test_unsupported_version_426(changes: dict[str, object], exc_type: type[Exception]) -> None:
    # RFC 6455 §4.4: 426 Upgrade Required with the versions the server supports
    _, response = refused_by_accept(request_bytes(**changes), exc_type, 426)  # type: ignore[arg-type]
    assert response.headers["Sec-WebSocket-Version"] == "13"


# Origin (RFC 6455 §4.2.1 item 7, §10.2)


@pytest.mark.parametrize(
    ("origins", "origin"),
    [
        (["https://good.example"], "https://good.example"),
        ([None], None),
        ([None, "https://good.example"], None),
        ([re.compile(r"https://[a-z]+\.good\.example")], "https://sub.good.example"),
    ],
)
@pytest.mark.rfc("R6455-4.2.2-4", "R6455-10.2-1", "R6455-4.2.1-9")
def test_origin_allowed(origins: list[object], origin: str | None) -> None:
    extra = [] if origin is None else [("Origin", origin)]
    server, request = received(request_bytes(extra=extra), origins=origins)
    assert server.accept(request).status_code == 101


@pytest.mark.parametrize(
    ("origins", "origin"),
    [
        (["https://good.example"], "https://evil.example"),
        (["https://good.example"], None),
        ([None], "https://good.example"),
        ([re.compile(r"https://good\.example")], "https://good.example.evil"),  # fullmatch
        ([], "https://good.example"),
    ],
)
@pytest.mark.rfc("R6455-4.2.2-6", "R6455-10.2-1", "R6455-10.2-2", "R6455-4.2.1-9")
def test_origin_refused_403(origins: list[object], origin: str | None) -> None:
    extra = [] if origin is None else [("Origin", origin)]
    server, _ = refused_by_accept(request_bytes(extra=extra), InvalidOrigin, 403, origins=origins)
    assert isinstance(server.handshake_exc, InvalidOrigin)
    assert server.handshake_exc.value == origin


@pytest.mark.rfc("R6455-4.2.2-5")
@pytest.mark.parametrize(
    ("origins", "origin"),
    [
        (["https://good.example"], "HTTPS://Good.Example"),
        (["https://Good.Example"], "https://good.example"),
        ([re.compile(r"https://[a-z]+\.good\.example")], "https://SUB.good.example"),
    ],
)
def test_origin_compared_in_lowercase(origins: list[object], origin: str) -> None:
    # RFC 6455 §4.2.2 step 4: "The origin is serialized to ASCII and converted to lowercase."
    server, request = received(request_bytes(extra=[("Origin", origin)]), origins=origins)
    assert server.accept(request).status_code == 101


@pytest.mark.rfc("R6455-4.2.2-5")
def test_origin_with_non_ascii_characters_refused() -> None:
    # It can't be the ASCII serialization of an origin.
    data = request_bytes(extra=[("Origin", "https://b\u00fccher.example")])
    refused_by_accept(data, InvalidOrigin, 403, origins=["https://b\u00fccher.example"])


def test_origin_several_values_400() -> None:
    data = request_bytes(extra=[("Origin", "https://a.example"), ("Origin", "https://b.example")])
    refused_by_accept(data, InvalidHeader, 400, origins=["https://a.example"])


# Subprotocols (RFC 6455 §4.2.2 item 4)


@pytest.mark.parametrize(
    ("offered", "supported", "selected"),
    [
        (["chat", "superchat"], ["superchat", "chat"], "chat"),  # the client's preference
        (["chat", "superchat"], ["superchat"], "superchat"),
        (["chat"], ["other"], None),
        ([], ["chat"], None),
        (["chat"], [], None),
    ],
)
@pytest.mark.rfc("R6455-4.2.2-9", "R6455-4.2.2-10")
def test_subprotocol_selection(
    offered: list[str], supported: list[str], selected: str | None
) -> None:
    extra = [("Sec-WebSocket-Protocol", ", ".join(offered))] if offered else []
    server, request = received(request_bytes(extra=extra), subprotocols=supported)
    response = server.accept(request)
    assert response.status_code == 101
    assert server.subprotocol == selected
    assert response.headers.get("Sec-WebSocket-Protocol") == selected


@pytest.mark.rfc("R6455-11.3.4-1")
def test_subprotocol_offers_in_several_lines() -> None:
    extra = [("Sec-WebSocket-Protocol", "a"), ("Sec-WebSocket-Protocol", "b, c")]
    seen: list[Sequence[str]] = []

    def select(protocol: ServerProtocol, subprotocols: Sequence[str]) -> str | None:
        assert isinstance(protocol, ServerProtocol)
        seen.append(list(subprotocols))
        return subprotocols[-1]

    server, request = received(request_bytes(extra=extra), select_subprotocol=select)
    response = server.accept(request)
    assert seen == [["a", "b", "c"]]
    assert response.headers["Sec-WebSocket-Protocol"] == "c"
    assert server.subprotocol == "c"


@pytest.mark.rfc("R6455-4.2.2-9")
@pytest.mark.parametrize(("offer", "selected"), [("chat", "other"), (None, "chat"), ("chat", "")])
def test_select_subprotocol_not_offered_500(offer: str | None, selected: str) -> None:
    # RFC 6455 §4.2.2: the value MUST be one the client offered. A select_subprotocol
    # that returns another is a bug of the server, not of the client: 500, not 400.
    extra = [] if offer is None else [("Sec-WebSocket-Protocol", offer)]
    server, request = received(
        request_bytes(extra=extra), select_subprotocol=lambda protocol, subprotocols: selected
    )
    response = server.accept(request)
    assert response.status_code == 500
    assert type(server.handshake_exc) is NegotiationError
    assert "Sec-WebSocket-Protocol" not in response.headers


def test_select_subprotocol_crashes_500() -> None:
    def select(protocol: ServerProtocol, subprotocols: Sequence[str]) -> str | None:
        raise RuntimeError("bug")

    server, request = received(request_bytes(), select_subprotocol=select)
    response = server.accept(request)
    assert response.status_code == 500
    assert type(server.handshake_exc) is RuntimeError
    assert b"See server log" in response.body


@pytest.mark.rfc("R6455-4.2.1-10")
def test_malformed_subprotocol_header_400() -> None:
    extra = [("Sec-WebSocket-Protocol", "chat;")]
    refused_by_accept(request_bytes(extra=extra), InvalidHeaderFormat, 400, subprotocols=["chat"])


# Extensions (RFC 6455 §9.1)


@pytest.mark.rfc("R6455-4.2.2-11", "R6455-9-2")
def test_extension_accepted_with_parameters() -> None:
    extra = [("Sec-WebSocket-Extensions", 'x-fake; a=1; b; c="3"')]
    factory = FakeServerFactory("x-fake", RSV1, accept=["a", "b", "c"])
    server, request = received(request_bytes(extra=extra), extensions=[factory])
    response = server.accept(request)
    assert response.headers["Sec-WebSocket-Extensions"] == "x-fake; a=1; b; c=3"
    [extension] = server.extensions
    assert isinstance(extension, FakeExtension)
    assert extension.params == [("a", "1"), ("b", None), ("c", "3")]


@pytest.mark.rfc("R6455-4.2.2-12", "R6455-9-3")
def test_unknown_extension_ignored() -> None:
    extra = [("Sec-WebSocket-Extensions", "x-unknown")]
    server, request = received(request_bytes(extra=extra), extensions=[FakeServerFactory()])
    response = server.accept(request)
    assert response.status_code == 101
    assert "Sec-WebSocket-Extensions" not in response.headers
    assert server.extensions == []


@pytest.mark.rfc("R6455-9-4", "R6455-4.2.2-11")
def test_declined_offer_falls_back_to_next_offer() -> None:
    # RFC 6455 §9.1: a client may offer the same extension several times, in order of
    # preference; the server picks the first it accepts.
    extra = [("Sec-WebSocket-Extensions", "x-fake; bad, x-fake; a=2")]
    factory = FakeServerFactory("x-fake", accept=["a"])
    server, request = received(request_bytes(extra=extra), extensions=[factory])
    response = server.accept(request)
    assert response.headers["Sec-WebSocket-Extensions"] == "x-fake; a=2"
    assert len(server.extensions) == 1


@pytest.mark.rfc("R6455-11.3.2-1", "R6455-9.1-3", "R6455-4.2.2-11")
def test_extension_offers_accepted_in_client_order() -> None:
    extra = [
        ("Sec-WebSocket-Extensions", "x-two"),
        ("Sec-WebSocket-Extensions", "x-one"),
    ]
    factories = [FakeServerFactory("x-one", RSV1), FakeServerFactory("x-two", RSV2)]
    server, request = received(request_bytes(extra=extra), extensions=factories)
    response = server.accept(request)
    assert response.headers["Sec-WebSocket-Extensions"] == "x-two, x-one"
    assert [e.name for e in server.extensions] == ["x-two", "x-one"]


def test_two_extensions_claiming_the_same_reserved_bit() -> None:
    extra = [("Sec-WebSocket-Extensions", "x-one, x-two")]
    factories = [FakeServerFactory("x-one", RSV1), FakeServerFactory("x-two", RSV1)]
    server, request = received(request_bytes(extra=extra), extensions=factories)
    response = server.accept(request)
    # The second can't share RSV1: it's declined, not an error.
    assert response.headers["Sec-WebSocket-Extensions"] == "x-one"
    assert [e.name for e in server.extensions] == ["x-one"]


@pytest.mark.rfc("R6455-9.1-1")
@pytest.mark.rfc("R6455-9.1-5", "R6455-9-4", "R6455-9-3")
def test_offer_with_parameters_not_defined_for_the_extension_is_declined() -> None:
    # RFC 6455 §9.1: the parameters MUST be defined for that extension (RFC 7692 §7: the
    # server declines such an offer); the next, valid offer is accepted.
    from websocket_ref.extensions import ServerPerMessageDeflateFactory

    offers = "permessage-deflate; unknown, permessage-deflate; client_max_window_bits"
    server, request = received(
        request_bytes(extra=[("Sec-WebSocket-Extensions", offers)]),
        extensions=[ServerPerMessageDeflateFactory()],
    )
    response = server.accept(request)
    assert response.status_code == 101
    assert response.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
    assert "unknown" not in response.headers["Sec-WebSocket-Extensions"]
    server, request = received(
        request_bytes(extra=[("Sec-WebSocket-Extensions", "permessage-deflate; unknown")]),
        extensions=[ServerPerMessageDeflateFactory()],
    )
    response = server.accept(request)
    assert response.status_code == 101
    assert "Sec-WebSocket-Extensions" not in response.headers
    assert server.extensions == []


def test_malformed_extension_header_400() -> None:
    extra = [("Sec-WebSocket-Extensions", "x-fake; a=")]
    refused_by_accept(
        request_bytes(extra=extra), InvalidHeaderFormat, 400, extensions=[FakeServerFactory()]
    )


def test_reserved_bits_follow_negotiated_extensions() -> None:
    extra = [("Sec-WebSocket-Extensions", "x-fake")]
    server, request = received(
        request_bytes(extra=extra), extensions=[FakeServerFactory("x-fake", RSV1)]
    )
    server.send_response(server.accept(request))
    written(server, handshake=True)
    server.receive_data(client_frame(0x2, b"cba", rsv=RSV1) + client_frame(0x2, b"x", rsv=RSV2))
    assert server.events_received() == [Frame(Opcode.BINARY, b"abc")]
    wire = written(server)
    assert wire.close_codes == [1002]
    assert wire.eof


# Malformed requests: the core answers with an HTTP error by itself.


@pytest.mark.parametrize(
    ("data", "exc_type", "status"),
    [
        (b"POST /chat HTTP/1.1\r\nHost: x\r\n\r\n", InvalidMethod, 405),
        (b"GET /chat HTTP/1.0\r\nHost: x\r\n\r\n", InvalidProtocol, 505),
        (b"GET /chat\r\nHost: x\r\n\r\n", InvalidMessage, 400),
        (b"GET chat HTTP/1.1\r\nHost: x\r\n\r\n", InvalidMessage, 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", InvalidMessage, 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", InvalidMessage, 400),
        (b"GET / HTTP/1.1\r\nHost x\r\n\r\n", InvalidMessage, 400),
        (b"GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", InvalidMessage, 400),
        (
            b"GET / HTTP/1.1\r\n"
            + b"".join(b"X-%d: v\r\n" % i for i in range(MAX_NUM_HEADERS + 1))
            + b"\r\n",
            TooManyHeaders,
            431,
        ),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * MAX_LINE_LENGTH, HeaderLineTooLong, 431),
        (b"GET /" + b"a" * MAX_LINE_LENGTH, RequestLineTooLong, 431),
    ],
    ids=[
        "method",
        "version",
        "request-line",
        "target",
        "tls",
        "obs-fold",
        "header-line",
        "body",
        "too-many-headers",
        "long-header-line",
        "long-request-line",
    ],
)
@pytest.mark.rfc("R6455-4.2.1-1")
def test_malformed_request(data: bytes, exc_type: type[Exception], status: int) -> None:
    server = ServerProtocol()
    server.receive_data(data)
    assert server.events_received() == []
    assert type(server.handshake_exc) is exc_type, repr(server.handshake_exc)
    wire = written(server, handshake=True)
    assert wire.eof
    code, headers, body = parse_response(wire.data)
    assert code == status
    assert headers["Content-Length"] == str(len(body))
    assert body.startswith(b"Failed to open a WebSocket connection: ")
    assert server.response is not None
    assert server.response.status_code == status
    assert server.state is State.CONNECTING
    assert server.close_expected()
    # Nothing more is parsed or written.
    server.receive_data(b"GET / HTTP/1.1\r\n\r\n")
    assert server.events_received() == []
    assert server.data_to_send() == []
    server.receive_eof()
    assert server.state is State.CLOSED


@pytest.mark.rfc("R6455-4.2.1-3")
@pytest.mark.parametrize(
    ("target", "path"),
    [
        (b"http://server.example.com/chat", "/chat"),
        (b"https://server.example.com:8443/chat?room=1", "/chat?room=1"),
        (b"HTTP://Server.Example.COM/chat", "/chat"),
        (b"http://server.example.com", "/"),
        (b"http://server.example.com?x=1", "/?x=1"),
        (b"http://user@[::1]:8080/a/b", "/a/b"),
    ],
)
def test_absolute_form_request_target(target: bytes, path: str) -> None:
    # RFC 6455 §4.2.1: the Request-URI is a resource name "or an absolute HTTP/HTTPS URI
    # containing the /resource name/"; RFC 7230 §5.3.2: a server MUST accept it.
    server, request = received(request_bytes(line=b"GET " + target + b" HTTP/1.1"))
    assert request.path == path
    assert server.accept(request).status_code == 101


@pytest.mark.rfc("R6455-4.2.1-3", "R6455-3-2")
@pytest.mark.parametrize(
    "target",
    [
        b"*",
        b"server.example.com:80",
        b"ws://server.example.com/chat",
        b"ftp://server.example.com/chat",
        b"http:/chat",
        b"http:///chat",
        b"/chat#fragment",
        b"http://server.example.com/chat#fragment",
        b"/ch\x7fat",
        b"/ch\x01at",
        b"/caf\xc3\xa9",
    ],
)
def test_invalid_request_target_400(target: bytes) -> None:
    server = ServerProtocol()
    server.receive_data(request_bytes(line=b"GET " + target + b" HTTP/1.1"))
    assert server.events_received() == []
    assert type(server.handshake_exc) is InvalidMessage
    wire = written(server, handshake=True)
    assert parse_response(wire.data)[0] == 400
    assert wire.eof


@pytest.mark.rfc("R6455-4.2.1-2")
@pytest.mark.parametrize("version", [b"HTTP/1.1", b"HTTP/1.2", b"HTTP/1.9"])
def test_http_1_1_or_higher(version: bytes) -> None:
    # RFC 6455 §4.2.1: "An HTTP/1.1 or higher GET request"; RFC 7230 §2.6: a higher
    # minor version of a major version the server implements is read as that version.
    server, request = received(request_bytes(line=b"GET /chat " + version))
    response = server.accept(request)
    assert response.status_code == 101
    server.send_response(response)
    assert written(server, handshake=True).data.startswith(b"HTTP/1.1 101 ")


@pytest.mark.rfc("R6455-4.2.1-2")
@pytest.mark.parametrize(
    ("version", "status"),
    [
        (b"HTTP/1.0", 505),
        (b"HTTP/0.9", 505),
        (b"HTTP/2.0", 505),
        (b"HTTP/3", 400),
        (b"HTTP/1.10", 400),
        (b"HTTP/1", 400),
        (b"http/1.1", 400),
    ],
)
def test_http_version_below_1_1_or_not_http_1(version: bytes, status: int) -> None:
    server = ServerProtocol()
    server.receive_data(request_bytes(line=b"GET /chat " + version))
    exc_type = InvalidProtocol if status == 505 else InvalidMessage
    assert type(server.handshake_exc) is exc_type
    assert parse_response(written(server, handshake=True).data)[0] == status


@pytest.mark.rfc("R6455-4.2.1-2")
@pytest.mark.parametrize("method", [b"POST", b"HEAD", b"get", b"CONNECT"])
def test_method_other_than_get_405_with_allow(method: bytes) -> None:
    # RFC 6455 §4.2.1: a GET request; RFC 7231 §6.5.5: a 405 MUST carry Allow.
    server = ServerProtocol()
    server.receive_data(request_bytes(line=method + b" /chat HTTP/1.1"))
    assert type(server.handshake_exc) is InvalidMethod
    status, headers, _ = parse_response(written(server, handshake=True).data)
    assert status == 405
    assert headers["Allow"] == "GET"


@pytest.mark.rfc("R6455-4.2.1-4")
@pytest.mark.parametrize(
    "host",
    [
        "server.example.com",
        "server.example.com:8080",
        "127.0.0.1",
        "[::1]:8765",
        "[::1]",
        "xn--bcher-kva.example",
        "EXAMPLE.com:",
        "a%2Db.example",
    ],
)
def test_host_is_an_authority(host: str) -> None:
    server, request = received(request_bytes(replace={"Host": host}))
    assert server.accept(request).status_code == 101


@pytest.mark.rfc("R6455-4.2.1-4")
@pytest.mark.parametrize(
    "host",
    [
        "",
        "server example.com",
        "server.example.com:80x",
        "server.example.com:-1",
        "[::1",
        "::1",
        "user@server.example.com",
        "server.example.com/chat",
        "b\u00fccher.example",
    ],
)
def test_host_that_is_not_an_authority_400(host: str) -> None:
    server, _ = refused_by_accept(request_bytes(replace={"Host": host}), InvalidHeaderFormat, 400)
    assert isinstance(server.handshake_exc, InvalidHeader)
    assert server.handshake_exc.name == "Host"


def test_eof_during_handshake() -> None:
    server = ServerProtocol()
    server.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n")
    server.receive_eof()
    assert type(server.handshake_exc) is InvalidMessage
    assert server.state is State.CLOSED
    assert server.data_to_send() == [b""]
    assert server.events_received() == []


def test_eof_while_accepting() -> None:
    server, _request = received(request_bytes())
    server.receive_eof()
    assert server.state is State.CLOSED
    assert server.data_to_send() == [b""]


# reject() and send_response()


def test_reject() -> None:
    server, _request = received(request_bytes())
    response = server.reject(http.HTTPStatus.UNAUTHORIZED, "Missing token.\n")
    assert response.status_code == 401
    assert response.reason_phrase == "Unauthorized"
    assert response.body == b"Missing token.\n"
    assert response.headers["Content-Length"] == "15"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Connection"] == "close"
    response.headers["WWW-Authenticate"] = 'Basic realm="x"'
    server.send_response(response)
    assert type(server.handshake_exc) is InvalidHandshake
    assert "401" in str(server.handshake_exc)
    wire = written(server, handshake=True)
    assert wire.eof
    code, headers, body = parse_response(wire.data)
    assert (code, body) == (401, b"Missing token.\n")
    assert headers["WWW-Authenticate"] == 'Basic realm="x"'
    assert server.state is State.CONNECTING
    assert server.close_expected()


def test_reject_accepts_int_and_utf8() -> None:
    server = ServerProtocol()
    response = server.reject(503, "café")
    assert response.reason_phrase == "Service Unavailable"
    assert response.body == "café".encode()
    assert response.headers["Content-Length"] == "5"


def test_reject_without_request() -> None:
    # e.g. a server refusing connections while shutting down
    server = ServerProtocol()
    server.send_response(server.reject(503, "Shutting down.\n"))
    assert server.handshake_exc is not None
    assert written(server, handshake=True).eof


def test_send_response_twice() -> None:
    server, request = received(request_bytes())
    server.send_response(server.accept(request))
    with pytest.raises(InvalidState):
        server.send_response(server.accept(request))


def assert_101_refused(server: ServerProtocol, response: Response) -> None:
    """send_response() refuses to send ``response``: nothing is written, nothing opens."""
    with pytest.raises(ValueError, match="not the 101 that accept"):
        server.send_response(response)
    assert server.state is State.CONNECTING
    assert server.data_to_send() == []
    assert server.response is None


@pytest.mark.rfc("R6455-4.2.2-13", "R6455-4.2.2-16")
def test_101_after_failed_accept_is_refused() -> None:
    # A 101 built by hand can't override a failed validation: it would accept a
    # handshake the server refused, without the headers RFC 6455 §4.2.2 requires.
    server, request = received(request_bytes(remove=["Sec-WebSocket-Key"]))
    server.accept(request)
    assert_101_refused(server, Response(101, "Switching Protocols", Headers()))


@pytest.mark.rfc("R6455-4.2.2-13", "R6455-4.2.2-14", "R6455-4.2.2-15", "R6455-4.2.2-16")
def test_101_built_by_hand_is_refused() -> None:
    # Without accept(), there's no validated request to accept: a hand-made 101 (from a
    # process_request hook, say) isn't a WebSocket acceptance.
    server, _ = received(request_bytes())
    headers = Headers(
        [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", "x")]
    )
    assert_101_refused(server, Response(101, "Switching Protocols", headers))


@pytest.mark.rfc(
    "R6455-4.2.2-9", "R6455-4.2.2-12", "R6455-4.2.2-14", "R6455-4.2.2-16", "R6455-11.3.4-2"
)
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Sec-WebSocket-Accept", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        ("Sec-WebSocket-Accept", None),
        ("Upgrade", "h2c"),
        ("Connection", None),
        ("Sec-WebSocket-Protocol", "other"),
        ("Sec-WebSocket-Extensions", "x-unrequested"),
    ],
)
def test_101_altered_after_accept_is_refused(name: str, value: str | None) -> None:
    # The protocol headers of the 101 are the ones accept() negotiated; a
    # process_response hook that changes them would make both sides disagree.
    server, request = received(
        request_bytes(extra=[("Sec-WebSocket-Protocol", "chat")]), subprotocols=["chat"]
    )
    response = server.accept(request)
    assert response.headers["Sec-WebSocket-Protocol"] == "chat"
    if name in response.headers:
        del response.headers[name]
    if value is not None:
        response.headers[name] = value
    assert_101_refused(server, response)


@pytest.mark.rfc("R6455-11.3.4-2", "R6455-11.3.3-1")
def test_101_with_a_protocol_header_repeated_is_refused() -> None:
    server, request = received(
        request_bytes(extra=[("Sec-WebSocket-Protocol", "chat")]), subprotocols=["chat"]
    )
    response = server.accept(request)
    response.headers["Sec-WebSocket-Protocol"] = "chat"  # a second, identical line
    assert_101_refused(server, response)


def test_101_with_other_headers_added_is_sent() -> None:
    server, request = received(request_bytes())
    response = server.accept(request)
    response.headers["Set-Cookie"] = "session=1"
    del response.headers["Upgrade"]
    response.headers["Upgrade"] = "websocket"  # moved to the end, same value
    del response.headers["Date"]
    server.send_response(response)
    assert server.state is State.OPEN
    assert b"Set-Cookie: session=1\r\n" in written(server, handshake=True).data


def test_frames_after_handshake_then_close() -> None:
    server, request = received(request_bytes())
    server.send_response(server.accept(request))
    written(server, handshake=True)
    server.receive_data(client_frame(0x8, close_payload(1000)))
    wire = written(server)
    assert wire.close_codes == [1000]
    assert wire.eof


def test_select_subprotocol_accepts_any_callable() -> None:
    def pick(suffix: str, protocol: ServerProtocol, subprotocols: Sequence[str]) -> str | None:
        return next((s for s in subprotocols if s.endswith(suffix)), None)

    class Picker:
        def __call__(self, protocol: ServerProtocol, subprotocols: Sequence[str]) -> str | None:
            assert isinstance(protocol, ServerProtocol)
            return subprotocols[0]

    extra = [("Sec-WebSocket-Protocol", "chat.v1, chat.v2")]
    for select, selected in [(functools.partial(pick, ".v2"), "chat.v2"), (Picker(), "chat.v1")]:
        server, request = received(request_bytes(extra=extra), select_subprotocol=select)
        assert server.accept(request).headers["Sec-WebSocket-Protocol"] == selected


def test_select_subprotocol_replaced_like_a_python_method() -> None:
    # websockets' ways to change how the subprotocol is chosen: the argument, assigning
    # the instance's attribute, a subclass; each behaves as on websockets' Python class.
    extra = [("Sec-WebSocket-Protocol", "a, b")]

    def chosen(server: ServerProtocol) -> str | None:
        server.receive_data(request_bytes(extra=extra))
        [request] = server.events_received()
        assert isinstance(request, Request)
        return server.accept(request).headers.get("Sec-WebSocket-Protocol")

    def last(protocol: ServerProtocol, subprotocols: Sequence[str]) -> str | None:
        return subprotocols[-1]

    # The class attribute is the method, callable with a protocol: the default choice.
    default = ServerProtocol.select_subprotocol
    assert default.__name__ == "select_subprotocol"
    assert default(ServerProtocol(subprotocols=["b"]), ["a", "b"]) == "b"
    assert chosen(ServerProtocol(subprotocols=["b", "a"])) == "a"
    server = ServerProtocol(subprotocols=["a"], select_subprotocol=last)
    assert server.select_subprotocol(["x", "y"]) == "y"
    assert chosen(server) == "b"
    # Assigned on an instance: called with the offers only, as any attribute.
    server = ServerProtocol(subprotocols=["a"])
    server.select_subprotocol = lambda subprotocols: "b"  # type: ignore[method-assign]
    assert chosen(server) == "b"
    assert chosen(ServerProtocol(subprotocols=["a"])) == "a"  # other instances keep theirs
    server = ServerProtocol(subprotocols=["a"], select_subprotocol=last)
    del server.select_subprotocol  # back to the class's
    assert chosen(server) == "a"

    class Sub(ServerProtocol):
        def select_subprotocol(self, subprotocols: Sequence[str]) -> str | None:
            return super().select_subprotocol(list(reversed(subprotocols)))

    assert chosen(Sub(subprotocols=["a", "b"])) == "b"
    # As in websockets, the argument (an instance attribute) shadows a subclass's method.
    assert chosen(Sub(subprotocols=["a", "b"], select_subprotocol=lambda p, s: "a")) == "a"
    sub = Sub(subprotocols=["a", "b"])
    sub.select_subprotocol = lambda subprotocols: "a"  # type: ignore[method-assign]
    assert chosen(sub) == "a"


# The Date header: formatted once per second (websocket_ref.server.http_date), the same
# value email.utils.formatdate(usegmt=True) gives.


def test_date_header_is_formatdate_of_the_current_second(monkeypatch: pytest.MonkeyPatch) -> None:
    import email.utils
    import time

    from websocket_ref import server as server_module

    clock = [1_700_000_000.25]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    calls = []
    formatdate = email.utils.formatdate

    def counting_formatdate(*args: object, **kwargs: bool) -> str:
        calls.append(args)
        return formatdate(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(email.utils, "formatdate", counting_formatdate)
    monkeypatch.setattr(server_module, "_date_cache", (-1, ""))

    def date_of_accept() -> str:
        server, request = received(request_bytes())
        return server.accept(request).headers["Date"]

    def date_of_reject() -> str:
        server, _ = received(request_bytes())
        return server.reject(http.HTTPStatus.FORBIDDEN, "no\n").headers["Date"]

    assert date_of_accept() == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert date_of_reject() == formatdate(clock[0], usegmt=True)
    clock[0] = 1_700_000_000.99  # same second: the cached value
    assert date_of_accept() == formatdate(clock[0], usegmt=True)
    assert len(calls) == 1
    clock[0] = 1_700_000_001.0  # next second: formatted again
    assert date_of_reject() == "Tue, 14 Nov 2023 22:13:21 GMT"
    assert date_of_accept() == formatdate(clock[0], usegmt=True)
    assert len(calls) == 2


def test_date_header_without_fake_clock_matches_formatdate() -> None:
    import email.utils
    import time

    from websocket_ref.server import http_date

    for _ in range(3):  # retried if the second changes in between
        before = email.utils.formatdate(usegmt=True)
        value = http_date()
        if email.utils.formatdate(usegmt=True) == before:
            break
    assert value == before
    assert time.strptime(value, "%a, %d %b %Y %H:%M:%S GMT")
