"""WebSocket URIs (RFC 6455 §3)."""

from __future__ import annotations

import dataclasses
import urllib.parse

from .exceptions import InvalidURI

__all__ = ["WebSocketURI", "parse_uri"]

# RFC 3986 §3.3 / §3.4: characters left as they are in a path and a query; everything
# else (e.g. non-ASCII text or spaces) is percent-encoded so the request line is ASCII.
_PATH_SAFE = "/:@!$&'()*+,;=%"
_QUERY_SAFE = "/?:@!$&'()*+,;=%"
_USERINFO_SAFE = "!$&'()*+,;=%"


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
    # RFC 6455 §3: the scheme is "ws" or "wss"
    if parsed.scheme not in ("ws", "wss"):
        raise InvalidURI(uri, "scheme isn't ws or wss")
    if parsed.hostname is None or parsed.hostname == "":
        raise InvalidURI(uri, "hostname isn't provided")
    # RFC 6455 §3: fragment identifiers are meaningless in WebSocket URIs and MUST NOT be used
    if parsed.fragment != "" or uri.endswith("#"):
        raise InvalidURI(uri, "fragment identifier is meaningless")
    secure = parsed.scheme == "wss"
    try:
        port = parsed.port
    except ValueError as exc:
        raise InvalidURI(uri, str(exc)) from None
    if port is None:
        # RFC 6455 §3: the default port is 80 for ws and 443 for wss
        port = 443 if secure else 80
    host = parsed.hostname
    if not host.isascii():
        # Internationalized domain names travel as their ASCII (punycode) form.
        try:
            host = host.encode("idna").decode()
        except UnicodeError as exc:
            raise InvalidURI(uri, f"invalid internationalized host: {exc}") from None
    path = urllib.parse.quote(parsed.path, safe=_PATH_SAFE)
    query = urllib.parse.quote(parsed.query, safe=_QUERY_SAFE)
    username, password = parsed.username, parsed.password
    if username is not None:
        if password is None:
            raise InvalidURI(uri, "username provided without password")
        username = urllib.parse.unquote(username)
        password = urllib.parse.unquote(password)
    return WebSocketURI(secure, host, port, path, query, username, password)
