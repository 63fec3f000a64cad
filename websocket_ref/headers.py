"""Grammars of the handshake headers (RFC 6455 §4.3, §9.1; RFC 7230 §3.2.6, §7).

Each ``parse_*`` function turns a header value into Python values or raises
:class:`~websocket_ref.exceptions.InvalidHeaderFormat` with the position of the first
character that doesn't fit; each ``build_*`` function is its inverse.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Sequence
from typing import TypeVar

from .exceptions import InvalidHeaderFormat, InvalidHeaderValue

__all__ = [
    "ExtensionName",
    "ExtensionParameter",
    "ExtensionHeader",
    "Subprotocol",
    "UpgradeProtocol",
    "ConnectionOption",
    "parse_connection",
    "parse_upgrade",
    "parse_extension",
    "build_extension",
    "parse_subprotocol",
    "build_subprotocol",
    "validate_subprotocols",
    "build_www_authenticate_basic",
    "parse_authorization_basic",
    "build_authorization_basic",
    "build_host",
    "parse_host",
]

#: The name of an extension, e.g. ``"permessage-deflate"``.
ExtensionName = str
#: An extension parameter: its name and its value, None for a parameter without value.
ExtensionParameter = tuple[str, str | None]
#: One extension of a ``Sec-WebSocket-Extensions`` header: its name and parameters.
ExtensionHeader = tuple[ExtensionName, list[ExtensionParameter]]
#: A subprotocol name of ``Sec-WebSocket-Protocol``, e.g. ``"chat"``.
Subprotocol = str
#: A protocol named by an ``Upgrade`` header, e.g. ``"websocket"``.
UpgradeProtocol = str
#: An option of a ``Connection`` header, e.g. ``"Upgrade"``.
ConnectionOption = str

T = TypeVar("T")

_OWS_RE = re.compile(r"[\t ]*")
# RFC 7230 §3.2.6: token = 1*tchar
_TOKEN_RE = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
# RFC 7230 §3.2.6: quoted-string with quoted-pair
_QUOTED_STRING_RE = re.compile(
    r'"(?:[\x09\x20-\x21\x23-\x5b\x5d-\x7e]|\\[\x09\x20-\x7e\x80-\xff])*"'
)
_UNQUOTE_RE = re.compile(r"\\([\x09\x20-\x7e\x80-\xff])")
_QUOTE_RE = re.compile(r"([\x22\x5c])")
# RFC 7230 §3.2.6: what a quoted-string may hold (qdtext and quoted-pair's characters).
_QUOTABLE_RE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
# RFC 7230 §6.7: protocol = protocol-name ["/" protocol-version]
_PROTOCOL_RE = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+(?:/[-!#$%&'*+.^_`|~0-9a-zA-Z]+)?")
# RFC 3986 §3.2.2: reg-name = *( unreserved / pct-encoded / sub-delims ), here not empty;
# IP-literal = "[" ( IPv6address / IPvFuture ) "]"; §3.2.3: port = *DIGIT
_REG_NAME_RE = re.compile(r"(?:[A-Za-z0-9._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})+")
_IP_LITERAL_RE = re.compile(r"\[([^\]]*)\]")
_IPV_FUTURE_RE = re.compile(r"[vV][0-9A-Fa-f]+\.[A-Za-z0-9._~!$&'()*+,;=:-]+")
_PORT_RE = re.compile(r":([0-9]*)")
# RFC 7617 §2: token68
_TOKEN68_RE = re.compile(r"[A-Za-z0-9-._~+/]+=*")


def _skip_ows(header: str, pos: int) -> int:
    match = _OWS_RE.match(header, pos)
    assert match is not None
    return match.end()


def _parse_token(header: str, pos: int, name: str) -> tuple[str, int]:
    match = _TOKEN_RE.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(name, "expected token", header, pos)
    return match.group(), match.end()


def _parse_quoted_string(header: str, pos: int, name: str) -> tuple[str, int]:
    match = _QUOTED_STRING_RE.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(name, "expected quoted string", header, pos)
    return _UNQUOTE_RE.sub(r"\1", match.group()[1:-1]), match.end()


def _quote(value: str) -> str:
    return '"' + _QUOTE_RE.sub(r"\\\1", value) + '"'


def _parse_list(
    parse_item: Callable[[str, int, str], tuple[T, int]],
    header: str,
    pos: int,
    name: str,
) -> list[T]:
    """Parse ``1#item`` (RFC 7230 §7): a comma list tolerating empty elements."""
    # Leading empty elements: ", , item"
    while True:
        pos = _skip_ows(header, pos)
        if header[pos : pos + 1] != ",":
            break
        pos += 1
    items = []
    while True:
        item, pos = parse_item(header, pos, name)
        items.append(item)
        pos = _skip_ows(header, pos)
        if pos == len(header):
            break
        if header[pos] != ",":
            raise InvalidHeaderFormat(name, "expected comma", header, pos)
        pos += 1
        # Tolerate empty elements and a trailing comma.
        while True:
            pos = _skip_ows(header, pos)
            if header[pos : pos + 1] != ",":
                break
            pos += 1
        if pos == len(header):
            break
    return items


def parse_connection(header: str) -> list[ConnectionOption]:
    """Parse a ``Connection`` header value: a list of tokens (RFC 7230 §6.1)."""
    return _parse_list(_parse_token, header, 0, "Connection")


def _parse_upgrade_protocol(header: str, pos: int, name: str) -> tuple[str, int]:
    match = _PROTOCOL_RE.match(header, pos)
    if match is None:
        raise InvalidHeaderFormat(name, "expected protocol", header, pos)
    return match.group(), match.end()


def parse_upgrade(header: str) -> list[UpgradeProtocol]:
    """Parse an ``Upgrade`` header value: a list of protocols (RFC 7230 §6.7)."""
    return _parse_list(_parse_upgrade_protocol, header, 0, "Upgrade")


def _parse_extension_param(header: str, pos: int, name: str) -> tuple[ExtensionParameter, int]:
    # RFC 6455 §9.1 [R6455-9.1-1]: extension-param = token [ "=" (token | quoted-string) ]
    param, pos = _parse_token(header, pos, name)
    pos = _skip_ows(header, pos)
    value: str | None = None
    if header[pos : pos + 1] == "=":
        pos = _skip_ows(header, pos + 1)
        if header[pos : pos + 1] == '"':
            start = pos
            value, pos = _parse_quoted_string(header, pos, name)
            # RFC 6455 §9.1 [R6455-9.1-2], §4.3 [R6455-4.3-1]: after unescaping, a
            # quoted-string value MUST conform to the token ABNF
            if _TOKEN_RE.fullmatch(value) is None:
                raise InvalidHeaderFormat(name, "invalid quoted parameter value", header, start)
        else:
            value, pos = _parse_token(header, pos, name)
        pos = _skip_ows(header, pos)
    return (param, value), pos


def _parse_extension_item(header: str, pos: int, name: str) -> tuple[ExtensionHeader, int]:
    # RFC 6455 §9.1 [R6455-9.1-1]: extension = extension-token *( ";" extension-param )
    ext_name, pos = _parse_token(header, pos, name)
    pos = _skip_ows(header, pos)
    params = []
    while header[pos : pos + 1] == ";":
        pos = _skip_ows(header, pos + 1)
        param, pos = _parse_extension_param(header, pos, name)
        params.append(param)
    return (ext_name, params), pos


def parse_extension(header: str) -> list[ExtensionHeader]:
    """Parse a ``Sec-WebSocket-Extensions`` header value (RFC 6455 §9.1).

    Returns ``[(name, [(param, value or None), ...]), ...]`` in order of preference.
    """
    return _parse_list(_parse_extension_item, header, 0, "Sec-WebSocket-Extensions")


def _build_extension_item(name: ExtensionName, params: Sequence[ExtensionParameter]) -> str:
    # RFC 6455 §9.1 [R6455-9.1-4]: the name is a (registered) token; parameter names and
    # values are tokens, RFC 6455 §4.3 [R6455-4.3-1] even when quoted: we send them bare
    for token in [name, *(p for p, _ in params), *(v for _, v in params if v is not None)]:
        if _TOKEN_RE.fullmatch(token) is None:
            raise ValueError(f"extension name or parameter is not a token: {token!r}")
    return "; ".join([name] + [p if v is None else f"{p}={v}" for p, v in params])


def build_extension(extensions: Sequence[ExtensionHeader]) -> str:
    """Build a ``Sec-WebSocket-Extensions`` header value (RFC 6455 §9.1).

    Raise :exc:`ValueError` if a name or a parameter isn't a token.
    """
    return ", ".join(_build_extension_item(name, params) for name, params in extensions)


def parse_subprotocol(header: str) -> list[Subprotocol]:
    """Parse a ``Sec-WebSocket-Protocol`` header value: a list of tokens (§4.3)."""
    return _parse_list(_parse_token, header, 0, "Sec-WebSocket-Protocol")


def build_subprotocol(subprotocols: Sequence[Subprotocol]) -> str:
    """Build a ``Sec-WebSocket-Protocol`` header value (RFC 6455 §4.3)."""
    return ", ".join(subprotocols)


def validate_subprotocols(subprotocols: Sequence[Subprotocol]) -> None:
    """Check a list of subprotocols before it's offered (or supported): unique tokens."""
    if isinstance(subprotocols, str):
        raise TypeError("subprotocols must be a list, not a str")
    if not isinstance(subprotocols, Sequence):  # a dict or set has no order of preference
        raise TypeError(f"subprotocols must be a list, not a {type(subprotocols).__name__}")
    seen: set[str] = set()
    for subprotocol in subprotocols:
        # RFC 6455 §4.1 [R6455-4.1-33]: non-empty strings of U+0021 to U+007E without
        # separators, i.e. tokens (ABNF 1#token)
        if not isinstance(subprotocol, str) or not _TOKEN_RE.fullmatch(subprotocol):
            raise ValueError(f"invalid subprotocol: {subprotocol!r}")
        # RFC 6455 §4.1 [R6455-4.1-34]: the offered subprotocols MUST all be unique
        if subprotocol in seen:
            raise ValueError(f"duplicate subprotocol: {subprotocol}")
        seen.add(subprotocol)


def build_www_authenticate_basic(realm: str) -> str:
    """Build a ``WWW-Authenticate`` header value for HTTP Basic auth (RFC 7617 §2).

    :exc:`ValueError` for a realm that can't be a quoted-string (RFC 7230 §3.2.6: no
    control characters but HTAB), as in websockets.
    """
    if _QUOTABLE_RE.fullmatch(realm) is None:
        raise ValueError("invalid characters for quoted-string encoding")
    return f'Basic realm={_quote(realm)}, charset="UTF-8"'


def parse_authorization_basic(header: str) -> tuple[str, str]:
    """Parse an ``Authorization`` header for Basic auth; return (username, password)."""
    scheme, pos = _parse_token(header, 0, "Authorization")
    if scheme.lower() != "basic":
        raise InvalidHeaderValue("Authorization", f"unsupported scheme: {scheme}")
    if header[pos : pos + 1] != " ":
        raise InvalidHeaderFormat("Authorization", "expected space after scheme", header, pos)
    pos += 1
    match = _TOKEN68_RE.match(header, pos)
    if match is None or match.end() != len(header):
        raise InvalidHeaderFormat("Authorization", "expected token68", header, pos)
    try:
        user_pass = base64.b64decode(match.group(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidHeaderValue("Authorization", "expected base64-encoded credentials") from None
    username, sep, password = user_pass.partition(":")
    if not sep:
        raise InvalidHeaderValue("Authorization", "expected username:password credentials")
    return username, password


def build_authorization_basic(username: str, password: str) -> str:
    """Build an ``Authorization`` header value for HTTP Basic auth (RFC 7617 §2)."""
    if ":" in username:
        raise ValueError("username must not contain a colon")
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def parse_host(header: str) -> tuple[str, int | None]:
    """Parse a ``Host`` header value: ``uri-host [ ":" port ]`` (RFC 7230 §5.4).

    Returns the host (without brackets for an IP literal) and the port, None if absent.
    """
    match = _IP_LITERAL_RE.match(header)
    if match is not None:
        host = match.group(1)
        if _IPV_FUTURE_RE.fullmatch(host) is None:
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                raise InvalidHeaderFormat("Host", "invalid IP literal", header, 0) from None
    else:
        match = _REG_NAME_RE.match(header)
        if match is None:
            raise InvalidHeaderFormat("Host", "expected host", header, 0)
        host = match.group()
    pos = match.end()
    port: int | None = None
    if pos < len(header):
        port_match = _PORT_RE.fullmatch(header, pos)
        if port_match is None:
            raise InvalidHeaderFormat("Host", "expected port", header, pos)
        port = int(port_match.group(1)) if port_match.group(1) else None
    return host, port


def build_host(host: str, port: int, secure: bool, *, always_include_port: bool = False) -> str:
    """Build a ``Host`` header value: brackets for IPv6, the port unless it's the default."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if address.version == 6:
            host = f"[{host}]"
    # RFC 6455 §4.1 [R6455-4.1-22]: Host carries ":" /port/ only when it isn't the
    # scheme's default
    if always_include_port or port != (443 if secure else 80):
        host = f"{host}:{port}"
    return host
