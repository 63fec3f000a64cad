"""Code shared by the testees: arguments, the missing-API exit, the wstest client loop, and
the blocking-socket driver of the Sans-I/O core.

The Sans-I/O driver is deliberately plain (one thread per connection, blocking sockets) so
that a failing case points at the protocol core, not at clever I/O code in the harness.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

from conformance.testees import EXIT_MISSING, MAX_SIZE

__all__ = ["MAX_SIZE", "log", "missing", "note"]

#: Seconds to wait for the peer to close TCP once this side expects it (RFC 6455 §7.1.1).
CLOSE_TIMEOUT = 10.0
#: Seconds a client connection may stay silent before the testee gives up on it.
IDLE_TIMEOUT = 120.0


def log(message: str) -> None:
    """Diagnostics go to stderr: stdout of a server testee carries only its PORT line."""
    print(message, file=sys.stderr, flush=True)


def note(message: str) -> None:
    """A remark the harness copies into the summary (e.g. a feature that is absent)."""
    log(f"NOTE: {message}")


def missing(exc: BaseException) -> NoReturn:
    """Report that the API under test cannot be imported yet, and exit."""
    log(f"MISSING: {type(exc).__name__}: {exc}")
    sys.exit(EXIT_MISSING)


@contextlib.contextmanager
def importing() -> Iterator[None]:
    """Turn an ImportError of the library into the 'missing' exit, not a traceback."""
    try:
        yield
    except ImportError as exc:
        missing(exc)


def server_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    return parser.parse_args()


def client_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True, help="wstest fuzzingserver, ws://host:port")
    parser.add_argument("--agent", required=True, help="agent name in wstest's reports")
    return parser.parse_args()


def announce_port(port: int) -> None:
    """Tell the harness where the server listens: the only line a server prints on stdout."""
    print(f"PORT {port}", flush=True)


def run_client_cases(
    url: str,
    agent: str,
    fetch_text: Callable[[str], str],
    echo: Callable[[str], None],
) -> int:
    """Drive wstest's fuzzingserver: case count, every case, then the reports.

    ``fetch_text(uri)`` returns the first text message of a connection and closes it;
    ``echo(uri)`` echoes every message until the connection closes. A case that ends in an
    exception is logged and the next one runs: wstest judges each case, not this loop.
    """
    url = url.rstrip("/")
    count = int(fetch_text(f"{url}/getCaseCount"))
    log(f"{agent}: {count} cases")
    for case in range(1, count + 1):
        try:
            echo(f"{url}/runCase?case={case}&agent={agent}")
        except Exception as exc:
            log(f"{agent}: case {case}: {type(exc).__name__}: {exc}")
    echo(f"{url}/updateReports?agent={agent}")
    log(f"{agent}: done")
    return 0


# Sans-I/O over blocking sockets


def deflate_factories(side: str) -> list[Any]:
    """permessage-deflate factories for the Sans-I/O testees, or [] (with a note) if absent."""
    try:
        from websocket_ref.extensions import permessage_deflate as pmd
    except ImportError as exc:
        note(f"permessage-deflate unavailable ({exc}); running without compression")
        return []
    if side == "server":
        enable = getattr(pmd, "enable_server_permessage_deflate", None)
        return list(enable(None)) if enable else [pmd.ServerPerMessageDeflateFactory()]
    enable = getattr(pmd, "enable_client_permessage_deflate", None)
    return list(enable(None)) if enable else [pmd.ClientPerMessageDeflateFactory()]


def flush(sock: socket.socket, protocol: Any) -> bool:
    """Write what the protocol has to send; ``b""`` half-closes. False if the peer is gone."""
    for chunk in protocol.data_to_send():
        try:
            if chunk:
                sock.sendall(chunk)
            else:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            return False
    return True


def pump(sock: socket.socket, protocol: Any, on_events: Callable[[Any, list[Any]], None]) -> None:
    """Move bytes between ``sock`` and ``protocol`` until TCP closes; then close the socket.

    After this side expects the connection to close it waits at most CLOSE_TIMEOUT for the
    peer, then aborts, as an I/O layer built on the core should (RFC 6455 §7.1.1).
    """
    # Answer the messages before a bad frame, then fail (see Protocol.fail_pending()).
    protocol.defer_failures = True
    try:
        if not flush(sock, protocol):
            return
        while True:
            sock.settimeout(CLOSE_TIMEOUT if protocol.close_expected() else IDLE_TIMEOUT)
            try:
                data = sock.recv(65536)
            except TimeoutError:
                return
            except OSError:
                data = b""
            if data:
                protocol.receive_data(data)
            else:
                protocol.receive_eof()
            # Answering an event can release more: sending the handshake response lets the
            # core parse frames that arrived together with the request.
            while events := protocol.events_received():
                on_events(protocol, events)
            protocol.fail_pending()
            if not flush(sock, protocol) or not data:
                return
    except Exception:
        log(traceback.format_exc())
    finally:
        sock.close()


class EchoMessages:
    """Echo each message once it is complete, as an application on the core would.

    One per connection: it holds the fragments of the message being received (the core
    bounds a message to ``max_size``). Echoing whole messages rather than frame by frame
    keeps the 12.x/13.x cases affordable: a message the suite fragments into 512 frames
    comes back as one compressed frame instead of 512 flushed ones.
    """

    def __init__(self) -> None:
        from websocket_ref.messages import MessageBuffer

        self.message = MessageBuffer()

    def __call__(self, protocol: Any, events: list[Any]) -> None:
        from websocket_ref import Frame, Opcode, State
        from websocket_ref.messages import MessageBuffer

        for event in events:
            if not isinstance(event, Frame) or event.opcode > Opcode.BINARY:
                continue
            # TEXT or BINARY starts a message, CONT continues it (the core checked).
            self.message.add(event)
            if event.fin:
                message, self.message = self.message, MessageBuffer()
                if protocol.state is State.OPEN:
                    if message.opcode is Opcode.TEXT:
                        protocol.send_text(message.data())
                    else:
                        protocol.send_binary(message.data())
