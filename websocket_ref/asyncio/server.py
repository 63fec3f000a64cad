"""The asyncio server: ``serve()`` accepts connections and runs a handler for each.

For every TCP (or Unix, or TLS) connection, the server waits for the handshake
request, lets ``process_request`` answer it with a plain HTTP response if it wants
to (a health check, a redirect, a refusal), asks the core's
:class:`~websocket_ref.ServerProtocol` to accept it otherwise, lets
``process_response`` adjust the answer, and sends it. Once the connection is open,
it runs ``handler(connection)``: the connection closes with 1000 when the handler
returns and with 1011 if it raises. Closing the server closes every connection with
1001 (going away).
"""

from __future__ import annotations

import asyncio
import http
import inspect
import logging
from collections.abc import Awaitable, Callable, Generator, Sequence
from types import TracebackType
from typing import Any

from ..datastructures import check_header
from ..exceptions import ConnectionClosed
from ..extensions.base import ServerExtensionFactory
from ..frames import CloseCode
from ..headers import Subprotocol, validate_subprotocols
from ..http11 import (
    MAX_HEAD_SIZE,
    MAX_LINE_LENGTH,
    MAX_NUM_HEADERS,
    Request,
    Response,
    check_limits,
)
from ..protocol import MAX_FRAGMENTS, MAX_PENDING_PONGS, LoggerLike, State
from ..server import EARLY_DATA_LIMIT, SERVER_HEADER, OriginPattern, ServerProtocol
from ..trace import TraceHook
from .auth import basic_auth
from .broadcast import broadcast
from .connection import Connection
from .options import resolve_logger, server_extensions

__all__ = [
    "serve",
    "unix_serve",
    "Server",
    "ServerConnection",
    "basic_auth",
    "broadcast",
]

HandlerT = Callable[["ServerConnection"], Awaitable[None]]
ProcessRequestT = Callable[
    ["ServerConnection", Request], "Awaitable[Response | None] | Response | None"
]
ProcessResponseT = Callable[
    ["ServerConnection", Request, Response], "Awaitable[Response | None] | Response | None"
]
SelectSubprotocolT = Callable[["ServerConnection", Sequence[Subprotocol]], Subprotocol | None]


class ServerConnection(Connection):
    """The server end of a WebSocket connection, as handed to the handler."""

    protocol: ServerProtocol

    def __init__(self, protocol: ServerProtocol, server: Server, **kwargs: Any) -> None:
        super().__init__(protocol, **kwargs)
        self.server = server
        #: The user name, once :func:`basic_auth` authenticated the request.
        self.username: str | None = None
        #: The handler :func:`route` selected for the request, and the parameters it
        #: found in the path (passed to the handler as keyword arguments).
        self.handler: Any = None
        self.handler_kwargs: dict[str, Any] = {}

    def respond(self, status: http.HTTPStatus | int, text: str) -> Response:
        """Build a plain-text HTTP response for ``process_request`` to return.

        Useful for health checks (``respond(200, "OK\\n")``) and refusals.
        """
        return self.protocol.reject(status, text)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.server.start_connection_handler(self)

    async def handshake(
        self,
        process_request: ProcessRequestT | None = None,
        process_response: ProcessResponseT | None = None,
        server_header: str | None = SERVER_HEADER,
    ) -> None:
        """Wait for the request and send the response; the core validates both."""
        waiter = self._handshake_waiter
        assert waiter is not None
        await waiter
        self._handshake_waiter = None
        protocol = self.protocol
        request = protocol.request
        if request is None or protocol.state is not State.CONNECTING:
            # No request (EOF), or one the core couldn't parse and answered already.
            return
        response = None
        if process_request is not None:
            try:
                response = await _maybe_await(process_request(self, request))
            except Exception as exc:
                protocol.handshake_exc = exc
                self.logger.error("process_request failed", exc_info=True)
                response = self._internal_error()
        if response is None:
            if self.server.closing:
                response = self.respond(
                    http.HTTPStatus.SERVICE_UNAVAILABLE, "Server is shutting down.\n"
                )
            else:
                response = protocol.accept(request)
        if server_header is not None and "Server" not in response.headers:
            response.headers["Server"] = server_header
        if process_response is not None:
            try:
                processed = await _maybe_await(process_response(self, request, response))
            except Exception as exc:
                protocol.handshake_exc = exc
                self.logger.error("process_response failed", exc_info=True)
                processed = self._internal_error()
            if processed is not None:
                response = processed
        if protocol.state is not State.CONNECTING:
            return  # the client went away meanwhile
        try:
            protocol.send_response(response)
        except ValueError as exc:
            # The hooks' response can't be sent as it is (a header line with CR or LF, a
            # 101 they changed...): nothing went out; a 500 goes instead.
            protocol.handshake_exc = exc
            self.logger.error("invalid handshake response", exc_info=True)
            protocol.send_response(self._internal_error())
        # Frames may have arrived right behind the request; the core parses them now.
        events = protocol.events_received()
        if events:
            self._dispatch(events)
        if protocol.pending_failure is not None and not self._failure_held:
            # A bad frame among them: fail as for one read later (see data_received()).
            self._hold_failure()
        self._send_data()

    def _internal_error(self) -> Response:
        return self.respond(
            http.HTTPStatus.INTERNAL_SERVER_ERROR,
            "Failed to open a WebSocket connection.\nSee server log for more information.\n",
        )


async def _maybe_await(value: Awaitable[Response | None] | Response | None) -> Response | None:
    if inspect.isawaitable(value):
        return await value
    return value


class Server:
    """A WebSocket server: the listening sockets and the connections they accepted.

    Returned by :func:`serve`. ``close()`` stops accepting connections and closes
    open ones with 1001; ``wait_closed()`` waits until every handler has finished.
    """

    def __init__(
        self,
        handler: HandlerT,
        *,
        process_request: ProcessRequestT | None = None,
        process_response: ProcessResponseT | None = None,
        server_header: str | None = SERVER_HEADER,
        open_timeout: float | None = 10,
        logger: LoggerLike | str | None = None,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.handler = handler
        self.process_request = process_request
        self.process_response = process_response
        self.server_header = server_header
        self.open_timeout = open_timeout
        self.logger = resolve_logger(logger, "websocket_ref.server")
        #: The listening server, once started.
        self.server: asyncio.Server
        #: Every connection whose handler is running, handshake included.
        self.handlers: dict[ServerConnection, asyncio.Task[None]] = {}
        #: Whether close() was called.
        self.closing = False
        self._close_task: asyncio.Task[None] | None = None
        self._closed_waiter: asyncio.Future[None] = self.loop.create_future()

    def wrap(self, server: asyncio.Server) -> None:
        """Attach the listening :class:`asyncio.Server`."""
        self.server = server
        for sock in server.sockets:
            self.logger.info("server listening on %s", _format_address(sock.getsockname()))

    @property
    def connections(self) -> set[ServerConnection]:
        """Connections that completed the opening handshake and aren't closing."""
        return {c for c in self.handlers if c.protocol.state is State.OPEN}

    @property
    def sockets(self) -> tuple[Any, ...]:
        """The listening sockets."""
        return tuple(self.server.sockets)

    def start_connection_handler(self, connection: ServerConnection) -> None:
        """Run the handshake and the handler of a new connection in a task."""
        self.handlers[connection] = self.loop.create_task(self._handle(connection))

    async def _handle(self, connection: ServerConnection) -> None:
        try:
            try:
                await asyncio.wait_for(
                    connection.handshake(
                        self.process_request, self.process_response, self.server_header
                    ),
                    self.open_timeout,
                )
            except asyncio.TimeoutError:
                connection.logger.info("opening handshake timed out")
                connection.transport.abort()
                return
            except Exception:
                connection.logger.error("opening handshake failed", exc_info=True)
                connection.transport.abort()
                return
            protocol = connection.protocol
            response = protocol.response
            # Check the verdict, not the state: the client may have closed at once.
            if protocol.handshake_exc is not None or response is None:
                if response is not None:
                    connection.logger.info(
                        "connection rejected (%d %s)",
                        response.status_code,
                        response.reason_phrase,
                    )
                elif protocol.handshake_exc is not None:
                    connection.logger.info("opening handshake failed: %s", protocol.handshake_exc)
                # The core sent its answer and EOF; the close timer bounds the wait.
                await connection.wait_closed()
                return
            connection.logger.info("connection open")
            connection.start_keepalive()
            try:
                await self.handler(connection)
            except ConnectionClosed:
                connection.logger.debug("connection handler stopped: connection closed")
                await connection.close()
            except Exception:
                connection.logger.error("connection handler failed", exc_info=True)
                await connection.close(CloseCode.INTERNAL_ERROR)
            else:
                await connection.close()
            connection.logger.info("connection closed")
        except asyncio.CancelledError:
            connection.transport.abort()
            raise
        except Exception:  # pragma: no cover - a bug in this module
            self.logger.error("connection handler crashed", exc_info=True)
            connection.transport.abort()
        finally:
            del self.handlers[connection]

    def close(
        self,
        close_connections: bool = True,
        code: int = CloseCode.GOING_AWAY,
        reason: str = "",
    ) -> None:
        """Stop accepting connections and, unless told not to, close the open ones.

        With ``close_connections`` (the default), open connections get a close frame
        with ``code`` and ``reason`` (RFC 6455 §7.4.1: 1001, going away; or, say,
        1012, "service restart", from the IANA registry of close codes), connections
        still in the opening handshake get 503, and :meth:`wait_closed` returns once
        every handler has returned. Without it, open connections carry on until their
        handlers return; :meth:`wait_closed` waits for them. Idempotent: only the
        first call's arguments count.
        """
        if self._close_task is None:
            self.closing = True
            self._close_task = self.loop.create_task(self._close(close_connections, code, reason))

    async def _close(self, close_connections: bool, code: int, reason: str) -> None:
        self.logger.info("server closing")
        self.server.close()
        if close_connections:
            closing = []
            for connection in list(self.handlers):
                state = connection.protocol.state
                if state is State.OPEN:
                    closing.append(connection.close(code, reason))
                elif state is State.CONNECTING and connection.protocol.request is None:
                    # No request yet: there's nobody to say goodbye to.
                    connection.transport.close()
            if closing:
                await asyncio.gather(*closing, return_exceptions=True)
        if self.handlers:
            await asyncio.wait(list(self.handlers.values()))
        await self.server.wait_closed()
        self._closed_waiter.set_result(None)
        self.logger.info("server closed")

    async def wait_closed(self) -> None:
        """Wait until the server is closed and every connection handler has finished."""
        await asyncio.shield(self._closed_waiter)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self.loop

    def is_serving(self) -> bool:
        return self.server.is_serving()

    async def start_serving(self) -> None:
        """Start accepting connections (if ``start_serving=False`` was given)."""
        await self.server.start_serving()

    async def serve_forever(self) -> None:
        """Serve until cancelled; then close the server and wait until it's closed."""
        if not self.server.is_serving():
            await self.server.start_serving()
        try:
            await asyncio.shield(self._closed_waiter)
        except asyncio.CancelledError:
            self.close()
            await self.wait_closed()
            raise

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
        await self.wait_closed()


def _format_address(address: Any) -> str:
    if isinstance(address, tuple):
        host = f"[{address[0]}]" if ":" in address[0] else address[0]
        return f"{host}:{address[1]}"
    return str(address)


class serve:
    """Start a WebSocket server on ``host`` and ``port``, running ``handler`` per connection.

    Use as ``async with serve(handler, host, port) as server:`` (closed on exit) or
    ``server = await serve(...)``. Options mirror the ``websockets`` library:
    ``origins``, ``extensions``, ``subprotocols``, ``select_subprotocol``,
    ``compression`` (``"deflate"`` or None), ``process_request``,
    ``process_response``, ``server_header``, ``open_timeout``, ``ping_interval``,
    ``ping_timeout``, ``close_timeout``, ``max_size``, ``max_fragments``,
    ``max_pending_pongs``, ``max_line_length``, ``max_num_headers``, ``max_head_size``,
    ``max_early_data``
    (see :doc:`the limits </howto/limits>`), ``max_queue``,
    ``write_limit``, ``logger`` and ``create_connection`` (a
    :class:`ServerConnection` subclass). ``trace`` is called with every frame and
    handshake line of every connection, annotated (see :mod:`websocket_ref.trace`).
    Other keyword arguments go to
    :meth:`~asyncio.loop.create_server`, e.g. ``ssl``, ``sock``, ``reuse_port``,
    ``backlog``, ``start_serving``.
    """

    def __init__(
        self,
        handler: HandlerT,
        host: str | Sequence[str] | None = None,
        port: int | None = None,
        *,
        origins: Sequence[OriginPattern] | None = None,
        extensions: Sequence[ServerExtensionFactory] | None = None,
        subprotocols: Sequence[Subprotocol] | None = None,
        select_subprotocol: SelectSubprotocolT | None = None,
        compression: str | None = "deflate",
        process_request: ProcessRequestT | None = None,
        process_response: ProcessResponseT | None = None,
        server_header: str | None = SERVER_HEADER,
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
        max_early_data: int = EARLY_DATA_LIMIT,
        max_queue: int | tuple[int | None, int | None] | None = 16,
        write_limit: int | tuple[int, int | None] = 2**15,
        logger: LoggerLike | str | None = None,
        create_connection: type[ServerConnection] | None = None,
        trace: TraceHook | None = None,
        **kwargs: Any,
    ) -> None:
        if subprotocols is not None:
            validate_subprotocols(subprotocols)  # errors show at once, not per connection
        self.handler = handler
        self.host = host
        self.port = port
        self.origins = origins
        self.extensions = server_extensions(compression, extensions)
        self.subprotocols = subprotocols
        self.select_subprotocol = select_subprotocol
        if server_header is not None:
            check_header("Server", server_header)  # no CR/LF: checked before serving
        self.server_options: dict[str, Any] = {
            "process_request": process_request,
            "process_response": process_response,
            "server_header": server_header,
            "open_timeout": open_timeout,
            "logger": logger,
        }
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
        # The handshake's limits, checked now rather than when a client connects.
        check_limits(
            max_line_length=max_line_length,
            max_num_headers=max_num_headers,
            max_head_size=max_head_size,
            max_early_data=max_early_data,
        )
        self.max_line_length = max_line_length
        self.max_num_headers = max_num_headers
        self.max_head_size = max_head_size
        self.max_early_data = max_early_data
        self.trace = trace
        self.create_connection = create_connection or ServerConnection
        self.kwargs = kwargs
        self.server: Server | None = None

    def _factory(self, server: Server) -> Callable[[], ServerConnection]:
        select_subprotocol = self.select_subprotocol

        def factory() -> ServerConnection:
            extra: dict[str, Any] = {}
            protocol = ServerProtocol(
                origins=self.origins,
                extensions=self.extensions,
                subprotocols=self.subprotocols,
                max_size=self.max_size,
                max_fragments=self.max_fragments,
                max_pending_pongs=self.max_pending_pongs,
                max_line_length=self.max_line_length,
                max_num_headers=self.max_num_headers,
                max_head_size=self.max_head_size,
                max_early_data=self.max_early_data,
                logger=logging.LoggerAdapter(server.logger, extra),
                trace=self.trace,
            )
            connection = self.create_connection(protocol, server, **self.connection_options)
            extra["websocket"] = connection
            if select_subprotocol is not None:
                # The core calls protocol.select_subprotocol(offers); the application's
                # callback receives the connection, as in the websockets library.
                def select(subprotocols: Sequence[Subprotocol]) -> Subprotocol | None:
                    return select_subprotocol(connection, subprotocols)

                protocol.select_subprotocol = select  # type: ignore[method-assign]
            return connection

        return factory

    async def _create(self) -> Server:
        server = Server(self.handler, **self.server_options)
        loop = asyncio.get_running_loop()
        kwargs = dict(self.kwargs)
        open_timeout = self.server_options["open_timeout"]
        # RFC 6455 §10.6 [R6455-10.6-1]: TLS is supported (ssl=);
        # RFC 6455 §4.2.2 [R6455-4.2.2-2]: asyncio runs the TLS handshake first, closes
        # the connection if it fails, and otherwise carries everything through TLS
        if kwargs.get("ssl") is not None and open_timeout is not None:
            # The TLS handshake comes before the opening handshake: bound it the same way,
            # rather than by asyncio's default of 60 seconds.
            kwargs.setdefault("ssl_handshake_timeout", open_timeout)
        factory = self._factory(server)
        if kwargs.pop("unix", False):
            path = kwargs.pop("path", None)
            asyncio_server = await loop.create_unix_server(factory, path, **kwargs)
        else:
            asyncio_server = await loop.create_server(factory, self.host, self.port, **kwargs)
        server.wrap(asyncio_server)
        self.server = server
        return server

    def __await__(self) -> Generator[Any, None, Server]:
        return self._create().__await__()

    async def __aenter__(self) -> Server:
        return await self._create()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


def unix_serve(handler: HandlerT, path: str | None = None, **kwargs: Any) -> serve:
    """Start a WebSocket server listening on the Unix socket ``path``."""
    return serve(handler, unix=True, path=path, **kwargs)
