"""The asyncio connection shared by clients and servers: bytes in and out, and waiting.

A :class:`Connection` is an :class:`asyncio.BufferedProtocol`: the event loop calls it
back when bytes arrive (:meth:`~Connection.buffer_updated`, after reading them into the
buffer :meth:`~Connection.get_buffer` gave it), when the peer closes its side
(:meth:`~Connection.eof_received`), when the socket is gone
(:meth:`~Connection.connection_lost`), and when the write buffer crosses its limits
(:meth:`~Connection.pause_writing`, :meth:`~Connection.resume_writing`). Each callback
feeds the Sans-I/O core, writes what the core wants written, and hands the events it
produced to whoever waits for them. No protocol decision is made here.

Three kinds of flow control keep memory bounded:

* incoming: the :class:`~websocket_ref.asyncio.messages.Assembler` stops reading from
  the transport when ``max_queue`` frames wait for the application;
* outgoing: ``write_limit`` is the transport's high-water mark; once it's crossed,
  ``send()`` waits until the buffer drains (backpressure);
* closing: once the core expects the TCP connection to end, a ``close_timeout``
  timer makes sure it does, even if the peer never answers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import uuid
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
)
from types import TracebackType
from typing import Any, NoReturn, cast

from .._mypyc import mypyc_attr
from ..client import ClientProtocol
from ..exceptions import ConcurrencyError, ConnectionClosedOK
from ..frames import CloseCode, Frame, Opcode, is_data_opcode
from ..http11 import Request, Response
from ..masking import NO_SPEEDUPS_ENV
from ..options import data_bytes
from ..protocol import Event, LoggerLike, Protocol, State
from ..server import ServerProtocol
from .broadcast import broadcast  # noqa: F401 (websockets' connection modules have it)
from .messages import Assembler, Data, _Missing, utf8_decoder
from .options import queue_limits, write_limits

__all__ = ["Connection", "Data", "BytesLike", "DataLike"]

_END = object()  # end of the chunks of a fragmented message

#: Binary data ``send()`` accepts: ``bytes``, ``bytearray`` or ``memoryview``.
BytesLike = bytes | bytearray | memoryview

# Bytes read at once at most: as much as asyncio's own transports read for a Protocol.
_READ_SIZE = 262144


class _ReadBuffer(threading.local):
    """One buffer per thread for every connection's reads (see Connection.get_buffer()).

    asyncio reads into it and calls buffer_updated() at once, in the same thread, with
    no other callback in between: connections of one event loop take turns with it.
    """

    def __init__(self) -> None:
        self.view = memoryview(bytearray(_READ_SIZE))


_read_buffer = _ReadBuffer()

#: A socket's receive and send as functions of its file descriptor (the C accelerator's
#: ``socket_recv(fd, buffer) -> bytes`` and ``socket_send(fd, data) -> int``).
_SocketCalls = tuple[Callable[[int, memoryview], bytes], Callable[[int, bytes | memoryview], int]]


def _load_socket_calls() -> _SocketCalls | None:
    """The C accelerator's socket calls, if it was built with them and isn't disabled
    (``WEBSOCKET_REF_NO_SPEEDUPS=1``, as for masking): else the socket's methods are
    called, the reference."""
    if os.environ.get(NO_SPEEDUPS_ENV, "") not in ("", "0"):
        return None
    try:
        from .. import _speedups
    except ImportError:  # pragma: no cover - depends on whether a compiler was available
        return None
    recv = getattr(_speedups, "socket_recv", None)
    send = getattr(_speedups, "socket_send", None)
    if recv is None or send is None:  # pragma: no cover - not built on Windows
        return None
    return recv, send


#: What connections made from now on read and write with directly, if anything (tests
#: set it to None to run the reference).
_socket_calls = _load_socket_calls()

# Buffers to send are joined in one write() up to this many bytes; past it, a large
# payload gives its first _JOIN_CUT bytes (less what they're joined with) to that write.
_JOIN_LIMIT = 131072
_JOIN_CUT = 65536
#: What ``send()`` accepts for one message or one fragment.
DataLike = str | BytesLike


# Hot private methods are called as ``Connection._name(self, ...)``, and the core's as
# ``Protocol.name(protocol, ...)``: a direct native call in the mypyc build, where
# ClientConnection/ServerConnection and ClientProtocol/ServerProtocol are interpreted
# subclasses (see the same note on websocket_ref.protocol.Protocol).
@mypyc_attr(allow_interpreted_subclasses=True)
class Connection(asyncio.BufferedProtocol):
    """A WebSocket connection on an asyncio transport.

    Not instantiated directly: :func:`~websocket_ref.asyncio.client.connect` and
    :func:`~websocket_ref.asyncio.server.serve` create
    :class:`~websocket_ref.asyncio.client.ClientConnection` and
    :class:`~websocket_ref.asyncio.server.ServerConnection` objects.

    Options: ``ping_interval`` and ``ping_timeout`` (seconds; keepalive pings, and
    failing the connection with 1011 when one goes unanswered), ``close_timeout``
    (seconds to wait for the peer during closing), ``max_queue`` (incoming frames —
    whole messages unless fragmented — buffered before reading from the socket
    stops; an int or a ``(high, low)`` pair) and ``write_limit`` (bytes buffered for
    writing before ``send()`` waits; an int or a ``(high, low)`` pair).
    """

    def __init__(
        self,
        protocol: ClientProtocol | ServerProtocol,
        *,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        max_queue: int | tuple[int | None, int | None] | None = 16,
        write_limit: int | tuple[int, int | None] = 2**15,
    ) -> None:
        if not isinstance(protocol.logger, logging.LoggerAdapter):
            # Log records carry the connection as ``record.websocket``, as in websockets
            # (connect() and serve() give the protocol such an adapter already).
            protocol.logger = logging.LoggerAdapter(protocol.logger, {"websocket": self})
        self.protocol = protocol
        # Whether the core's events_received() may be called natively (see
        # _data_received()): only on the library's own classes, which don't override it.
        # A subclass of them may (or a test may patch it there): it's called as a method.
        self._native_events = type(protocol) in (ClientProtocol, ServerProtocol, Protocol)
        # Only the event loop's thread drives the core: it needn't take its lock.
        Protocol._single_threaded(protocol)
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self.loop = asyncio.get_running_loop()
        high, low = queue_limits(max_queue)
        self.recv_messages = Assembler(high, low, self._pause_reading, self._resume_reading)
        self.write_limit = write_limits(write_limit)
        # What set_write_buffer_limits() gets: the low-water mark as given — None lets
        # the transport pick its default (asyncio's: a quarter of high, as write_limits()).
        self._write_buffer_limits: tuple[int, int | None] = (
            (write_limit, None) if isinstance(write_limit, int) else write_limit
        )

        #: The transport, once the connection is made.
        self.transport: asyncio.Transport
        # The transport whose is_closing() tells at once that a write failed (see
        # _transport_under()): the TCP transport under TLS, else the transport itself.
        self._under: asyncio.BaseTransport
        # The socket under a plain TCP transport, written to directly (see _write()).
        self._sock: socket.socket | None = None
        # Its file descriptor, and the C accelerator's calls on it that stand for its
        # recv_into() + copy and its send() (see _read_ready() and _write()); None: the
        # socket's methods are called.
        self._fd = -1
        self._socket_recv: Callable[[int, memoryview], bytes] | None = None
        self._socket_send: Callable[[int, bytes | memoryview], int] | None = None
        # Whether buffer_updated() may call data_received() natively: unless a subclass
        # overrides either of them (then they're called as methods, as asyncio would).
        self._native_receive = False
        # This thread's read buffer, for _read_ready(): the event loop's thread, where
        # every callback of the connection runs.
        self._read_view = _read_buffer.view
        # Whether bytes went through the transport's write() since its buffer was last
        # seen empty: only then may it hold some (see _write()).
        self._via_transport = False
        #: Latency of the last ping, in seconds: time until its pong arrived.
        self.latency: float = 0.0
        #: Pings waiting for a pong: data → (future, time sent), in the order sent.
        self.pong_waiters: dict[bytes, tuple[asyncio.Future[float], float]] = {}

        self.connection_lost_waiter: asyncio.Future[None] = self.loop.create_future()
        self._lost_exc: BaseException | None = None
        # The last exception a write raised (see _write_failed()).
        self._write_exc: Exception | None = None
        # Resolved when the handshake makes progress: a request or response arrives,
        # the core refuses the handshake, or the connection is lost.
        self._handshake_waiter: asyncio.Future[None] | None = None
        if protocol.state is State.CONNECTING:
            self._handshake_waiter = self.loop.create_future()
        # Set when EOF caused the handshake to fail, to tell transient failures apart.
        self.handshake_eof = False
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        # Reading from the transport is paused when the assembler's queue is full, or
        # when the write buffer is above write_limit and nobody waits in send().
        self._queue_full = False
        self._writes_backed_up = False
        self._reading_paused = False
        self._closing = False  # the core expects the TCP connection to end
        self._close_timer: asyncio.TimerHandle | None = None
        self._keepalive_handle: asyncio.TimerHandle | None = None
        self._keepalive_timeout_handle: asyncio.TimerHandle | None = None
        # Set while a fragmented message is being sent; other senders wait for it.
        self._fragmented_send: asyncio.Future[None] | None = None
        # A bad incoming frame fails the connection only once the application had a
        # chance to answer the messages before it (see Protocol.fail_pending()).
        protocol.defer_failures = True
        self._failure_held = False
        self._fail_timer: asyncio.TimerHandle | None = None

    # Public attributes

    @property
    def id(self) -> uuid.UUID:
        """Unique identifier of the connection, for logs."""
        return self.protocol.id

    @property
    def logger(self) -> LoggerLike:
        """The connection's logger, an adapter that adds ``websocket`` to records."""
        return self.protocol.logger

    @property
    def local_address(self) -> Any:
        """Local address of the socket, as ``socket.getsockname()`` returns it."""
        return self.transport.get_extra_info("sockname")

    @property
    def remote_address(self) -> Any:
        """Remote address of the socket, as ``socket.getpeername()`` returns it."""
        return self.transport.get_extra_info("peername")

    @property
    def buffered_amount(self) -> int:
        """Bytes sent by the application but not written to the network yet.

        Like the browser API's ``bufferedAmount``: what the transport's write buffer
        holds. ``broadcast()`` doesn't send to connections where it's above its
        ``buffer_limit``.
        """
        return self.transport.get_write_buffer_size()

    @property
    def state(self) -> State:
        """CONNECTING, OPEN, CLOSING or CLOSED (RFC 6455 §4-§7)."""
        return self.protocol.state

    @property
    def request(self) -> Request | None:
        """The opening handshake's request."""
        return getattr(self.protocol, "request", None)  # None on a bare Protocol

    @property
    def response(self) -> Response | None:
        """The opening handshake's response."""
        return getattr(self.protocol, "response", None)  # None on a bare Protocol

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol negotiated in the handshake, if any."""
        return getattr(self.protocol, "subprotocol", None)  # None on a bare Protocol

    @property
    def close_code(self) -> int | None:
        """The peer's close code once CLOSED (1005: none given, 1006: no close frame)."""
        return self.protocol.close_code

    @property
    def close_reason(self) -> str | None:
        """The peer's close reason once CLOSED."""
        return self.protocol.close_reason

    # Context manager and iteration

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            await self.close()
        else:
            await self.close(CloseCode.INTERNAL_ERROR)

    def __aiter__(self) -> Connection:
        return self

    async def __anext__(self) -> Data:
        """Next message; iteration ends quietly when the connection closes normally."""
        messages = self.recv_messages
        message = messages.get_nowait(None)
        if not isinstance(message, _Missing):
            return message
        try:
            return await messages.get(None)
        except EOFError:
            pass
        try:
            await self._raise_closed()
        except ConnectionClosedOK:
            raise StopAsyncIteration from None

    # Receiving

    async def recv(self, decode: bool | None = None) -> Data:
        """Receive the next message: ``str`` for text, ``bytes`` for binary.

        ``decode=False`` returns a text message's UTF-8 bytes without decoding them;
        ``decode=True`` decodes a binary message as UTF-8. Messages that arrived
        before the connection closed are returned first; then
        :exc:`~websocket_ref.exceptions.ConnectionClosed` is raised. Cancelling
        ``recv()`` is safe: no data is lost. Two concurrent calls raise
        :exc:`~websocket_ref.exceptions.ConcurrencyError`.
        """
        messages = self.recv_messages
        message = messages.get_nowait(decode)
        if not isinstance(message, _Missing):
            return message
        try:
            return await messages.get(decode)
        except EOFError:
            pass
        await self._raise_closed()

    def recv_streaming(self, decode: bool | None = None) -> AsyncIterator[Data]:
        """Receive the next message fragment by fragment, as fragments arrive.

        Text fragments are decoded incrementally (a character may span fragments).
        Abandoning the iterator before the end of the message discards the rest
        of that message.
        """
        return _MessageStream(self, decode)

    # Sending

    async def send(
        self,
        message: DataLike | Iterable[DataLike] | AsyncIterable[DataLike],
        text: bool | None = None,
        *,
        compress: bool = True,
    ) -> None:
        """Send a message: a text frame for ``str``, a binary frame for bytes.

        An iterable (sync or async) of ``str`` or of bytes is sent as one fragmented
        message, one frame per item. ``text`` overrides the frame type: ``text=True``
        sends bytes (which must be UTF-8) as text, ``text=False`` sends ``str`` as
        binary. ``compress=False`` sends this message uncompressed on a connection
        that negotiated permessage-deflate: useful for data that is compressed
        already (images, archives). Returns once the data is handed to the transport
        and its buffer is below ``write_limit``: that's where backpressure applies.
        """
        while self._fragmented_send is not None:
            # RFC 6455 §5.4 [R6455-5.4-4]: frames of different messages MUST NOT be interleaved
            await asyncio.shield(self._fragmented_send)
        protocol: Protocol = self.protocol  # typed so: native calls when compiled
        # protocol._state is what the state property returns; read as an attribute, it
        # needs no call through the interpreted subclass in the mypyc build.
        if isinstance(message, str):
            if protocol._state is not State.OPEN:
                await self._raise_closed()
            if text is False:
                Protocol.send_binary(protocol, message.encode(), compress=compress)
            else:
                Protocol.send_text(protocol, message, compress=compress)  # encoded there, unchecked
        elif isinstance(message, BytesLike):
            if protocol._state is not State.OPEN:
                await self._raise_closed()
            data = message if type(message) is bytes else bytes(message)
            if text:
                Protocol.send_text(protocol, data, compress=compress)
            else:
                Protocol.send_binary(protocol, data, compress=compress)
        elif isinstance(message, Mapping):
            raise TypeError("a mapping isn't a message")
        elif isinstance(message, AsyncIterable):
            await self._send_fragments(message.__aiter__(), None, text, compress)
            return
        elif isinstance(message, Iterable):
            await self._send_fragments(None, iter(message), text, compress)
            return
        else:
            raise TypeError(f"message has unsupported type {type(message).__name__}")
        open_ = Connection._send_data(self)
        if self._write_paused or (not open_ and Connection._under_closing(self)):
            await self._drain()

    async def _send_fragments(
        self,
        async_chunks: AsyncIterator[DataLike] | None,
        chunks: Iterable[DataLike] | None,
        text: bool | None,
        compress: bool = True,
    ) -> None:
        """Send a fragmented message, one frame per chunk, then an empty final frame.

        Exactly one of ``async_chunks`` and ``chunks`` is given. The final frame is
        empty because the end of an iterator is only known after its last item.
        """
        protocol = self.protocol
        iterator = iter(chunks) if chunks is not None else None

        async def next_chunk() -> object:
            if iterator is not None:
                return next(iterator, _END)
            assert async_chunks is not None
            try:
                return await async_chunks.__anext__()
            except StopAsyncIteration:
                return _END

        chunk = await next_chunk()
        if chunk is _END:
            return  # nothing to send: an empty iterable isn't a message
        is_str = isinstance(chunk, str)
        if not is_str and not isinstance(chunk, BytesLike):
            raise TypeError(f"message chunk has unsupported type {type(chunk).__name__}")
        if protocol.state is not State.OPEN:
            await self._raise_closed()
        done = self._fragmented_send = self.loop.create_future()
        try:
            as_text = is_str if text is None else text
            first = True
            while chunk is not _END:
                if isinstance(chunk, str) is not is_str or not isinstance(chunk, DataLike):
                    raise TypeError("all fragments of a message must be str, or all bytes")
                data = chunk.encode() if isinstance(chunk, str) else bytes(chunk)
                if protocol.state is not State.OPEN:
                    await self._raise_closed()
                if first:
                    if as_text:
                        protocol.send_text(data, fin=False, compress=compress)
                    else:
                        protocol.send_binary(data, fin=False, compress=compress)
                    first = False
                else:
                    protocol.send_continuation(data, fin=False)
                self._send_data()
                if self._write_paused or self._under.is_closing():
                    await self._drain()
                chunk = await next_chunk()
            if protocol.state is not State.OPEN:
                await self._raise_closed()
            protocol.send_continuation(b"", fin=True)
            self._send_data()
            if self._write_paused or self._under.is_closing():
                await self._drain()
        except BaseException as exc:
            if protocol.state is State.OPEN:
                # The message can't be completed, and no other message may start before it
                # ends (RFC 6455 §5.4 [R6455-5.4-4]): fail the connection rather than leave
                # it stuck. RFC 6455 §6.1 [R6455-6.1-3]: the sending steps are abandoned.
                if isinstance(exc, asyncio.CancelledError):
                    reason = "fragmented message cancelled"
                else:
                    reason = "error in fragmented message"
                protocol.fail(CloseCode.INTERNAL_ERROR, reason)
                self._send_data()
            raise
        finally:
            self._fragmented_send = None
            done.set_result(None)

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Perform the closing handshake and wait until the TCP connection is closed.

        Waits at most ``close_timeout`` for the peer, then closes the connection
        anyway. Does nothing more if the connection is already closing or closed.
        During a fragmented ``send()``, the message can't be finished: the connection
        is failed with 1011 instead, as in websockets (see
        :meth:`Protocol.close() <websocket_ref.protocol.Protocol.close>`).
        """
        protocol = self.protocol
        if protocol.state is State.OPEN:
            protocol.close(code, reason)  # fails with 1011 during a fragmented send()
            self._send_data()
        elif protocol.state is State.CONNECTING:
            self.transport.abort()
        await asyncio.shield(self.connection_lost_waiter)

    async def wait_closed(self) -> None:
        """Wait until the TCP connection is closed."""
        await asyncio.shield(self.connection_lost_waiter)

    async def ping(self, data: DataLike | None = None) -> Awaitable[float]:
        """Send a ping; return an awaitable that resolves with the latency on its pong.

        Without ``data``, four random bytes make the ping unique. A ``str`` is sent
        UTF-8 encoded. If the connection closes first, awaiting the result raises
        :exc:`~websocket_ref.exceptions.ConnectionClosed`.
        """
        if self.protocol.state is not State.OPEN:
            await self._raise_closed()
        waiter = self._send_ping(data)
        if self._write_paused or self._under.is_closing():
            await self._drain()
        return waiter

    async def pong(self, data: DataLike = b"") -> None:
        """Send an unsolicited pong, e.g. as a unidirectional heartbeat (RFC 6455 §5.5.3)."""
        if self.protocol.state is not State.OPEN:
            await self._raise_closed()
        self.protocol.send_pong(data_bytes(data))
        self._send_data()
        if self._write_paused or self._under.is_closing():
            await self._drain()

    def _send_ping(self, data: DataLike | None) -> asyncio.Future[float]:
        waiters = self.pong_waiters
        if data is None:
            payload = os.urandom(4)
            while payload in waiters:
                payload = os.urandom(4)
        else:
            payload = data_bytes(data)
            if payload in waiters:
                raise ConcurrencyError("already waiting for a pong with the same data")
        self.protocol.send_ping(payload)
        waiter: asyncio.Future[float] = self.loop.create_future()
        waiters[payload] = (waiter, self.loop.time())
        self._send_data()
        return waiter

    def _acknowledge_pings(self, data: bytes) -> None:
        waiters = self.pong_waiters
        if data not in waiters:
            # RFC 6455 §5.5.3 [R6455-5.5.3-2]: an unsolicited pong needs no response
            return
        now = self.loop.time()
        # RFC 6455 §5.5.3 [R6455-5.5.3-1]: a pong may answer only the most recent of several pings;
        # so it acknowledges every ping sent before the one it echoes.
        for key in list(waiters):
            waiter, sent_at = waiters.pop(key)
            latency = now - sent_at
            if not waiter.done():
                waiter.set_result(latency)
            if key == data:
                self.latency = latency
                break

    # Waiting

    async def _raise_closed(self) -> NoReturn:
        """Wait until the connection is closed, then raise the exception telling how.

        Waiting lets the exception report both close frames; ``close_timeout`` bounds
        the wait since the core expects the connection to end.
        """
        await asyncio.shield(self.connection_lost_waiter)
        exc = self.protocol.close_exc
        if exc.__cause__ is None and self._lost_exc is not None:
            exc.__cause__ = self._lost_exc
        raise exc

    async def _drain(self) -> None:
        """Wait until the transport's write buffer goes below its low-water mark.

        Also called when the transport is closing under an OPEN connection: a write
        failed (the peer reset the connection) and ``connection_lost()`` is scheduled.
        Waiting lets it run, so that the caller gets
        :exc:`~websocket_ref.exceptions.ConnectionClosedError` at once, rather than
        returning as if the data had been sent while the transport drops it.
        """
        if self._writes_backed_up:
            # send() waits: read again (see data_received()).
            self._writes_backed_up = False
            self._update_reading()
        waiter: asyncio.Future[None] = self.loop.create_future()
        self._drain_waiters.append(waiter)
        try:
            await waiter
        finally:
            if waiter in self._drain_waiters:
                self._drain_waiters.remove(waiter)
        if self.connection_lost_waiter.done():
            # The buffered data may never have reached the peer.
            await self._raise_closed()

    def _wake_drain_waiters(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # Writing

    def _send_data(self, *, hold: bool = False) -> bool:
        """Write what the core has to send; arm the close timer once closing starts.

        With ``hold``, nothing is written: the bytes stay in the core until the next call.
        Once the transport is closing (a write failed, or it was aborted), what's left is
        dropped: nobody can receive it, and each write would make asyncio log
        "socket.send() raised exception." again.

        Returns True when the transport is known not to be closing: it was asked before
        the write, and the write went straight to the socket, which changes nothing in the
        transport. Then ``send()`` needn't ask ``is_closing()`` again (a Python call).
        """
        # RFC 6455 §6.1 [R6455-6.1-9]: the frames formed are transmitted, in order
        protocol: Protocol = self.protocol  # typed so: native calls when compiled
        # protocol._writes: what the has_data_to_send property looks at, read as an
        # attribute (no call through the interpreted subclass in the mypyc build).
        writes = Protocol.data_to_send(protocol) if protocol._writes and not hold else None
        under = self._under
        known_open = False
        if writes and not (
            Connection._under_closing(self)
            or (under is not self.transport and self.transport.is_closing())
        ):
            if len(writes) == 1 and writes[0]:
                Connection._write(self, writes[0])
                known_open = not self._via_transport  # all of it went to the socket
            else:
                Connection._write_all(self, writes)
        if not self._closing and Protocol.close_expected(protocol):
            self._start_closing()
            known_open = False
        return known_open

    def _under_closing(self) -> bool:
        """``self._under.is_closing()``, the reference, without the Python call where it
        can be done without: on asyncio's own TCP transport, the one ``_write()`` sends
        through directly (``self._sock``), that method returns its ``_closing`` attribute,
        read here (``_direct_socket()`` checked it's there)."""
        if self._sock is not None:
            return cast(Any, self._under)._closing is True
        return self._under.is_closing()

    def _write_all(self, writes: list[bytes]) -> None:
        transport = self.transport
        pending: list[bytes] = []
        for data in writes:
            if data:
                pending.append(data)
                continue
            # b"": the core closes its side of the TCP connection.
            self._write_buffers(pending)
            pending = []
            # RFC 6455 §7.1.1 [R6455-7.1.1-1]: a method that cleanly closes the TCP
            # connection, and the TLS session: a FIN after the data, or close_notify
            if transport.can_write_eof():
                transport.write_eof()
            else:
                # TLS can't half-close; closing the transport sends close_notify.
                transport.close()
        self._write_buffers(pending)

    def _write_buffers(self, buffers: list[bytes]) -> None:
        if not buffers:
            return
        write = self._write
        if len(buffers) == 1:
            write(buffers[0])
            return
        # Never writelines(): on Python 3.12-3.13.0 the selector transport's writelines()
        # never calls pause_writing(), which breaks backpressure. But one write() per
        # buffer sends a frame header in a TCP segment of its own (the transport sets
        # TCP_NODELAY), which costs the peer a wakeup for a few bytes. So small buffers
        # are joined, up to _JOIN_LIMIT bytes, and a larger payload lends its first bytes
        # to fill that write, the rest following without being copied here.
        pending: list[bytes | memoryview] = []
        pending_size = 0
        for data in buffers:
            size = len(data)
            if pending_size + size <= _JOIN_LIMIT:
                pending.append(data)
                pending_size += size
                continue
            remainder: bytes | memoryview = data
            if pending:
                cut = max(_JOIN_CUT - pending_size, 0)
                view = memoryview(data)
                pending.append(view[:cut])
                write(b"".join(pending))
                remainder = view[cut:]
                pending = []
                pending_size = 0
            write(remainder)
        if pending:
            write(pending[0] if len(pending) == 1 else b"".join(pending))

    def _write(self, data: bytes | memoryview) -> None:
        """``self.transport.write(data)``, the reference, with a shortcut.

        When the transport has nothing buffered, its ``write()`` tries ``socket.send()``
        first and buffers what's left; this does the same without the transport's Python
        code in between, on a plain TCP transport (``_direct_socket()``). What the socket
        didn't take, and any error, goes to the transport's ``write()``, which buffers the
        rest in order, or meets the error again and handles it as always (connection_lost).
        Only bytes given to ``write()`` can be in its buffer: its size is asked (a Python
        call) only after some were, until it's empty. Where the C accelerator is built, its
        ``socket_send()`` stands for the socket's ``send()``.
        """
        sock = self._sock
        if sock is not None and (
            not self._via_transport or not self.transport.get_write_buffer_size()
        ):
            self._via_transport = False
            send = self._socket_send
            try:
                # The C call is socket.send() without the method's argument parsing and
                # GIL round trip; the socket is open: the transport isn't closing.
                sent = send(self._fd, data) if send is not None else sock.send(data)
            except OSError:  # EAGAIN: nothing sent; else the transport sees it again
                sent = 0
            if sent == len(data):
                return
            data = data[sent:]
        self._via_transport = True
        try:
            self.transport.write(data)
        except Exception as exc:
            # The transport refused the data: e.g. RuntimeError after write_eof() (a
            # wrapper's or another event loop's transport may raise anything).
            self._write_failed(exc)

    def _write_failed(self, exc: Exception) -> None:
        """A write raised: the data is lost, so the connection is.

        Abort the transport; whoever waits (``send()``, ``recv()``) then gets
        :exc:`~websocket_ref.exceptions.ConnectionClosedError` caused by ``exc``, as in
        websockets; ``broadcast()`` reports it as "failed to write message".
        """
        if self.protocol.debug:
            self.logger.debug("! error while sending data", exc_info=exc)
        self._write_exc = exc
        if self._lost_exc is None:
            self._lost_exc = exc
        self.transport.abort()

    def _start_closing(self) -> None:
        self._closing = True
        # The peer's close frame may be queued behind frames nobody reads: read on.
        self.recv_messages.stop_pausing()
        if self._writes_backed_up:
            self._writes_backed_up = False
            self._update_reading()
        if self._keepalive_handle is not None:
            self._keepalive_handle.cancel()
            self._keepalive_handle = None
        # RFC 6455 §5.5.1 [R6455-5.5.1-11]: the client waits for the server to close TCP
        # but may close it when that doesn't come in a reasonable time: close_timeout;
        # RFC 6455 §7.1.1 [R6455-7.1.1-4]: the client may initiate the TCP close then;
        # RFC 6455 §7.1.1 [R6455-7.1.1-2]: and a server whose client doesn't close
        # aborts the connection ("any means available when necessary")
        if self.close_timeout is not None:
            self._close_timer = self.loop.call_later(self.close_timeout, self._close_timed_out)

    def _close_timed_out(self) -> None:
        self._close_timer = None
        if self.protocol.debug:
            self.logger.debug("! timed out waiting for the TCP connection to close")
        if self._lost_exc is None:  # the cause of ConnectionClosed, as in websockets
            self._lost_exc = TimeoutError("timed out waiting for the connection to close")
        self.transport.abort()

    # Reading

    def _pause_reading(self) -> None:
        """The assembler's queue is full (``max_queue``)."""
        self._queue_full = True
        self._update_reading()

    def _resume_reading(self) -> None:
        """The application took enough frames from the assembler's queue."""
        self._queue_full = False
        self._update_reading()

    def _update_reading(self) -> None:
        """Read from the transport unless the queue is full or the peer doesn't read."""
        pause = self._queue_full or self._writes_backed_up
        if pause is self._reading_paused:
            return
        self._reading_paused = pause
        if pause:
            self.transport.pause_reading()
        elif not self.transport.is_closing():
            self.transport.resume_reading()

    def _dispatch(self, events: list[Event]) -> None:
        """Hand the core's events to whoever waits for them."""
        for event in events:
            if type(event) is Frame:
                opcode = event.opcode
                if is_data_opcode(opcode):  # TEXT, BINARY or CONT: message data
                    self.recv_messages.put(event)
                elif opcode is Opcode.PONG:
                    self._acknowledge_pings(event.data)
                elif opcode is Opcode.CLOSE:
                    # RFC 6455 §5.5.1 [R6455-5.5.1-5]: no data frames follow a close frame
                    self.recv_messages.close()
                # PING: the core queued the pong already.
            else:
                self._handshake_progress()

    def _hold_failure(self) -> None:
        """Fail the connection when the application asks for a message that can't come.

        The core found a bad frame and delivered what came before it. If the application
        is already waiting for a message, fail now; otherwise wait until it has taken
        the queued messages (and, presumably, answered them) and asks for the next one,
        but no longer than ``close_timeout``: an application that doesn't read mustn't
        keep a broken connection open.
        """
        self._failure_held = True
        messages = self.recv_messages
        if messages.waiter is not None and not messages.frames:
            self._fail_pending()
            return
        messages.on_starved = self._fail_pending
        timeout = 10.0 if self.close_timeout is None else self.close_timeout
        self._fail_timer = self.loop.call_later(timeout, self._fail_pending)

    def _fail_pending(self) -> None:
        self.recv_messages.on_starved = None
        if self._fail_timer is not None:
            self._fail_timer.cancel()
            self._fail_timer = None
        if self.protocol.pending_failure is not None:
            self.protocol.fail_pending()
            self._send_data()

    def _handshake_progress(self) -> None:
        waiter = self._handshake_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # asyncio.Protocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Any object with the transport's methods will do (a wrapper that observes or
        # delays writes, another event loop's transport): no isinstance() check.
        self.transport = cast(asyncio.Transport, transport)
        self._under = _transport_under(self.transport)
        self._sock = _direct_socket(self.transport)
        calls = _socket_calls
        if self._sock is not None and calls is not None:
            self._fd = self._sock.fileno()
            self._socket_send = calls[1]
        cls = type(self)
        self._native_receive = (
            cls.buffer_updated is Connection.buffer_updated
            and cls.data_received is Connection.data_received
        )
        if self._native_receive:
            _read_directly(self, self.transport)
        high, low = self._write_buffer_limits
        self.transport.set_write_buffer_limits(high, low)

    def get_buffer(self, sizehint: int) -> memoryview:
        """Where the transport reads the next bytes into.

        A :class:`asyncio.Protocol` would get each read as a new ``bytes`` object, for
        which the transport allocates its whole read size (256 KiB: memory mapped, then
        shrunk and unmapped, three system calls per read) however little arrived. Reading
        into one buffer per thread and copying what arrived costs a copy of that much.
        """
        return _read_buffer.view

    def buffer_updated(self, nbytes: int) -> None:
        """``nbytes`` were read into the buffer :meth:`get_buffer` gave."""
        data = bytes(_read_buffer.view[:nbytes])
        if self._native_receive:
            Connection.data_received(self, data)  # a direct native call when compiled
        else:
            self.data_received(data)

    def _read_ready(self) -> None:
        """The transport's ``_read_ready__get_buffer()`` (the reference), with this
        connection's :meth:`get_buffer` and :meth:`buffer_updated` written in.

        On asyncio's own TCP transport, the event loop calls it when the socket is
        readable, instead of the transport's methods (see ``_read_directly()``), which
        do the same in Python code and call this connection twice per read. Every case
        but bytes read goes to the transport's own methods, as there: EOF to
        ``_read_ready__on_eof()``, an error to ``_fatal_error()`` with the same message.
        Where the C accelerator is built, its ``socket_recv()`` stands for the socket's
        ``recv_into()`` and the copy of what arrived (``tests/asyncio/test_socket_calls.py``).
        """
        transport: Any = self.transport
        if transport._conn_lost:
            return
        view = self._read_view
        recv = self._socket_recv
        try:
            if recv is not None:
                # recv_into() + the copy below in one C call, without the method's keyword
                # argument parsing and GIL round trip (the transport isn't closed: open).
                data = recv(self._fd, view)
            else:
                nbytes = transport._sock.recv_into(view)
                data = view[:nbytes].tobytes() if nbytes else b""
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            transport._fatal_error(exc, "Fatal read error on socket transport")
            return
        if not data:
            transport._read_ready__on_eof()
            return
        try:
            Connection.data_received(self, data)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            transport._fatal_error(exc, "Fatal error: protocol.buffer_updated() call failed.")

    def data_received(self, data: bytes) -> None:
        """Feed bytes read from the transport to the core and act on what it produced."""
        try:
            Connection._data_received(self, data)
        except Exception as exc:
            self._unexpected_error(exc)

    def _unexpected_error(self, exc: Exception) -> None:
        """A bug (here, in the core, or in code that hooks into them) raised while
        handling the peer's data: log it, and end the connection rather than let
        ``recv()`` wait forever; its ConnectionClosedError has ``exc`` as its cause."""
        self.protocol.logger.error("unexpected internal error", exc_info=True)
        if self._lost_exc is None:
            self._lost_exc = exc
        self.transport.abort()

    def _data_received(self, data: bytes) -> None:
        protocol: Protocol = self.protocol  # typed so: native calls when compiled
        Protocol.receive_data(protocol, data)
        if self._native_events:
            events = Protocol.events_received(protocol)
        else:
            events = protocol.events_received()
        if events:
            Connection._dispatch(self, events)
        if protocol.pending_failure is not None and not self._failure_held:
            self._hold_failure()
        if self._write_paused:
            # The peer doesn't read what's written already. What this read produced —
            # replies the core makes on its own: a pong, a close frame — stays in the
            # core, where pongs coalesce (Protocol.pong_pending), until the buffer drains.
            self._send_data(hold=True)
            if not self._drain_waiters and not self._closing:
                # Nobody waits in send(): stop reading too, so that a peer that sends and
                # never reads gets TCP backpressure rather than more of our CPU. (While
                # send() waits, reading goes on: two peers that both wait in send() for
                # the other to read would otherwise wait forever.)
                self._writes_backed_up = True
                self._update_reading()
        else:
            Connection._send_data(self)
        if self._handshake_waiter is not None and protocol.handshake_exc is not None:
            # The core refused the handshake without an event (e.g. a malformed message).
            self._handshake_progress()

    def eof_received(self) -> None:
        try:
            self._eof_received()
        except Exception as exc:
            self._unexpected_error(exc)
        # Returning None lets the transport close itself once its buffer is written.

    def _eof_received(self) -> None:
        protocol = self.protocol
        failed = protocol.handshake_exc is not None
        protocol.receive_eof()
        if not failed and protocol.handshake_exc is not None:
            self.handshake_eof = True
        events = protocol.events_received()
        if events:
            self._dispatch(events)
        self._send_data()

    def connection_lost(self, exc: Exception | None) -> None:
        protocol = self.protocol
        try:
            failed = protocol.handshake_exc is not None
            protocol.receive_eof()  # no-op if EOF was received already
            if not failed and protocol.handshake_exc is not None:
                self.handshake_eof = True
            events = protocol.events_received()
            if events:
                self._dispatch(events)
            protocol.data_to_send()  # the transport is gone: drop what's left
        except Exception as internal:
            # Whatever broke, the connection is gone: what follows must still run.
            protocol.logger.error("unexpected internal error", exc_info=True)
            exc = exc or internal
        if exc is not None or self._lost_exc is None:
            self._lost_exc = exc
        self.recv_messages.on_starved = None
        if self._fail_timer is not None:
            self._fail_timer.cancel()
            self._fail_timer = None
        for handle in (self._close_timer, self._keepalive_handle, self._keepalive_timeout_handle):
            if handle is not None:
                handle.cancel()
        self._close_timer = self._keepalive_handle = self._keepalive_timeout_handle = None
        self.recv_messages.close()
        self._abort_pings()
        self._wake_drain_waiters()
        self._handshake_progress()
        if not self.connection_lost_waiter.done():
            self.connection_lost_waiter.set_result(None)
        if protocol.debug:
            protocol.logger.debug("= connection lost")

    def _abort_pings(self) -> None:
        if not self.pong_waiters:
            return
        close_exc = self.protocol.close_exc
        for waiter, _ in self.pong_waiters.values():
            if not waiter.done():
                waiter.set_exception(close_exc)
                # A done future ignores cancel(), but it no longer logs an exception
                # nobody retrieved: pings whose result is ignored stay quiet.
                waiter.cancel()
        self.pong_waiters.clear()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._send_data()  # what data_received() left in the core, if anything
        self._wake_drain_waiters()
        if self._writes_backed_up:
            self._writes_backed_up = False
            self._update_reading()

    # Keepalive

    def start_keepalive(self) -> None:
        """Ping every ``ping_interval`` seconds; fail after ``ping_timeout`` without pong.

        The handshake starts it; call it again after changing ``ping_interval`` (it
        replaces the schedule). Nothing happens when ``ping_interval`` is None.
        """
        if self._keepalive_handle is not None:
            self._keepalive_handle.cancel()
            self._keepalive_handle = None
        if self.ping_interval is not None:
            self._keepalive_handle = self.loop.call_later(self.ping_interval, self._keepalive)

    def _keepalive(self) -> None:
        self._keepalive_handle = None
        if self.protocol.state is not State.OPEN:
            return
        waiter = self._send_ping(None)
        assert self.ping_interval is not None
        self._keepalive_handle = self.loop.call_later(self.ping_interval, self._keepalive)
        if self.ping_timeout is not None and self._keepalive_timeout_handle is None:
            self._keepalive_timeout_handle = self.loop.call_later(
                self.ping_timeout, self._keepalive_timed_out
            )
            waiter.add_done_callback(self._keepalive_answered)

    def _keepalive_answered(self, waiter: asyncio.Future[float]) -> None:
        if self._keepalive_timeout_handle is not None:
            self._keepalive_timeout_handle.cancel()
            self._keepalive_timeout_handle = None

    def _keepalive_timed_out(self) -> None:
        self._keepalive_timeout_handle = None
        if self.protocol.state is not State.OPEN:
            return
        self.logger.info("keepalive ping timeout; failing the connection")
        self.protocol.fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
        self._send_data()


def _transport_under(transport: asyncio.Transport) -> asyncio.BaseTransport:
    """The TCP transport under asyncio's TLS transport; ``transport`` itself otherwise.

    When the peer resets the connection, the write that hits the reset closes the TCP
    transport at once, so its ``is_closing()`` tells the next ``send()`` to raise. A TLS
    transport only learns it one or two event loop iterations later, which a coroutine
    sending in a loop without waiting never gives it: every write would then make asyncio
    log "socket.send() raised exception." again. asyncio offers no public way to reach
    the TCP transport, so this looks it up defensively and falls back on ``transport``
    (e.g. on other event loops) — then only the TLS transport's own state is checked.
    """
    protocol = getattr(transport, "_ssl_protocol", None)
    under = getattr(protocol, "_transport", None)
    if isinstance(under, asyncio.BaseTransport):
        return under
    return transport


#: asyncio's TCP transport of the selector event loops (a private class: looked up, not imported).
_SELECTOR_SOCKET_TRANSPORT: object = getattr(
    getattr(asyncio, "selector_events", None), "_SelectorSocketTransport", None
)


def _direct_socket(transport: asyncio.BaseTransport) -> socket.socket | None:
    """The socket :meth:`Connection._write` may send to directly, if any.

    Only under asyncio's own TCP transport of the selector event loops, whose
    ``write()`` does nothing else than ``socket.send()`` while its buffer is empty; never
    under TLS, another event loop's transport, or a wrapper (a test's, a proxy's), which
    all get every byte through their ``write()``. ``WEBSOCKET_REF_NO_DIRECT_SEND=1``
    turns the shortcut off (to compare).
    """
    if os.environ.get("WEBSOCKET_REF_NO_DIRECT_SEND", "") not in ("", "0"):
        return None
    if not isinstance(getattr(transport, "_closing", None), bool):
        return None  # Connection._under_closing() reads it
    return _plain_socket(transport)


def _plain_socket(transport: asyncio.BaseTransport) -> socket.socket | None:
    """The socket under asyncio's own TCP transport of the selector event loops, if that's
    what ``transport`` is (not TLS, another event loop's transport, or a wrapper)."""
    if _SELECTOR_SOCKET_TRANSPORT is None or type(transport) is not _SELECTOR_SOCKET_TRANSPORT:
        return None
    sock = getattr(transport, "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


def _read_directly(connection: Connection, transport: asyncio.BaseTransport) -> bool:
    """Have the event loop call ``connection._read_ready()`` when the socket under
    asyncio's own TCP transport is readable, rather than the transport's ``_read_ready()``
    and ``_read_ready__get_buffer()``; tell whether it does.

    Only on that transport (``_plain_socket()``), when it reads for a
    :class:`asyncio.BufferedProtocol` as in CPython 3.10-3.13: it registers its
    ``_read_ready`` attribute with the event loop, which calls ``_read_ready_cb``, which
    ``set_protocol()`` set to ``_read_ready__get_buffer``. Both attributes become the
    connection's reader; the transport still decides when to register it (pausing and
    resuming reading, closing) and handles EOF and errors.
    ``WEBSOCKET_REF_NO_DIRECT_READ=1`` turns it off (to compare).
    """
    if _plain_socket(transport) is None:
        return False
    if os.environ.get("WEBSOCKET_REF_NO_DIRECT_READ", "") not in ("", "0"):
        return False
    reference = getattr(transport, "_read_ready__get_buffer", None)
    if reference is None or getattr(transport, "_read_ready_cb", None) != reference:
        return False
    names = ("_conn_lost", "_fatal_error", "_read_ready__on_eof", "_loop", "_sock_fd")
    if not all(hasattr(transport, name) for name in names):
        return False
    reader = connection._read_ready
    tcp: Any = transport
    calls = _socket_calls
    if calls is not None and tcp._sock.fileno() == tcp._sock_fd:
        connection._fd = tcp._sock_fd
        connection._socket_recv = calls[0]
    tcp._read_ready_cb = reader
    # The transport registers self._read_ready with the event loop (when it starts
    # reading, and again in resume_reading()): ours, from now on, without its method in
    # between. Registered now, after the transport's own registration: that one was
    # scheduled when the transport was made, before connection_made() was called.
    tcp._read_ready = reader
    connection.loop.call_soon(_register_reader, tcp, reader)
    return True


def _register_reader(transport: Any, reader: Callable[[], None]) -> None:
    """Register ``reader`` as the transport would, if it reads (see ``_read_directly()``)."""
    if transport._read_ready is reader and transport.is_reading():
        transport._loop._add_reader(transport._sock_fd, reader)


class _MessageStream:
    """The async iterator of :meth:`Connection.recv_streaming`.

    A class rather than an async generator so that abandoning it mid-message frees
    the connection at once (in ``__del__``) instead of when the event loop gets
    around to finalizing a generator.
    """

    __slots__ = ("connection", "decode", "decoder", "started", "done")

    def __init__(self, connection: Connection, decode: bool | None) -> None:
        self.connection = connection
        self.decode = decode
        self.decoder: Any = None
        self.started = False
        self.done = False

    def __aiter__(self) -> _MessageStream:
        return self

    async def __anext__(self) -> Data:
        if self.done:
            raise StopAsyncIteration
        messages = self.connection.recv_messages
        if not self.started:
            messages.begin_stream()
            self.started = True
        try:
            frame = await messages.next_fragment()
        except EOFError:
            self._finish()
            await self.connection._raise_closed()
        except asyncio.CancelledError:
            if not messages.consumed:
                # Nothing was read yet: cancelling leaves the connection as it was.
                messages.end_stream()
                self.started = False
            raise
        if self.decoder is None and self.decode is not False:
            if self.decode or frame.opcode is Opcode.TEXT:
                self.decoder = utf8_decoder()
            else:
                self.decode = False
        data: Data = frame.data
        if self.decoder is not None:
            data = self.decoder.decode(frame.data, frame.fin)
        if frame.fin:
            self._finish()
        return data

    async def aclose(self) -> None:
        """Stop streaming; the rest of the message, if any, is discarded."""
        self._finish()

    def _finish(self) -> None:
        if self.started and not self.done:
            self.done = True
            self.connection.recv_messages.end_stream()

    def __del__(self) -> None:
        self._finish()
