#!/usr/bin/env python3
"""A WebSocket client on a plain socket, driven by websocket_ref's Sans-I/O core.

Run it against an echo server (e.g. examples/sansio_echo_server.py)::

    python examples/sansio_echo_client.py [URI]

(ws://127.0.0.1:8765/ by default.) It sends a few messages — text, binary, and one
in fragments — prints the echoes, pings the server, and closes the connection.

:class:`Connection` is all an I/O layer does around a Sans-I/O
:class:`ClientProtocol`: feed it the bytes read from the socket, write the bytes it
wants to send (an empty ``b""`` meaning "close the write side"), and hand its events
to the application. Every decision of RFC 6455 is the protocol's: the handshake
request and its verification, masking, answering pings, the closing handshake.
"""

from __future__ import annotations

import collections
import contextlib
import socket
import sys

from websocket_ref import ClientProtocol, Frame, Opcode, Response, State, parse_uri
from websocket_ref.messages import MessageBuffer

#: How many bytes to read from the socket at once.
BUFFER_SIZE = 65536
#: How long to wait for the server before giving up.
TIMEOUT = 10.0
#: How long to wait for the server to close TCP once the connection should end.
CLOSE_TIMEOUT = 10.0


class Connection:
    """A blocking WebSocket client connection: send(), recv(), ping(), close()."""

    def __init__(self, sock: socket.socket, protocol: ClientProtocol) -> None:
        self.sock = sock
        self.protocol = protocol
        self.frames: collections.deque[Frame] = collections.deque()

    @classmethod
    def connect(cls, uri: str, *, timeout: float = TIMEOUT) -> Connection:
        """Open a TCP connection and perform the opening handshake (RFC 6455 §4.1)."""
        ws_uri = parse_uri(uri)
        if ws_uri.secure:
            raise ValueError("this example speaks ws:// only (wss:// would need ssl)")
        sock = socket.create_connection((ws_uri.host, ws_uri.port), timeout=timeout)
        connection = cls(sock, ClientProtocol(ws_uri))
        protocol = connection.protocol
        # connect() builds the request (with a fresh Sec-WebSocket-Key); send it.
        protocol.send_request(protocol.connect())
        connection.flush()
        try:
            while protocol.state is State.CONNECTING:
                if protocol.handshake_exc is not None:
                    # e.g. InvalidStatus when the server answered 403 instead of 101.
                    raise protocol.handshake_exc
                connection.read()
        except BaseException:
            sock.close()
            raise
        return connection

    # Moving bytes

    def flush(self) -> None:
        """Write everything the protocol has to send, in order."""
        for data in self.protocol.data_to_send():
            if data:
                self.sock.sendall(data)
            else:
                # b"" marks the end of what this side sends: half-close the connection.
                # (OSError: the server is already gone.)
                with contextlib.suppress(OSError):
                    self.sock.shutdown(socket.SHUT_WR)

    def read(self) -> None:
        """Read from the socket once; queue the frames parsed; write any answer."""
        try:
            data = self.sock.recv(BUFFER_SIZE)
        except ConnectionError:
            data = b""  # e.g. reset by the server: same as EOF for the protocol
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        for event in self.protocol.events_received():
            if isinstance(event, Frame):
                self.frames.append(event)
            else:
                assert isinstance(event, Response)  # the handshake response
        # The protocol may have something to send: a pong, a close frame, EOF.
        self.flush()

    def next_frame(self) -> Frame:
        """The next frame received; raises ConnectionClosed once there are no more."""
        while not self.frames:
            if self.protocol.state is State.CLOSED:
                raise self.protocol.close_exc
            if self.protocol.close_expected():
                # The closing handshake is done: only EOF can come now. Wait a bit.
                self.sock.settimeout(CLOSE_TIMEOUT)
            self.read()
        return self.frames.popleft()

    # What the application calls

    def send(self, message: str | bytes) -> None:
        """Send a message: text for ``str``, binary for ``bytes``."""
        if isinstance(message, str):
            self.protocol.send_text(message.encode())
        else:
            self.protocol.send_binary(message)
        self.flush()

    def send_fragments(self, fragments: list[str]) -> None:
        """Send one text message in several frames (RFC 6455 §5.4)."""
        first, *rest = fragments
        self.protocol.send_text(first.encode(), fin=not rest)
        for i, fragment in enumerate(rest):
            self.protocol.send_continuation(fragment.encode(), fin=i == len(rest) - 1)
        self.flush()

    def recv(self) -> str | bytes:
        """Receive the next message, reassembled from its frames."""
        while True:
            frame = self.next_frame()
            if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
                # TEXT or BINARY starts a message, CONT frames continue it (the protocol
                # checked their order, size and count, and the UTF-8 of text).
                message = MessageBuffer()
                message.add(frame)
                while not frame.fin:
                    frame = self.next_frame()
                    if frame.opcode is Opcode.CONT:
                        message.add(frame)
                # str for text (validated: decoding can't fail), bytes for binary.
                return message.message(decode=None)
            # PING (already answered by the protocol), PONG, CLOSE: not messages.

    def ping(self, payload: bytes) -> None:
        """Send a ping and wait for its pong (RFC 6455 §5.5.2); queue messages meanwhile."""
        self.protocol.send_ping(payload)
        self.flush()
        skipped: list[Frame] = []
        while True:
            frame = self.next_frame()
            if frame.opcode is Opcode.PONG and frame.data == payload:
                break
            skipped.append(frame)
        self.frames.extendleft(reversed(skipped))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Perform the closing handshake (RFC 6455 §7.1.2), then close the socket."""
        try:
            if self.protocol.state is State.OPEN:
                self.protocol.send_close(code, reason)
                self.flush()
            # RFC 6455 §7.1.1: the server closes TCP first; wait for its EOF, not forever.
            self.sock.settimeout(CLOSE_TIMEOUT)
            while self.protocol.state is not State.CLOSED:
                self.read()  # messages still in flight are dropped here
        except (TimeoutError, OSError):
            pass  # the server didn't close in time, or vanished: close on our side
        finally:
            self.sock.close()


def main(argv: list[str]) -> None:
    uri = argv[1] if len(argv) > 1 else "ws://127.0.0.1:8765/"
    connection = Connection.connect(uri)
    print(f"Connected to {uri}")
    try:
        messages: list[str | bytes] = ["Hello, world!", "κόσμε 🎉", b"\x00\x01\x02 binary \xff"]
        for message in messages:
            connection.send(message)
            print(f"> {message!r}")
            print(f"< {connection.recv()!r}")
        connection.send_fragments(["This message ", "arrives in ", "three frames."])
        print(f"< {connection.recv()!r}")
        connection.ping(b"are you there?")
        print("Ping answered.")
    finally:
        connection.close()
    protocol = connection.protocol
    print(f"Closed: code {protocol.close_code}, reason {protocol.close_reason!r}")


if __name__ == "__main__":
    main(sys.argv)
