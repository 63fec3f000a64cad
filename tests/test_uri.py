"""WebSocket URIs (RFC 6455 §3)."""

from __future__ import annotations

import pytest

from websocket_ref import InvalidURI, WebSocketURI, parse_uri


@pytest.mark.parametrize(
    ("uri", "parsed"),
    [
        # RFC 6455 §3: default ports 80 (ws) and 443 (wss)
        ("ws://example.com", WebSocketURI(False, "example.com", 80, "", "")),
        ("wss://example.com", WebSocketURI(True, "example.com", 443, "", "")),
        ("ws://example.com:8080/", WebSocketURI(False, "example.com", 8080, "/", "")),
        ("wss://example.com:443/", WebSocketURI(True, "example.com", 443, "/", "")),
        ("ws://example.com:443/", WebSocketURI(False, "example.com", 443, "/", "")),
        ("ws://example.com/chat", WebSocketURI(False, "example.com", 80, "/chat", "")),
        ("ws://example.com/a?b=c&d", WebSocketURI(False, "example.com", 80, "/a", "b=c&d")),
        ("ws://example.com?b=c", WebSocketURI(False, "example.com", 80, "", "b=c")),
        # The scheme and host are case-insensitive (RFC 3986 §3.1, §3.2.2).
        ("WS://EXAMPLE.com/Chat", WebSocketURI(False, "example.com", 80, "/Chat", "")),
        ("ws://127.0.0.1:8765", WebSocketURI(False, "127.0.0.1", 8765, "", "")),
        # IPv6 literals lose their brackets in the host
        ("ws://[::1]/", WebSocketURI(False, "::1", 80, "/", "")),
        ("wss://[2001:db8::1]:9443/x", WebSocketURI(True, "2001:db8::1", 9443, "/x", "")),
        # Userinfo carries Basic auth credentials
        (
            "ws://user:pass@example.com/",
            WebSocketURI(False, "example.com", 80, "/", "", "user", "pass"),
        ),
        (
            "ws://us%40er:p%3Ass@example.com/",
            WebSocketURI(False, "example.com", 80, "/", "", "us@er", "p:ss"),
        ),
    ],
)
@pytest.mark.rfc("R6455-3-1", "R6455-4.1-3")
def test_parse_uri(uri: str, parsed: WebSocketURI) -> None:
    assert parse_uri(uri) == parsed


@pytest.mark.parametrize(
    ("uri", "resource_name"),
    [
        ("ws://example.com", "/"),
        ("ws://example.com/", "/"),
        ("ws://example.com/chat", "/chat"),
        # RFC 6455 §3: the resource name is the path and the query
        ("ws://example.com/chat?room=1&x", "/chat?room=1&x"),
        ("ws://example.com?room=1", "/?room=1"),
        ("ws://example.com/?", "/"),
        # Non-ASCII text and spaces are percent-encoded; escapes already there are kept
        ("ws://example.com/caf\u00e9 x?q=\u00fc", "/caf%C3%A9%20x?q=%C3%BC"),
        ("ws://example.com/a%20b", "/a%20b"),
        ("ws://example.com/a/b;c=d:e@f", "/a/b;c=d:e@f"),
        ("wss://example.com/caf\u00e9", "/caf%C3%A9"),
        # An escaped "#" is data, not a fragment: it stays escaped (RFC 6455 §3)
        ("ws://example.com/a%23b?c%23", "/a%23b?c%23"),
        # A "%" that doesn't start an escape isn't allowed in a URI: it's escaped
        ("ws://example.com/100%?x=5%&y=%2", "/100%25?x=5%25&y=%252"),
        ("ws://example.com/%zz%4", "/%25zz%254"),
        # Other characters the URI syntax excludes are escaped too
        (
            'ws://example.com/a"b<c>d\\e^f`g{h|i}j?k"l',
            "/a%22b%3Cc%3Ed%5Ce%5Ef%60g%7Bh%7Ci%7Dj?k%22l",
        ),
    ],
)
@pytest.mark.rfc("R6455-11.1.1-2", "R6455-11.1.2-2", "R6455-3-3")
def test_resource_name(uri: str, resource_name: str) -> None:
    assert parse_uri(uri).resource_name == resource_name


@pytest.mark.rfc("R6455-11.1.1-1", "R6455-11.1.2-1")
@pytest.mark.parametrize("scheme", ["ws", "wss"])
def test_idn_host_becomes_punycode(scheme: str) -> None:
    uri = parse_uri(f"{scheme}://b\u00fccher.example/")
    assert uri.host == "xn--bcher-kva.example"
    assert str(uri) == f"{scheme}://xn--bcher-kva.example/"


def test_user_info() -> None:
    assert parse_uri("ws://a:b@h/").user_info == ("a", "b")
    assert parse_uri("ws://a:@h/").user_info == ("a", "")
    assert parse_uri("ws://h/").user_info is None


@pytest.mark.parametrize(
    ("uri", "text"),
    [
        ("ws://example.com", "ws://example.com/"),
        ("wss://example.com:443/a?b", "wss://example.com/a?b"),
        ("ws://example.com:8080/", "ws://example.com:8080/"),
        ("ws://[::1]:8080/", "ws://[::1]:8080/"),
        ("ws://user:pass@example.com/", "ws://example.com/"),  # credentials aren't shown
    ],
)
def test_str(uri: str, text: str) -> None:
    assert str(parse_uri(uri)) == text


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("http://example.com/", "scheme"),
        ("https://example.com/", "scheme"),
        ("example.com", "scheme"),
        ("ws:/path", "hostname"),
        ("ws:///path", "hostname"),
        ("ws://:8080/", "hostname"),
        # RFC 6455 §3: fragment identifiers MUST NOT be used
        ("ws://example.com/#frag", "fragment"),
        ("ws://example.com/?q#frag", "fragment"),
        ("ws://example.com/#", "fragment"),
        ("ws://example.com:99999/", "out of range"),
        ("ws://example.com:port/", ""),
        ("ws://[::1/", "IPv6"),
        ("ws://user@example.com/", "without password"),
        ("ws://a..\u00e9/", "internationalized"),  # an empty label
        # RFC 3986 §3.2.2: a host is a reg-name, an IPv4 address or an IP literal
        ("ws://exa mple.com/", "invalid host"),
        ("ws://exa<mple.com/", "invalid host"),
    ],
)
@pytest.mark.rfc("R6455-4.1-3", "R6455-4.1-4", "R6455-3-2")
def test_invalid_uri(uri: str, reason: str) -> None:
    with pytest.raises(InvalidURI) as raised:
        parse_uri(uri)
    assert raised.value.uri == uri
    assert reason in raised.value.msg
    assert str(raised.value).startswith(f"{uri} isn't a valid URI: ")
