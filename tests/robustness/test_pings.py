"""Ping floods: a peer that sends pings and never reads the pongs.

RFC 6455 §5.5.3 lets an endpoint answer only the most recent ping when pongs are still
pending: the core keeps at most a few unsent pongs (16), and the I/O layers leave pongs in the
core while the peer isn't reading what was written already. With nobody waiting in
``send()``, the asyncio server also stops reading once its write buffer is above
``write_limit`` (the threading server's reader blocks on the write): the flood then
meets TCP backpressure. Memory stays bounded either way.

Pings here carry 125 bytes, the most a control frame may (RFC 6455 §5.5), so that
answering each would queue megabytes: more than the kernel's socket buffers absorb
before the Python heap has to. ``bench/robustness.py --attack pings`` sends 400,000.
"""

from __future__ import annotations

import socket

import pytest

from .support import (
    APIS,
    TIMEOUT,
    client_frame,
    handshake,
    running_server,
    traced_peak,
    wait_until,
)

PING = client_frame(0x9, bytes(125))
COUNT = 64_000  # 8 MB of pings; answering each would queue 8 MB of pongs


def flood(sock: socket.socket, count: int = COUNT, stall: float | None = None) -> bool:
    """Send ``count`` pings; True if all went, False if the server stopped reading
    (nothing could be sent for ``stall`` seconds)."""
    sock.settimeout(stall if stall is not None else TIMEOUT)
    batch = 500
    try:
        for start in range(0, count, batch):
            sock.sendall(PING * min(batch, count - start))
    except TimeoutError:
        if stall is None:
            raise
        return False
    finally:
        sock.settimeout(TIMEOUT)
    return True


def never_reading(port: int) -> socket.socket:
    sock = handshake(port)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # hardly any room
    return sock


@pytest.mark.parametrize("api", APIS)
def test_ping_flood_from_a_peer_that_never_reads(api: str) -> None:
    # Either the server reads every ping (asyncio: one pong per read goes out, the write
    # buffer stays low), or it stops reading once the peer doesn't take its pongs (the
    # threading server's reader blocks writing one). Memory is bounded either way.
    with running_server(api, "read") as (port, handlers):
        sock = never_reading(port)
        with sock, traced_peak() as peak:
            if flood(sock, stall=2.0):
                # Every ping was read once this message is.
                sock.sendall(client_frame(0x1, b"after the pings"))
                assert wait_until(lambda: handlers.messages == 1)
            growth = peak()
    assert handlers.errors == []
    assert growth < 2**20, growth


@pytest.mark.parametrize("api", APIS)
def test_ping_flood_while_the_handler_waits_in_send(api: str) -> None:
    # The handler is stuck sending to a peer that doesn't read. The server keeps reading
    # (two peers that both wait in send() mustn't wait for each other forever), so every
    # ping is read, and answered by one of a bounded number of pongs, left in the core
    # until writing resumes.
    with running_server(api, "blast") as (port, handlers):
        sock = never_reading(port)
        with sock, traced_peak() as peak:
            sock.sendall(client_frame(0x1, b"start"))
            assert wait_until(handlers.blocked_in_send)
            flood(sock)
            # Every ping was read once the close frame behind them is.
            sock.sendall(client_frame(0x8, b"\x03\xe8"))
            [ws] = handlers.connections
            assert wait_until(lambda: ws.protocol.close_rcvd is not None)
            growth = peak()
    assert growth < 2**20, growth


def test_asyncio_stops_reading_while_nobody_reads_its_writes() -> None:
    # The write buffer is above write_limit (broadcast() doesn't wait) and the handler
    # waits in recv(), not in send(): the server stops reading; the flood stalls.
    with running_server("asyncio", "flood-then-read") as (port, handlers):
        sock = never_reading(port)
        with sock:
            sock.sendall(client_frame(0x1, b"start"))
            assert wait_until(lambda: len(handlers.connections) == 1)
            [ws] = handlers.connections
            assert wait_until(lambda: ws.transport.get_write_buffer_size() > 2**20)
            with traced_peak() as peak:
                assert not flood(sock, stall=1.0)
                assert not ws.transport.is_reading()
                growth = peak()
    assert growth < 2**20, growth
