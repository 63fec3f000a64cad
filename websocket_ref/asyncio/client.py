"""The asyncio client: ``connect()`` opens a connection, follows redirects, reconnects.

``connect(uri)`` may be used three ways::

    async with connect(uri) as websocket:      # closed on exit
        ...
    websocket = await connect(uri)             # the caller closes it
    async for websocket in connect(uri):       # reconnects on transient errors
        ...

The opening handshake itself is the core's :class:`~websocket_ref.ClientProtocol`;
this module opens sockets (TCP, TLS, Unix), sends the request the core builds, waits
for the core's verdict on the response, and bounds it all with ``open_timeout``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from types import EllipsisType, TracebackType
from typing import Any, Literal

from ..client import (
    ClientProtocol,
    backoff,
    check_additional_headers,
    dropped,
    follow_redirect,
    without_credentials,
)
from ..client import process_exception as _process_exception
from ..datastructures import HeadersLike, check_header
from ..exceptions import InvalidHandshake, InvalidStatus, SecurityError
from ..extensions.base import ClientExtensionFactory
from ..headers import Subprotocol, validate_subprotocols
from ..http11 import (
    MAX_BODY_SIZE,
    MAX_HEAD_SIZE,
    MAX_LINE_LENGTH,
    MAX_NUM_HEADERS,
    USER_AGENT,
    check_limits,
)
from ..protocol import MAX_FRAGMENTS, MAX_PENDING_PONGS, LoggerLike
from ..proxy import resolve_proxy
from ..trace import TraceHook
from ..uri import WebSocketURI, parse_uri
from .connection import Connection
from .options import client_extensions, resolve_logger
from .proxy import create_connection_through_proxy

__all__ = ["connect", "unix_connect", "ClientConnection", "process_exception", "backoff"]

#: Most redirects followed by one ``connect()``.
MAX_REDIRECTS = 10


class ClientConnection(Connection):
    """The client end of a WebSocket connection."""

    protocol: ClientProtocol

    def __init__(self, protocol: ClientProtocol, **kwargs: Any) -> None:
        super().__init__(protocol, **kwargs)

    async def handshake(
        self,
        additional_headers: HeadersLike | None = None,
        user_agent_header: str | None = USER_AGENT,
    ) -> None:
        """Send the handshake request and wait for the core to accept the response.

        Raise the core's ``handshake_exc`` (e.g. :exc:`InvalidStatus`) if it doesn't;
        the transport is closed then.
        """
        protocol = self.protocol
        request = protocol.connect(
            additional_headers=additional_headers, user_agent_header=user_agent_header
        )
        protocol.send_request(request)
        self._send_data()
        waiter = self._handshake_waiter
        assert waiter is not None
        await waiter
        self._handshake_waiter = None
        # Check the verdict, not the state: a connection may open and close at once.
        if protocol.handshake_exc is not None or protocol.response is None:
            self.transport.close()
            exc = protocol.handshake_exc
            if exc is None:  # pragma: no cover - the core always explains a failure
                exc = InvalidHandshake("connection closed during the opening handshake")
            if self.handshake_eof and exc.__cause__ is None:
                raise exc from EOFError("connection closed during the opening handshake")
            raise exc
        self.start_keepalive()


def process_exception(exc: Exception) -> Exception | None:
    """Tell whether a failed connection attempt should be retried (``None``) or raised.

    :func:`websocket_ref.client.process_exception`, plus :exc:`asyncio.TimeoutError`
    (on Python 3.10, not the built-in :exc:`TimeoutError`) as transient.
    """
    if isinstance(exc, asyncio.TimeoutError):
        return None
    return _process_exception(exc)


class connect:
    """Connect to the WebSocket server at ``uri``.

    Options mirror the ``websockets`` library: ``origin``, ``extensions``,
    ``subprotocols``, ``compression`` (``"deflate"`` or None), ``additional_headers``,
    ``user_agent_header``, ``proxy`` (True: from the environment, ``HTTPS_PROXY``
    etc.; a URL: ``http://``, ``https://``, ``socks5://``...; None: none; see
    :mod:`websocket_ref.proxy`), ``proxy_ssl`` and ``proxy_server_hostname`` (TLS to
    an ``https://`` proxy), ``process_exception`` and ``reconnect_delays`` (for
    reconnection: see :func:`~websocket_ref.client.backoff`), ``open_timeout``,
    ``ping_interval``, ``ping_timeout``, ``close_timeout``, ``max_size``,
    ``max_fragments``, ``max_pending_pongs``, ``max_line_length``, ``max_num_headers``,
    ``max_head_size``,
    ``max_body_size`` (see :doc:`the limits </howto/limits>`),
    ``max_queue``, ``write_limit``, ``logger`` and ``create_connection`` (a
    :class:`ClientConnection` subclass). ``trace`` is called with every frame and
    handshake line of the connection, annotated (see :mod:`websocket_ref.trace`).
    Other keyword arguments go to :meth:`~asyncio.loop.create_connection`, e.g.
    ``ssl``, ``server_hostname``, ``sock``, ``host`` and ``port`` (which override the
    URI's), ``local_addr``.
    """

    def __init__(
        self,
        uri: str,
        *,
        origin: str | None = None,
        extensions: Sequence[ClientExtensionFactory] | None = None,
        subprotocols: Sequence[Subprotocol] | None = None,
        compression: str | None = "deflate",
        additional_headers: HeadersLike | None = None,
        user_agent_header: str | None = USER_AGENT,
        proxy: str | Literal[True] | None = True,
        proxy_ssl: ssl_module.SSLContext | Literal[True] | EllipsisType | None = ...,
        proxy_server_hostname: str | None = None,
        process_exception: Callable[[Exception], Exception | None] = process_exception,
        reconnect_delays: Callable[[], Iterator[float]] = backoff,
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
        write_limit: int | tuple[int, int | None] = 2**15,
        logger: LoggerLike | str | None = None,
        create_connection: type[ClientConnection] | None = None,
        trace: TraceHook | None = None,
        **kwargs: Any,
    ) -> None:
        self.uri = uri
        if subprotocols is not None:
            validate_subprotocols(subprotocols)  # errors show at once, not after connecting
        self.origin = origin
        self.extensions = client_extensions(compression, extensions)
        self.subprotocols = subprotocols
        if additional_headers is not None:
            # Checked now, before connecting (CR/LF/NUL, the handshake's own headers);
            # kept as given unless it's an iterator, which only goes once.
            checked = check_additional_headers(additional_headers)
            if not isinstance(additional_headers, Mapping):
                additional_headers = checked
        self.additional_headers = additional_headers
        if user_agent_header is not None:
            check_header("User-Agent", user_agent_header)  # no CR/LF: checked now
        if origin is not None:
            check_header("Origin", origin)
        self.user_agent_header = user_agent_header
        self.proxy = proxy
        self.proxy_ssl = proxy_ssl
        self.proxy_server_hostname = proxy_server_hostname
        self.process_exception = process_exception
        self.reconnect_delays = reconnect_delays
        self.open_timeout = open_timeout
        self.connection_options: dict[str, Any] = {
            "ping_interval": ping_interval,
            "ping_timeout": ping_timeout,
            "close_timeout": close_timeout,
            "max_queue": max_queue,
            "write_limit": write_limit,
        }
        self.max_size = max_size
        self.max_fragments = max_fragments
        self.max_pending_pongs = max_pending_pongs
        # The handshake's limits, checked now rather than when connecting.
        check_limits(
            max_line_length=max_line_length,
            max_num_headers=max_num_headers,
            max_head_size=max_head_size,
            max_body_size=max_body_size,
        )
        self.max_line_length = max_line_length
        self.max_num_headers = max_num_headers
        self.max_head_size = max_head_size
        self.max_body_size = max_body_size
        self.logger = resolve_logger(logger, "websocket_ref.client")
        self.trace = trace
        self.create_connection = create_connection or ClientConnection
        self.kwargs = kwargs
        #: The connection, once opened by ``await`` or ``async with``.
        self.connection: ClientConnection | None = None

    # Opening one connection

    def _factory(self, wsuri: WebSocketURI) -> Callable[[], ClientConnection]:
        def factory() -> ClientConnection:
            extra: dict[str, Any] = {}
            protocol = ClientProtocol(
                wsuri,
                origin=self.origin,
                extensions=self.extensions,
                subprotocols=self.subprotocols,
                max_size=self.max_size,
                max_fragments=self.max_fragments,
                max_pending_pongs=self.max_pending_pongs,
                max_line_length=self.max_line_length,
                max_num_headers=self.max_num_headers,
                max_head_size=self.max_head_size,
                max_body_size=self.max_body_size,
                logger=logging.LoggerAdapter(self.logger, extra),
                trace=self.trace,
            )
            connection = self.create_connection(protocol, **self.connection_options)
            extra["websocket"] = connection
            return connection

        return factory

    async def _open(self, wsuri: WebSocketURI) -> ClientConnection:
        """Open the socket (TCP or Unix, TLS for wss) and perform the handshake."""
        loop = asyncio.get_running_loop()
        kwargs = dict(self.kwargs)
        unix = kwargs.pop("unix", False)
        path = kwargs.pop("path", None)
        if wsuri.secure:
            # RFC 6455 §10.6 [R6455-10.6-1]: TLS is supported, for wss:// URIs;
            # RFC 6455 §4.1 [R6455-4.1-14, R6455-4.1-16]: asyncio runs the TLS handshake
            # once connected, before the opening handshake, and everything after it
            # goes through the TLS transport
            kwargs.setdefault("ssl", True)
            if kwargs["ssl"] is None:
                raise ValueError("ssl=None is incompatible with a wss:// URI")
            if kwargs["ssl"] is True:
                # RFC 6455 §4.1 [R6455-4.1-15]: by default the certificate is verified
                # (system CAs, host name); a failure raises and fails the connection
                kwargs["ssl"] = ssl_module.create_default_context()
            # The certificate must name the host of the URI (RFC 6125), even over a
            # Unix socket or a pre-connected socket.
            # RFC 6455 §4.1 [R6455-4.1-17]: and SNI carries that host
            kwargs.setdefault("server_hostname", wsuri.host)
        elif kwargs.get("ssl") is not None:
            # RFC 6455 §10.6 [R6455-10.6-2]: TLS goes with wss://; no silent upgrade
            raise ValueError("ssl argument is incompatible with a ws:// URI")
        factory = self._factory(wsuri)
        proxy = None
        if not unix and kwargs.get("sock") is None:
            proxy = resolve_proxy(self.proxy, wsuri)
        if proxy is not None:
            kwargs.pop("host", None)
            kwargs.pop("port", None)
            connection = await create_connection_through_proxy(
                factory,
                proxy,
                wsuri,
                ssl=kwargs.pop("ssl", None),
                server_hostname=kwargs.pop("server_hostname", None),
                proxy_ssl=self.proxy_ssl,
                proxy_server_hostname=self.proxy_server_hostname,
                user_agent_header=self.user_agent_header,
                **kwargs,
            )
        elif unix:
            _, connection = await loop.create_unix_connection(factory, path, **kwargs)
        elif kwargs.get("sock") is not None:
            kwargs.pop("host", None)
            kwargs.pop("port", None)
            _, connection = await loop.create_connection(factory, **kwargs)
        else:
            # RFC 6455 §4.1 [R6455-4.1-11]: without a proxy, a direct TCP connection to
            # /host/ and /port/; RFC 6455 §4.1 [R6455-4.1-13]: if it fails, OSError
            # fails the connection attempt
            host = kwargs.pop("host", wsuri.host)
            port = kwargs.pop("port", wsuri.port)
            _, connection = await loop.create_connection(factory, host, port, **kwargs)
        try:
            await connection.handshake(self.additional_headers, self.user_agent_header)
        except BaseException:
            connection.transport.abort()
            raise
        return connection

    def process_redirect(self, exc: Exception) -> Exception | str:
        """Tell whether a failed handshake is a redirect to follow: the new URI, or the
        exception to raise (``exc`` itself if it isn't a redirect).

        The decision is :func:`websocket_ref.client.follow_redirect`'s, shared with the
        threading client. On a redirect to another origin, the ``Authorization``,
        ``Cookie`` and ``Proxy-Authorization`` headers of ``additional_headers`` are
        dropped, so that credentials meant for one server don't reach another.
        """
        result, cross_origin = follow_redirect(
            self.uri,
            exc,
            socket_given=self.kwargs.get("sock") is not None,
            unix=bool(self.kwargs.get("unix")),
            address_given=self.kwargs.get("host") is not None
            or self.kwargs.get("port") is not None,
        )
        if cross_origin and self.additional_headers is not None:
            self.additional_headers = without_credentials(self.additional_headers)
        return result

    async def _open_following_redirects(self) -> ClientConnection:
        # RFC 6455 §4.1 [R6455-4.1-4]: an invalid URI fails before anything is opened
        parse_uri(self.uri)
        for _ in range(MAX_REDIRECTS + 1):
            try:
                return await self._open(parse_uri(self.uri))
            except InvalidStatus as exc:
                # RFC 6455 §4.1 [R6455-4.1-38]: a non-101 response is handled per HTTP:
                # our choice is to follow redirects, up to MAX_REDIRECTS
                result = self.process_redirect(exc)
                if isinstance(result, Exception):
                    if result is exc:
                        raise
                    raise result from exc
                self.logger.info("redirected to %s", result)
                self.uri = result
        raise SecurityError(f"more than {MAX_REDIRECTS} redirects")

    async def _create(self) -> ClientConnection:
        try:
            return await asyncio.wait_for(self._open_following_redirects(), self.open_timeout)
        except asyncio.TimeoutError as exc:
            # On Python 3.10, asyncio.TimeoutError isn't the built-in TimeoutError.
            raise TimeoutError("timed out during opening handshake") from exc

    # await connect(...)

    def __await__(self) -> Generator[Any, None, ClientConnection]:
        return self._await().__await__()

    async def _await(self) -> ClientConnection:
        self.connection = await self._create()
        return self.connection

    # async with connect(...) as websocket

    async def __aenter__(self) -> ClientConnection:
        if self.connection is not None:
            raise RuntimeError("connect() isn't reentrant")
        return await self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self.connection is not None
        await self.connection.__aexit__(exc_type, exc_value, traceback)

    # async for websocket in connect(...)

    def __aiter__(self) -> _Reconnect:
        return _Reconnect(self)


class _Reconnect:
    """The async iterator of ``async for websocket in connect(...)``.

    Each step closes the previous connection, then connects again, retrying failed
    attempts that :func:`process_exception` deems transient after the delays that
    ``reconnect_delays()`` yields (:func:`~websocket_ref.client.backoff` by default).
    """

    def __init__(self, connect: connect) -> None:
        self.connect = connect
        self.delays: Iterator[float] | None = None

    def __aiter__(self) -> _Reconnect:
        return self

    def _next_delay(self) -> float:
        if self.delays is None:
            self.delays = self.connect.reconnect_delays()
        return next(self.delays)

    async def __anext__(self) -> ClientConnection:
        connect = self.connect
        previous, connect.connection = connect.connection, None
        if previous is not None:
            was_dropped = dropped(previous.protocol)
            await previous.close()
            if was_dropped:
                # RFC 6455 §7.2.3 [R6455-7.2.3-1, R6455-7.2.3-2]: after an abnormal
                # closure, "the first reconnect attempt SHOULD be delayed by a random
                # amount of time"; so too after the server closed or failed the
                # connection: clients dropped at once by a server that restarts mustn't
                # all come back at once.
                delay = self._next_delay()
                connect.logger.info(
                    "connection closed (%s); reconnecting in %.1f seconds",
                    previous.protocol.close_exc,
                    delay,
                )
                await asyncio.sleep(delay)
        while True:
            try:
                connection = await connect._create()
            except Exception as exc:
                raised = connect.process_exception(exc)
                if raised is exc:
                    raise
                if raised is not None:
                    raise raised from exc
                delay = self._next_delay()
                connect.logger.info(
                    "connect failed; reconnecting in %.1f seconds: %s",
                    delay,
                    exc,
                    exc_info=connect.logger.isEnabledFor(logging.DEBUG),
                )
                await asyncio.sleep(delay)
                continue
            self.delays = None
            connect.connection = connection
            return connection


def unix_connect(
    path: str | None = None,
    uri: str | None = None,
    **kwargs: Any,
) -> connect:
    """Connect to a WebSocket server listening on the Unix socket ``path``.

    ``uri`` defaults to ``ws://localhost/`` (``wss://`` with ``ssl=``); it sets the
    Host header and the request path.
    """
    if path is None and kwargs.get("sock") is None:
        raise ValueError("no path and sock were specified")
    if path is not None and kwargs.get("sock") is not None:
        raise ValueError("path and sock can not be specified at the same time")
    if uri is None:
        uri = "wss://localhost/" if kwargs.get("ssl") is not None else "ws://localhost/"
    return connect(uri=uri, unix=True, path=path, **kwargs)
