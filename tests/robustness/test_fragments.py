"""Fragment floods (RFC 6455 §10.4): a message cut into a huge number of tiny frames.

The attack of issue 12: 1,048,576 one-byte fragments, a 1 MiB message, exactly the
default ``max_size``. Memory must stay near the size of the message (fragments are
joined in one buffer as they arrive, never an object per fragment) and the connection
fails with 1009 once ``max_fragments`` frames arrived. CI runs it just past the default
limit; ``bench/robustness.py --attack fragments`` runs it full size.
"""

from __future__ import annotations

import socket

import pytest

from websocket_ref.exceptions import ConnectionClosedError
from websocket_ref.protocol import MAX_FRAGMENTS

from .support import (
    APIS,
    TIMEOUT,
    client_frame,
    handshake,
    read_close_code,
    running_server,
    traced_peak,
    wait_until,
)

ONE_BYTE = client_frame(0x0, b"x", fin=False)


def message(count: int) -> list[bytes]:
    """A binary message of ``count`` one-byte frames, in chunks of 64 KiB.

    Built before memory is traced: the test's own bytes don't count.
    """
    batch = 9362  # 64 KiB of 7-byte frames
    chunks = [client_frame(0x2, b"x", fin=False)]
    remaining = count - 2
    while remaining > 0:
        chunks.append(ONE_BYTE * min(batch, remaining))
        remaining -= batch
    chunks.append(client_frame(0x0, b"x"))
    return chunks


def flood(sock: socket.socket, chunks: list[bytes]) -> None:
    """Send the chunks, until the server closes."""
    try:
        for chunk in chunks:
            sock.sendall(chunk)
    except TimeoutError:
        raise  # the server is slow (a loaded machine), not gone: say so
    except OSError:  # the server failed the connection and closed
        pass


@pytest.mark.parametrize("api", APIS)
def test_fragment_flood_fails_with_1009_in_bounded_memory(api: str) -> None:
    chunks = message(MAX_FRAGMENTS + 1000)
    with running_server(api) as (port, handlers):
        sock = handshake(port)
        # 131,072 frames through a server whose every allocation is traced: seconds
        # normally, but more than TIMEOUT on a loaded machine (seen at load 7).
        sock.settimeout(4 * TIMEOUT)
        with traced_peak() as peak:
            with sock:
                flood(sock, chunks)
                assert read_close_code(sock) == 1009
            assert wait_until(lambda: len(handlers.closed) == 1)
            growth = peak()
    [exc] = handlers.closed
    assert isinstance(exc, ConnectionClosedError)
    assert exc.sent is not None and exc.sent.code == 1009
    assert handlers.messages == 0
    # An object per fragment would be ~100 bytes each: 12 MiB for the 131,072 fragments
    # taken before failing. Joined, they're 128 KiB; everything else is a constant.
    assert growth < 2 * 2**20, growth


@pytest.mark.parametrize("api", APIS)
def test_many_fragments_within_limits_make_one_message(api: str) -> None:
    # The most fragments allowed, each of one byte: accepted, in bounded memory.
    chunks = message(20_000)
    with running_server(api, max_fragments=20_000) as (port, handlers):
        sock = handshake(port)
        with sock, traced_peak() as peak:
            flood(sock, chunks)
            assert wait_until(lambda: handlers.messages == 1, TIMEOUT)
            growth = peak()
            # Checked while the socket is open: closing it ends the handler with
            # ConnectionClosedError, which is no failure of the message.
            assert not handlers.closed and not handlers.errors
    assert growth < 2**20, growth


@pytest.mark.parametrize("api", APIS)
def test_max_fragments_is_an_argument(api: str) -> None:
    with running_server(api, max_fragments=100) as (port, handlers):
        with handshake(port) as sock:
            flood(sock, message(101))
            assert read_close_code(sock) == 1009
        assert wait_until(lambda: len(handlers.closed) == 1)
