"""Tracing: what a connection sends and receives, annotated with the RFC sections behind it.

Pass ``trace=`` to a protocol (or to ``connect()`` / ``serve()`` of either API) and it is
called with a :class:`TraceEvent` for every handshake request and response, every frame
sent or received (as it crosses the wire: after extensions encoded it, before they decode
it), every change of the connection's state, and every failure::

    >>> from websocket_ref import ClientProtocol, parse_uri
    >>> events = []
    >>> client = ClientProtocol(parse_uri("ws://example.com/"), trace=events.append)
    >>> client.send_request(client.connect())
    >>> print(events[0].lines()[0])
    > GET / HTTP/1.1  [RFC 6455 §4.1 opening handshake: client request]

``python -m websocket_ref --trace`` prints these events; the docs' RFC walkthrough shows
them. The hook costs nothing when unset: the protocol checks one attribute on paths that
already check whether debug logging is on.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable

from .frames import Close, Frame, Opcode
from .http11 import Request, Response

__all__ = ["TraceEvent", "TraceHook", "describe_frame", "describe_head"]


@dataclasses.dataclass(frozen=True)
class TraceEvent:
    """One thing a connection did, as seen from one side.

    ``direction`` is ``">"`` for something sent, ``"<"`` for something received, ``"="``
    for a change of state and ``"!"`` for a failure. Exactly one of ``frame``, ``head``
    and ``message`` is set.
    """

    #: ``"client"`` or ``"server"``: the side that observed the event.
    side: str
    #: ``">"`` sent, ``"<"`` received, ``"="`` state change, ``"!"`` failure.
    direction: str
    #: The frame sent or received, as on the wire.
    frame: Frame | None = None
    #: Whether the frame was masked (every frame from a client is).
    masked: bool = False
    #: Whether the frame's bytes were prepared once for several connections.
    prepared: bool = False
    #: The handshake request or response sent or received.
    head: Request | Response | None = None
    #: What happened, for state changes and failures.
    message: str = ""
    #: The connection's :attr:`~websocket_ref.protocol.Protocol.id`, to tell connections
    #: of a server apart.
    connection_id: uuid.UUID | None = None

    def lines(self) -> list[str]:
        """The event as text: one line per frame or event, one per handshake line."""
        if self.frame is not None:
            line = describe_frame(self.direction, self.frame, masked=self.masked)
            return [line + " (prepared)" if self.prepared else line]
        if self.head is not None:
            return describe_head(self.direction, self.head)
        return [f"{self.direction} {self.message}"]

    def __str__(self) -> str:
        return "\n".join(self.lines())


#: The type of a ``trace=`` argument.
TraceHook = Callable[[TraceEvent], None]


def _length_encoding(length: int) -> str:
    # RFC 6455 §5.2 [R6455-5.2-5]: payload length in 7 bits, or 126 + 16 bits, or
    # 127 + 64 bits (the trace names the encoding; the sender picks the minimal one)
    if length < 126:
        return "7-bit length"
    if length < 65536:
        return "16-bit extended length"
    return "64-bit extended length"


_OPCODE_RULES = {
    Opcode.TEXT: "§5.6 text (UTF-8)",
    Opcode.BINARY: "§5.6 binary",
    Opcode.CONT: "§5.4 continuation",
    Opcode.CLOSE: "§5.5.1 close",
    Opcode.PING: "§5.5.2 ping",
    Opcode.PONG: "§5.5.3 pong",
}


def describe_frame(direction: str, frame: Frame, *, masked: bool) -> str:
    """One line describing a frame on the wire: its header fields and the rules behind them.

    ``direction`` is ``">"`` for sent frames and ``"<"`` for received ones; ``masked``
    says whether the frame was masked (every frame from a client is).
    """
    rsv = f"{frame.rsv1:d}{frame.rsv2:d}{frame.rsv3:d}"
    length = len(frame.data)
    fields = (
        f"{direction} {frame.opcode.name} fin={frame.fin:d} rsv={rsv} mask={masked:d} len={length}"
    )
    rules = [_OPCODE_RULES[frame.opcode]]
    if frame.opcode is Opcode.CLOSE:
        try:
            close = Close.parse(frame.data)
        except Exception as exc:  # the core reports it; the trace only describes
            fields += f" (invalid close payload: {exc})"
        else:
            fields += f" code={close}"
            rules.append("§7.4.1 status code" if frame.data else "§7.1.5 no code: 1005")
    if not frame.fin:
        rules.append("§5.4 fragment, more follow")
    if frame.rsv1:
        rules.append("RFC 7692 §6 compressed")
    rules.append("§5.3 masked (client to server)" if masked else "§5.1 unmasked (from server)")
    rules.append(f"§5.2 {_length_encoding(length)}")
    return f"{fields}  [RFC 6455 {', '.join(rules)}]"


def describe_head(direction: str, head: Request | Response) -> list[str]:
    """The lines of a handshake request or response, the first one annotated."""
    if isinstance(head, Request):
        first = (
            f"{direction} GET {head.path} HTTP/1.1  "
            "[RFC 6455 §4.1 opening handshake: client request]"
        )
    elif head.status_code == 101:
        first = (
            f"{direction} HTTP/1.1 101 {head.reason_phrase}  "
            "[RFC 6455 §4.2.2 server accepts: 101 Switching Protocols]"
        )
    else:
        first = (
            f"{direction} HTTP/1.1 {head.status_code} {head.reason_phrase}  "
            "[RFC 6455 §4.2.2 server refuses the upgrade]"
        )
    lines = [first]
    lines.extend(f"{direction} {key}: {value}" for key, value in head.headers.raw_items())
    if isinstance(head, Response) and head.body:
        lines.append(f"{direction} [body] ({len(head.body)} bytes)")
    return lines
