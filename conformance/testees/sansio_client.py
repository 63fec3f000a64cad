"""Testee: client on the bare Sans-I/O ClientProtocol over a blocking socket."""

from __future__ import annotations

import socket
import sys
from typing import Any

from conformance.testees._common import (
    MAX_SIZE,
    EchoMessages,
    client_args,
    deflate_factories,
    importing,
    pump,
    run_client_cases,
)

with importing():
    from websocket_ref import ClientProtocol, Frame, Opcode, State
    from websocket_ref.messages import MessageBuffer
    from websocket_ref.uri import parse_uri

EXTENSIONS = deflate_factories("client")


def connect(uri: str) -> tuple[socket.socket, Any]:
    wsuri = parse_uri(uri)
    sock = socket.create_connection((wsuri.host, wsuri.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    protocol = ClientProtocol(wsuri, extensions=EXTENSIONS, max_size=MAX_SIZE)
    protocol.send_request(protocol.connect())
    return sock, protocol


def echo(uri: str) -> None:
    sock, protocol = connect(uri)
    pump(sock, protocol, EchoMessages())
    if protocol.handshake_exc is not None:
        raise protocol.handshake_exc


def fetch_text(uri: str) -> str:
    """First text message of the connection; then close it normally."""
    message = MessageBuffer()
    done: list[str] = []

    def on_events(protocol: Any, events: list[Any]) -> None:
        for event in events:
            if not isinstance(event, Frame) or done:
                continue
            if event.opcode in (Opcode.TEXT, Opcode.CONT):
                message.add(event)
                if event.fin:
                    done.append(str(message.message(decode=True)))
                    if protocol.state is State.OPEN:
                        protocol.send_close(1000)

    sock, protocol = connect(uri)
    pump(sock, protocol, on_events)
    if not done:
        raise RuntimeError(f"no text message from {uri}: {protocol.handshake_exc!r}")
    return done[0]


if __name__ == "__main__":
    args = client_args()
    sys.exit(run_client_cases(args.url, args.agent, fetch_text, echo))
