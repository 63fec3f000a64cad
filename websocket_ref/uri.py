"""WebSocket URIs (RFC 6455 §3)."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import urllib.parse

from .exceptions import InvalidURI

__all__ = ["WebSocketURI", "parse_uri"]

# RFC 3986 §3.3 / §3.4: characters left as they are in a path and a query; everything
# else (e.g. non-ASCII text or spaces) is percent-encoded so the request line is ASCII.
_PATH_SAFE = "/:@!$&'()*+,;=%"
_QUERY_SAFE = "/?:@!$&'()*+,;=%"
_USERINFO_SAFE = "!$&'()*+,;=%"
# A "%" that doesn't start a percent-encoded octet (RFC 3986 §2.1: "%" HEXDIG HEXDIG)
_STRAY_PERCENT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# RFC 3986 §3.2.2: reg-name = *( unreserved / pct-encoded / sub-delims ) (IPv4 fits too)
_REG_NAME_RE = re.compile(r"(?:[A-Za-z0-9._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})+")


@dataclasses.dataclass
class WebSocketURI:
    """A parsed ``ws://`` or ``wss://`` URI."""

    secure: bool
    host: str
    port: int
    path: str
    query: str
    username: str | None = None
    password: str | None = None

    @property
    def resource_name(self) -> str:
        """Path and query, as sent in the request line (RFC 6455 §3)."""
        resource = self.path or "/"
        if self.query:
            resource += "?" + self.query
        return resource

    @property
    def user_info(self) -> tuple[str, str] | None:
        """Credentials for HTTP Basic auth, if the URI carries them."""
        if self.username is None:
            return None
        assert self.password is not None
        return (self.username, self.password)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.secure else 80
        port = "" if self.port == default else f":{self.port}"
        return f"{'wss' if self.secure else 'ws'}://{host}{port}{self.resource_name}"


def parse_uri(uri: str) -> WebSocketURI:
    """Parse and validate a WebSocket URI; raise :class:`InvalidURI` if it isn't one."""
    try:
        parsed = urllib.parse.urlparse(uri)
    except ValueError as exc:  # e.g. an invalid IPv6 literal
        raise InvalidURI(uri, str(exc)) from None
    # RFC 6455 §4.1 [R6455-4.1-3, R6455-4.1-4]: the URI's components must be valid per
    # §3, or the client fails before connecting: the scheme is "ws" or "wss"
    if parsed.scheme not in ("ws", "wss"):
        raise InvalidURI(uri, "scheme isn't ws or wss")
    if parsed.hostname is None or parsed.hostname == "":
        raise InvalidURI(uri, "hostname isn't provided")
    # RFC 6455 §3 [R6455-3-2]: fragment identifiers MUST NOT be used on WebSocket URIs;
    # RFC 6455 §3 [R6455-3-3]: so any "#" starts one, and a "#" in data must be %23
    if parsed.fragment != "" or uri.endswith("#"):
        raise InvalidURI(uri, "fragment identifier is meaningless")
    secure = parsed.scheme == "wss"
    try:
        port = parsed.port
    except ValueError as exc:
        raise InvalidURI(uri, str(exc)) from None
    if port is None:
        # RFC 6455 §3 [R6455-3-1]: the port is OPTIONAL; 80 for ws and 443 for wss
        port = 443 if secure else 80
    host = parsed.hostname
    if not host.isascii():
        # RFC 6455 §11.1.1 [R6455-11.1.1-1], §11.1.2 [R6455-11.1.2-1]: characters of
        # the host outside the URI syntax are converted to ASCII per IDNA (punycode)
        try:
            host = host.encode("idna").decode()
        except UnicodeError as exc:
            raise InvalidURI(uri, f"invalid internationalized host: {exc}") from None
    if ":" in host:  # an IPv6 literal, whose brackets urllib removed
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidURI(uri, f"invalid host: {host}") from None
    elif _REG_NAME_RE.fullmatch(host) is None:
        # RFC 6455 §4.1 [R6455-4.1-3]: /host/ is valid per §3 (RFC 3986's host)
        raise InvalidURI(uri, f"invalid host: {host}")
    # RFC 6455 §11.1.1 [R6455-11.1.1-2], §11.1.2 [R6455-11.1.2-2]: characters of other
    # components outside the URI syntax are UTF-8 encoded, then percent-encoded
    path = urllib.parse.quote(_escape_stray_percent(parsed.path), safe=_PATH_SAFE)
    query = urllib.parse.quote(_escape_stray_percent(parsed.query), safe=_QUERY_SAFE)
    username, password = parsed.username, parsed.password
    if username is not None:
        if password is None:
            raise InvalidURI(uri, "username provided without password")
        username = urllib.parse.unquote(username)
        password = urllib.parse.unquote(password)
    return WebSocketURI(secure, host, port, path, query, username, password)


def _escape_stray_percent(text: str) -> str:
    """Escape each "%" that doesn't start a percent-encoded octet, keeping escapes."""
    return _STRAY_PERCENT_RE.sub("%25", text)
