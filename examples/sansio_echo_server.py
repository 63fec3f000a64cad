#!/usr/bin/env python3
"""A WebSocket echo server on a plain socket, driven by websocket_ref's Sans-I/O core.

Run it::

    python examples/sansio_echo_server.py [HOST] [PORT]

(127.0.0.1 and 8765 by default; port 0 picks a free port.) It prints the URI it
listens on, then sends every message it receives back to its sender.

This file is all an I/O layer does around a Sans-I/O :class:`ServerProtocol`:

1. read bytes from the socket and feed them to the protocol — ``receive_data()``,
   or ``receive_eof()`` once the peer closed its side of the TCP connection;
2. handle the events the protocol parsed — ``events_received()`` gives the
   handshake :class:`Request`, then :class:`Frame` objects;
3. write what the protocol wants to send — ``data_to_send()``, in which an empty
   ``b""`` means "close the write side of the TCP connection";
4. end the TCP connection: when ``close_expected()`` says the connection should
   end, wait for the peer's EOF, but only for a bounded time.

The protocol makes every decision of RFC 6455: it validates the handshake, answers
pings, echoes close frames, fails the connection on invalid frames and, being the
server, closes TCP first after the closing handshake (§7.1.1). This code only moves
bytes and echoes messages.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading

from websocket_ref import Frame, Opcode, Request, Response, ServerProtocol, State
from websocket_ref.messages import MessageBuffer

#: How many bytes to read from the socket at once.
BUFFER_SIZE = 65536
#: How long to wait for the client's handshake request.
OPEN_TIMEOUT = 10.0
#: How long to wait for the client to close TCP once the connection should end.
CLOSE_TIMEOUT = 10.0


def send_pending(sock: socket.socket, protocol: ServerProtocol) -> None:
    """Write everything the protocol has to send, in order."""
    for data in protocol.data_to_send():
        if data:
            sock.sendall(data)
        else:
            # b"" marks the end of what this side sends: half-close the connection.
            # (OSError: the client is already gone.)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)


class Echo:
    """Reassembles the messages of one connection and sends each one back."""

    def __init__(self, protocol: ServerProtocol) -> None:
        self.protocol = protocol
        # The fragments of the message arriving, joined in one growing buffer: a peer
        # may cut a message into a million frames (the protocol caps that with
        # max_fragments), and a list of them would cost an object each.
        self.message = MessageBuffer()

    def handle(self, event: Request | Response | Frame) -> None:
        protocol = self.protocol
        if isinstance(event, Response):
            return  # only a client receives responses
        if isinstance(event, Request):
            # accept() checks the request and builds a 101 response, or an HTTP error
            # response if the request isn't a valid WebSocket handshake; either way,
            # send it. A refused handshake then ends the connection.
            protocol.send_response(protocol.accept(event))
            return
        if event.opcode not in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
            # PING is answered by the protocol itself, CLOSE too; PONG needs nothing.
            return
        # TEXT or BINARY starts a message, CONT continues it (the protocol checked the
        # order, the size, the number of fragments and the UTF-8 of text).
        self.message.add(event)
        if not event.fin:
            return
        message, self.message = self.message, MessageBuffer()
        # Once a close frame was sent, no data may follow it (RFC 6455 §5.5.1): a message
        # that arrived together with the client's close frame isn't echoed.
        if protocol.state is State.OPEN:
            # Text payloads were validated as UTF-8 by the protocol; echo them as text.
            if message.opcode is Opcode.TEXT:
                protocol.send_text(message.data())
            else:
                protocol.send_binary(message.data())


def handle_connection(
    sock: socket.socket,
    *,
    open_timeout: float = OPEN_TIMEOUT,
    close_timeout: float = CLOSE_TIMEOUT,
) -> ServerProtocol:
    """Serve one client until the connection is closed; return its protocol, for inspection."""
    protocol = ServerProtocol()
    echo = Echo(protocol)
    with sock:
        sock.settimeout(open_timeout)
        while protocol.state is not State.CLOSED:
            if protocol.close_expected():
                # The closing handshake is done (or the handshake was refused, or the
                # connection failed): the client should close TCP now. Don't wait forever.
                sock.settimeout(close_timeout)
            elif protocol.state is State.OPEN:
                sock.settimeout(None)  # messages may take as long as they like
            try:
                data = sock.recv(BUFFER_SIZE)
            except TimeoutError:
                break  # the client is too slow to open or to close: close the socket here
            except ConnectionError:
                data = b""  # e.g. reset by the client: same as EOF for the protocol
            if data:
                protocol.receive_data(data)
            else:
                protocol.receive_eof()
            # Accepting the handshake releases the frames the client sent right behind
            # its request: the loop gets them too, after the request.
            for event in protocol.events_received():
                echo.handle(event)
            send_pending(sock, protocol)
    return protocol


def serve(listener: socket.socket) -> None:
    """Accept connections forever; serve each one in its own thread."""
    while True:
        sock, _address = listener.accept()
        threading.Thread(target=handle_connection, args=(sock,), daemon=True).start()


def main(argv: list[str]) -> None:
    host = argv[1] if len(argv) > 1 else "127.0.0.1"
    port = int(argv[2]) if len(argv) > 2 else 8765
    with socket.create_server((host, port)) as listener:
        host, port = listener.getsockname()[:2]
        print(f"Listening on ws://{host}:{port}/", flush=True)
        try:
            serve(listener)
        except KeyboardInterrupt:
            print("Stopped.", flush=True)


if __name__ == "__main__":
    main(sys.argv)
