"""Peers that are slow on purpose: they don't finish the handshake, or don't read.

* Slowloris: clients that open connections and send their request a few bytes at a time,
  or never finish it. ``open_timeout`` drops them; nothing stays behind.
* A client that never reads: the handler's ``send()`` waits (asyncio: the write buffer
  is above ``write_limit``; threading: the socket is full). Memory stays near
  ``write_limit`` plus one message.
* An application that never reads: the server stops reading the socket once
  ``max_queue`` frames wait for it; TCP pushes back on the client. Memory stays near
  ``max_queue`` messages.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading

import pytest

from .support import (
    APIS,
    BLAST,
    TIMEOUT,
    client_frame,
    handshake,
    running_server,
    traced_peak,
    wait_until,
)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def closed_by_server(sock: socket.socket) -> bool:
    """Wait (bounded) until the server closes ``sock``; True if it did."""
    try:
        while True:
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except OSError:  # timeout
        return False


@pytest.mark.parametrize("api", APIS)
def test_slowloris_dropped_at_open_timeout(api: str) -> None:
    count = 50
    fds = open_fds()
    threads = threading.active_count()
    with running_server(api, open_timeout=0.5) as (port, handlers):
        socks = []
        for index in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            # Half of them send part of a request, the other half nothing at all.
            if index % 2:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
            socks.append(sock)
        assert all(closed_by_server(sock) for sock in socks)
        for sock in socks:
            sock.close()
        assert handlers.handled == 0
    assert wait_until(lambda: open_fds() <= fds and threading.active_count() <= threads)


@pytest.mark.parametrize("api", APIS)
def test_slowloris_heads_are_bounded_by_max_head_size(api: str) -> None:
    # Heads within the line length and header count limits (which alone allow about
    # 1 MiB), never finished: the server keeps at most max_head_size (64 KiB) of each and
    # answers 431 past it, instead of holding each whole head until open_timeout.
    count = 8
    lines = b"".join(b"X-%03d: %s\r\n" % (i, b"a" * 7000) for i in range(120))  # 840 KiB
    head = b"GET / HTTP/1.1\r\nHost: x\r\n" + lines  # no empty line: never ends
    answers = []
    with running_server(api) as (port, handlers):
        socks = []
        try:
            with traced_peak() as peak:
                for _ in range(count):
                    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
                    socks.append(sock)
                    # OSError: the server answered and closed while we sent.
                    with contextlib.suppress(OSError):
                        sock.sendall(head)
                for sock in socks:
                    answer = b""
                    try:
                        while chunk := sock.recv(65536):
                            answer += chunk
                    except OSError:
                        pass
                    answers.append(answer)
                growth = peak()
        finally:
            for sock in socks:
                sock.close()
        assert handlers.handled == 0
    assert all(answer.startswith(b"HTTP/1.1 431 ") for answer in answers), answers
    # Whole heads would be 8 x 840 KiB (7 MB and more, measured before max_head_size);
    # the server holds at most a head's first 64 KiB and a read or two per connection.
    assert growth < count * 2**18, growth


@pytest.mark.parametrize("api", APIS)
def test_client_that_never_reads(api: str) -> None:
    # The handler sends 64 KiB messages as fast as send() lets it; the client reads none.
    with running_server(api, "blast") as (port, handlers):
        sock = handshake(port)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        with sock:
            sock.sendall(client_frame(0x1, b"start"))
            with traced_peak() as peak:
                assert wait_until(handlers.blocked_in_send)
                sent = handlers.sending
                growth = peak()
    # Whatever the kernel's buffers took, the process holds write_limit (32 KiB) and a few
    # copies of the message being sent (the transport's buffer, the frame): not every
    # message the handler sent, let alone what it would keep sending.
    assert growth < len(BLAST) * 8, (growth, sent)


@pytest.mark.parametrize("api", APIS)
def test_application_that_never_reads(api: str) -> None:
    # The handler never calls recv(); the client sends 64 KiB messages until it can't.
    message = client_frame(0x2, BLAST)
    with running_server(api, "idle", compression=None) as (port, _):
        with handshake(port) as sock:
            sock.settimeout(1.0)
            sent = 0
            with traced_peak() as peak:
                try:
                    while sent < 1000:  # 64 MiB: far more than any buffer
                        sock.sendall(message)
                        sent += 1
                except TimeoutError:
                    pass
                growth = peak()
    assert sent < 1000  # the server stopped reading
    # max_queue (16) messages, plus one read's worth of bytes in flight.
    assert growth < 20 * len(BLAST) + 2**20, (growth, sent)
