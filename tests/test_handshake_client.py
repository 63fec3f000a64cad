"""The client side of the opening handshake (RFC 6455 §4.1, §4.2.2, §9.1)."""

from __future__ import annotations

import base64
import http.client
import io
import re

import pytest

from websocket_ref import (
    ClientProtocol,
    Frame,
    HeaderLineTooLong,
    Headers,
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderFormat,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidProtocol,
    InvalidState,
    InvalidStatus,
    InvalidUpgrade,
    NegotiationError,
    Opcode,
    Response,
    SecurityError,
    State,
    parse_uri,
)
from websocket_ref.client import USER_AGENT
from websocket_ref.handshake import accept_key
from websocket_ref.http11 import MAX_BODY_SIZE

from .utils import (
    RFC_ACCEPT,
    RFC_KEY,
    RSV1,
    RSV2,
    FakeClientFactory,
    FakeExtension,
    build_frame,
    close_payload,
    written,
)


def make_client(uri: str = "ws://example.com/chat", **kwargs: object) -> ClientProtocol:
    return ClientProtocol(parse_uri(uri), **kwargs)  # type: ignore[arg-type]


# The request (RFC 6455 §4.1)


@pytest.mark.rfc(
    "R6455-4.1-21",
    "R6455-4.1-22",
    "R6455-4.1-23",
    "R6455-4.1-24",
    "R6455-4.1-25",
    "R6455-4.1-30",
    "R6455-4.1-31",
)
def test_request_line_and_required_headers() -> None:
    client = make_client("ws://example.com/chat?room=1")
    request = client.connect()
    assert request.path == "/chat?room=1"
    headers = request.headers
    assert headers["Host"] == "example.com"
    assert headers["Upgrade"] == "websocket"
    assert headers["Connection"] == "Upgrade"
    assert headers["Sec-WebSocket-Version"] == "13"
    assert headers["Sec-WebSocket-Key"] == client.key
    assert headers["User-Agent"] == USER_AGENT
    for absent in ("Origin", "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions"):
        assert absent not in headers
    assert "Authorization" not in headers


@pytest.mark.rfc("R6455-4.1-18", "R6455-4.1-19", "R6455-4.1-20")
def test_send_request_writes_the_request() -> None:
    client = make_client("ws://example.com:8080/")
    request = client.connect()
    client.send_request(request)
    assert client.request is request
    wire = written(client, handshake=True)
    assert not wire.eof
    assert wire.data == request.serialize()
    assert wire.data.startswith(b"GET / HTTP/1.1\r\nHost: example.com:8080\r\n")
    assert wire.data.endswith(b"\r\n\r\n")
    assert client.state is State.CONNECTING
    # A valid HTTP/1.1 request (RFC 7230 §3), read by the standard library's parser: a
    # request line, then header fields whose names are tokens, then an empty line.
    request_line, _, rest = wire.data.partition(b"\r\n")
    assert re.fullmatch(rb"GET /[!-~]* HTTP/1\.1", request_line)
    parsed = http.client.parse_headers(io.BytesIO(rest))
    assert not parsed.defects
    assert sorted(k.lower() for k in parsed) == sorted(request.headers.keys())
    for name in parsed:
        assert re.fullmatch(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+", name)


@pytest.mark.rfc("R6455-4.1-26", "R6455-4.1-27")
def test_key_is_16_random_bytes_base64() -> None:
    keys = {make_client().connect().headers["Sec-WebSocket-Key"] for _ in range(50)}
    # RFC 6455 §4.1: a randomly selected 16-byte value, base64-encoded, fresh each time
    assert len(keys) == 50
    for key in keys:
        assert len(base64.b64decode(key, validate=True)) == 16
        assert len(key) == 24


@pytest.mark.parametrize(
    ("uri", "host"),
    [
        ("ws://example.com/", "example.com"),
        ("ws://example.com:80/", "example.com"),
        ("ws://example.com:8080/", "example.com:8080"),
        ("ws://example.com:443/", "example.com:443"),
        ("wss://example.com/", "example.com"),
        ("wss://example.com:443/", "example.com"),
        ("wss://example.com:80/", "example.com:80"),
        ("ws://[::1]:8765/", "[::1]:8765"),
        ("ws://[::1]/", "[::1]"),
        ("ws://b\u00fccher.example/", "xn--bcher-kva.example"),
    ],
)
@pytest.mark.rfc("R6455-4.1-22")
def test_host_header(uri: str, host: str) -> None:
    assert make_client(uri).connect().headers["Host"] == host


@pytest.mark.rfc("R6455-4.1-29")
def test_origin() -> None:
    request = make_client(origin="https://example.com").connect()
    assert request.headers["Origin"] == "https://example.com"


@pytest.mark.rfc("R6455-4.1-32")
def test_subprotocol_offer() -> None:
    request = make_client(subprotocols=["chat", "superchat"]).connect()
    assert request.headers["Sec-WebSocket-Protocol"] == "chat, superchat"


@pytest.mark.rfc("R6455-4.1-33")
@pytest.mark.parametrize("subprotocol", ["not a token", "", "chat/1", "caf\u00e9", "a,b"])
def test_invalid_subprotocol_offer(subprotocol: str) -> None:
    with pytest.raises(ValueError, match="invalid subprotocol"):
        make_client(subprotocols=["chat", subprotocol])


@pytest.mark.rfc("R6455-4.1-34")
def test_duplicate_subprotocol_offer() -> None:
    # RFC 6455 §4.1: the offered subprotocols MUST all be unique strings
    with pytest.raises(ValueError, match="duplicate subprotocol: chat"):
        make_client(subprotocols=["chat", "superchat", "chat"])
    # Subprotocols are compared exactly (they are case-sensitive tokens).
    request = make_client(subprotocols=["chat", "Chat"]).connect()
    assert request.headers["Sec-WebSocket-Protocol"] == "chat, Chat"


@pytest.mark.rfc("R6455-4.1-35", "R6455-9-1")
def test_extension_offers() -> None:
    factories = [
        FakeClientFactory("x-one", params=[("a", "1"), ("b", None)]),
        FakeClientFactory("x-two", RSV2),
    ]
    request = make_client(extensions=factories).connect()
    assert request.headers["Sec-WebSocket-Extensions"] == "x-one; a=1; b, x-two"


@pytest.mark.parametrize(
    "extra",
    [
        {"X-Token": "abc", "Cookie": "a=1"},
        [("X-Token", "abc"), ("Cookie", "a=1")],
        Headers([("X-Token", "abc"), ("Cookie", "a=1")]),
    ],
    ids=["dict", "pairs", "headers"],
)
@pytest.mark.rfc("R6455-4.1-36")
def test_additional_headers(extra: object) -> None:
    request = make_client().connect(additional_headers=extra)  # type: ignore[arg-type]
    assert request.headers["X-Token"] == "abc"
    assert request.headers["Cookie"] == "a=1"


@pytest.mark.rfc("R6455-4.1-36")
def test_user_agent() -> None:
    assert make_client().connect(user_agent_header="bot/1").headers["User-Agent"] == "bot/1"
    assert "User-Agent" not in make_client().connect(user_agent_header=None).headers
    # A User-Agent among the additional headers wins over the default.
    request = make_client().connect(additional_headers={"User-Agent": "mine"})
    assert request.headers.get_all("User-Agent") == ["mine"]


@pytest.mark.rfc("R6455-4.1-36")
def test_authorization_from_user_info() -> None:
    request = make_client("ws://Aladdin:open%20sesame@example.com/").connect()
    assert request.headers["Authorization"] == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    assert request.headers["Host"] == "example.com"


# The response: a 101 that completes the handshake (RFC 6455 §4.1, §4.2.2)


def response_bytes(
    client: ClientProtocol,
    *,
    status: bytes = b"101 Switching Protocols",
    upgrade: str | None = "websocket",
    connection: str | None = "Upgrade",
    accept: str | None = "",
    extra: list[tuple[str, str]] = (),  # type: ignore[assignment]
) -> bytes:
    headers = Headers()
    if upgrade is not None:
        headers["Upgrade"] = upgrade
    if connection is not None:
        headers["Connection"] = connection
    if accept == "":
        accept = accept_key(client.key)
    if accept is not None:
        headers["Sec-WebSocket-Accept"] = accept
    headers.update(extra)
    return b"HTTP/1.1 " + status + b"\r\n" + headers.serialize()


def started(uri: str = "ws://example.com/", **kwargs: object) -> ClientProtocol:
    client = make_client(uri, **kwargs)
    client.send_request(client.connect())
    client.data_to_send()
    return client


@pytest.mark.rfc("R6455-4.1-41", "R6455-4.2.2-16")
def test_rfc_example_accept_key() -> None:
    # RFC 6455 §1.3 / §4.2.2
    assert accept_key(RFC_KEY) == RFC_ACCEPT


@pytest.mark.rfc("R6455-4.1-2")
def test_accepted() -> None:
    client = started()
    client.receive_data(response_bytes(client))
    [response] = client.events_received()
    assert isinstance(response, Response)
    assert response.status_code == 101
    assert response.reason_phrase == "Switching Protocols"
    assert client.response is response
    assert client.state is State.OPEN
    assert client.handshake_exc is None
    assert client.extensions == []
    assert client.subprotocol is None
    assert client.data_to_send() == []
    assert not client.close_expected()


def test_frames_in_the_same_read_as_the_101_are_events_at_once() -> None:
    client = started()
    client.receive_data(response_bytes(client) + build_frame(0x1, b"hi"))
    assert [type(event) for event in client.events_received()] == [Response, Frame]
    assert client.state is State.OPEN


def test_accepted_byte_by_byte_with_pipelined_frames() -> None:
    client = started()
    wire = response_bytes(client) + build_frame(0x1, b"hi") + build_frame(0x9, b"p")
    events = []
    for byte in wire:
        client.receive_data(bytes([byte]))
        events.extend(client.events_received())
    assert [type(e) for e in events] == [Response, Frame, Frame]
    assert events[1] == Frame(Opcode.TEXT, b"hi")
    assert events[2] == Frame(Opcode.PING, b"p")
    assert client.state is State.OPEN


@pytest.mark.rfc("R6455-4.1-41")
def test_rfc_example_key() -> None:
    client = started()
    client.key = RFC_KEY
    client.receive_data(response_bytes(client, accept=RFC_ACCEPT))
    assert client.state is State.OPEN


@pytest.mark.parametrize(
    ("upgrade", "connection"),
    [
        ("WebSocket", "upgrade"),
        ("websocket", "keep-alive, Upgrade"),
        ("WEBSOCKET", "UPGRADE, keep-alive"),
        (" websocket ", "close, ,Upgrade"),
    ],
)
@pytest.mark.rfc("R6455-4.1-39", "R6455-4.1-40")
def test_upgrade_tokens_case_insensitive_in_lists(upgrade: str, connection: str) -> None:
    # Upgrade is a case-insensitive match for "websocket"; Connection contains "Upgrade".
    client = started()
    client.receive_data(response_bytes(client, upgrade=upgrade, connection=connection))
    assert client.state is State.OPEN


def assert_failed(client: ClientProtocol, exc_type: type[Exception]) -> Exception:
    """The handshake failed with exactly ``exc_type``; the client only closes TCP."""
    assert type(client.handshake_exc) is exc_type, repr(client.handshake_exc)
    # RFC 6455 §4.1: the client fails the connection: it writes nothing but EOF
    assert client.data_to_send() == [b""]
    assert client.state is State.CONNECTING
    assert client.close_expected()
    with pytest.raises(InvalidState):
        client.send_text(b"too early")
    # Anything else the server sends is ignored; then EOF ends the connection.
    client.receive_data(build_frame(0x1, b"ignored"))
    assert not [e for e in client.events_received() if isinstance(e, Frame)]
    client.receive_eof()
    assert client.state is State.CLOSED
    assert client.data_to_send() == []
    assert not client.close_expected()
    return client.handshake_exc


@pytest.mark.parametrize(
    ("kwargs", "exc_type", "name"),
    [
        ({"upgrade": None}, InvalidUpgrade, "Upgrade"),
        ({"upgrade": "h2c"}, InvalidUpgrade, "Upgrade"),
        ({"connection": None}, InvalidUpgrade, "Connection"),
        ({"connection": "keep-alive"}, InvalidUpgrade, "Connection"),
        ({"connection": "Upgrade keep-alive"}, InvalidHeaderFormat, "Connection"),
        ({"accept": None}, InvalidHeader, "Sec-WebSocket-Accept"),
        ({"accept": "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}, InvalidHeaderValue, "Sec-WebSocket-Accept"),
        (
            {"extra": [("Sec-WebSocket-Accept", "x")]},
            InvalidHeader,
            "Sec-WebSocket-Accept",
        ),
    ],
)
@pytest.mark.rfc("R6455-4.1-39", "R6455-4.1-40", "R6455-4.1-41", "R6455-4.1-44", "R6455-11.3.3-1")
def test_invalid_101(kwargs: dict[str, object], exc_type: type[Exception], name: str) -> None:
    client = started()
    client.receive_data(response_bytes(client, **kwargs))  # type: ignore[arg-type]
    # The response is still reported, for logging.
    [response] = client.events_received()
    assert isinstance(response, Response)
    exc = assert_failed(client, exc_type)
    assert isinstance(exc, InvalidHeader)
    assert exc.name == name


@pytest.mark.rfc("R6455-4.1-39")
@pytest.mark.parametrize(
    "upgrade",
    [
        [("Upgrade", "h2c, websocket")],
        [("Upgrade", "websocket, h2c")],
        [("Upgrade", "websocket, websocket")],
        [("Upgrade", "websocket"), ("Upgrade", "websocket")],
        [("Upgrade", "websocket"), ("Upgrade", "h2c")],
        [("Upgrade", "websocket/13")],
        [("Upgrade", "websocket,")],
        [("Upgrade", "web socket")],
    ],
)
def test_upgrade_that_is_not_exactly_websocket(upgrade: list[tuple[str, str]]) -> None:
    # RFC 6455 §4.1: the value must be a case-insensitive match for "websocket", not a
    # list that contains it (unlike the request's Upgrade, which "MUST include" it).
    client = started()
    client.receive_data(response_bytes(client, upgrade=None, extra=upgrade))
    exc = assert_failed(client, InvalidUpgrade)
    assert isinstance(exc, InvalidUpgrade)
    assert exc.name == "Upgrade"


@pytest.mark.rfc("R6455-4.1-44")
def test_obs_fold_in_a_101_is_replaced_by_spaces() -> None:
    # RFC 7230 §3.2.4: a user agent MUST replace each obs-fold in a response with one or
    # more SP before interpreting the value; the response is valid.
    client = started(subprotocols=["chat"])
    data = response_bytes(client, connection=None).replace(
        b"\r\n\r\n",
        b"\r\nConnection: keep-alive,\r\n \t Upgrade"
        b"\r\nX-Folded: one \r\n\ttwo\r\n   three"
        b"\r\nSec-WebSocket-Protocol:\r\n chat\r\n\r\n",
    )
    client.receive_data(data)
    [response] = client.events_received()
    assert client.handshake_exc is None
    assert client.state is State.OPEN
    assert isinstance(response, Response)
    assert response.headers["Connection"] == "keep-alive, Upgrade"
    assert response.headers["X-Folded"] == "one two three"
    assert client.subprotocol == "chat"


@pytest.mark.rfc("R6455-4.1-38")
@pytest.mark.parametrize(
    "interim",
    [
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
        b"HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n",
    ],
)
def test_interim_1xx_responses_before_the_101_are_skipped(interim: bytes) -> None:
    # RFC 7231 §6.2: a client MUST be able to parse 1xx responses before the final one,
    # even if it doesn't expect one, and a user agent MAY ignore them.
    client = started()
    wire = interim + response_bytes(client) + build_frame(0x1, b"hi")
    for byte in wire:  # also split across reads
        client.receive_data(bytes([byte]))
    events = client.events_received()
    assert client.handshake_exc is None
    assert [type(e) for e in events] == [Response, Frame]
    response = events[0]
    assert isinstance(response, Response)
    assert response.status_code == 101
    assert client.state is State.OPEN


@pytest.mark.rfc("R6455-4.1-38")
def test_interim_1xx_response_then_a_refusal() -> None:
    client = started()
    client.receive_data(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno"
    )
    [response] = client.events_received()
    assert isinstance(response, Response)
    assert (response.status_code, response.body) == (403, b"no")
    assert type(client.handshake_exc) is InvalidStatus


@pytest.mark.rfc("R6455-4.1-44")
def test_101_with_a_higher_http_1_minor_version() -> None:
    # RFC 7230 §2.6: a recipient SHOULD process a message with a higher minor version of
    # a major version it implements as if it were in the highest minor version it knows.
    client = started()
    client.receive_data(response_bytes(client).replace(b"HTTP/1.1", b"HTTP/1.2", 1))
    assert client.handshake_exc is None
    assert client.state is State.OPEN


@pytest.mark.rfc("R6455-4.1-44", "R6455-4.2.2-13")
@pytest.mark.parametrize("status", [b"101 Switching Protocols", b"100 Continue"])
def test_http_1_0_101_fails(status: bytes) -> None:
    # A 101 (any 1xx) is HTTP/1.1's: HTTP/1.0 has no 1xx status and no Upgrade
    # (RFC 7231 §6.2, RFC 7230 §6.7); a server that answers HTTP/1.0 didn't switch.
    client = started()
    client.receive_data(response_bytes(client, status=status).replace(b"HTTP/1.1", b"HTTP/1.0"))
    exc = assert_failed(client, InvalidProtocol)
    assert "HTTP/1.0" in str(exc)
    assert client.events_received() == []


def test_http_1_0_refusal_is_read() -> None:
    # An HTTP/1.0 server (or proxy) refusing the upgrade: its answer is still a refusal.
    client = started()
    refusal = b"HTTP/1.0 403 Forbidden\r\nContent-Length: 2\r\n\r\nno"
    client.receive_data(refusal)
    exc = assert_failed(client, InvalidStatus)
    assert isinstance(exc, InvalidStatus) and exc.response.status_code == 403


@pytest.mark.rfc("R6455-4.1-44")
@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/1.10", b"HTTP/1", b"HTTP/0.9"])
def test_101_with_another_http_version_fails(version: bytes) -> None:
    client = started()
    client.receive_data(response_bytes(client).replace(b"HTTP/1.1", version, 1))
    assert_failed(client, InvalidMessage)


@pytest.mark.rfc("R6455-9.1-6")
def test_extension_offered_but_declined_is_not_used() -> None:
    # RFC 6455 §9.1: the client only offers: without the server's acceptance it doesn't
    # compress what it sends, and RSV1 from the server is a protocol error.
    from websocket_ref.extensions import ClientPerMessageDeflateFactory

    client = started(extensions=[ClientPerMessageDeflateFactory()])
    assert client.request is not None
    assert client.request.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
    client.receive_data(response_bytes(client))
    assert client.state is State.OPEN
    assert client.extensions == []
    client.send_text(b"a" * 1000)
    [frame] = written(client).frames
    assert frame.rsv == 0 and frame.payload == b"a" * 1000  # not compressed
    client.receive_data(build_frame(0x1, b"\xf2\x48\x05\x00", rsv=RSV1))
    assert written(client).close_codes == [1002]


@pytest.mark.rfc("R6455-9.1-5", "R6455-9-4")
@pytest.mark.parametrize(
    "answer",
    [
        "permessage-deflate; unknown_parameter",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_no_context_takeover=1",
    ],
)
def test_extension_parameters_not_defined_for_the_extension(answer: str) -> None:
    # RFC 6455 §9.1: the parameters MUST be defined for that extension; RFC 6455 §9: and
    # chosen per its specification (RFC 7692 §7: the client fails the connection).
    from websocket_ref.extensions import ClientPerMessageDeflateFactory

    client = started(extensions=[ClientPerMessageDeflateFactory()])
    client.receive_data(response_bytes(client, extra=[("Sec-WebSocket-Extensions", answer)]))
    exc = assert_failed(client, NegotiationError)
    assert isinstance(exc, NegotiationError)


# Subprotocols (RFC 6455 §4.1 item 6, §4.2.2)


@pytest.mark.rfc("R6455-4.1-43")
def test_subprotocol_selected() -> None:
    client = started(subprotocols=["chat", "superchat"])
    client.receive_data(response_bytes(client, extra=[("Sec-WebSocket-Protocol", "superchat")]))
    assert client.state is State.OPEN
    assert client.subprotocol == "superchat"


def test_subprotocol_none_selected() -> None:
    client = started(subprotocols=["chat"])
    client.receive_data(response_bytes(client))
    assert client.state is State.OPEN
    assert client.subprotocol is None


@pytest.mark.parametrize("offered", [None, ["chat"]])
@pytest.mark.rfc("R6455-4.1-43")
def test_subprotocol_unsolicited(offered: list[str] | None) -> None:
    client = started(subprotocols=offered)
    client.receive_data(response_bytes(client, extra=[("Sec-WebSocket-Protocol", "other")]))
    assert_failed(client, NegotiationError)
    assert client.subprotocol is None


@pytest.mark.parametrize(
    "extra",
    [
        [("Sec-WebSocket-Protocol", "chat, superchat")],
        [("Sec-WebSocket-Protocol", "chat"), ("Sec-WebSocket-Protocol", "superchat")],
    ],
)
@pytest.mark.rfc("R6455-11.3.4-2")
def test_subprotocol_several_selected(extra: list[tuple[str, str]]) -> None:
    client = started(subprotocols=["chat", "superchat"])
    client.receive_data(response_bytes(client, extra=extra))
    exc = assert_failed(client, InvalidHeader)
    assert isinstance(exc, InvalidHeader)
    assert exc.name == "Sec-WebSocket-Protocol"


@pytest.mark.rfc("R6455-4.1-44")
def test_subprotocol_malformed() -> None:
    client = started(subprotocols=["chat"])
    client.receive_data(response_bytes(client, extra=[("Sec-WebSocket-Protocol", "chat;")]))
    assert_failed(client, InvalidHeaderFormat)


# Extensions (RFC 6455 §4.1 item 5, §9.1)


@pytest.mark.rfc("R6455-4.1-42")
def test_extension_accepted() -> None:
    factory = FakeClientFactory("x-fake", RSV1, params=[("a", "1")], accept=["a"])
    client = started(extensions=[factory])
    client.receive_data(response_bytes(client, extra=[("Sec-WebSocket-Extensions", "x-fake; a=1")]))
    assert client.state is State.OPEN
    [extension] = client.extensions
    assert isinstance(extension, FakeExtension)
    assert extension.params == [("a", "1")]


@pytest.mark.rfc("R6455-9.1-6")
def test_extension_declined_by_server() -> None:
    client = started(extensions=[FakeClientFactory()])
    client.receive_data(response_bytes(client))
    assert client.state is State.OPEN
    assert client.extensions == []


@pytest.mark.rfc("R6455-9.1-2")
def test_extension_parameters_parsed_per_9_1() -> None:
    factory = FakeClientFactory("x-fake", accept=["a", "b", "c"])
    client = started(extensions=[factory])
    header = 'x-fake ; a ; b = 2 ; c="3"'
    client.receive_data(response_bytes(client, extra=[("Sec-WebSocket-Extensions", header)]))
    assert client.state is State.OPEN
    [extension] = client.extensions
    assert isinstance(extension, FakeExtension)
    assert extension.params == [("a", None), ("b", "2"), ("c", "3")]


@pytest.mark.rfc("R6455-4.1-42")
def test_extension_not_offered() -> None:
    client = started(extensions=[FakeClientFactory("x-fake")])
    client.receive_data(response_bytes(client, extra=[("Sec-WebSocket-Extensions", "x-other")]))
    assert_failed(client, NegotiationError)


@pytest.mark.rfc("R6455-4.1-42")
def test_extension_when_none_offered() -> None:
    client = started()
    client.receive_data(response_bytes(client, extra=[("Sec-WebSocket-Extensions", "x-fake")]))
    assert_failed(client, InvalidHandshake)


@pytest.mark.rfc("R6455-9-4")
def test_extension_with_unacceptable_parameters() -> None:
    client = started(extensions=[FakeClientFactory("x-fake", accept=[])])
    client.receive_data(
        response_bytes(client, extra=[("Sec-WebSocket-Extensions", "x-fake; unknown=1")])
    )
    assert_failed(client, NegotiationError)


@pytest.mark.rfc("R6455-9.1-1")
def test_extension_malformed_header() -> None:
    client = started(extensions=[FakeClientFactory("x-fake")])
    client.receive_data(response_bytes(client, extra=[("Sec-WebSocket-Extensions", "x-fake;")]))
    assert_failed(client, InvalidHeaderFormat)


def test_two_extensions_claiming_the_same_reserved_bit() -> None:
    client = started(
        extensions=[FakeClientFactory("x-one", RSV1), FakeClientFactory("x-two", RSV1)]
    )
    client.receive_data(
        response_bytes(client, extra=[("Sec-WebSocket-Extensions", "x-one, x-two")])
    )
    assert_failed(client, NegotiationError)


@pytest.mark.rfc("R6455-11.3.2-2", "R6455-9.1-3")
def test_two_extensions_with_distinct_reserved_bits() -> None:
    client = started(
        extensions=[FakeClientFactory("x-one", RSV1), FakeClientFactory("x-two", RSV2)]
    )
    client.receive_data(
        response_bytes(
            client,
            extra=[("Sec-WebSocket-Extensions", "x-two"), ("Sec-WebSocket-Extensions", "x-one")],
        )
    )
    assert client.state is State.OPEN
    # In the server's order, which is the order they apply to outgoing frames.
    assert [e.name for e in client.extensions] == ["x-two", "x-one"]


def test_reserved_bits_follow_negotiated_extensions() -> None:
    # RFC 6455 §5.2: a reserved bit may be set only if a negotiated extension defines it
    client = started(extensions=[FakeClientFactory("x-fake", RSV1)])
    client.receive_data(
        response_bytes(client, extra=[("Sec-WebSocket-Extensions", "x-fake")])
        + build_frame(0x1, b"olleh", rsv=RSV1)
        + build_frame(0x1, b"plain")
        + build_frame(0x1, b"bad", rsv=RSV2)
    )
    events = client.events_received()
    assert events[1:] == [Frame(Opcode.TEXT, b"hello"), Frame(Opcode.TEXT, b"plain")]
    assert client.failure_exc is not None
    assert "RSV2" in str(client.failure_exc)
    wire = written(client)
    assert wire.close_codes == [1002]


@pytest.mark.rfc("R6455-9.1-6")
def test_reserved_bit_without_negotiation_fails_1002() -> None:
    client = started(extensions=[FakeClientFactory("x-fake", RSV1)])
    client.receive_data(response_bytes(client) + build_frame(0x1, b"x", rsv=RSV1))
    assert client.state is State.CLOSING
    assert written(client).close_codes == [1002]


# A response that refuses the upgrade: InvalidStatus with status, headers and body.


def refused(chunks: list[bytes], eof: bool = False) -> ClientProtocol:
    client = started()
    for chunk in chunks:
        client.receive_data(chunk)
    if eof:
        client.receive_eof()
    return client


def assert_refused(client: ClientProtocol, status: int, body: bytes) -> Response:
    [response] = client.events_received()
    assert isinstance(response, Response)
    assert client.response is response
    assert response.status_code == status
    assert response.body == body
    exc = client.handshake_exc
    assert type(exc) is InvalidStatus
    assert exc.response is response
    assert str(exc) == f"server rejected WebSocket connection: HTTP {status}"
    return response


@pytest.mark.rfc("R6455-4.1-38")
def test_refused_with_content_length() -> None:
    head = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 8\r\nX-Why: origin\r\n\r\n"
    # Bytes past Content-Length aren't part of the body.
    client = refused([head, b"go ", b"away!", b"trailing junk"])
    response = assert_refused(client, 403, b"go away!")
    assert response.headers["X-Why"] == "origin"
    assert client.data_to_send() == [b""]


def test_refused_with_content_length_exact() -> None:
    client = refused([b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nnope."])
    response = assert_refused(client, 404, b"nope.")
    assert response.reason_phrase == "Not Found"
    assert client.data_to_send() == [b""]
    assert client.close_expected()


@pytest.mark.rfc("R6455-4.1-38")
def test_refused_with_chunked_body() -> None:
    head = b"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b"4\r\nbad \r\n6\r\nthing!\r\n0\r\n\r\n"
    client = refused([head] + [body[i : i + 1] for i in range(len(body))])
    assert_refused(client, 500, b"bad thing!")
    assert client.data_to_send() == [b""]


@pytest.mark.rfc("R6455-4.1-38")
def test_refused_with_body_until_eof() -> None:
    client = refused([b"HTTP/1.1 400 Bad Request\r\n\r\n", b"read ", b"until EOF"])
    assert client.events_received() == []  # the body isn't complete before EOF
    assert client.handshake_exc is None
    client.receive_eof()
    assert_refused(client, 400, b"read until EOF")
    assert client.state is State.CLOSED
    assert client.data_to_send() == [b""]  # the client closes its side too


@pytest.mark.rfc("R6455-4.1-38")
def test_refused_without_body() -> None:
    client = refused([b"HTTP/1.1 204 No Content\r\n\r\n"])
    assert_refused(client, 204, b"")


def test_refused_with_truncated_body() -> None:
    client = refused([b"HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\nshort"], eof=True)
    assert client.events_received() == []
    assert type(client.handshake_exc) is InvalidMessage
    assert client.state is State.CLOSED


def test_refused_with_body_too_large() -> None:
    head = b"HTTP/1.1 403 Forbidden\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY_SIZE + 1)
    client = refused([head])
    assert type(client.handshake_exc) is SecurityError
    assert client.data_to_send() == [b""]


def test_refused_with_endless_body() -> None:
    client = refused([b"HTTP/1.1 403 Forbidden\r\n\r\n"])
    chunk = bytes(65536)
    for _ in range(MAX_BODY_SIZE // len(chunk) + 1):
        client.receive_data(chunk)
        if client.handshake_exc is not None:
            break
    assert type(client.handshake_exc) is SecurityError
    assert client.data_to_send() == [b""]


def test_refused_with_invalid_framing() -> None:
    client = refused([b"HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: gzip\r\n\r\n"])
    assert_failed(client, InvalidMessage)


# Malformed responses and EOF


@pytest.mark.parametrize(
    ("data", "exc_type"),
    [
        (b"HTTP/1.1 1O1 Switching\r\n\r\n", InvalidMessage),
        (b"SSH-2.0-OpenSSH\r\n\r\n", InvalidMessage),
        (b"HTTP/1.1 101 OK\r\n folded: header\r\n\r\n", InvalidMessage),
        (b"HTTP/1.1 101 OK\r\nX: " + b"a" * 9000, HeaderLineTooLong),
    ],
)
@pytest.mark.rfc("R6455-4.1-44")
def test_malformed_response(data: bytes, exc_type: type[Exception]) -> None:
    client = started()
    client.receive_data(data)
    assert client.events_received() == []
    assert_failed(client, exc_type)


def test_eof_during_handshake() -> None:
    client = started()
    client.receive_data(b"HTTP/1.1 101 Switching")
    client.receive_eof()
    assert type(client.handshake_exc) is InvalidMessage
    assert client.state is State.CLOSED
    assert client.data_to_send() == [b""]
    assert client.close_code == 1006


def test_eof_before_any_response() -> None:
    client = started()
    client.receive_eof()
    assert type(client.handshake_exc) is InvalidMessage
    assert client.state is State.CLOSED


def test_frames_after_101_can_close_immediately() -> None:
    client = started()
    client.receive_data(response_bytes(client) + build_frame(0x8, close_payload(1001, "bye")))
    events = client.events_received()
    assert isinstance(events[0], Response)
    assert events[1] == Frame(Opcode.CLOSE, close_payload(1001, "bye"))
    assert client.state is State.CLOSING
    assert written(client).close_codes == [1001]


@pytest.mark.rfc("R6455-4.1-37")
def test_send_before_open_is_invalid_state() -> None:
    client = started()
    for send in (
        lambda: client.send_text(b"x"),
        lambda: client.send_binary(b"x"),
        lambda: client.send_ping(b""),
        lambda: client.send_pong(b""),
        lambda: client.send_close(1000),
    ):
        with pytest.raises(InvalidState):
            send()
    assert client.data_to_send() == []
