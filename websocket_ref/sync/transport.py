"""Byte streams under a threaded connection: plain sockets and TLS over memory BIOs.

A connection has one reader, which alone calls :meth:`Transport.recv` (a thread of the
connection's own, which blocks) or :meth:`Transport.recv_ready` (the shared selector
thread, once the socket is readable: it never blocks), and any number of writer threads,
which the connection serializes before they call :meth:`Transport.write`. Two rules
shape this module:

* No lock is ever held across a network wait by more than one party: a thread blocked
  in ``recv`` never prevents another from writing, and the other way round.
* An OpenSSL connection object must not be used by two threads at once: a concurrent
  ``SSL_read`` and ``SSL_write`` corrupt its record layer. So TLS isn't done with
  :class:`ssl.SSLSocket` (whose ``recv`` blocks inside OpenSSL) but with
  :class:`ssl.SSLObject` over memory BIOs: a short-held lock guards the TLS state,
  while the socket reads and writes happen outside it.

Both transports can half-close (``write_eof``), which the closing handshake needs
(RFC 6455 §7.1.1: the server closes the TCP connection first); over TLS that sends a
``close_notify`` alert, then the TCP FIN.
"""

from __future__ import annotations

import collections
import contextlib
import select
import socket
import ssl as ssl_module
import threading
from collections.abc import Sequence

from .utils import Deadline

__all__ = ["Transport", "TLSTransport", "RECV_BUFSIZE"]

#: Bytes asked from the socket per read.
RECV_BUFSIZE = 65536

# Below this size, header and payload are joined into one write: a copy is cheaper than
# a second system call (or a second TLS record).
_JOIN_LIMIT = 65536

# Plaintext bytes encrypted per step when writing large messages over TLS, so that the
# encrypted copy stays small and the reader can take the TLS lock in between.
_TLS_WRITE_CHUNK = 262144

# Bytes asked from a readable socket per read in the selector thread: a 64 KiB frame
# and its header fit in one read, and the bytes object that what arrived is copied
# into stays under glibc's default mmap threshold (128 KiB), above which it would be
# memory mapped and unmapped again at every read. Measured (CPU per message, client +
# server, median of 5, bench/peer.py): streaming 64 KiB messages 94 -> 80 us (as with
# 256 KiB reads); 1 MiB messages 943 -> 1,053 us, the copy (with 256 KiB: 1,107 us).
_READY_BUFSIZE = 131072 - 64


class _ReadBuffer(threading.local):
    """One buffer per thread, for the reads of every connection that thread reads for.

    The selector thread reads into it and copies out what arrived, at once. Reading
    with ``sock.recv(size)`` instead allocates ``size`` bytes per read, then shrinks
    them: allocations of 64 KiB that came and went at every read kept glibc handing
    memory back and faulting it in again (streaming 64 KiB messages: about 8 page
    faults per message on the server, measured with ``perf stat -e page-faults`` on
    ``bench/peer.py``; 2 after), and cost more CPU than the copy.
    """

    def __init__(self) -> None:
        self.view = memoryview(bytearray(_READY_BUFSIZE))


_read_buffer = _ReadBuffer()

_HAS_SENDMSG = hasattr(socket.socket, "sendmsg")
_MSG_DONTWAIT: int = getattr(socket, "MSG_DONTWAIT", 0)
_IOV_MAX = 1024


def wait_for(sock: socket.socket, *, write: bool, timeout: float | None) -> bool:
    """Wait until ``sock`` is readable (or writable); False if ``timeout`` elapsed first."""
    if timeout is None:
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLOUT if write else select.POLLIN)
        return bool(poller.poll(max(0.0, timeout) * 1000))
    if write:  # pragma: no cover - platforms without poll()
        return bool(select.select([], [sock], [], timeout)[1])
    return bool(select.select([sock], [], [], timeout)[0])  # pragma: no cover


def send_bytes(sock: socket.socket, data: bytes | memoryview, deadline: Deadline | None) -> None:
    """Write all of ``data``; with a deadline, never block past it (TimeoutError)."""
    if deadline is None or deadline.deadline is None:
        sock.sendall(data)
        return
    view = memoryview(data)
    # MSG_DONTWAIT: a partial write instead of blocking when the buffer fills up. An
    # ssl.SSLSocket (given by the user) takes no flags: it writes a record at a time.
    flags = 0 if isinstance(sock, ssl_module.SSLSocket) else _MSG_DONTWAIT
    while view:
        if not wait_for(sock, write=True, timeout=deadline.timeout()):
            raise TimeoutError("timed out while writing")
        try:
            sent = sock.send(view, flags)
        except BlockingIOError:
            continue
        view = view[sent:]


def send_chunks(sock: socket.socket, chunks: Sequence[bytes], deadline: Deadline | None) -> None:
    """Write ``chunks`` in order, gathering them in one system call when possible."""
    if len(chunks) == 1:
        send_bytes(sock, chunks[0], deadline)
        return
    if not _HAS_SENDMSG or deadline is not None or sum(map(len, chunks)) <= _JOIN_LIMIT:
        data = b"".join(chunks)
        send_bytes(sock, data, deadline)
        return
    # Scatter/gather: header and payload reach the kernel without being joined.
    buffers: list[bytes | memoryview] = list(chunks)
    while buffers:
        sent = sock.sendmsg(buffers[:_IOV_MAX])
        while sent:
            size = len(buffers[0])
            if sent >= size:
                sent -= size
                del buffers[0]
            else:
                buffers[0] = memoryview(buffers[0])[sent:]
                sent = 0
        while buffers and not len(buffers[0]):
            del buffers[0]


class Transport:
    """A plain stream socket (TCP or Unix)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._eof_sent = False

    @property
    def ssl_object(self) -> ssl_module.SSLObject | None:
        """The TLS connection (certificates, cipher, ALPN), or None for a plain socket."""
        return None

    def recv(self, timeout: float | None = None) -> bytes:
        """Read some bytes; ``b""`` at EOF; :class:`TimeoutError` after ``timeout``.

        Only one thread at a time may read.
        """
        if timeout is not None and not wait_for(self.sock, write=False, timeout=timeout):
            raise TimeoutError("timed out while reading")
        return self.sock.recv(RECV_BUFSIZE)

    def recv_ready(self) -> bytes | None:
        """Read what a readable socket holds, without blocking.

        ``b""`` at EOF; None if there's nothing to return yet (a spurious wake-up, or
        part of a TLS record). Only one thread at a time may read.
        """
        view = _read_buffer.view
        try:
            size = self.sock.recv_into(view, 0, _MSG_DONTWAIT)
        except BlockingIOError:
            return None
        return bytes(view[:size])

    def write(self, chunks: Sequence[bytes], deadline: Deadline | None = None) -> None:
        """Write ``chunks`` in order. Callers serialize writes."""
        if len(chunks) == 1 and (deadline is None or deadline.deadline is None):
            # What send_chunks() does for one chunk without a deadline (most writes: a
            # message's frame), without its two calls.
            self.sock.sendall(chunks[0])
            return
        send_chunks(self.sock, chunks, deadline)

    def write_eof(self, deadline: Deadline | None = None) -> None:
        """Close the write side: the peer reads EOF, and can still send to us."""
        if not self._eof_sent:
            self._eof_sent = True
            # OSError: the connection is already gone; there's nothing left to close.
            # RFC 6455 §7.1.1 [R6455-7.1.1-1]: a method that cleanly closes the TCP
            # connection: a FIN after the data (TLSTransport sends close_notify first)
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_WR)

    def abort(self) -> None:
        """Shut the socket down both ways; threads blocked on it return at once.

        Closing the file descriptor under a blocked thread could let it act on a reused
        descriptor, so the socket is only shut down here and closed by :meth:`close`.
        """
        # OSError: not connected anymore. Call socket.socket's method: an SSLSocket
        # passed by the user would drop its TLS state here.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)

    def close(self) -> None:
        """Release the socket. Callers make sure no other thread is using it."""
        self.sock.close()


class TLSTransport(Transport):
    """TLS over a plain socket, through :class:`ssl.SSLObject` and two memory BIOs.

    ``_tls_lock`` guards the TLS state and the BIOs and is only held while OpenSSL
    works in memory. Encrypted bytes must reach the socket in the order they left the
    outgoing BIO: they're queued under ``_tls_lock`` and written under ``_raw_lock``.
    """

    def __init__(
        self,
        sock: socket.socket,
        ssl_object: ssl_module.SSLObject,
        incoming: ssl_module.MemoryBIO,
        outgoing: ssl_module.MemoryBIO,
    ) -> None:
        super().__init__(sock)
        self._ssl = ssl_object
        self._incoming = incoming
        self._outgoing = outgoing
        self._tls_lock = threading.Lock()
        self._raw_lock = threading.Lock()
        self._raw_pending: collections.deque[bytes] = collections.deque()
        self._eof_received = False

    @classmethod
    def handshake(
        cls,
        sock: socket.socket,
        context: ssl_module.SSLContext,
        *,
        server_side: bool,
        server_hostname: str | None,
        deadline: Deadline,
    ) -> TLSTransport:
        """Run the TLS handshake on a connected socket within ``deadline``."""
        incoming, outgoing = ssl_module.MemoryBIO(), ssl_module.MemoryBIO()
        ssl_object = context.wrap_bio(
            incoming, outgoing, server_side=server_side, server_hostname=server_hostname
        )
        transport = cls(sock, ssl_object, incoming, outgoing)
        while True:
            try:
                ssl_object.do_handshake()
            except ssl_module.SSLWantReadError:
                pass
            else:
                break
            finally:
                if outgoing.pending:
                    send_bytes(sock, outgoing.read(), deadline)
            if not wait_for(sock, write=False, timeout=deadline.timeout()):
                raise TimeoutError("timed out during TLS handshake")
            data = sock.recv(RECV_BUFSIZE)
            if data:
                incoming.write(data)
            else:
                incoming.write_eof()
        return transport

    @property
    def ssl_object(self) -> ssl_module.SSLObject:
        return self._ssl

    def _decrypt(self, *, wait: bool = True) -> bytes | None:
        """Return the plaintext that the incoming BIO holds; b"" at EOF; None if none.

        With ``wait=False``, records that reading produced are written only if the
        socket takes them at once; else they go out with the next write.
        """
        chunks: list[bytes] = []
        eof = False
        with self._tls_lock:
            try:
                # All of it: what stays in the BIO wouldn't make the socket readable.
                while True:
                    data = self._ssl.read(RECV_BUFSIZE)
                    if not data:  # close_notify received
                        eof = True
                        break
                    chunks.append(data)
            except ssl_module.SSLWantReadError:
                pass
            except (ssl_module.SSLZeroReturnError, ssl_module.SSLEOFError):
                # close_notify, or a TCP EOF without one (a "ragged" EOF): the
                # WebSocket closing handshake tells whether closing was clean.
                eof = True
            # Reading may produce records to send (e.g. a TLS 1.3 KeyUpdate reply).
            if self._outgoing.pending:
                self._raw_pending.append(self._outgoing.read())
        if self._raw_pending and (wait or wait_for(self.sock, write=True, timeout=0)):
            self._flush_raw(blocking=False)
        if chunks:
            return b"".join(chunks)
        if eof or self._eof_received:
            return b""
        return None

    def _feed(self, data: bytes | memoryview) -> None:
        """Hand bytes read from the socket to OpenSSL (b"": the socket's EOF)."""
        with self._tls_lock:
            if data:
                self._incoming.write(data)
            else:
                self._eof_received = True
                self._incoming.write_eof()

    def recv(self, timeout: float | None = None) -> bytes:
        while True:
            plaintext = self._decrypt()
            if plaintext is not None:
                return plaintext
            if timeout is not None and not wait_for(self.sock, write=False, timeout=timeout):
                raise TimeoutError("timed out while reading")
            self._feed(self.sock.recv(RECV_BUFSIZE))

    def recv_ready(self) -> bytes | None:
        view = _read_buffer.view
        try:
            size = self.sock.recv_into(view, 0, _MSG_DONTWAIT)
        except BlockingIOError:
            return None
        self._feed(view[:size])
        return self._decrypt(wait=False)

    def write(self, chunks: Sequence[bytes], deadline: Deadline | None = None) -> None:
        if len(chunks) > 1 and sum(map(len, chunks)) <= _JOIN_LIMIT:
            chunks = [b"".join(chunks)]
        for chunk in chunks:
            view = memoryview(chunk)
            for start in range(0, len(view), _TLS_WRITE_CHUNK):
                with self._tls_lock:
                    self._ssl.write(view[start : start + _TLS_WRITE_CHUNK])
                    self._raw_pending.append(self._outgoing.read())
                self._flush_raw(blocking=True, deadline=deadline)

    def write_eof(self, deadline: Deadline | None = None) -> None:
        if self._eof_sent:
            return
        self._eof_sent = True
        with self._tls_lock:
            # Send close_notify; we can still read until the peer's own EOF. SSLWantReadError
            # only says that the peer's close_notify hasn't arrived yet.
            with contextlib.suppress(ssl_module.SSLError):
                self._ssl.unwrap()
            if self._outgoing.pending:
                self._raw_pending.append(self._outgoing.read())
        # OSError: the connection is already gone; there's nothing left to close.
        with contextlib.suppress(OSError):
            self._flush_raw(blocking=True, deadline=deadline)
            self.sock.shutdown(socket.SHUT_WR)

    def _flush_raw(self, *, blocking: bool, deadline: Deadline | None = None) -> None:
        """Write queued TLS records in order.

        A non-blocking flush (from the reader) leaves the records to the thread that
        holds ``_raw_lock``: that thread checks the queue again after releasing it.
        """
        pending = self._raw_pending
        while pending:
            if not blocking:
                acquired = self._raw_lock.acquire(blocking=False)
            elif deadline is None or deadline.deadline is None:
                acquired = self._raw_lock.acquire()
            else:
                acquired = self._raw_lock.acquire(timeout=deadline.timeout() or 0.0)
                if not acquired:
                    raise TimeoutError("timed out while writing")
            if not acquired:
                return
            try:
                while pending:
                    send_bytes(self.sock, pending.popleft(), deadline)
            finally:
                self._raw_lock.release()
