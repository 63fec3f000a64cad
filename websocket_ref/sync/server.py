"""The threading server: ``serve()`` listens; each connection's handler runs in its own thread.

The server's selector thread (:mod:`.selector`) reads for all its connections.

Usage::

    from websocket_ref.sync.server import serve

    def echo(websocket):
        for message in websocket:
            websocket.send(message)

    with serve(echo, "localhost", 8765) as server:
        server.serve_forever()

Another thread stops the server with ``server.shutdown()``, which stops accepting
connections and closes the open ones with 1001 (going away, RFC 6455 §7.4.1).
"""

from __future__ import annotations

import contextlib
import http
import os
import selectors
import socket
import ssl as ssl_module
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from ..datastructures import check_header
from ..exceptions import ConnectionClosed, InvalidMessage
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
from ..protocol import MAX_FRAGMENTS, MAX_PENDING_PONGS, Event, LoggerLike
from ..server import EARLY_DATA_LIMIT, SERVER_HEADER, OriginPattern, ServerProtocol
from ..trace import TraceHook
from .auth import basic_auth
from .broadcast import broadcast
from .connection import Connection
from .selector import SelectorThread
from .transport import TLSTransport, Transport
from .utils import Deadline, resolve_logger, server_extensions

__all__ = ["ServerConnection", "Server", "serve", "unix_serve", "basic_auth", "broadcast"]

_Socket = socket.socket  # Server.__init__'s argument named "socket" hides the module

# Bytes read from a refused client while waiting for it to close (see _linger).
_LINGER_LIMIT = 65536


class ServerConnection(Connection):
    """A server connection; see :class:`~.connection.Connection` for the API."""

    protocol: ServerProtocol

    def __init__(self, *args: Any, server: Server | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The server that accepted the connection.
        self.server = server
        #: The user name, once :func:`basic_auth` authenticated the request.
        self.username: str | None = None
        #: The handler :func:`route` selected for the request, and the parameters it
        #: found in the path (passed to the handler as keyword arguments).
        self.handler: Any = None
        self.handler_kwargs: dict[str, Any] = {}

    def _selector_thread(self) -> SelectorThread:
        server: Server | None = getattr(self, "server", None)  # None during __init__
        if server is None:
            return super()._selector_thread()
        return server._selector_thread

    def respond(self, status: http.HTTPStatus | int, text: str) -> Response:
        """Build an HTTP response with a plain-text body, for ``process_request``."""
        return self.protocol.reject(status, text)

    def handshake(
        self,
        process_request: Callable[[ServerConnection, Request], Response | None] | None,
        process_response: Callable[[ServerConnection, Request, Response], Response | None] | None,
        server_header: str | None,
        deadline: Deadline,
    ) -> list[Event]:
        """Read the handshake request, answer it (RFC 6455 §4.2); return the events after it.

        Raises the core's ``handshake_exc`` if the request was refused, once the
        response is written, and :exc:`TimeoutError` at ``deadline``.
        """
        protocol = self.protocol
        transport = self.transport
        request: Request | None = None
        while request is None:
            data = transport.recv(deadline.timeout())
            if data:
                protocol.receive_data(data)
            else:
                protocol.receive_eof()
            for event in protocol.events_received():
                if isinstance(event, Request):
                    request = event
            if request is None and protocol.handshake_exc is not None:
                # The core answered an unparsable request itself (400, 431, 505...).
                self._write_handshake(deadline)
                raise protocol.handshake_exc
            if request is None and not data:  # pragma: no cover - the core reports EOF
                raise InvalidMessage("connection closed during the opening handshake")

        response: Response | None = None
        if process_request is not None:
            try:
                response = process_request(self, request)
            except Exception as exc:
                response = self._internal_error(exc, "process_request")
        if response is None:
            response = protocol.accept(request)
            if process_response is not None:
                try:
                    replacement = process_response(self, request, response)
                except Exception as exc:
                    response = self._internal_error(exc, "process_response")
                else:
                    if replacement is not None:
                        response = replacement
        if server_header is not None and "Server" not in response.headers:
            response.headers["Server"] = server_header
        try:
            protocol.send_response(response)
        except ValueError as exc:
            # The hooks' response can't be sent as it is (a header line with CR or LF, a
            # 101 they changed...): nothing went out; a 500 goes instead.
            protocol.send_response(self._internal_error(exc, "the handshake response"))
        # Frames pipelined behind the request are parsed once the response is sent.
        events = protocol.events_received()
        self._write_handshake(deadline)
        if protocol.handshake_exc is not None:
            raise protocol.handshake_exc
        return events

    def _internal_error(self, exc: Exception, hook: str) -> Response:
        self.logger.error("%s failed", hook, exc_info=True)
        self.protocol.handshake_exc = exc
        return self.protocol.reject(
            http.HTTPStatus.INTERNAL_SERVER_ERROR,
            "Failed to open a WebSocket connection.\nSee server log for more information.\n",
        )

    def _write_handshake(self, deadline: Deadline) -> None:
        """Write the response (and the EOF after a refusal) before threads exist."""
        writes = self.protocol.data_to_send()
        eof = bool(writes) and not writes[-1]
        chunks = [chunk for chunk in writes if chunk]
        if chunks:
            self.transport.write(chunks, deadline)
        if eof:
            self.transport.write_eof(deadline)


class Server:
    """A listening socket and the threads of its connections.

    ``handler(sock, address)`` is called in a new thread for every accepted connection;
    :func:`serve` provides one that runs the WebSocket handshake and the application.
    """

    def __init__(
        self,
        socket: socket.socket,
        handler: Callable[[socket.socket, Any], None],
        logger: LoggerLike | str | None = None,
    ) -> None:
        #: The listening socket.
        self.socket = socket
        self.handler = handler
        self.logger = resolve_logger(logger, "websocket_ref.server")
        #: Seconds that :meth:`shutdown` waits for connections to close.
        self.close_timeout: float | None = 10
        #: The TLS context connections are served with (``wss://``), or None. The
        #: listening socket stays a plain one: TLS runs per connection.
        self.ssl: ssl_module.SSLContext | None = None
        self._lock = threading.Lock()
        self._connections: set[ServerConnection] = set()
        self._handshaking: set[_Socket] = set()  # sockets before the handshake ends
        self._threads: set[threading.Thread] = set()
        self._shutting_down = False
        self._serving: threading.Thread | None = None  # the thread in serve_forever()
        self._served = threading.Event()
        self._wakeup_r, self._wakeup_w = socket_pair()
        # One thread reads for every connection of this server (.selector); it runs
        # while connections are open.
        self._selector_thread = SelectorThread("websocket_ref-server-selector")
        #: Path of a Unix socket this server created, removed at shutdown.
        self.unix_path: str | None = None
        self._unix_inode: int | None = None

    @property
    def connections(self) -> set[ServerConnection]:
        """The open connections (a snapshot)."""
        with self._lock:
            return set(self._connections)

    def fileno(self) -> int:
        """The listening socket's file descriptor."""
        return self.socket.fileno()

    def serve_forever(self) -> None:
        """Accept connections until :meth:`shutdown` is called (from another thread)."""
        with self._lock:
            if self._shutting_down:
                return
            self._serving = threading.current_thread()
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self.socket, selectors.EVENT_READ)
                selector.register(self._wakeup_r, selectors.EVENT_READ)
                while True:
                    ready = {key.fileobj for key, _ in selector.select()}
                    if self._wakeup_r in ready or self._shutting_down:
                        return
                    try:
                        sock, address = self.socket.accept()
                    except BlockingIOError:  # pragma: no cover - another thread took it
                        continue
                    except OSError as exc:  # e.g. out of file descriptors
                        if self._shutting_down:
                            return
                        self.logger.error("accept() failed: %s", exc)
                        time.sleep(0.1)
                        continue
                    self._start_thread(sock, address)
        finally:
            self._served.set()
            if self._shutting_down:
                self._close_sockets()

    def _start_thread(self, sock: socket.socket, address: Any) -> None:
        thread = threading.Thread(
            target=self._run_handler, args=(sock, address), name="websocket_ref-connection"
        )
        thread.daemon = True
        with self._lock:
            if self._shutting_down:
                sock.close()
                return
            self._threads.add(thread)
        thread.start()

    def _run_handler(self, sock: socket.socket, address: Any) -> None:
        try:
            self.handler(sock, address)
        except Exception:  # pragma: no cover - the handler of serve() catches everything
            self.logger.error("connection handler failed", exc_info=True)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def register_handshake(self, sock: socket.socket) -> bool:
        """Track a socket during the opening handshake; False if shutting down."""
        with self._lock:
            if self._shutting_down:
                return False
            self._handshaking.add(sock)
            return True

    def register(self, connection: ServerConnection) -> bool:
        """Track an open connection; False if the server is shutting down."""
        with self._lock:
            self._handshaking.discard(connection.socket)
            if self._shutting_down:
                return False
            self._connections.add(connection)
            return True

    def unregister(self, connection: ServerConnection | None, sock: socket.socket) -> None:
        with self._lock:
            self._handshaking.discard(sock)
            if connection is not None:
                self._connections.discard(connection)

    def shutdown(
        self,
        close_connections: bool = True,
        code: int = CloseCode.GOING_AWAY,
        reason: str = "",
        *,
        timeout: float | None = None,
    ) -> None:
        """Stop accepting connections and, unless told not to, close the open ones.

        With ``close_connections`` (the default), open connections get a close frame
        with ``code`` and ``reason`` (RFC 6455 §7.4.1: 1001, going away; or, say,
        1012, "service restart", from the IANA registry of close codes) all at once;
        then this waits, at most ``timeout`` (default: ``close_timeout``), for them to
        close and for their handlers to return. Connections still open then are
        aborted. Without it, open connections carry on until their handlers return;
        this returns once the server stopped listening.
        """
        with self._lock:
            already = self._shutting_down
            self._shutting_down = True
            connections = list(self._connections)
            handshaking = list(self._handshaking)
        # Connections still in the opening handshake are just dropped.
        for sock in handshaking:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if not already:
            with contextlib.suppress(OSError):
                self._wakeup_w.send(b"\0")
        serving = self._serving
        if serving is threading.current_thread():
            # Called from a signal handler that interrupted serve_forever() in this thread:
            # it returns (and closes the sockets) once the handler is done.
            pass
        else:
            if serving is not None:
                self._served.wait()
            self._close_sockets()

        if not close_connections:
            return
        deadline = Deadline(self.close_timeout if timeout is None else timeout)
        for connection in connections:
            connection._start_closing(code, reason, deadline)
        for connection in connections:
            connection._close_wait(deadline)
        current = threading.current_thread()
        with self._lock:
            threads = [thread for thread in self._threads if thread is not current]
        for thread in threads:
            thread.join(deadline.timeout(raise_if_elapsed=False))

    def _close_sockets(self) -> None:
        """Close the listening socket (removing its Unix path) and the wake-up pair."""
        with self._lock:
            if self.socket.fileno() == -1:
                return
            self.socket.close()
            self._wakeup_r.close()
            self._wakeup_w.close()
            if self.unix_path is not None:
                try:
                    # Remove the path only if it's still ours, not a newer server's.
                    if os.stat(self.unix_path).st_ino == self._unix_inode:
                        os.unlink(self.unix_path)
                except OSError:
                    pass

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()


def socket_pair() -> tuple[socket.socket, socket.socket]:
    """A connected pair of sockets, to wake up a thread waiting in ``select``."""
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    return reader, writer


HandlerT = Callable[[ServerConnection], None]


def serve(
    handler: HandlerT,
    host: str | None = None,
    port: int | None = None,
    *,
    sock: socket.socket | None = None,
    ssl: ssl_module.SSLContext | None = None,
    origins: Sequence[OriginPattern] | None = None,
    extensions: Sequence[ServerExtensionFactory] | None = None,
    subprotocols: Sequence[Subprotocol] | None = None,
    select_subprotocol: Callable[[ServerConnection, Sequence[Subprotocol]], Subprotocol | None]
    | None = None,
    process_request: Callable[[ServerConnection, Request], Response | None] | None = None,
    process_response: Callable[[ServerConnection, Request, Response], Response | None]
    | None = None,
    server_header: str | None = SERVER_HEADER,
    compression: str | None = "deflate",
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
    logger: LoggerLike | str | None = None,
    create_connection: type[ServerConnection] | None = None,
    trace: TraceHook | None = None,
    **kwargs: Any,
) -> Server:
    """Create a WebSocket server listening on ``host`` and ``port``.

    ``handler(connection)`` runs in a thread of its own for every connection; the
    connection is closed (1000) when it returns, or with 1011 if it raises.

    Arguments (the ``websockets`` library's names and defaults):

    * ``sock``: an already listening socket; ``ssl``: a TLS context to serve ``wss://``.
    * ``origins``: acceptable Origin headers (``None`` in the list: no Origin header);
      ``subprotocols``, ``select_subprotocol(connection, offered)``: negotiation;
      ``compression="deflate"`` accepts permessage-deflate (RFC 7692), ``None`` doesn't;
      ``extensions``: further extension factories.
    * ``process_request(connection, request)`` may return a response to send instead of
      the handshake (e.g. a health check, or a 401: see :func:`basic_auth`);
      ``process_response(connection, request, response)`` may replace the response;
      ``server_header``: the Server header (``None`` to leave it out).
    * ``open_timeout``, ``close_timeout``, ``ping_interval``, ``ping_timeout``,
      ``max_size``, ``max_fragments``, ``max_pending_pongs``, ``max_queue``, ``logger``,
      ``create_connection``: as for
      :func:`~websocket_ref.sync.client.connect`.
    * ``max_line_length``, ``max_num_headers``, ``max_head_size``, ``max_early_data``:
      the request's limits (see :doc:`the limits </howto/limits>`).
    * ``trace``: called with every frame and handshake line of every connection,
      annotated (see :mod:`websocket_ref.trace`); it runs in the connections' threads.
    * Other keyword arguments go to :func:`socket.create_server`.
    """
    if ssl is None and "ssl_context" in kwargs:
        ssl = kwargs.pop("ssl_context")
        warnings.warn("ssl_context was renamed to ssl", DeprecationWarning, stacklevel=2)
    if subprotocols is not None:
        validate_subprotocols(subprotocols)  # errors show at once, not per connection
    factories = server_extensions(compression, extensions)
    if server_header is not None:
        check_header("Server", server_header)  # no CR/LF: checked before serving
    check_limits(
        max_line_length=max_line_length,
        max_num_headers=max_num_headers,
        max_head_size=max_head_size,
        max_early_data=max_early_data,
    )
    if create_connection is None:
        create_connection = ServerConnection
    connection_class = create_connection
    log = resolve_logger(logger, "websocket_ref.server")

    unix: bool = kwargs.pop("unix", False)
    path: str | None = kwargs.pop("path", None)
    if sock is None:
        if unix:
            if path is None:
                raise ValueError("missing path argument")  # websockets' words, as below
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.bind(path)
                sock.listen(kwargs.get("backlog", 128))
            except BaseException:
                sock.close()
                raise
        else:
            sock = socket.create_server((host or "", port or 0), **kwargs)
    elif path is not None:
        raise ValueError("path is incompatible with sock")
    elif host is not None:
        raise ValueError("host is incompatible with sock")
    elif port is not None:
        raise ValueError("port is incompatible with sock")
    elif kwargs:
        raise TypeError("sock can't be combined with socket arguments")

    def handle(conn_sock: socket.socket, address: Any) -> None:
        """One connection, start to end, in its own thread."""
        deadline = Deadline(open_timeout)
        connection: ServerConnection | None = None
        if not server.register_handshake(conn_sock):
            conn_sock.close()
            return
        try:
            if conn_sock.family in (socket.AF_INET, socket.AF_INET6):
                conn_sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
            conn_sock.settimeout(None)
            transport: Transport
            if ssl is not None:
                # RFC 6455 §10.6 [R6455-10.6-1]: TLS is supported (ssl=);
                # RFC 6455 §4.2.2 [R6455-4.2.2-2]: the TLS handshake comes first; if it
                # fails the connection is closed, otherwise all bytes go through TLS
                transport = TLSTransport.handshake(
                    conn_sock, ssl, server_side=True, server_hostname=None, deadline=deadline
                )
            else:
                transport = Transport(conn_sock)

            selected: list[ServerConnection] = []  # the connection, for select_subprotocol

            def select(
                protocol: ServerProtocol, offered: Sequence[Subprotocol]
            ) -> Subprotocol | None:
                assert select_subprotocol is not None
                return select_subprotocol(selected[0], offered)

            protocol = ServerProtocol(
                origins=origins,
                extensions=factories,
                subprotocols=subprotocols,
                select_subprotocol=select if select_subprotocol is not None else None,
                max_size=max_size,
                max_fragments=max_fragments,
                max_pending_pongs=max_pending_pongs,
                max_line_length=max_line_length,
                max_num_headers=max_num_headers,
                max_head_size=max_head_size,
                max_early_data=max_early_data,
                logger=log,
                trace=trace,
            )
            connection = connection_class(
                transport,
                protocol,
                server=server,
                ping_interval=ping_interval,
                ping_timeout=ping_timeout,
                close_timeout=close_timeout,
                max_queue=max_queue,
            )
            selected.append(connection)
            events = connection.handshake(
                process_request, process_response, server_header, deadline
            )
        except Exception as exc:
            if connection is not None and connection.protocol.handshake_exc is not None:
                log.info("opening handshake failed: %s", exc)
                _linger(conn_sock, close_timeout)
            elif isinstance(exc, (OSError, ssl_module.SSLError, ConnectionClosed)):
                log.info("connection failed before the handshake: %r", exc)
            else:
                log.error("opening handshake failed", exc_info=True)
            server.unregister(None, conn_sock)
            conn_sock.close()
            return

        if not server.register(connection):
            # Shutting down: RFC 6455 §7.4.1 [R6455-7.4.1-1]: 1001 going away.
            connection._start(events)
            connection.close(CloseCode.GOING_AWAY)
            return
        code = CloseCode.NORMAL_CLOSURE
        try:
            connection._start(events)
            handler(connection)
        except ConnectionClosed:
            pass  # the connection closed under the handler: nothing went wrong here
        except Exception:
            log.error("connection handler failed", exc_info=True)
            # RFC 6455 §7.4.1 [R6455-7.4.1-1]: 1011, the server hit an unexpected condition
            code = CloseCode.INTERNAL_ERROR
        finally:
            connection.close(code)
            server.unregister(connection, conn_sock)

    server = Server(sock, handle, log)
    server.close_timeout = close_timeout
    server.ssl = ssl
    if unix and path is not None:
        server.unix_path = path
        server._unix_inode = os.stat(path).st_ino
    return server


def unix_serve(handler: HandlerT, path: str | None = None, **kwargs: Any) -> Server:
    """Create a WebSocket server listening on the Unix socket ``path``.

    Other arguments are :func:`serve`'s.
    """
    return serve(handler, unix=True, path=path, **kwargs)


def _linger(sock: socket.socket, timeout: float | None) -> None:
    """Wait (bounded) for a refused client to close, reading and dropping what it sends.

    Closing a socket with unread input makes the kernel reset the connection, which can
    destroy the HTTP error response before the client reads it.
    """
    deadline = Deadline(1.0 if timeout is None else min(timeout, 1.0))
    received = 0
    try:
        while received < _LINGER_LIMIT:
            remaining = deadline.timeout(raise_if_elapsed=False)
            if not remaining:
                return
            sock.settimeout(remaining)
            data = sock.recv(4096)
            if not data:
                return
            received += len(data)
    except OSError:
        pass


def __getattr__(name: str) -> Any:
    if name == "WebSocketServer":  # websockets' deprecated name
        warnings.warn("WebSocketServer was renamed to Server", DeprecationWarning, stacklevel=2)
        return Server
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
