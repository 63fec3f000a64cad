"""Connecting through a proxy: which proxy, and the HTTP CONNECT exchange (Sans-I/O).

``connect(uri, proxy=...)`` in the asyncio and threading APIs reaches the server
through a proxy:

* ``proxy=True`` (the default) takes the proxy from the environment, as urllib reads
  it: ``SOCKS_PROXY`` first, then ``HTTPS_PROXY`` (and ``HTTP_PROXY`` for ``ws://``),
  unless ``NO_PROXY`` exempts the host (:func:`get_proxy`);
* ``proxy="http://user:pass@host:port"`` names one; ``https://`` speaks TLS to the
  proxy; ``socks5://``, ``socks5h://``, ``socks4://``, ``socks4a://`` go through
  python-socks (``pip install websocket-ref[socks]``);
* ``proxy=None`` connects directly.

RFC 6455 §4.1 [R6455-4.1-10]: the client asks the proxy "to open a TCP connection to
the host given by /host/ and the port given by /port/". For an HTTP proxy, that's
``CONNECT host:port`` (RFC 9110 §9.3.6; RFC 6455 §4.1 shows it too); once the proxy
answers 2xx, the client speaks WebSocket (TLS first, for ``wss://``) through it.
:class:`ProxyHandshake` builds that request and reads the answer from bytes, so that
both APIs share it: the asyncio and threading clients only move the bytes.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
import urllib.request

from .datastructures import Headers
from .exceptions import (
    InvalidMessage,
    InvalidProxy,
    InvalidProxyMessage,
    InvalidProxyStatus,
    SecurityError,
)
from .headers import build_authorization_basic, build_host
from .http11 import Response, parse_response_head
from .uri import WebSocketURI

__all__ = [
    "Proxy",
    "parse_proxy",
    "get_proxy",
    "resolve_proxy",
    "socks_url",
    "ProxyHandshake",
    "SOCKS_SCHEMES",
]

#: Proxy schemes handled by python-socks.
SOCKS_SCHEMES = frozenset({"socks5h", "socks5", "socks4a", "socks4"})
_HTTP_SCHEMES = frozenset({"http", "https"})
_DEFAULT_PORTS = {"http": 80, "https": 443, "socks5h": 1080, "socks5": 1080}
_DEFAULT_PORTS.update(socks4a=1080, socks4=1080)


@dataclasses.dataclass(frozen=True)
class Proxy:
    """A parsed proxy URL."""

    scheme: str
    host: str
    port: int
    user_info: tuple[str, str] | None = None

    @property
    def is_socks(self) -> bool:
        return self.scheme in SOCKS_SCHEMES

    @property
    def tls(self) -> bool:
        """Whether the connection to the proxy itself uses TLS (``https://``)."""
        return self.scheme == "https"


def parse_proxy(url: str) -> Proxy:
    """Parse a proxy URL; raise :exc:`~websocket_ref.exceptions.InvalidProxy` if unusable."""
    try:
        parsed = urllib.parse.urlsplit(url)
        port = parsed.port
    except ValueError as exc:
        raise InvalidProxy(url, str(exc)) from None
    scheme = parsed.scheme.lower()
    if scheme not in _HTTP_SCHEMES | SOCKS_SCHEMES:
        raise InvalidProxy(url, f"scheme {parsed.scheme} isn't supported")
    if not parsed.hostname:
        raise InvalidProxy(url, "hostname isn't provided")
    if parsed.path not in ("", "/"):
        raise InvalidProxy(url, "path is meaningless")
    if parsed.query:
        raise InvalidProxy(url, "query is meaningless")
    if parsed.fragment:
        raise InvalidProxy(url, "fragment is meaningless")
    user_info = None
    if parsed.username is not None or parsed.password is not None:
        user_info = (
            urllib.parse.unquote(parsed.username or ""),
            urllib.parse.unquote(parsed.password or ""),
        )
    return Proxy(scheme, parsed.hostname, port or _DEFAULT_PORTS[scheme], user_info)


def get_proxy(uri: WebSocketURI) -> str | None:
    """The proxy URL the environment gives for ``uri``, or None to connect directly.

    ``NO_PROXY`` lists hosts to reach directly. Otherwise the first proxy set among:
    ``WSS_PROXY`` (``WS_PROXY`` for ``ws://``), ``SOCKS_PROXY``, ``HTTPS_PROXY``, then,
    for ``ws://`` only, ``HTTP_PROXY``; then ``ALL_PROXY``. Lowercase names work too
    (urllib's rules; urllib ignores ``HTTP_PROXY`` in CGI scripts).
    """
    # The proxy settings first: each lookup reads the whole environment (a third of a
    # client's CPU per handshake went there), and with no proxy set, NO_PROXY can't matter.
    proxies = urllib.request.getproxies()
    proxy = _proxy_for(proxies, uri)
    if proxy is None:
        return None
    if urllib.request.proxy_bypass(f"{uri.host}:{uri.port}") or urllib.request.proxy_bypass(
        uri.host
    ):
        return None
    return proxy


def _proxy_for(proxies: dict[str, str], uri: WebSocketURI) -> str | None:
    """The first proxy of ``proxies`` (urllib's getproxies()) that applies to ``uri``."""
    # RFC 6455 §4.1 [no keyword] (item 3, a NOTE): without a proxy setting of their own for
    # WebSocket, implementations "are encouraged to use a SOCKS5 [RFC1928] proxy for WebSocket
    # connections, if available, or failing that, to prefer the proxy configured for
    # HTTPS connections over the proxy configured for HTTP connections". WSS_PROXY /
    # WS_PROXY are that setting of their own (as in websockets); HTTP_PROXY isn't used
    # for wss://, whose traffic HTTPS_PROXY is meant for.
    if uri.secure:
        schemes = ["wss", "socks", "https", "all"]
    else:
        schemes = ["ws", "socks", "https", "http", "all"]
    for scheme in schemes:
        proxy = proxies.get(scheme)
        if proxy:
            if scheme == "socks" and proxy.startswith("http://"):
                # An operating system may give SOCKS proxies with an http:// scheme.
                proxy = "socks5h://" + proxy[len("http://") :]
            return proxy
    return None


def resolve_proxy(proxy: str | bool | None, uri: WebSocketURI) -> Proxy | None:
    """The proxy to use for ``uri`` given the ``proxy`` argument of ``connect()``."""
    if proxy is None or proxy is False:
        return None
    if proxy is True:
        url = get_proxy(uri)
        if url is None:
            return None
        return parse_proxy(url)
    return parse_proxy(proxy)


def socks_url(proxy: Proxy) -> str:
    """The URL python-socks understands for a SOCKS proxy.

    ``socks5h`` and ``socks4a`` (the proxy resolves the host name) are ``socks5`` and
    ``socks4`` with python-socks' ``rdns=True``.
    """
    scheme = {"socks5h": "socks5", "socks4a": "socks4"}.get(proxy.scheme, proxy.scheme)
    credentials = ""
    if proxy.user_info is not None:
        username, password = proxy.user_info
        quote = urllib.parse.quote
        credentials = f"{quote(username, safe='')}:{quote(password, safe='')}@"
    host = f"[{proxy.host}]" if ":" in proxy.host else proxy.host
    return f"{scheme}://{credentials}{host}:{proxy.port}"


class ProxyHandshake:
    """The HTTP CONNECT exchange with a proxy, on bytes (RFC 9110 §9.3.6).

    :meth:`data_to_send` gives the request; feed what the proxy answers to
    :meth:`receive_data` (and :meth:`receive_eof`) until :attr:`done`. Then either
    :attr:`exc` says why the tunnel wasn't established, or the tunnel is open and
    :attr:`leftover` holds bytes that followed the answer (the server's, already).
    """

    def __init__(
        self,
        proxy: Proxy,
        uri: WebSocketURI,
        user_agent_header: str | None = None,
    ) -> None:
        if proxy.scheme not in _HTTP_SCHEMES:
            raise ValueError(f"not an HTTP proxy: {proxy.scheme}")
        self.proxy = proxy
        self.uri = uri
        self.user_agent_header = user_agent_header
        self._buffer = bytearray()
        self._scanned = 0
        #: Whether the exchange is over: the tunnel is open, or :attr:`exc` is set.
        self.done = False
        #: Why the tunnel wasn't established (a :exc:`ProxyError`), once done.
        self.exc: Exception | None = None
        #: The proxy's answer, once received.
        self.response: Response | None = None
        #: Bytes received after the answer, for the connection through the tunnel.
        self.leftover = b""

    def data_to_send(self) -> bytes:
        """The CONNECT request: the authority-form target and Host (RFC 9110 §9.3.6)."""
        # RFC 6455 §4.1 [R6455-4.1-10]: through a proxy, the client asks it to open a TCP
        # connection to /host/ and /port/
        host = build_host(self.uri.host, self.uri.port, self.uri.secure, always_include_port=True)
        headers = Headers()
        headers["Host"] = host
        if self.user_agent_header is not None:
            headers["User-Agent"] = self.user_agent_header
        if self.proxy.user_info is not None:
            # RFC 9110 §11.7.2: credentials for the proxy go in Proxy-Authorization
            headers["Proxy-Authorization"] = build_authorization_basic(*self.proxy.user_info)
        return f"CONNECT {host} HTTP/1.1\r\n".encode() + headers.serialize()

    def receive_data(self, data: bytes) -> None:
        """Feed bytes received from the proxy."""
        if self.done:
            self.leftover += data
            return
        self._buffer += data
        try:
            head = parse_response_head(self._buffer, self._scanned)
        except (InvalidMessage, SecurityError) as exc:
            error = InvalidProxyMessage("did not receive a valid HTTP response from proxy")
            error.__cause__ = exc
            self._fail(error)
            return
        if head is None:
            self._scanned = len(self._buffer)
            return
        status_code, reason, headers = head
        self.response = Response(status_code, reason, headers)
        self.done = True
        if not 200 <= status_code < 300:
            # RFC 9110 §9.3.6: any 2xx means the tunnel is open; anything else, it isn't:
            # RFC 6455 §4.1 [R6455-4.1-13]: a proxy's error fails the connection attempt
            self.exc = InvalidProxyStatus(self.response)
            return
        self.leftover = bytes(self._buffer)
        self._buffer.clear()

    def receive_eof(self) -> None:
        """The proxy closed the connection."""
        if not self.done:
            exc = InvalidProxyMessage("did not receive a valid HTTP response from proxy")
            # Like a server that closes during the handshake: worth retrying.
            exc.__cause__ = EOFError("connection closed while reading HTTP status line")
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        self.done = True
        self.exc = exc
        self._buffer.clear()
