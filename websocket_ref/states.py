"""The connection's states and every transition between them, in one table.

A connection has two pieces of state:

* :class:`State`, its public state as RFC 6455 names it (§4-§7): CONNECTING during the
  opening handshake, OPEN, CLOSING once a close frame was sent or received, CLOSED once
  the TCP connection is closed;
* :class:`Reading`, what the next incoming bytes are: the handshake, the body of a
  response that refused the upgrade, frames, bytes to discard, or nothing after EOF.

They change only through :data:`TRANSITIONS`: ``(state, change) → (new state, new
reading)``, where a :class:`Change` is something that happened (a close frame was
received, the peer closed TCP…). :meth:`Protocol._transition
<websocket_ref.protocol.Protocol>` looks the change up here and applies it; a change that
isn't in the table for the current state is a bug, and raises. Two rules complete the
reading state: EOF is final (nothing arrives after it), and DISCARD only gives way to EOF.

The docs' state diagram (``docs/topics/states.md``) is generated from this table by
``python docs/_ext/state_diagram.py``; a test checks that it is current.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

__all__ = ["State", "Reading", "Change", "Transition", "TRANSITIONS", "next_reading"]


class State(enum.IntEnum):
    """The states of a WebSocket connection (RFC 6455 §4-§7)."""

    CONNECTING = 0  # opening handshake in progress
    OPEN = 1  # data may be sent and received
    CLOSING = 2  # a close frame was sent or received
    CLOSED = 3  # the TCP connection is closed


class Reading(enum.Enum):
    """What the receiving side expects next."""

    HANDSHAKE = "handshake"  # request (server) or response head (client)
    ACCEPTING = "accepting"  # server: request received, waiting for send_response()
    RESPONSE_BODY = "response body"  # client: body of a response that refused the upgrade
    FRAMES = "frames"
    DISCARD = "discard"  # after a close frame or a failure: ignore what arrives
    EOF = "eof"  # the peer closed its side; nothing more can arrive


class Change(enum.Enum):
    """Something that happened to a connection and may change its state."""

    REQUEST_RECEIVED = "handshake request received"
    HANDSHAKE_ACCEPTED = "handshake accepted"
    REFUSAL_RECEIVED = "refusal received"
    CLOSE_SENT = "close frame sent"
    CLOSE_RECEIVED = "close frame received"
    READING_STOPPED = "reading stopped"
    EOF_RECEIVED = "EOF received"


class Transition(NamedTuple):
    """One row of the table: the new state, the new reading state, what goes with it."""

    state: State
    #: The new reading state; None leaves it as it is.
    reading: Reading | None
    #: Which side it happens to: "client", "server" or "both".
    side: str
    #: What the protocol does around it, for the docs.
    actions: str


#: Every transition of a connection: ``(state, change) → Transition``.
TRANSITIONS: dict[tuple[State, Change], Transition] = {
    # The opening handshake (§4).
    (State.CONNECTING, Change.REQUEST_RECEIVED): Transition(
        State.CONNECTING,
        Reading.ACCEPTING,
        "server",
        "hand the request to the application, which accepts or refuses it "
        "(send_response); bytes that follow it wait",
    ),
    (State.CONNECTING, Change.HANDSHAKE_ACCEPTED): Transition(
        State.OPEN,
        Reading.FRAMES,
        "both",
        "server: 101 sent; client: a valid 101 received. Frames that arrived behind the "
        "handshake are parsed",
    ),
    (State.CONNECTING, Change.REFUSAL_RECEIVED): Transition(
        State.CONNECTING,
        Reading.RESPONSE_BODY,
        "client",
        "read the body of the response that refused the upgrade, then fail the handshake",
    ),
    (State.CONNECTING, Change.READING_STOPPED): Transition(
        State.CONNECTING,
        Reading.DISCARD,
        "both",
        "the handshake failed (or was refused): close TCP, ignore what arrives",
    ),
    (State.CONNECTING, Change.EOF_RECEIVED): Transition(
        State.CLOSED, Reading.EOF, "both", "the handshake fails if it hadn't ended; close TCP"
    ),
    # Data transfer (§5, §6) and the closing handshake (§7).
    (State.OPEN, Change.CLOSE_SENT): Transition(
        State.CLOSING,
        None,
        "both",
        "the application closed, or the connection failed: no data frame may follow (§5.5.1)",
    ),
    (State.OPEN, Change.CLOSE_RECEIVED): Transition(
        State.CLOSING,
        Reading.DISCARD,
        "both",
        "echo the close frame's code at once (§5.5.1); the server closes TCP (§7.1.1)",
    ),
    (State.OPEN, Change.READING_STOPPED): Transition(
        State.OPEN,
        Reading.DISCARD,
        "both",
        "a bad frame arrived and its failure is held back until the application answered "
        "what came before it (defer_failures); or the connection failed without a close "
        "frame (1006)",
    ),
    (State.OPEN, Change.EOF_RECEIVED): Transition(
        State.CLOSED, Reading.EOF, "both", "closed without a closing handshake: close code 1006"
    ),
    (State.CLOSING, Change.CLOSE_RECEIVED): Transition(
        State.CLOSING,
        Reading.DISCARD,
        "both",
        "the closing handshake is complete; the server closes TCP (§7.1.1), the client "
        "waits for it",
    ),
    (State.CLOSING, Change.READING_STOPPED): Transition(
        State.CLOSING, Reading.DISCARD, "both", "the connection failed while closing"
    ),
    (State.CLOSING, Change.EOF_RECEIVED): Transition(
        State.CLOSED, Reading.EOF, "both", "close TCP"
    ),
    (State.CLOSED, Change.READING_STOPPED): Transition(
        State.CLOSED, None, "both", "nothing: reading ended with the connection"
    ),
}


def next_reading(current: Reading, target: Reading | None) -> Reading:
    """The reading state after a transition to ``target`` from ``current``.

    EOF is final: nothing can arrive after it. DISCARD gives way to EOF only: once a
    connection stopped reading, it doesn't start again.
    """
    if target is None or current is Reading.EOF:
        return current
    if current is Reading.DISCARD and target is not Reading.EOF:
        return current
    return target
