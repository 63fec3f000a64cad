"""Grammars of the handshake headers (RFC 6455 §4.3, §9.1; RFC 7230; RFC 7617)."""

from __future__ import annotations

import pytest

from websocket_ref import InvalidHeader, InvalidHeaderFormat, InvalidHeaderValue
from websocket_ref.headers import (
    build_authorization_basic,
    build_extension,
    build_host,
    build_subprotocol,
    build_www_authenticate_basic,
    parse_authorization_basic,
    parse_connection,
    parse_extension,
    parse_subprotocol,
    parse_upgrade,
    validate_subprotocols,
)

# Connection and Upgrade: comma lists (RFC 7230 §7)


@pytest.mark.parametrize(
    ("header", "options"),
    [
        ("Upgrade", ["Upgrade"]),
        ("keep-alive, Upgrade", ["keep-alive", "Upgrade"]),
        ("keep-alive,Upgrade", ["keep-alive", "Upgrade"]),
        (" upgrade ", ["upgrade"]),
        (", , Upgrade ,, keep-alive, ", ["Upgrade", "keep-alive"]),  # empty elements
        ("\tUpgrade\t", ["Upgrade"]),
    ],
)
def test_parse_connection(header: str, options: list[str]) -> None:
    assert parse_connection(header) == options


@pytest.mark.parametrize(
    ("header", "pos"),
    [
        ("", 0),
        ("Upgrade keep-alive", 8),
        ("Upgrade;", 7),
        ('"Upgrade"', 0),
        ("Up@grade", 2),
    ],
)
def test_parse_connection_invalid(header: str, pos: int) -> None:
    with pytest.raises(InvalidHeaderFormat) as raised:
        parse_connection(header)
    assert raised.value.name == "Connection"
    assert f"at {pos} in {header}" in str(raised.value)


@pytest.mark.parametrize(
    ("header", "protocols"),
    [
        ("websocket", ["websocket"]),
        ("WebSocket", ["WebSocket"]),
        ("HTTP/2.0, websocket", ["HTTP/2.0", "websocket"]),
        ("h2c, websocket/13", ["h2c", "websocket/13"]),
    ],
)
def test_parse_upgrade(header: str, protocols: list[str]) -> None:
    assert parse_upgrade(header) == protocols


@pytest.mark.parametrize("header", ["", "websocket/", "/13", "web socket", "websocket/1/2"])
def test_parse_upgrade_invalid(header: str) -> None:
    with pytest.raises(InvalidHeaderFormat) as raised:
        parse_upgrade(header)
    assert raised.value.name == "Upgrade"


# Sec-WebSocket-Extensions (RFC 6455 §9.1)


@pytest.mark.parametrize(
    ("header", "parsed"),
    [
        ("foo", [("foo", [])]),
        ("foo, bar", [("foo", []), ("bar", [])]),
        ("foo; a", [("foo", [("a", None)])]),
        ("foo;a=1;b", [("foo", [("a", "1"), ("b", None)])]),
        ("foo ; a = 1 ; b = x", [("foo", [("a", "1"), ("b", "x")])]),
        # RFC 6455 §9.1: a quoted-string value must be a token once unquoted
        ('foo; a="1"', [("foo", [("a", "1")])]),
        ('foo; a="\\1"', [("foo", [("a", "1")])]),
        (
            "permessage-deflate; client_max_window_bits, permessage-deflate",
            [
                ("permessage-deflate", [("client_max_window_bits", None)]),
                ("permessage-deflate", []),
            ],
        ),
        (", foo ,", [("foo", [])]),
    ],
)
@pytest.mark.rfc("R6455-9.1-2", "R6455-4.3-1", "R6455-9.1-3")
def test_parse_extension(
    header: str, parsed: list[tuple[str, list[tuple[str, str | None]]]]
) -> None:
    assert parse_extension(header) == parsed


@pytest.mark.parametrize(
    "header",
    [
        "",
        ";a",
        "foo;",
        "foo; =1",
        "foo; a=",
        'foo; a="x y"',  # quoted value isn't a token
        'foo; a=""',
        'foo; a="1',  # unterminated quoted string
        "foo bar",
        "foo; a=1 2",
        "foo; a=@",
    ],
)
@pytest.mark.rfc("R6455-9.1-1", "R6455-9.1-2", "R6455-4.3-1")
def test_parse_extension_invalid(header: str) -> None:
    with pytest.raises(InvalidHeaderFormat) as raised:
        parse_extension(header)
    assert raised.value.name == "Sec-WebSocket-Extensions"
    assert isinstance(raised.value, InvalidHeader)


def test_build_extension() -> None:
    header = build_extension(
        [("foo", [("a", "1"), ("b", None)]), ("bar", []), ("permessage-deflate", [])]
    )
    assert header == "foo; a=1; b, bar, permessage-deflate"
    assert parse_extension(header) == [
        ("foo", [("a", "1"), ("b", None)]),
        ("bar", []),
        ("permessage-deflate", []),
    ]


@pytest.mark.rfc("R6455-4.3-1", "R6455-9.1-4")
@pytest.mark.parametrize(
    "extensions",
    [
        [("foo bar", [])],
        [("", [])],
        [("foo", [("a b", None)])],
        [("foo", [("a", "1 2")])],
        [("foo", [("a", '"1"')])],
        [("foo", [("a", "")])],
        [("foo", [("a", "1, bar")])],
    ],
)
def test_build_extension_refuses_what_isnt_a_token(
    extensions: list[tuple[str, list[tuple[str, str | None]]]],
) -> None:
    # RFC 6455 §9.1: names are tokens, and values tokens (quoted or not): the library
    # never quotes, so a value that isn't a token can't be sent.
    with pytest.raises(ValueError, match="not a token"):
        build_extension(extensions)


# Sec-WebSocket-Protocol (RFC 6455 §4.3)


def test_parse_subprotocol() -> None:
    assert parse_subprotocol("chat") == ["chat"]
    assert parse_subprotocol("chat, superchat, v2.bin") == ["chat", "superchat", "v2.bin"]


@pytest.mark.parametrize("header", ["", "chat superchat", "chat/1", '"chat"'])
def test_parse_subprotocol_invalid(header: str) -> None:
    with pytest.raises(InvalidHeaderFormat):
        parse_subprotocol(header)


def test_build_subprotocol() -> None:
    assert build_subprotocol(["chat", "superchat"]) == "chat, superchat"
    assert parse_subprotocol(build_subprotocol(["chat", "superchat"])) == ["chat", "superchat"]


def test_validate_subprotocols() -> None:
    validate_subprotocols(["chat", "v1.json"])
    with pytest.raises(TypeError):
        validate_subprotocols("chat")
    with pytest.raises(ValueError):
        validate_subprotocols(["chat room"])
    with pytest.raises(ValueError):
        validate_subprotocols([""])


# HTTP Basic authentication (RFC 7617)


def test_authorization_basic_roundtrip() -> None:
    # RFC 7617 §2: the example credentials
    header = build_authorization_basic("Aladdin", "open sesame")
    assert header == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    assert parse_authorization_basic(header) == ("Aladdin", "open sesame")


def test_authorization_basic_utf8_and_colon_in_password() -> None:
    header = build_authorization_basic("jösé", "pa:ss")
    assert parse_authorization_basic(header) == ("jösé", "pa:ss")


def test_authorization_basic_scheme_is_case_insensitive() -> None:
    assert parse_authorization_basic("basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")[0] == "Aladdin"


def test_build_authorization_basic_rejects_colon_in_username() -> None:
    with pytest.raises(ValueError):
        build_authorization_basic("a:b", "c")


@pytest.mark.parametrize(
    ("header", "error"),
    [
        ("Bearer abc", InvalidHeaderValue),
        ("Basic", InvalidHeaderFormat),
        ("BasicQWxh", InvalidHeaderValue),  # one token: an unknown scheme
        ("Basic  QWxhZGRpbjpvcGVuIHNlc2FtZQ==", InvalidHeaderFormat),
        ("Basic QWxh ZGRp", InvalidHeaderFormat),
        ("Basic QWxhZGRpbg==", InvalidHeaderValue),  # "Aladdin": no colon
        ("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ", InvalidHeaderValue),  # bad padding
        ("Basic //79", InvalidHeaderValue),  # not UTF-8
    ],
)
def test_parse_authorization_basic_invalid(header: str, error: type[Exception]) -> None:
    with pytest.raises(error) as raised:
        parse_authorization_basic(header)
    assert type(raised.value) is error


def test_build_www_authenticate_basic() -> None:
    assert build_www_authenticate_basic("my realm") == 'Basic realm="my realm", charset="UTF-8"'
    assert build_www_authenticate_basic('a"b\\c') == 'Basic realm="a\\"b\\\\c", charset="UTF-8"'


# Host (RFC 6455 §4.1, RFC 7230 §5.4)


@pytest.mark.parametrize(
    ("host", "port", "secure", "header"),
    [
        ("example.com", 80, False, "example.com"),
        ("example.com", 443, True, "example.com"),
        ("example.com", 443, False, "example.com:443"),
        ("example.com", 80, True, "example.com:80"),
        ("example.com", 8080, False, "example.com:8080"),
        ("127.0.0.1", 8765, False, "127.0.0.1:8765"),
        ("::1", 80, False, "[::1]"),
        ("::1", 8765, True, "[::1]:8765"),
        ("xn--bcher-kva.example", 80, False, "xn--bcher-kva.example"),
    ],
)
def test_build_host(host: str, port: int, secure: bool, header: str) -> None:
    assert build_host(host, port, secure) == header


def test_build_host_always_include_port() -> None:
    assert build_host("example.com", 80, False, always_include_port=True) == "example.com:80"
