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
import random
import ssl as ssl_module
import urllib.parse
from collections.abc import Callable, Generator, Sequence
from types import TracebackType
from typing import Any

from ..client import USER_AGENT, ClientProtocol
from ..datastructures import HeadersLike
from ..exceptions import InvalidHandshake, InvalidMessage, InvalidStatus, SecurityError
from ..extensions.base import ClientExtensionFactory
from ..headers import Subprotocol
from ..protocol import MAX_FRAGMENTS, LoggerLike
from ..uri import WebSocketURI, parse_uri
from .connection import Connection
from .options import client_extensions, resolve_logger

__all__ = ["connect", "unix_connect", "ClientConnection", "process_exception"]

#: Most redirects followed by one ``connect()``.
MAX_REDIRECTS = 10

# Delays between reconnection attempts, in seconds: the first one is random up to
# BACKOFF_INITIAL_DELAY, so that many clients disconnected at once don't come back at
# once; then BACKOFF_MIN_DELAY, growing by BACKOFF_FACTOR up to BACKOFF_MAX_DELAY.
BACKOFF_INITIAL_DELAY = 5.0
BACKOFF_MIN_DELAY = 3.1
BACKOFF_MAX_DELAY = 90.0
BACKOFF_FACTOR = 1.618


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
            if self.handshake_eof:
                raise exc from EOFError("connection closed during the opening handshake")
            raise exc
        self.start_keepalive()


def process_exception(exc: Exception) -> Exception | None:
    """Tell whether a failed connection attempt should be retried (``None``) or raised.

    Transient: network errors, timeouts, the server closing the connection during
    the handshake, and HTTP 500, 502, 503 and 504. Anything else is a bug or a
    refusal that retrying won't fix, so it is returned to be raised.
    """
    if isinstance(exc, (EOFError, OSError, asyncio.TimeoutError)):
        return None
    if isinstance(exc, InvalidMessage) and isinstance(exc.__cause__, EOFError):
        return None
    if isinstance(exc, InvalidStatus) and exc.response.status_code in (500, 502, 503, 504):
        return None
    return exc


def backoff() -> Generator[float, None, None]:
    """Delays between reconnection attempts: random first, then exponential, capped."""
    yield random.random() * BACKOFF_INITIAL_DELAY
    delay = BACKOFF_MIN_DELAY
    while delay < BACKOFF_MAX_DELAY:
        yield delay
        delay *= BACKOFF_FACTOR
    while True:
        yield BACKOFF_MAX_DELAY


class connect:
    """Connect to the WebSocket server at ``uri``.

    Options mirror the ``websockets`` library: ``origin``, ``extensions``,
    ``subprotocols``, ``compression`` (``"deflate"`` or None), ``additional_headers``,
    ``user_agent_header``, ``process_exception`` (for reconnection), ``open_timeout``,
    ``ping_interval``, ``ping_timeout``, ``close_timeout``, ``max_size``, ``max_fragments``,
    ``max_queue``, ``write_limit``, ``logger`` and ``create_connection`` (a
    :class:`ClientConnection` subclass). Other keyword arguments go to
    :meth:`~asyncio.loop.create_connection`, e.g. ``ssl``, ``server_hostname``,
    ``sock``, ``host`` and ``port`` (which override the URI's), ``local_addr``.
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
        process_exception: Callable[[Exception], Exception | None] = process_exception,
        open_timeout: float | None = 10,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        max_size: int | None = 2**20,
        max_fragments: int | None = MAX_FRAGMENTS,
        max_queue: int | tuple[int | None, int | None] | None = 16,
        write_limit: int | tuple[int, int | None] = 2**15,
        logger: LoggerLike | str | None = None,
        create_connection: type[ClientConnection] | None = None,
        **kwargs: Any,
    ) -> None:
        self.uri = uri
        self.origin = origin
        self.extensions = client_extensions(compression, extensions)
        self.subprotocols = subprotocols
        self.additional_headers = additional_headers
        self.user_agent_header = user_agent_header
        self.process_exception = process_exception
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
        self.logger = resolve_logger(logger, "websocket_ref.client")
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
                logger=logging.LoggerAdapter(self.logger, extra),
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
            raise ValueError("ssl= is incompatible with a ws:// URI; use wss://")
        factory = self._factory(wsuri)
        if unix:
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

    async def _open_following_redirects(self) -> ClientConnection:
        uri = self.uri
        # RFC 6455 §4.1 [R6455-4.1-4]: an invalid URI fails before anything is opened
        wsuri = parse_uri(uri)
        for _ in range(MAX_REDIRECTS + 1):
            try:
                return await self._open(wsuri)
            except InvalidStatus as exc:
                # RFC 6455 §4.1 [R6455-4.1-38]: a non-101 response is handled per HTTP:
                # our choice is to follow redirects, up to MAX_REDIRECTS
                location = _redirect_location(exc)
                if location is None:
                    raise
                new_uri = urllib.parse.urljoin(uri, location)
                new_wsuri = parse_uri(new_uri)
                # RFC 6455 §10.6 [R6455-10.6-2]: a redirect never drops TLS
                if wsuri.secure and not new_wsuri.secure:
                    raise SecurityError(f"refusing redirect from wss:// to {new_uri}") from exc
                if (new_wsuri.host, new_wsuri.port) != (wsuri.host, wsuri.port) and (
                    any(
                        self.kwargs.get(key) is not None for key in ("sock", "unix", "host", "port")
                    )
                ):
                    raise ValueError(f"cannot follow redirect to another host: {new_uri}") from exc
                self.logger.info("redirected to %s", new_uri)
                uri, wsuri = new_uri, new_wsuri
        raise SecurityError(f"more than {MAX_REDIRECTS} redirects")

    async def _create(self) -> ClientConnection:
        try:
            return await asyncio.wait_for(self._open_following_redirects(), self.open_timeout)
        except asyncio.TimeoutError as exc:
            # On Python 3.10, asyncio.TimeoutError isn't the built-in TimeoutError.
            raise TimeoutError("timed out during the opening handshake") from exc

    # await connect(...)

    def __await__(self) -> Generator[Any, None, ClientConnection]:
        return self._await().__await__()

    async def _await(self) -> ClientConnection:
        self.connection = await self._create()
        return self.connection

    # async with connect(...) as websocket

    async def __aenter__(self) -> ClientConnection:
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


def _redirect_location(exc: InvalidStatus) -> str | None:
    """The target of a redirect response (RFC 9110 §15.4), or None if it isn't one."""
    response = exc.response
    if not 300 <= response.status_code < 400:
        return None
    locations = response.headers.get_all("Location")
    if len(locations) != 1:
        return None
    location = locations[0].strip()
    # An HTTP URL points at the same resource over WebSocket: http→ws, https→wss.
    scheme, sep, rest = location.partition("://")
    if sep and scheme.lower() in ("http", "https"):
        location = ("ws" if scheme.lower() == "http" else "wss") + "://" + rest
    return location


class _Reconnect:
    """The async iterator of ``async for websocket in connect(...)``.

    Each step closes the previous connection, then connects again, retrying failed
    attempts that :func:`process_exception` deems transient, after a growing delay.
    """

    def __init__(self, connect: connect) -> None:
        self.connect = connect
        self.delays: Generator[float, None, None] | None = None

    def __aiter__(self) -> _Reconnect:
        return self

    async def __anext__(self) -> ClientConnection:
        connect = self.connect
        if connect.connection is not None:
            await connect.connection.close()
            connect.connection = None
        while True:
            try:
                connection = await connect._create()
            except Exception as exc:
                raised = connect.process_exception(exc)
                if raised is exc:
                    raise
                if raised is not None:
                    raise raised from exc
                if self.delays is None:
                    self.delays = backoff()
                delay = next(self.delays)
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
    if uri is None:
        uri = "wss://localhost/" if kwargs.get("ssl") is not None else "ws://localhost/"
    return connect(uri=uri, unix=True, path=path, **kwargs)
