"""The threading client: ``connect()`` opens a connection and runs the opening handshake.

Usage::

    from websocket_ref.sync.client import connect

    with connect("ws://localhost:8765") as websocket:
        websocket.send("Hello world!")
        message = websocket.recv()
"""

from __future__ import annotations

import socket
import ssl as ssl_module
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

from ..client import (
    ClientProtocol,
    backoff,
    check_additional_headers,
    dropped,
    follow_redirect,
    process_exception,
    without_credentials,
)
from ..datastructures import HeadersLike, check_header
from ..exceptions import (
    InvalidMessage,
    InvalidProxy,
    InvalidProxyMessage,
    InvalidStatus,
    ProxyError,
    SecurityError,
)
from ..extensions.base import ClientExtensionFactory
from ..headers import Subprotocol, validate_subprotocols
from ..http11 import (
    MAX_BODY_SIZE,
    MAX_HEAD_SIZE,
    MAX_LINE_LENGTH,
    MAX_NUM_HEADERS,
    USER_AGENT,
    Response,
    check_limits,
)
from ..protocol import MAX_FRAGMENTS, MAX_PENDING_PONGS, LoggerLike
from ..proxy import Proxy, ProxyHandshake, resolve_proxy, socks_url
from ..trace import TraceHook
from ..uri import WebSocketURI, parse_uri
from .connection import Connection
from .transport import TLSTransport, Transport
from .utils import Deadline, client_extensions, resolve_logger

__all__ = [
    "ClientConnection",
    "connect",
    "unix_connect",
    "reconnect",
    "process_exception",
    "backoff",
]

#: Most redirects followed by one ``connect()``.
MAX_REDIRECTS = 10


class ClientConnection(Connection):
    """A client connection; see :class:`~.connection.Connection` for the API."""

    protocol: ClientProtocol

    def handshake(
        self,
        additional_headers: HeadersLike | None,
        user_agent_header: str | None,
        deadline: Deadline,
    ) -> None:
        """Send the handshake request, read the response (RFC 6455 §4.1), start threads.

        Raises the core's ``handshake_exc`` if the server refused the upgrade (e.g.
        :exc:`~websocket_ref.exceptions.InvalidStatus`, with the response body) or
        answered wrongly, and :exc:`TimeoutError` at ``deadline``.
        """
        protocol = self.protocol
        transport = self.transport
        request = protocol.connect(
            additional_headers=additional_headers, user_agent_header=user_agent_header
        )
        protocol.send_request(request)
        transport.write(protocol.data_to_send(), deadline)
        while True:
            try:
                data = transport.recv(deadline.timeout())
            except TimeoutError as exc:
                raise TimeoutError("timed out while waiting for handshake response") from exc
            if data:
                protocol.receive_data(data)
            else:
                protocol.receive_eof()
            events = protocol.events_received()
            if protocol.handshake_exc is not None:
                raise protocol.handshake_exc
            for index, event in enumerate(events):
                if isinstance(event, Response):
                    # Frames may follow the response in the same read.
                    self._start(events[index + 1 :])
                    return
            if not data:  # pragma: no cover - the core reports EOF as handshake_exc
                raise InvalidMessage("connection closed during the opening handshake")


def connect(
    uri: str,
    *,
    sock: socket.socket | None = None,
    ssl: ssl_module.SSLContext | None = None,
    server_hostname: str | None = None,
    origin: str | None = None,
    extensions: Sequence[ClientExtensionFactory] | None = None,
    subprotocols: Sequence[Subprotocol] | None = None,
    compression: str | None = "deflate",
    additional_headers: HeadersLike | None = None,
    user_agent_header: str | None = USER_AGENT,
    proxy: str | Literal[True] | None = True,
    proxy_ssl: ssl_module.SSLContext | Literal[True] | None = None,
    proxy_server_hostname: str | None = None,
    open_timeout: float | None = 10,
    ping_interval: float | None = 20,
    ping_timeout: float | None = 20,
    close_timeout: float | None = 10,
    max_size: int | tuple[int | None, int | None] | None = 2**20,
    max_fragments: int | None = MAX_FRAGMENTS,
    max_pending_pongs: int = MAX_PENDING_PONGS,
    max_line_length: int = MAX_LINE_LENGTH,
    max_num_headers: int = MAX_NUM_HEADERS,
    max_head_size: int = MAX_HEAD_SIZE,
    max_body_size: int = MAX_BODY_SIZE,
    max_queue: int | tuple[int | None, int | None] | None = 16,
    logger: LoggerLike | str | None = None,
    create_connection: type[ClientConnection] | None = None,
    trace: TraceHook | None = None,
    **kwargs: Any,
) -> ClientConnection:
    """Connect to the WebSocket server at ``uri`` and return the open connection.

    Use it as a context manager (``with connect(...) as websocket:``) to close the
    connection on the way out, or call ``close()``.

    Arguments (the ``websockets`` library's names and defaults):

    * ``sock``: an already connected socket to use instead of opening one;
      ``ssl``: the TLS context for ``wss://`` (default: the system's trusted CAs);
      ``server_hostname``: the name the certificate must match (default: the URI's host).
    * ``proxy``: ``True`` (the default) takes the proxy from the environment
      (``HTTPS_PROXY`` for ``wss://``, ``HTTP_PROXY`` for ``ws://``, ``ALL_PROXY``,
      ``NO_PROXY``); a URL (``http://``, ``https://``, ``socks5://``, ``socks5h://``,
      ``socks4://``, ``socks4a://``, with ``user:password@`` for authentication) names
      one; ``None`` connects directly. ``proxy_ssl``/``proxy_server_hostname``: TLS to
      an ``https://`` proxy (which carries ``ws://`` here; ``wss://`` through an
      ``https://`` proxy needs the asyncio API).
    * ``origin``, ``additional_headers``, ``user_agent_header`` (``None`` to leave it out):
      headers of the handshake request; ``subprotocols``: offered subprotocols.
    * ``compression="deflate"`` offers permessage-deflate (RFC 7692); ``None`` doesn't;
      ``extensions``: further extension factories.
    * ``open_timeout`` bounds connecting, the TLS handshake and the opening handshake;
      ``close_timeout`` bounds closing; ``ping_interval``/``ping_timeout``: keepalive
      (``None`` disables); ``max_size``: the largest message accepted (``None``: no limit);
      ``max_pending_pongs``: pongs queued before the newest replaces the last (16);
      ``max_fragments``: the most frames in one message (``None``: no limit; past either
      limit the connection fails with 1009); ``max_line_length``, ``max_num_headers``,
      ``max_head_size``,
      ``max_body_size``: the handshake response's limits (see :doc:`the limits
      </howto/limits>`);
      ``max_queue``: received frames buffered before reading stops (flow control).
    * ``logger``: a logger or its name; ``create_connection``: a subclass of
      :class:`ClientConnection` to instantiate.
    * ``trace``: called with every frame and handshake line, annotated (see
      :mod:`websocket_ref.trace`); it runs in the thread that sends or receives.
    * Other keyword arguments go to :func:`socket.create_connection`.

    Raises :exc:`~websocket_ref.exceptions.InvalidURI`, :exc:`OSError` if the connection
    fails, :exc:`TimeoutError`, or :exc:`~websocket_ref.exceptions.InvalidHandshake`.
    """
    if ssl is None and "ssl_context" in kwargs:
        ssl = kwargs.pop("ssl_context")
        warnings.warn("ssl_context was renamed to ssl", DeprecationWarning, stacklevel=2)
    # RFC 6455 §4.1 [R6455-4.1-4]: an invalid URI fails before anything is opened
    ws_uri = parse_uri(uri)
    if additional_headers is not None:
        # Checked before connecting (CR/LF/NUL, the handshake's own headers).
        additional_headers = check_additional_headers(additional_headers)
    check_limits(
        max_line_length=max_line_length,
        max_num_headers=max_num_headers,
        max_head_size=max_head_size,
        max_body_size=max_body_size,
    )
    if user_agent_header is not None:
        check_header("User-Agent", user_agent_header)
    if origin is not None:
        check_header("Origin", origin)
    if not ws_uri.secure and ssl is not None:
        # RFC 6455 §10.6 [R6455-10.6-2]: TLS is used with wss:// URIs, and a ws:// URI
        # isn't silently upgraded
        raise ValueError("ssl argument is incompatible with a ws:// URI")
    unix: bool = kwargs.pop("unix", False)
    path: str | None = kwargs.pop("path", None)
    if unix:
        if path is None and sock is None:
            raise ValueError("missing path argument")
        if path is not None and sock is not None:
            raise ValueError("path is incompatible with sock")  # websockets' words
    if subprotocols is not None:
        validate_subprotocols(subprotocols)  # errors show at once, not after connecting
    factories = client_extensions(compression, extensions)
    if create_connection is None:
        create_connection = ClientConnection
    deadline = Deadline(open_timeout)

    def attempt(
        ws_uri: WebSocketURI, sock: socket.socket | None, additional_headers: HeadersLike | None
    ) -> ClientConnection:
        """Open one connection to ``ws_uri`` and run the opening handshake."""
        proxy_info = None if sock is not None or unix else resolve_proxy(proxy, ws_uri)
        try:
            transport: Transport | None = None
            if proxy_info is not None:
                sock, transport = _connect_through_proxy(
                    proxy_info,
                    ws_uri,
                    deadline,
                    proxy_ssl=proxy_ssl,
                    proxy_server_hostname=proxy_server_hostname,
                    user_agent_header=user_agent_header,
                    **socket_kwargs,
                )
            elif sock is None:
                if unix:
                    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    sock.settimeout(deadline.timeout())
                    sock.connect(path)  # type: ignore[arg-type]
                else:
                    # RFC 6455 §4.1 [R6455-4.1-11]: without a proxy, a direct TCP connection to
                    # /host/ and /port/; RFC 6455 §4.1 [R6455-4.1-13]: if it fails, OSError
                    # fails the connection attempt
                    socket_kwargs.setdefault("timeout", deadline.timeout())
                    sock = socket.create_connection((ws_uri.host, ws_uri.port), **socket_kwargs)
            elif socket_kwargs:
                raise TypeError("sock can't be combined with socket arguments")
            assert sock is not None
            sock.settimeout(None)
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                # Frames are written whole: waiting to coalesce them only adds latency.
                # RFC 6455 §2.1 [R6455-2.1-1]: sending MAY be delayed; our choice is not to
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)

            if transport is not None:
                pass  # ws:// through an https:// proxy: the tunnel is the transport
            elif ws_uri.secure:
                # RFC 6455 §10.6 [R6455-10.6-1]: TLS is supported, for wss:// URIs
                # RFC 6455 §4.1 [R6455-4.1-15]: by default the certificate is verified
                # (system CAs, host name); a failure raises and fails the connection
                context = ssl if ssl is not None else ssl_module.create_default_context()
                # RFC 6455 §4.1 [R6455-4.1-14]: the TLS handshake comes after opening the
                # connection and before the opening handshake; RFC 6455 §4.1 [R6455-4.1-16]:
                # everything after it goes through the TLS transport
                transport = TLSTransport.handshake(
                    sock,
                    context,
                    server_side=False,
                    # RFC 6455 §4.1 [R6455-4.1-17]: Server Name Indication with the URI's host
                    server_hostname=server_hostname if server_hostname is not None else ws_uri.host,
                    deadline=deadline,
                )
            else:
                transport = Transport(sock)

            protocol = ClientProtocol(
                ws_uri,
                origin=origin,
                extensions=factories,
                subprotocols=subprotocols,
                max_size=max_size,
                max_fragments=max_fragments,
                max_pending_pongs=max_pending_pongs,
                max_line_length=max_line_length,
                max_num_headers=max_num_headers,
                max_head_size=max_head_size,
                max_body_size=max_body_size,
                logger=resolve_logger(logger, "websocket_ref.client"),
                trace=trace,
            )
            connection = create_connection(
                transport,
                protocol,
                ping_interval=ping_interval,
                ping_timeout=ping_timeout,
                close_timeout=close_timeout,
                max_queue=max_queue,
            )
            connection.handshake(additional_headers, user_agent_header, deadline)
        except BaseException:
            if sock is not None:
                sock.close()
            raise
        return connection

    socket_given = sock is not None
    for _ in range(MAX_REDIRECTS + 1):
        socket_kwargs = dict(kwargs)
        try:
            return attempt(ws_uri, sock, additional_headers)
        except InvalidStatus as exc:
            # RFC 6455 §4.1 [R6455-4.1-38]: a non-101 response is handled per HTTP: our
            # choice is to follow redirects, up to MAX_REDIRECTS (as the asyncio client)
            result, cross_origin = follow_redirect(uri, exc, socket_given=socket_given, unix=unix)
            if isinstance(result, Exception):
                if result is exc:
                    raise
                raise result from exc
            if cross_origin and additional_headers is not None:
                additional_headers = without_credentials(additional_headers)
            uri, ws_uri, sock = result, parse_uri(result), None
    raise SecurityError(f"more than {MAX_REDIRECTS} redirects")


def unix_connect(
    path: str | None = None,
    uri: str | None = None,
    **kwargs: Any,
) -> ClientConnection:
    """Connect to a WebSocket server listening on the Unix socket ``path``.

    ``uri`` fills the request's Host and path (default ``ws://localhost/``, or
    ``wss://localhost/`` when ``ssl`` is given). Other arguments are :func:`connect`'s.
    """
    if uri is None:
        uri = "wss://localhost/" if kwargs.get("ssl") is not None else "ws://localhost/"
    return connect(uri=uri, unix=True, path=path, **kwargs)


class reconnect:
    """Connect to ``uri`` again and again: ``for websocket in reconnect(uri): ...``.

    The threading API's counterpart of ``async for websocket in connect(...)`` (as in
    websockets ≥ 15, where it has this name: ``for websocket in connect(...)`` iterates
    over the messages of the connection ``connect()`` returns). Each iteration yields an
    open connection; when the loop body ends, the connection is closed and the next
    iteration connects again. Failed attempts that ``process_exception`` deems
    transient are retried after the delays ``reconnect_delays()`` yields
    (:func:`~websocket_ref.client.backoff` by default); other errors are raised. After
    a connection that the application didn't close normally (lost, closed by the
    server, failed), the first reconnect waits a random delay (RFC 6455 §7.2.3). Other
    arguments are :func:`connect`'s.
    """

    def __init__(
        self,
        uri: str,
        *,
        process_exception: Callable[[Exception], Exception | None] = process_exception,
        reconnect_delays: Callable[[], Iterator[float]] = backoff,
        **kwargs: Any,
    ) -> None:
        parse_uri(uri)  # an invalid URI fails now, not at the first iteration
        self.uri = uri
        self.process_exception = process_exception
        self.reconnect_delays = reconnect_delays
        self.kwargs = kwargs
        self.logger = resolve_logger(kwargs.get("logger"), "websocket_ref.client")
        #: The current connection, while the loop body runs.
        self.connection: ClientConnection | None = None

    def __iter__(self) -> Iterator[ClientConnection]:
        delays: Iterator[float] | None = None

        def wait(reason: str) -> None:
            nonlocal delays
            if delays is None:
                delays = self.reconnect_delays()
            delay = next(delays)
            self.logger.info("%s; reconnecting in %.1f seconds", reason, delay)
            time.sleep(delay)

        while True:
            try:
                connection = connect(self.uri, **self.kwargs)
            except Exception as exc:
                raised = self.process_exception(exc)
                if raised is exc:
                    raise
                if raised is not None:
                    raise raised from exc
                wait(f"connect failed: {exc}")
                continue
            delays = None
            self.connection = connection
            try:
                yield connection
            finally:
                self.connection = None
                was_dropped = dropped(connection.protocol)
                connection.close()
            if was_dropped:
                # RFC 6455 §7.2.3 [R6455-7.2.3-1, R6455-7.2.3-2]: "the first reconnect
                # attempt SHOULD be delayed by a random amount of time" after an abnormal
                # closure; so too after the server closed or failed the connection (a
                # server restart drops every client at once).
                wait(f"connection closed ({connection.protocol.close_exc})")


def _connect_through_proxy(
    proxy: Proxy,
    uri: WebSocketURI,
    deadline: Deadline,
    *,
    proxy_ssl: ssl_module.SSLContext | Literal[True] | None,
    proxy_server_hostname: str | None,
    user_agent_header: str | None,
    **kwargs: Any,
) -> tuple[socket.socket, Transport | None]:
    """A socket connected to ``uri``'s host through ``proxy``, within ``deadline``.

    Also returns the transport when the tunnel runs inside TLS to an ``https://``
    proxy: the WebSocket connection then uses it as it is.
    """
    if proxy.is_socks:
        return _socks_connect(proxy, uri, deadline, **kwargs), None
    if proxy.tls and uri.secure:
        raise InvalidProxy(
            f"https://{proxy.host}:{proxy.port}",
            "the threading API can't nest TLS to a wss:// server in TLS to an https:// proxy;"
            " use an http:// proxy, or the asyncio API",
        )
    if proxy_ssl is not None and not proxy.tls:
        raise ValueError("proxy_ssl argument is incompatible with an http:// proxy")
    kwargs.setdefault("timeout", deadline.timeout())
    try:
        return _http_proxy_tunnel(
            proxy,
            uri,
            deadline,
            proxy_ssl=proxy_ssl,
            proxy_server_hostname=proxy_server_hostname,
            user_agent_header=user_agent_header,
            **kwargs,
        )
    except TimeoutError as exc:
        raise TimeoutError(f"timed out while connecting to {proxy.scheme.upper()} proxy") from exc


def _http_proxy_tunnel(
    proxy: Proxy,
    uri: WebSocketURI,
    deadline: Deadline,
    *,
    proxy_ssl: ssl_module.SSLContext | Literal[True] | None,
    proxy_server_hostname: str | None,
    user_agent_header: str | None,
    **kwargs: Any,
) -> tuple[socket.socket, Transport | None]:
    """The CONNECT exchange with an HTTP(S) proxy; see :func:`_connect_through_proxy`."""
    sock = socket.create_connection((proxy.host, proxy.port), **kwargs)
    try:
        sock.settimeout(None)  # transports wait with the deadline, not socket timeouts
        transport: Transport
        if proxy.tls:
            transport = TLSTransport.handshake(
                sock,
                (
                    ssl_module.create_default_context()
                    if proxy_ssl is None or proxy_ssl is True
                    else proxy_ssl
                ),
                server_side=False,
                server_hostname=proxy_server_hostname or proxy.host,
                deadline=deadline,
            )
        else:
            transport = Transport(sock)
        handshake = ProxyHandshake(proxy, uri, user_agent_header)
        transport.write([handshake.data_to_send()], deadline)
        while not handshake.done:
            data = transport.recv(deadline.timeout())
            if data:
                handshake.receive_data(data)
            else:
                handshake.receive_eof()
        if handshake.exc is not None:
            raise handshake.exc
        if handshake.leftover:
            # The server speaks after the client's request (or TLS hello), never before.
            raise InvalidProxyMessage("unexpected data from the proxy after its answer")
    except BaseException:
        sock.close()
        raise
    return sock, transport if proxy.tls else None


def _socks_connect(proxy: Proxy, uri: WebSocketURI, deadline: Deadline, **kwargs: Any) -> Any:
    """A socket connected to ``uri``'s host through a SOCKS proxy, by python-socks."""
    try:
        from python_socks import ProxyError as SocksError
        from python_socks.sync import Proxy as SocksProxy
    except ImportError as exc:
        raise ImportError(
            "SOCKS proxies need python-socks: pip install 'websocket-ref[socks]'"
        ) from exc
    socks = SocksProxy.from_url(socks_url(proxy), rdns=proxy.scheme in ("socks5h", "socks4a"))
    try:
        # ProxyConnectionError is an OSError and ProxyTimeoutError a TimeoutError: they
        # stay transient for reconnect().
        return socks.connect(uri.host, uri.port, timeout=deadline.timeout(), **kwargs)
    except SocksError as exc:
        raise ProxyError("failed to connect to SOCKS proxy") from exc
