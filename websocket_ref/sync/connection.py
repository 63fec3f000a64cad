"""A WebSocket connection on threads: a shared selector thread reads, any thread writes.

The Sans-I/O core (:class:`~websocket_ref.protocol.Protocol`) makes every protocol
decision; this module moves bytes between it and a :class:`~.transport.Transport` and lets
application threads wait.

Threads and locks:

* The **reader** alone reads the socket. It feeds the core, hands data frames to the
  :class:`~.messages.Assembler`, acknowledges pings, and, when the connection ends,
  closes the socket. It's the **selector thread** (:mod:`.selector`) that reads for all
  of a server's connections (another one for the process's clients), and must never
  wait: it reads what a readable socket holds, writes only what the socket takes at
  once, stops reading (the socket leaves the selector) while ``max_queue`` frames wait
  unread, and bounds the waits of closing with timers. A connection on a user's
  :class:`ssl.SSLSocket` has a **reader thread** of its own instead, which does the
  same blocking. Below, "the reader thread" is either. On a plain socket and the epoll
  poller, a thread waiting in ``recv()`` with nothing queued reads the socket itself
  meanwhile, the selector thread leaving it alone (``_read_self()``);
  ``_read_lock`` makes sure one thread reads at a time.
* The core's two directions are driven apart (see "Threads" in
  :class:`~websocket_ref.protocol.Protocol`): ``_receiving`` serializes its receiving
  side (the reader thread, and whoever fails the connection), ``_sending`` its sending
  side (application threads sending messages; it also orders fragmented messages). So
  the reader inflates a message while a writer deflates another: zlib releases the GIL,
  and both run at once on two cores (without compression, both are ``_lock``: nothing
  costly to overlap). ``_lock`` is the core's own reentrant ``lock``,
  which guards what both directions share; the core takes it itself, briefly, and this
  module takes it for its own shared state (the ping table, the write queue). None of
  them is held across a network wait; the order is ``_receiving`` or ``_sending``, then
  ``_lock``.
* Bytes the core wants to send are queued in ``_pending`` under ``_lock``, which fixes
  their order; whoever holds ``_send_lock`` writes the queue to the socket. Application
  threads wait for ``_send_lock``; the reader and the timer thread only try it, and
  otherwise leave their bytes to the current holder, which checks the queue again after
  releasing the lock. So the reader never stops reading because a large message is
  being written, which could deadlock two peers that both write and don't read. A
  thread whose bytes another thread wrote just returns: tickets count the chunks queued
  and written, so each caller waits for its own bytes and reports only its own errors.
* **Keepalive**, if ``ping_interval`` is set, runs on the process's one timer thread
  (:mod:`.scheduler`), shared by all connections rather than a thread each: it sends
  pings and fails the connection when a pong doesn't come back within ``ping_timeout``.
  That thread never waits on a socket: it writes a ping only when that can't block,
  and fails a connection without waiting for the closing handshake.

Closing: every wait is bounded by ``close_timeout``. Once the core expects the TCP
connection to end (:meth:`~websocket_ref.protocol.Protocol.close_expected`), the reader
waits at most ``close_timeout`` for the peer; ``close()`` waits at most that long
overall, then aborts the socket.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import selectors
import socket
import ssl as ssl_module
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, TypeVar

from ..exceptions import ConcurrencyError, ConnectionClosed, ConnectionClosedOK, InvalidState
from ..frames import CloseCode, Frame, Opcode
from ..http11 import Request, Response
from ..options import data_bytes
from ..protocol import Event, LoggerLike, Protocol, State
from .messages import Assembler, Data
from .scheduler import Timer, scheduler
from .selector import Reactor, SelectorThread, selector_thread
from .transport import RECV_BUFSIZE, Transport, wait_for
from .utils import Deadline, queue_limits

__all__ = ["Connection", "BytesLike"]

#: What ``send()`` accepts as binary data.
BytesLike = bytes | bytearray | memoryview

_ConnectionT = TypeVar("_ConnectionT", bound="Connection")

# Seconds to wait for the reader thread once its socket is aborted: it returns at once
# unless something is badly wrong, and then the caller mustn't hang.
_ABORT_GRACE = 1.0

# Looked up once, for _dispatch(): reading an enum member costs more on Python 3.11.
_BINARY, _PONG, _CLOSE = Opcode.BINARY, Opcode.PONG, Opcode.CLOSE

# The timer thread writes queued bytes itself only up to this size (a ping, a close
# frame, maybe a small message), and only when the socket can take them at once.
_TIMER_WRITE_LIMIT = 4096

# After a read that brought a data frame this large, the next recv() that finds nothing
# queued leaves reading to the selector thread (see _read_self()), which reads the next
# large message while the application works on this one. Reading in recv() saves a
# thread hand-off per message (~12 µs): less than that overlap is worth on large
# messages (bench/README.md, "Taken (recvself)").
_SELF_READ_MAX_FRAME = 65536


class Connection:
    """The parts shared by :class:`~.client.ClientConnection` and
    :class:`~.server.ServerConnection`.

    ``max_queue`` is the high-water mark of the queue of received frames (or a
    ``(high, low)`` pair; ``None`` disables flow control). ``close_timeout`` bounds
    every wait of the closing handshake (``None``: wait forever).

    ``transport`` is what :func:`~.client.connect` and :func:`~.server.serve` build, or a
    connected socket, as in websockets' ``Connection(socket, protocol)``.
    """

    def __init__(
        self,
        transport: Transport | socket.socket,
        protocol: Protocol,
        *,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        max_queue: int | tuple[int | None, int | None] | None = 16,
    ) -> None:
        if isinstance(transport, socket.socket):
            transport = Transport(transport)
        self.transport = transport
        #: The underlying socket (for TLS, the TCP socket; see :attr:`ssl_object`).
        self.socket = transport.sock
        self.protocol = protocol
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout

        #: Unique identifier of the connection, for logs.
        self.id: uuid.UUID = protocol.id
        if not isinstance(protocol.logger, logging.LoggerAdapter):
            # Log records carry the connection as ``record.websocket``, as in websockets.
            protocol.logger = logging.LoggerAdapter(protocol.logger, {"websocket": self})
        #: Logger of the connection: an adapter that adds ``websocket`` to records.
        self.logger: LoggerLike = protocol.logger
        self.debug = protocol.debug

        try:
            self.local_address: Any = self.socket.getsockname()
            self.remote_address: Any = self.socket.getpeername()
        except OSError:  # e.g. the peer already disconnected
            self.local_address = self.remote_address = None

        self._lock = protocol.lock
        # Lock or RLock (see _start()): anything with acquire() and release().
        self._receiving: contextlib.AbstractContextManager[bool] = threading.Lock()
        self._sending: contextlib.AbstractContextManager[bool] = threading.Lock()
        # Signalled when a fragmented message is done (send() waits for it).
        self._fragments_done = threading.Condition(self._sending)
        self._fragmented_send: int | None = None  # thread sending a fragmented message
        self._send_lock = threading.Lock()
        self._pending: deque[bytes] = deque()
        self._queued = 0  # chunks ever queued (under _lock)
        self._written = 0  # chunks written (under _send_lock)
        self._write_error: OSError | None = None  # why writing stopped, if it did
        self._transport_closed = False  # under _send_lock

        high, low = queue_limits(max_queue)
        self.recv_messages = Assembler(high, low)
        # A bad incoming frame fails the connection only once the application had a
        # chance to answer the messages before it (see Protocol.fail_pending()).
        protocol.defer_failures = True

        # Pings waiting for a pong: data -> (event, time sent, set the event on close).
        self.pong_waiters: dict[bytes, tuple[threading.Event, float, bool]] = {}
        #: Round-trip time of the last acknowledged ping, in seconds (0 until then).
        self.latency: float = 0.0

        self._reader: threading.Thread | None = None  # the reader thread, if it has one
        # Or the shared selector thread reads (see _start()); its state, which only that
        # thread touches once started, apart from the flags set under _lock:
        self._reactor: Reactor | None = None
        self._started = False
        self._reading = False  # the socket is in the selector for reading
        self._want_write = False  # ...and for writing: queued bytes wait for room
        self._finished = False  # _finish() ran
        # Held by whoever reads the socket: the selector thread, or the thread waiting in
        # recv() when it reads itself (_read_self()); the selector thread only tries it.
        self._read_lock = threading.Lock()
        self._reads_self = False  # recv() may read itself: see _start()
        self._self_read_off = False  # recv()'s thread saw EOF or an error: not anymore
        self._last_batch = 0  # data frames that the last read brought (see _read_self())
        self._last_large = False  # ...and whether the last of them was large
        self._close_timer: Timer | None = None  # bounds the wait for the TCP close
        self._starve_timer: Timer | None = None  # bounds the wait before fail_pending()
        self._starve_timed_out = False
        # Timers on the shared scheduler: the next keepalive ping, the check for its pong,
        # and the abort that bounds a closing handshake started by a keepalive timeout.
        # Set and cancelled under _lock.
        self._keepalive_timer: Timer | None = None
        self._keepalive_check_timer: Timer | None = None
        self._abort_timer: Timer | None = None
        # The event of the last keepalive ping, set when its pong arrives.
        self._keepalive_pong: threading.Event | None = None
        self._closed = threading.Event()  # the reader thread is done: state is CLOSED
        # What ended the connection, if not EOF: a read's or a write's error, a timeout.
        self._recv_exc: BaseException | None = None
        if protocol.state is State.OPEN:
            # Built on an open protocol (no handshake to make: websockets' tests and
            # applications that do their own): ready to use at once.
            self._start([])

    # Public state

    @property
    def buffered_amount(self) -> int:
        """Bytes queued for writing that no thread has handed to the socket yet.

        Like the browser API's ``bufferedAmount``. They wait while another thread's
        write blocks because the peer doesn't read. ``broadcast()`` doesn't send to
        connections where it's above its ``buffer_limit``.
        """
        return sum(map(len, list(self._pending)))

    @property
    def state(self) -> State:
        """The connection's state (RFC 6455 §4-§7)."""
        return self.protocol.state

    @property
    def request(self) -> Request | None:
        """The opening handshake request."""
        return getattr(self.protocol, "request", None)  # None on a bare Protocol

    @property
    def response(self) -> Response | None:
        """The opening handshake response."""
        return getattr(self.protocol, "response", None)  # None on a bare Protocol

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol negotiated in the handshake, if any."""
        return getattr(self.protocol, "subprotocol", None)  # None on a bare Protocol

    @property
    def close_code(self) -> int | None:
        """The close code received from the peer, once the connection is closed."""
        return self.protocol.close_code

    @property
    def close_reason(self) -> str | None:
        """The close reason received from the peer, once the connection is closed."""
        return self.protocol.close_reason

    @property
    def ssl_object(self) -> Any:
        """The :class:`ssl.SSLObject` of a TLS connection (peer certificate, cipher...)."""
        return self.transport.ssl_object

    # Context manager and iteration

    def __enter__(self: _ConnectionT) -> _ConnectionT:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # An exception leaving the block is an internal error: 1011, as in asyncio.
        if exc_type is None:
            self.close()
        else:
            self.close(CloseCode.INTERNAL_ERROR)

    def __iter__(self) -> Iterator[Data]:
        """Yield incoming messages until the connection closes normally.

        Ends quietly on :exc:`~websocket_ref.exceptions.ConnectionClosedOK`; raises
        :exc:`~websocket_ref.exceptions.ConnectionClosedError` after an error.
        """
        try:
            while True:
                yield self.recv()
        except ConnectionClosedOK:
            return

    # Receiving

    def recv(self, timeout: float | None = None, decode: bool | None = None) -> Data:
        """Return the next message: ``str`` for text, ``bytes`` for binary.

        ``decode=False`` returns text messages as UTF-8 bytes (no decoding cost);
        ``decode=True`` decodes binary messages as UTF-8. Waits at most ``timeout``
        seconds (:exc:`TimeoutError`). Raises
        :exc:`~websocket_ref.exceptions.ConnectionClosed` once the connection is closed
        and every message received before was read, and
        :exc:`~websocket_ref.exceptions.ConcurrencyError` if another thread is reading.
        """
        try:
            return self.recv_messages.get(timeout, decode)
        except EOFError:
            pass
        raise self._closed_exception()

    def recv_streaming(self, decode: bool | None = None) -> Iterator[Data]:
        """Yield the fragments of the next message as they arrive.

        Useful for messages too large to hold in memory at once. Abandoning the
        iterator drops the rest of the message.
        """
        try:
            yield from self.recv_messages.get_iter(decode)
            return
        except EOFError:
            pass
        raise self._closed_exception()

    # Sending

    def send(
        self,
        message: str | BytesLike | Iterable[str] | Iterable[BytesLike],
        text: bool | None = None,
        *,
        compress: bool = True,
    ) -> None:
        """Send a message: ``str`` as text, bytes-like as binary.

        ``text=True`` sends bytes as a text frame (they must be UTF-8) and
        ``text=False`` sends a ``str`` as binary. An iterable of ``str`` or of bytes
        is sent as one fragmented message (RFC 6455 §5.4), one frame per item.
        ``compress=False`` sends this message uncompressed on a connection that
        negotiated permessage-deflate (for data that is compressed already).

        Safe to call from several threads; a fragmented message holds back other
        messages (not pings) until it's complete.
        """
        protocol = self.protocol
        # The core compresses by default: a partial() only to turn compression off.
        if isinstance(message, str):
            if text is False:
                method = protocol.send_binary
                message = message.encode()
            else:  # the core encodes a str, which is valid UTF-8 without a check
                method = protocol.send_text
            self._send(method if compress else functools.partial(method, compress=False), message)
        elif isinstance(message, bytes | bytearray | memoryview):
            data = message if type(message) is bytes else bytes(message)
            method = protocol.send_text if text else protocol.send_binary
            self._send(method if compress else functools.partial(method, compress=False), data)
        elif isinstance(message, Mapping):
            raise TypeError("a mapping isn't a message; send() takes str, bytes or an iterable")
        elif isinstance(message, Iterable):
            self._send_fragments(message, text, compress)
        else:
            raise TypeError(f"message has unsupported type {type(message).__name__}")

    def _send(
        self,
        method: Callable[..., None],
        *args: Any,
        control: bool = False,
        fragment: bool = False,
    ) -> None:
        """Call a ``send_*`` method of the core and write what it produced."""
        try:
            if control:  # the core takes its lock; no need to wait for a message being sent
                method(*args)
            else:
                with self._sending:
                    if not fragment and self._fragmented_send is not None:
                        self._wait_for_fragments()
                    method(*args)  # deflating here doesn't hold up the reader thread
        except InvalidState:
            raise self._closed_exception() from None
        with self._lock:
            ticket = self._queue_writes()
        try:
            self._flush(ticket)
        except OSError as exc:
            error = exc
        else:
            return
        raise self._closed_exception(error)

    def _wait_for_fragments(self) -> None:
        """Wait until the fragmented message in progress is sent. Called under ``_sending``."""
        if self._fragmented_send == threading.get_ident():
            raise ConcurrencyError("send() called while sending a fragmented message")
        while self._fragmented_send is not None:
            self._fragments_done.wait()

    def _send_fragments(
        self,
        message: Iterable[str] | Iterable[BytesLike],
        text: bool | None,
        compress: bool = True,
    ) -> None:
        iterator = iter(message)
        try:
            first = next(iterator)
        except StopIteration:
            return  # an empty iterable is no message at all
        protocol = self.protocol
        is_str = isinstance(first, str)
        if is_str:
            start = protocol.send_binary if text is False else protocol.send_text
        elif isinstance(first, bytes | bytearray | memoryview):
            start = protocol.send_text if text else protocol.send_binary
        else:
            raise TypeError(f"message fragment has unsupported type {type(first).__name__}")

        with self._sending:
            self._wait_for_fragments()
            self._fragmented_send = threading.get_ident()
        failed: BaseException | None = None
        try:
            start = functools.partial(start, compress=compress)
            self._send(start, data_bytes(first), False, fragment=True)
            for fragment in iterator:
                if isinstance(fragment, str) != is_str or not isinstance(
                    fragment, str | bytes | bytearray | memoryview
                ):
                    raise TypeError("all fragments of a message must be str, or all bytes-like")
                self._send(protocol.send_continuation, data_bytes(fragment), False, fragment=True)
            self._send(protocol.send_continuation, b"", True, fragment=True)
        except ConnectionClosed:
            raise
        except BaseException as exc:
            failed = exc
            raise
        finally:
            with self._sending:
                self._fragmented_send = None
                self._fragments_done.notify_all()
            if failed is not None:
                # RFC 6455 §5.4 [R6455-5.4-4], §6.1 [R6455-6.1-3]: a fragmented message ends with a
                # FIN frame; there is no way
                # to abandon one midway but to close the connection.
                self.logger.error("! closing: couldn't send a fragmented message: %r", failed)
                if self.protocol.state is State.OPEN:  # as the asyncio API and websockets do
                    self._fail(CloseCode.INTERNAL_ERROR, "error in fragmented message")

    def ping(
        self, data: str | BytesLike | None = None, ack_on_close: bool = False
    ) -> threading.Event:
        """Send a ping (RFC 6455 §5.5.2); return an event set when its pong arrives.

        ``data`` defaults to 4 random bytes. ``ack_on_close=True`` also sets the event
        when the connection closes, so that a thread waiting for it can't wait forever.
        :attr:`latency` is updated when the pong arrives.
        """
        payload = None if data is None else data_bytes(data)
        queued = self._queue_ping(payload, ack_on_close)
        if queued is None:
            raise self._closed_exception()
        event, ticket = queued
        try:
            self._flush(ticket)
        except OSError as exc:
            error = exc
        else:
            return event
        raise self._closed_exception(error)

    def _queue_ping(
        self, payload: bytes | None, ack_on_close: bool
    ) -> tuple[threading.Event, int] | None:
        """Queue a ping (random data if ``payload`` is None); None if the connection
        isn't open. Returns the event its pong sets and the ticket of its bytes."""
        event = threading.Event()
        with self._lock:
            if payload is None:
                payload = os.urandom(4)
                while payload in self.pong_waiters:
                    payload = os.urandom(4)
            elif payload in self.pong_waiters:
                raise ConcurrencyError("already waiting for a pong with the same data")
            try:
                self.protocol.send_ping(payload)
            except InvalidState:
                return None
            self.pong_waiters[payload] = (event, time.monotonic(), ack_on_close)
            return event, self._queue_writes()

    def pong(self, data: str | BytesLike = b"") -> None:
        """Send an unsolicited pong (RFC 6455 §5.5.3), e.g. as a one-way heartbeat."""
        self._send(self.protocol.send_pong, data_bytes(data), control=True)

    # Closing

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Perform the closing handshake and wait until the TCP connection is closed.

        Returns within about ``close_timeout`` seconds even if the peer doesn't answer:
        the socket is then aborted. Calling it again, or on a closed connection, waits
        for the end (within the same bound) and does nothing else. During a fragmented
        ``send()`` in another thread, the message can't be finished: the connection is
        failed with 1011 instead, as in websockets (see
        :meth:`Protocol.close() <websocket_ref.protocol.Protocol.close>`).
        """
        deadline = Deadline(self.close_timeout)
        self._start_closing(code, reason, deadline)
        self._close_wait(deadline)

    def _start_closing(self, code: int, reason: str, deadline: Deadline) -> None:
        """Send a close frame if the connection is open, within ``deadline``."""
        # Under _receiving: during a fragmented send(), closing fails the connection
        # (Protocol.close()), which stops the receiving side too.
        with self._receiving, self._lock:
            if self.protocol.state is State.OPEN:
                # RFC 6455 §7.1.2 [R6455-7.1.2-1]: start the closing handshake: a close frame
                self.protocol.close(code, reason)
            ticket = self._queue_writes()
        # Read on until the peer's close frame, however many messages wait unread.
        self.recv_messages.stop_pausing()
        try:
            self._flush(ticket, deadline)
        except OSError:  # including TimeoutError: the peer doesn't read
            self._abort()

    def _close_wait(self, deadline: Deadline) -> None:
        """Wait for the reader thread to end; abort the socket at the deadline."""
        if not self._started or self._in_reader():
            return
        if not self._closed.wait(deadline.timeout(raise_if_elapsed=False)):
            if self.debug:
                self.logger.debug("! timed out waiting for the TCP connection to close")
            if self._recv_exc is None:  # the cause of ConnectionClosed, as in websockets
                self._recv_exc = TimeoutError("timed out waiting for the connection to close")
            self._abort()
            self._closed.wait(_ABORT_GRACE)

    def _fail(self, code: int, reason: str) -> None:
        """Fail the connection (RFC 6455 §7.1.7) and wait, bounded, until it's closed."""
        deadline = Deadline(self.close_timeout)
        with self._receiving:  # failing stops the receiving side too
            self.protocol.fail(code, reason)
        with self._lock:
            ticket = self._queue_writes()
        self.recv_messages.stop_pausing()
        try:
            self._flush(ticket, deadline)
        except OSError:
            self._abort()
        # The reader may be blocked in a read that started before closing was expected.
        self._close_wait(deadline)

    def _in_reader(self) -> bool:
        """Whether the caller is the thread reading for this connection."""
        reactor = self._reactor
        if reactor is not None:
            return reactor.in_thread()
        return self._reader is threading.current_thread()

    def _abort(self) -> None:
        """Cut the connection: wake up the reader thread and any blocked writer."""
        self.transport.abort()
        self.recv_messages.stop_pausing()

    def _closed_exception(self, cause: BaseException | None = None) -> ConnectionClosed:
        """Wait (bounded) for the connection to be closed; return the exception to raise."""
        if self._started and not self._in_reader() and not self._closed.wait(self.close_timeout):
            self._abort()
            self._closed.wait(_ABORT_GRACE)
        exc = self.protocol.close_exc
        if exc.__cause__ is None:
            # What ended the connection (e.g. the write's own error, as in websockets)
            # rather than the caller's "connection is closed".
            exc.__cause__ = self._recv_exc or cause
        return exc

    # Writing

    def _queue_writes(self) -> int:
        """Queue what the core wants to send. Called under ``_lock``, which fixes the order.

        Returns a ticket: once ``_written`` reaches it, everything queued so far is written.
        """
        writes = self.protocol.data_to_send()
        if writes:
            self._pending.extend(writes)
            self._queued += len(writes)
        return self._queued

    def _flush(self, ticket: int, deadline: Deadline | None = None) -> None:
        """Wait until the bytes queued up to ``ticket`` are written, writing them if needed.

        Another thread may be writing them (see the module docstring); either way, this
        raises :exc:`OSError` only if *these* bytes couldn't be written, and
        :exc:`TimeoutError` at ``deadline``.
        """
        lock = self._send_lock
        while self._written < ticket:
            if self._write_error is not None:
                raise BrokenPipeError("connection is closed") from self._write_error
            if deadline is None or deadline.deadline is None:
                lock.acquire()
            elif not lock.acquire(timeout=deadline.timeout() or 0.0):
                raise TimeoutError("timed out while waiting to write")
            try:
                self._write_pending(deadline)
            finally:
                lock.release()
        if self._pending:
            # Queued by a thread that found the lock taken, after our last look: it
            # counts on the holder to write them (see the module docstring).
            self._try_flush()

    def _try_flush(self) -> None:
        """Write queued bytes unless another thread is writing (it'll write them too).

        For the reader thread, which mustn't wait on the socket for long: the
        thread holding ``_send_lock`` checks the queue again after releasing it.
        """
        pending = self._pending
        lock = self._send_lock
        while pending:
            if not lock.acquire(blocking=False):
                return
            try:
                self._write_pending(None)
            finally:
                lock.release()

    def _take_held_writes(self) -> bool:
        """Queue what the reader left in the core (see _read_loop()); True if anything.

        The check without the lock can miss bytes the reader is leaving right now; but
        then it left them because ``_pending`` wasn't empty, and whoever queued those
        writes them, and these with them.
        """
        if not self.protocol.has_data_to_send:
            return False
        with self._lock:
            self._queue_writes()
        return bool(self._pending)

    def _write_pending(self, deadline: Deadline | None) -> None:
        """Write everything queued. Called with ``_send_lock`` held; never raises."""
        pending = self._pending
        transport = self.transport
        try:
            while pending or self._take_held_writes():
                if self._transport_closed:
                    raise BrokenPipeError("connection is closed")
                chunks: list[bytes] = []
                eof = False
                while pending:
                    chunk = pending.popleft()
                    if not chunk:
                        # b"": the core asks to close the write side of the transport.
                        eof = True
                        break
                    chunks.append(chunk)
                if chunks:
                    transport.write(chunks, deadline)
                if eof:
                    transport.write_eof(deadline)
                self._written += len(chunks) + eof
        except OSError as exc:  # TimeoutError included
            if self._write_error is None:
                self._write_error = exc
            if self._recv_exc is None:
                # The cause of ConnectionClosed, as in websockets: whichever thread wrote
                # (a pong from the reader, a send()), the write's error ended the connection.
                self._recv_exc = exc
            pending.clear()
            self._abort()

    # Reading

    def _start(self, events: list[Event]) -> None:
        """Start reading once the opening handshake succeeded.

        The shared selector thread reads for the connection (:mod:`.selector`), plain or
        TLS (:class:`~.transport.TLSTransport` decrypts in memory: what OpenSSL holds is
        decrypted with each read, so a readable socket is all the selector must watch).
        A connection built on an :class:`ssl.SSLSocket` (``Connection(sock, protocol)``,
        as websockets allows) gets a reader thread of its own: the socket's
        ``recv()`` blocks inside OpenSSL, which may also hold bytes already read.
        """
        if not any(extension.compresses_messages for extension in self.protocol.extensions):
            # Nothing costly to overlap: without compression, the two directions take
            # turns under one lock. Two threads running Python at once would contend
            # for the GIL instead (measured: small messages streamed ~10% slower).
            self._receiving = self._sending = self._lock
            self._fragments_done = threading.Condition(self._lock)
        if events:
            self._dispatch(events)
        with self._lock:
            ticket = self._queue_writes()
        # If writing fails, the reader finds out and closes the connection.
        with contextlib.suppress(OSError):
            self._flush(ticket)
        self._started = True
        if isinstance(self.socket, ssl_module.SSLSocket):
            self._reader = threading.Thread(
                target=self._read_loop, name=f"websocket_ref-reader-{self.id}", daemon=True
            )
            self._reader.start()
        else:
            reactor = self._reactor = self._selector_thread().attach()
            self.recv_messages.on_wake = self._wake
            if (
                reactor.lends_reading
                and type(self.transport) is Transport
                and self.socket.gettimeout() is None
                and os.environ.get("WEBSOCKET_REF_NO_RECV_READS", "") in ("", "0")
            ):
                self._reads_self = True
                self.recv_messages.read_self = self._read_self
            reactor.call_soon(self._step)
        if self.ping_interval is not None:
            self.start_keepalive()

    def start_keepalive(self) -> None:
        """Ping every ``ping_interval`` seconds; fail after ``ping_timeout`` without pong.

        The handshake starts it; call it again after changing ``ping_interval`` (it
        replaces the schedule). Nothing happens when ``ping_interval`` is None.
        """
        if self.ping_interval is None:
            return
        with self._lock:
            if self._keepalive_timer is not None:
                self._keepalive_timer.cancel()
                self._keepalive_timer = None
            if not self._closed.is_set():  # see _keepalive_ping()
                self._keepalive_timer = scheduler.call_later(
                    self.ping_interval, self._keepalive_ping
                )

    def _selector_thread(self) -> SelectorThread:
        """The selector thread that reads for this connection: the process's own.

        A server has its own (see :class:`~.server.ServerConnection`), so that its
        connections don't wait while a client of the same process is being read.
        """
        return selector_thread

    def _receive(self, data: bytes) -> None:
        """Feed bytes read from the socket to the core; write and hand over what it made.

        Called by the reader alone: the reader thread, or the selector thread or the
        thread in ``recv()`` reading itself, whichever holds ``_read_lock``.
        """
        protocol = self.protocol
        with self._receiving:  # inflating here doesn't hold up writers
            protocol.receive_data(data)
            events = protocol.events_received()
        # Most reads produce nothing to send: no lock then. What this thread produced
        # is visible to it; a sender's bytes are queued by the sender.
        if protocol.has_data_to_send:
            with self._lock:
                if not self._pending:
                    self._queue_writes()
                # Else the bytes written before ours aren't out yet (the peer may not
                # be reading): what this read produced — a pong, a close frame —
                # stays in the core, where pongs coalesce (Protocol.pong_pending),
                # until the thread writing takes it (see _write_pending()).
        if self._pending:
            # If writing fails, the socket is aborted and the next read ends the connection.
            self._flush_reader()
        if events:
            self._dispatch(events)

    def _flush_reader(self) -> None:
        """Write what the reader queued, in the way its thread allows."""
        reactor = self._reactor
        if reactor is None:
            self._try_flush()
        elif reactor.in_thread():
            self._flush_nowait()
        elif not self._write_if_ready():
            # The thread in recv() reading itself (_read_self()) doesn't wait on the
            # socket either: the selector thread writes the rest once it has room.
            reactor.call_soon(self._flush_nowait)

    def _read_loop(self) -> None:
        """The reader thread: socket → core → assembler, until the connection closes."""
        protocol = self.protocol
        transport = self.transport
        assembler = self.recv_messages
        close_deadline: Deadline | None = None
        try:
            if protocol.pending_failure is not None:  # the bad frame came with the handshake
                self._fail_pending()
            while True:
                if close_deadline is None and protocol.close_expected():
                    # RFC 6455 §7.1.1 [R6455-7.1.1-2, R6455-7.1.1-4]: the TCP connection should
                    # end soon; don't wait forever: after close_timeout, close it.
                    # RFC 6455 §5.5.1 [R6455-5.5.1-11]: a client waits that long for the
                    # server's TCP close, then closes it itself
                    close_deadline = Deadline(self.close_timeout)
                try:
                    data = transport.recv(
                        None if close_deadline is None else close_deadline.timeout()
                    )
                except TimeoutError:
                    raise
                except OSError as exc:  # e.g. connection reset
                    if self._recv_exc is None:  # else a write failed first
                        self._recv_exc = exc
                    break
                if not data:
                    break
                self._receive(data)
                if protocol.pending_failure is not None:
                    self._fail_pending()
                assembler.wait_for_room()
        except TimeoutError as exc:
            if self.debug:
                self.logger.debug("! timed out waiting for the TCP connection to close")
            if self._recv_exc is None:  # the cause of ConnectionClosed, as in websockets
                self._recv_exc = exc
        except Exception as exc:  # a bug: log it and close the connection anyway
            self._recv_exc = exc
            self.logger.error("unexpected error in the reader thread", exc_info=True)
        finally:
            self._finish()

    def _fail_pending(self) -> None:
        """Fail the connection for the bad frame the core held back, in the reader thread.

        First let the application take the messages that arrived before that frame and
        answer them, so replies precede the close frame; bounded by ``close_timeout``.
        """
        timeout = 10.0 if self.close_timeout is None else self.close_timeout
        self.recv_messages.wait_until_starved(timeout)
        self._fail_pending_now()

    def _fail_pending_now(self) -> None:
        with self._receiving:
            self.protocol.fail_pending()
        with self._lock:
            self._queue_writes()
        if self._pending:
            self._flush_reader()

    # Reading in the selector thread: the reader thread's loop above, turned inside
    # out. Where that thread blocks (waiting for room in the queue, for the application
    # to starve before a held-back failure, for the TCP close), the socket leaves the
    # selector or a timer on the shared scheduler bounds the wait; the assembler's
    # on_wake (_wake) and the timers queue a call to _step() to go on.

    def _wake(self) -> None:
        """The queue has room, or the application starves: look again. Any thread."""
        reactor = self._reactor
        if reactor is not None:
            reactor.call_soon(self._step)

    def _step(self) -> None:
        """Decide whether to read on: what the reader thread does between two reads."""
        if self._finished:
            return
        protocol = self.protocol
        assembler = self.recv_messages
        try:
            if protocol.pending_failure is not None:
                if not (self._starve_timed_out or assembler.starved_or_wait()):
                    # Stop reading until the application took the messages before the
                    # bad frame (see _fail_pending()), or close_timeout elapsed.
                    if self._starve_timer is None:
                        timeout = 10.0 if self.close_timeout is None else self.close_timeout
                        self._starve_timer = scheduler.call_later(timeout, self._starve_timeout)
                    self._set_reading(False)
                    return
                if self._starve_timer is not None:
                    self._starve_timer.cancel()
                    self._starve_timer = None
                self._fail_pending_now()
            if assembler.pause_if_full():
                # Backpressure (max_queue): the socket leaves the selector until the
                # application drains the queue; TCP pushes back on the peer.
                self._set_reading(False)
                return
            if (
                self._close_timer is None
                and self.close_timeout is not None
                and protocol.close_expected()
            ):
                # RFC 6455 §7.1.1 [R6455-7.1.1-2, R6455-7.1.1-4]: the TCP connection should
                # end soon; don't wait forever: after close_timeout, close it.
                # RFC 6455 §5.5.1 [R6455-5.5.1-11]: a client waits that long for the
                # server's TCP close, then closes it itself
                self._close_timer = scheduler.call_later(self.close_timeout, self._close_timed_out)
            if not self._reading:  # after most reads, it is: no call then
                self._set_reading(True)
        except Exception as exc:  # a bug: log it and close the connection anyway
            self._recv_exc = exc
            self.logger.error("unexpected error in the selector thread", exc_info=True)
            self._end()

    def _starve_timeout(self) -> None:
        """Timer thread: the application didn't starve within close_timeout."""

        def expired() -> None:
            self._starve_timed_out = True
            self._step()

        if self._reactor is not None:
            self._reactor.call_soon(expired)

    def _close_timed_out(self) -> None:
        """Timer thread: the TCP connection didn't end within close_timeout."""

        def expired() -> None:
            if not self._finished:
                if self.debug:
                    self.logger.debug("! timed out waiting for the TCP connection to close")
                if self._recv_exc is None:  # the cause of ConnectionClosed, as in websockets
                    self._recv_exc = TimeoutError("timed out waiting for the connection to close")
                self._end()

        if self._reactor is not None:
            self._reactor.call_soon(expired)

    def _set_reading(self, reading: bool) -> None:
        if reading != self._reading:
            self._reading = reading
            self._update_interest()

    def _update_interest(self) -> None:
        assert self._reactor is not None
        if self._finished:  # the socket left the selector for good (and may be closed)
            return
        events = (selectors.EVENT_READ if self._reading else 0) | (
            selectors.EVENT_WRITE if self._want_write else 0
        )
        self._reactor.set_interest(self.socket, events, self._on_ready)

    def _on_ready(self, mask: int) -> None:
        """The selector says the socket is readable and/or writable."""
        if self._finished:  # ready in the same select() as another event ended it
            return
        if mask & selectors.EVENT_WRITE:
            self._want_write = False
            self._flush_nowait()
            if not self._want_write:
                self._update_interest()
        if mask & selectors.EVENT_READ and self._reading:
            self._read_ready()

    def _read_ready(self) -> None:
        """Read once from the readable socket and process it, without blocking."""
        lock = self._read_lock
        if not lock.acquire(False):
            # The thread in recv() is reading the socket itself (_read_self()), or
            # about to: out of the poller until it's done, else this thread spins.
            assert self._reactor is not None
            self._reactor.suspend_while(self.socket, lock)
            return
        try:
            try:
                data = self.transport.recv_ready()
            except OSError as exc:  # e.g. connection reset
                if self._recv_exc is None:  # else a write failed first
                    self._recv_exc = exc
                data = b""
            if data is None:
                return  # nothing yet (e.g. part of a TLS record)
            if data:
                self._receive(data)
        except Exception as exc:  # a bug: log it and close the connection anyway
            self._recv_exc = exc
            self.logger.error("unexpected error in the selector thread", exc_info=True)
            data = b""
        finally:
            lock.release()
        if not data:
            self._end()
            return
        self._step()

    # Reading in the thread waiting in recv(). When it finds nothing queued, rather
    # than wait for the selector thread to read the socket and wake it (two thread
    # hops per message: the socket wakes the selector thread, which wakes this one),
    # it reads the socket itself, which the poller stops watching for reading
    # meanwhile (suspend_reading()), and gives it back before recv() returns. Only
    # plain sockets on the epoll poller (_start()). What the selector thread decides
    # between two reads (_step(): pausing for max_queue, held-back failures, the
    # close timer) stays its own: when a read makes one of them relevant, or ends in
    # EOF or an error, this thread gives the socket back and queues a _step().

    def _read_self(self, timeout: float | None) -> bool:
        """The assembler's ``read_self``: read the socket in the thread in ``recv()``.

        True after reading (frames may be queued) or when ``timeout`` elapsed; False
        when the selector thread reads instead (then the caller waits as usual).
        """
        lock = self._read_lock
        # The selector thread holds the lock only while it reads without blocking.
        if not lock.acquire(True, -1 if timeout is None else timeout):
            return True  # the caller finds the deadline past
        reactor = self._reactor
        assert reactor is not None
        sock = self.socket
        step = False
        try:
            protocol = self.protocol
            if (
                self._last_batch > 1
                or self._last_large
                or self._finished
                or self._self_read_off
                or self._close_timer is not None
                or protocol.pending_failure is not None
                or protocol.close_expected()
            ):
                # The last read brought several data frames: they arrive faster than
                # they're taken (streaming), and the selector thread reading meanwhile
                # does better than one thread reading and working in turns; so with a
                # large frame (_SELF_READ_MAX_FRAME). Else, the selector thread is
                # handling the end of the connection.
                return False
            if self.recv_messages._frames:
                return True  # the selector thread read them meanwhile
            if not reactor.suspend_reading(sock):
                return False  # not watched for reading (yet, or paused)
            step = self._read_here(sock, timeout)
        finally:
            # Always (the selector thread may have suspended reading for this thread:
            # suspend_while()), and after releasing: resumed first, the selector thread
            # could find the socket readable and the lock taken. If the connection
            # ended in between, _end() took the socket out of the poller: resuming
            # does nothing.
            lock.release()
            reactor.resume_reading(sock)
        if step:
            reactor.call_soon(self._step)
        return True

    def _read_here(self, sock: socket.socket, timeout: float | None) -> bool:
        """Read until data frames are queued or ``timeout`` elapses; True if the
        selector thread must look at the connection (:meth:`_step`). Under ``_read_lock``."""
        protocol = self.protocol
        assembler = self.recv_messages
        frames = assembler._frames
        deadline = None if timeout is None else Deadline(timeout)
        try:
            while True:
                if deadline is not None and not wait_for(
                    sock, write=False, timeout=deadline.timeout(raise_if_elapsed=False)
                ):
                    return False  # timed out: the caller raises TimeoutError
                try:
                    data = sock.recv(RECV_BUFSIZE)
                except OSError as exc:  # e.g. connection reset
                    if self._recv_exc is None:  # else a write failed first
                        self._recv_exc = exc
                    data = b""
                if not data:
                    # EOF (or the error above, after which the socket reads as EOF): the
                    # selector thread reads it again and ends the connection, as always.
                    self._self_read_off = True
                    return True
                self._receive(data)
                if protocol.pending_failure is not None or protocol.close_expected():
                    return True
                if frames:
                    # Above max_queue, the selector thread stops reading (_step()).
                    high = assembler._high
                    return high is not None and len(frames) >= high
        except Exception as exc:  # a bug: log it and close the connection anyway
            self._recv_exc = exc
            self.logger.error("unexpected error while reading in recv()", exc_info=True)
            self._self_read_off = True
            assert self._reactor is not None
            self._reactor.call_soon(self._end)
            return False

    def _flush_nowait(self) -> None:
        """Write what's queued if the socket takes it at once; else, ask the selector to
        call again when it's writable. For the selector thread, which mustn't wait.

        What the reader queues is small (pongs, close frames); larger queued bytes are
        an application thread's, which writes them itself.
        """
        if not self._write_if_ready() and not self._finished and not self._want_write:
            self._want_write = True
            self._update_interest()

    def _end(self) -> None:
        """The selector thread is done with the connection: forget its socket, finish."""
        if self._finished:
            return
        self._finished = True
        self._reading = self._want_write = False
        reactor = self._reactor
        assert reactor is not None
        lock = self._read_lock
        if not lock.acquire(False):
            # The thread in recv() is reading the socket itself (_read_self()): wake
            # it up (its read returns at once) and let it give the socket back first.
            self.transport.abort()
            lock.acquire()
        try:
            reactor.forget(self.socket)  # before the socket is closed
        finally:
            lock.release()  # _finished is set: nobody reads the socket anymore
        try:
            self._finish()
        finally:
            self._selector_thread().detach(reactor)

    def _dispatch(self, events: list[Event]) -> None:
        """Hand data frames to the assembler and pongs to waiting pings."""
        frames: list[Frame] = []
        close_received = False
        for event in events:
            if not isinstance(event, Frame):
                continue
            opcode = event.opcode
            if opcode <= _BINARY:  # CONT, TEXT, BINARY
                frames.append(event)
            elif opcode is _PONG:
                self._acknowledge_pings(event.data)
            elif opcode is _CLOSE:
                close_received = True
        if frames:
            self._last_batch = len(frames)
            self._last_large = len(frames[-1].data) >= _SELF_READ_MAX_FRAME
            self.recv_messages.put(frames)
        if close_received:
            # RFC 6455 §5.5.1 [R6455-5.5.1-5]: no data frame follows a close frame; recv() can
            # stop waiting.
            self.recv_messages.close()

    def _acknowledge_pings(self, data: bytes) -> None:
        with self._lock:
            if data not in self.pong_waiters:
                return  # RFC 6455 §5.5.3 [R6455-5.5.3-2]: an unsolicited pong needs no response
            now = time.monotonic()
            # RFC 6455 §5.5.3 [R6455-5.5.3-1]: a pong may answer only the latest of several
            # pings, so it acknowledges the pings sent before the one it matches, too.
            for key, (event, sent_at, _) in list(self.pong_waiters.items()):
                del self.pong_waiters[key]
                event.set()
                if key == data:
                    self.latency = now - sent_at
                    break

    def _finish(self) -> None:
        """End of the reader thread: the connection is CLOSED; release everything."""
        with self._receiving:
            self.protocol.receive_eof()
        with self._lock:
            self._queue_writes()
        self._flush_reader()
        # Wake any writer blocked on the socket, then close it once none uses it.
        self.transport.abort()
        with self._send_lock:
            self._transport_closed = True
            if self._write_error is None:
                self._write_error = BrokenPipeError("connection is closed")
            self._pending.clear()
            self.transport.close()
        self.recv_messages.close()
        with self._lock:
            pings = list(self.pong_waiters.values())
            self.pong_waiters.clear()
        for event, _, ack_on_close in pings:
            if ack_on_close:
                event.set()
        if self.debug:
            self.logger.debug("= connection closed: %s", self.protocol.close_exc)
        self._closed.set()
        with self._lock:
            for timer in (
                self._keepalive_timer,
                self._keepalive_check_timer,
                self._abort_timer,
                self._close_timer,
                self._starve_timer,
            ):
                if timer is not None:
                    timer.cancel()
            self._keepalive_timer = self._keepalive_check_timer = self._abort_timer = None
            self._close_timer = self._starve_timer = None

    # Keepalive, on the shared timer thread (see .scheduler): these callbacks must never
    # wait on the network, or every connection's keepalive would wait with them.

    def _keepalive_ping(self, when: float | None = None) -> None:
        """Every ``ping_interval``: send a ping, unless the previous one is unanswered
        and still within its ``ping_timeout`` (then :meth:`_keepalive_check` decides)."""
        interval = self.ping_interval
        if interval is None:
            return
        now = time.monotonic()
        # Keep to the schedule (no drift), without catching up on missed beats.
        when = now + interval if when is None else max(now, when + interval)
        with self._lock:
            # Checked under _lock, which _finish() takes after setting _closed: no timer
            # is scheduled after the connection has cancelled them.
            if self._closed.is_set():
                return
            self._keepalive_timer = scheduler.call_at(when, lambda: self._keepalive_ping(when))
        outstanding = self._keepalive_pong
        if outstanding is not None and not outstanding.is_set():
            return
        pauses = self.recv_messages.pauses
        queued = self._queue_ping(None, True)
        if queued is None:
            return  # closing: no more keepalive
        pong = self._keepalive_pong = queued[0]
        self._flush_from_timer()
        timeout = self.ping_timeout
        if timeout is not None:
            with self._lock:
                if self._keepalive_check_timer is not None:
                    # The previous ping's check: answered, or already done.
                    self._keepalive_check_timer.cancel()
                if not self._closed.is_set():
                    self._keepalive_check_timer = scheduler.call_at(
                        now + timeout, lambda: self._keepalive_check(pong, pauses)
                    )

    def _keepalive_check(self, pong: threading.Event, pauses: int) -> None:
        """``ping_timeout`` after a ping: fail the connection if its pong is missing."""
        if pong.is_set() or self.ping_timeout is None or self._closed.is_set():
            return
        if self.recv_messages.paused or self.recv_messages.pauses != pauses:
            # The pong may be waiting unread behind messages the application hasn't read
            # yet: that's backpressure, not a dead peer. The next beat pings again.
            self._keepalive_pong = None
            return
        if self.logger.isEnabledFor(logging.INFO):
            self.logger.info("! timed out waiting for keepalive pong")
        self._fail_from_timer(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")

    def _flush_from_timer(self) -> None:
        """Write what's queued if it's small and the socket takes it now; else leave it.

        Queued bytes are written by the next writer, or by the reader after its next
        read; if nobody writes and the socket stays full, the peer isn't reading, and
        the pong won't come back in time either.
        """
        self._write_if_ready()

    def _write_if_ready(self) -> bool:
        """Write what's queued if it's small and the socket takes it at once, unless
        another thread is writing (it writes these bytes too). False if the socket was
        full. For threads that mustn't wait: the timer thread and the selector thread."""
        pending = self._pending
        lock = self._send_lock
        # Bounded all the same: a write that can't finish aborts the connection.
        timeout = 10.0 if self.close_timeout is None else self.close_timeout
        while pending:  # again after releasing the lock: see _try_flush()
            if not lock.acquire(blocking=False):
                return True  # the thread writing will write our bytes too
            try:
                if sum(map(len, pending)) > _TIMER_WRITE_LIMIT:
                    return True  # an application thread's, which writes them
                if not wait_for(self.socket, write=True, timeout=0):
                    return False
                self._write_pending(Deadline(timeout))
            finally:
                lock.release()
        return True

    def _fail_from_timer(self, code: int, reason: str, *, fail: bool = True) -> None:
        """Fail the connection (RFC 6455 §7.1.7) without waiting for the handshake.

        The reader thread sees the peer's close frame or EOF and closes the socket; an
        abort at ``close_timeout`` bounds that, as :meth:`_fail` does by waiting. With
        ``fail=False``, start the closing handshake instead (as ``close()`` does, but
        without waiting): for ``broadcast()``, which mustn't wait on a slow client.
        """
        if fail:
            with self._receiving:  # failing stops the receiving side too
                self.protocol.fail(code, reason)
        with self._lock:
            if not fail and self.protocol.state is State.OPEN:
                self.protocol.send_close(code, reason)
            self._queue_writes()
        self.recv_messages.stop_pausing()
        self._flush_from_timer()
        timeout = 10.0 if self.close_timeout is None else self.close_timeout
        with self._lock:
            if not self._closed.is_set():
                self._abort_timer = scheduler.call_later(timeout, self._abort_if_open)

    def _abort_if_open(self) -> None:
        if not self._closed.is_set():
            if self.debug:
                self.logger.debug("! timed out waiting for the TCP connection to close")
            self._abort()


def __getattr__(name: str) -> Any:
    # websockets defines broadcast() in its connection modules; it has a module of its
    # own here (imported lazily: it imports this one).
    if name == "broadcast":
        from .broadcast import broadcast

        return broadcast
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
