"""The Sans-I/O WebSocket connection: explicit states, bytes in, bytes and events out.

A :class:`Protocol` never touches a socket. Callers feed it what they read
(:meth:`~Protocol.receive_data`, :meth:`~Protocol.receive_eof`), call the ``send_*``
methods for what the application wants to send, and then move bytes the other way
(:meth:`~Protocol.data_to_send`) and hand events to the application
(:meth:`~Protocol.events_received`). Every protocol decision is made here, so the
asyncio and threading layers only move bytes and wait.

Two state machines describe a connection:

* :class:`State` is the connection's public state of RFC 6455 §4-§7:
  CONNECTING → OPEN → CLOSING → CLOSED.
* The receiver's :class:`Reading` state says what the next incoming bytes are: the
  handshake, a refused handshake's response body, frames, bytes to discard after a
  close frame or a failure, or nothing at all after EOF.

Both change only through ``Protocol._transition()``, which applies the table of
:mod:`websocket_ref.states`.

Fragmentation (§5.4) adds one more piece of state per direction: the opcode of the
message being received or sent in fragments, if any.
"""

from __future__ import annotations

import enum
import logging
import threading
import uuid
from typing import TYPE_CHECKING, Final

from ._events import ReleasingEvents
from ._mypyc import mypyc_attr
from .exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidFrame,
    InvalidState,
    InvalidUTF8,
    PayloadTooBig,
    ProtocolError,
    TooManyFragments,
)
from .extensions.base import Extension, as_extension
from .frame_parser import FrameParser
from .frames import Close, CloseCode, Frame, Opcode, is_data_opcode, serialize_frame
from .http11 import Request, Response
from .states import TRANSITIONS, Change, Reading, State, next_reading
from .trace import TraceEvent, TraceHook
from .utf8 import Utf8Validator

if TYPE_CHECKING:
    from .prepared import PreparedMessage

__all__ = [
    "MaxSize",
    "split_max_size",
    "Side",
    "State",
    "Reading",
    "Protocol",
    "Event",
    "ReleasingEvents",
    "SERVER",
    "CLIENT",
    "MAX_FRAGMENTS",
    "COALESCE_LIMIT",
    "SEPARATE_FRAGMENTS",
    "MAX_PENDING_PONGS",
]

#: What ``logger=`` accepts besides a logger's name.
LoggerLike = logging.Logger | logging.LoggerAdapter  # type: ignore[type-arg]

#: What :meth:`Protocol.events_received` returns: the handshake request (server side),
#: the handshake response (client side), then frames.
Event = Request | Response | Frame


#: What ``max_size`` accepts: a limit on messages, None, or ``(message, frame)`` limits.
MaxSize = int | None | tuple[int | None, int | None]


def split_max_size(max_size: MaxSize) -> tuple[int | None, int | None]:
    """The message limit and the frame limit of a ``max_size`` argument."""
    if max_size is None or isinstance(max_size, int):
        message: int | None = max_size
        frame: int | None = None
    else:
        message, frame = max_size
    for limit in (message, frame):
        if limit is not None and (isinstance(limit, bool) or limit < 1):
            raise ValueError(f"max_size limits must be positive integers or None: {max_size!r}")
    return message, frame


class Side(enum.IntEnum):
    """Which end of the connection a protocol object plays."""

    SERVER = 0
    CLIENT = 1


SERVER: Final = Side.SERVER
CLIENT: Final = Side.CLIENT


# The states under websockets' module-level names too.
CONNECTING = State.CONNECTING
OPEN = State.OPEN
CLOSING = State.CLOSING
CLOSED = State.CLOSED


#: Default of ``max_fragments``: frames in one message. Fragments cost no memory of their
#: own (see :class:`Protocol`), only the CPU time to parse each (about a microsecond).
#: 131,072 leaves room for messages streamed in tiny pieces (a text message sent token
#: by token; Autobahn's 9.3.1 and 9.4.1 send 4 MiB in 64-byte fragments) and ends a
#: flood of one-byte fragments after 896 KiB on the wire.
MAX_FRAGMENTS = 2**17

#: Fragments smaller than this many bytes are joined into the frame event before them
#: (see :class:`Protocol`); larger ones are delivered as they are, without a copy.
COALESCE_LIMIT = 1024
# A payload up to this size is queued joined to its header, one bytes object: copying
# 8 KiB costs less than handling a second buffer in the I/O layer (a write or a join).
_JOIN_PAYLOAD: Final = 8192

#: Fragments delivered as they came, each its own event, between two calls of
#: ``events_received()``, before small ones are joined (see :class:`Protocol`): enough
#: for a message streamed in pieces to reach a reader piece by piece, as sent.
SEPARATE_FRAGMENTS = 32

#: Default of ``max_pending_pongs``: pongs queued and not taken by data_to_send() yet, at
#: most; past this, the pong for a new ping replaces the last one queued. Enough for a
#: peer that sends a few pings at once and expects each answered (Autobahn's cases 2.10
#: and 2.11 send ten), few enough that a ping flood queues a few kilobytes at most.
MAX_PENDING_PONGS = 16

# Closures with these codes on both sides count as normal (ConnectionClosedOK): the
# library's classification, as in websockets; 1005 is "no code" (RFC 6455 §7.1.5).
_OK_CLOSE_CODES = frozenset(
    {CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY, CloseCode.NO_STATUS_RCVD}
)


class _Guard:
    """What :class:`Protocol`'s methods enter to guard shared state: ``with self._guard``.

    It takes :attr:`Protocol.lock`, or nothing once the I/O layer said that one thread
    drives the connection (:meth:`Protocol._single_threaded`, the asyncio API). A native
    class in the mypyc build, entered with two native calls; a ``with`` on the lock itself
    looks up and calls ``__enter__`` and ``__exit__`` in Python (about 1,200 instructions
    per ``with``, two per message sent).
    """

    __slots__ = ("lock",)

    def __init__(self, lock: threading.RLock | None) -> None:
        self.lock = lock

    def __enter__(self) -> None:
        lock = self.lock
        if lock is not None:
            lock.acquire()

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        lock = self.lock
        if lock is not None:
            lock.release()


# On the hot path, private methods are called as ``Protocol._name(self, ...)``, not
# ``self._name(...)``: in the mypyc build, ClientProtocol and ServerProtocol are
# interpreted subclasses, through which ``self._name()`` is a Python method lookup and
# call (hundreds of instructions); the explicit form is a direct native call. Only for
# methods no subclass overrides (tests/test_mypyc_calls.py checks).
@mypyc_attr(allow_interpreted_subclasses=True)
class Protocol:
    """State shared by both sides of a connection: framing, messages and closing.

    ``max_size`` bounds the size of a frame and of a reassembled message in bytes
    (after extensions decoded it); ``max_fragments`` bounds the number of frames of one
    message. Passing either fails the connection with 1009 (RFC 6455 §10.4); None
    disables a limit. A ``(message, frame)`` pair as ``max_size`` sets the limits on
    messages and on single frames apart, as in websockets, for long messages expected
    in short frames: ``(2**24, 2**16)``; either may be None.

    Fragments are delivered as they came, one frame event each, for the first
    :data:`SEPARATE_FRAGMENTS` that arrive between two calls of :meth:`events_received`;
    past that, small ones (under :data:`COALESCE_LIMIT` bytes each) are joined into the
    event before them, their payloads in one growing buffer as they are parsed. RFC 6455
    §5.4 gives frame boundaries no meaning ("receivers must not depend on the presence
    of specific frame boundaries"), and one object per frame would let a peer that sends
    a message in a million one-byte fragments use a hundred times the memory the
    message itself takes. Control frames between fragments end a run.

    Threads: a connection may be driven by two threads at once, one receiving
    (:meth:`receive_data`, :meth:`events_received`, :meth:`receive_eof`, :meth:`fail`,
    :meth:`fail_pending`) and one sending (``send_text``, ``send_binary``,
    ``send_continuation``, ``send_prepared``), each side serialized by the caller. The
    state both sides share — the connection's state, the bytes to send, the close frames
    — changes only under :attr:`lock`, which every method here takes itself when it needs
    it; the costly parts — parsing and inflating on one side, deflating and masking on the
    other — run outside it. So the threading API compresses and decompresses at the same
    time (zlib releases the GIL). Control frames (``send_ping``, ``send_pong``,
    ``send_close``) may be sent from any thread. An I/O layer that drives the connection
    from one thread only (asyncio) says so with ``_single_threaded()``: the lock isn't
    taken at all then.
    """

    def __init__(
        self,
        side: Side,
        *,
        state: State = State.OPEN,
        max_size: MaxSize = 2**20,
        max_fragments: int | None = MAX_FRAGMENTS,
        max_pending_pongs: int = MAX_PENDING_PONGS,
        logger: LoggerLike | None = None,
        trace: TraceHook | None = None,
    ) -> None:
        if max_fragments is not None and max_fragments < 1:
            raise ValueError("max_fragments must be at least 1 (or None)")
        #: Unique identifier of the connection, for logs.
        self.id: uuid.UUID = uuid.uuid4()
        if logger is None:
            logger = logging.getLogger(f"websocket_ref.{side.name.lower()}")
        self.logger: LoggerLike = logger
        #: Called with a :class:`~websocket_ref.trace.TraceEvent` for everything this side
        #: sends, receives, or goes through (see :mod:`websocket_ref.trace`).
        self.trace = trace
        #: Whether anything observes the connection: debug logging or ``trace``. Every
        #: logging and tracing call sits behind this one check.
        self.debug = trace is not None or logger.isEnabledFor(logging.DEBUG)
        self.side = side
        self._state = state
        if self.debug:
            self.logger.debug("= connection is %s", state.name)
        #: Largest message accepted, in bytes, once decoded; None: no limit.
        self.max_size: int | None
        #: Largest frame accepted, in bytes, once decoded; None: only ``max_size``.
        self.max_frame_size: int | None
        self.max_size, self.max_frame_size = split_max_size(max_size)
        self.max_fragments = max_fragments
        if not isinstance(max_pending_pongs, int) or max_pending_pongs < 1:
            raise ValueError("max_pending_pongs must be at least 1")
        self.max_pending_pongs = max_pending_pongs
        self._extensions: list[Extension] = []
        # The list as the handshake (or the application) set it: _extensions holds the
        # same extensions, each an Extension (see extensions.base.as_extension).
        self._extensions_set: list[Extension] = []

        #: Guards the state the receiving and the sending side share (see "Threads"
        #: above); reentrant, so an I/O layer may hold it around several calls.
        self.lock = threading.RLock()
        self._guard = _Guard(self.lock)
        self._buffer = bytearray()
        # Bytes of an incomplete handshake head already searched for its end.
        self._head_scanned = 0
        self._reading = Reading.FRAMES if state is State.OPEN else Reading.HANDSHAKE
        # RFC 6455 §5.1 [R6455-5.1-2, R6455-5.1-5]: frames from a client are masked, frames
        # from a server aren't
        self._frames = FrameParser(mask_expected=side is SERVER, max_size=self._frame_limit())
        self._events: list[Event] = []
        self._writes: list[bytes] = []
        # Indexes in _writes of pongs not handed to data_to_send() yet (see _answer_ping()).
        self._pending_pongs: list[int] = []

        # RFC 6455 §5.4 [R6455-5.4-4]: fragmentation state of each direction.
        self._recv_opcode: Opcode | None = None  # TEXT/BINARY while a message is incomplete
        self._recv_size = 0  # bytes of the incomplete message received so far
        self._recv_fragments = 0  # frames of the incomplete message received so far
        # Small fragments joined into the last event (see the class docstring): that
        # event, and the buffer holding its payload until events_received().
        self._joined_event: Frame | None = None
        self._separate_fragments = 0  # fragment events since events_received()
        self._separate_limit = SEPARATE_FRAGMENTS  # tests of the joining set it to 0
        self._joined: bytearray | None = None
        self._send_opcode: Opcode | None = None
        self._send_compress = True  # whether the message being sent is to be compressed
        self._send_utf8 = Utf8Validator()  # the text message being sent, across fragments
        # _encoding_key(False), _encoding_key(True), for these extensions (send_prepared).
        self._encoding_keys: tuple[tuple[object, ...] | None, tuple[object, ...] | None] = (
            None,
            None,
        )
        self._encoding_keys_for: list[Extension] | None = None
        self._utf8 = Utf8Validator()
        self._validated = 0  # payload bytes of the incoming frame validated ahead of time

        #: Close frame received from the peer, once it is.
        self.close_rcvd: Close | None = None
        #: Close frame sent to the peer, once it is.
        self.close_sent: Close | None = None
        #: Whether the close frame was received before one was sent.
        self.close_rcvd_then_sent: bool | None = None
        #: Whether the end of the stream was sent (the transport's write side closed).
        self.eof_sent = False
        #: The exception that made this side fail the connection after the handshake.
        self.failure_exc: Exception | None = None
        #: Hold back failing the connection on a bad incoming frame (see fail_pending()).
        self.defer_failures = False
        #: The protocol violation held back while ``defer_failures`` is set, if any.
        self.pending_failure: ProtocolError | None = None
        #: The exception that made the opening handshake fail, if it did.
        self.handshake_exc: Exception | None = None

    # Public state

    @property
    def state(self) -> State:
        """The connection's state (RFC 6455 §4-§7)."""
        return self._state

    def _transition(self, change: Change) -> None:
        """Apply ``change`` as :data:`websocket_ref.states.TRANSITIONS` says: the one place
        where :attr:`state` and :attr:`reading` change after the connection is created."""
        try:
            transition = TRANSITIONS[self._state, change]
        except KeyError:  # pragma: no cover - a bug: the table lists every reachable pair
            raise AssertionError(f"no transition for {change} in {self._state!r}") from None
        if transition.state is not self._state:
            if self.debug:
                self._observe("=", "connection is %s", transition.state.name)
            self._state = transition.state
        self._reading = next_reading(self._reading, transition.reading)

    @property
    def extensions(self) -> list[Extension]:
        """Extensions negotiated in the handshake, in negotiation order."""
        return self._extensions_set

    @extensions.setter
    def extensions(self, extensions: list[Extension]) -> None:
        self._extensions_set = extensions
        self._extensions = [as_extension(extension) for extension in extensions]
        max_size = self._frame_limit()
        if extensions and max_size is not None:
            # RFC 6455 §10.4 [R6455-10.4-1]: max_size bounds messages as decoded, and the extensions
            # check it while decoding. On the wire, an extension may carry a message in
            # a few more bytes than its data (DEFLATE adds about 5 bytes per stored
            # block of incompressible data): the frame limit gets that slack, so that a
            # message of exactly max_size bytes is accepted however it was encoded.
            max_size += (max_size >> 10) + 64
        self._frames.max_size = max_size

    def _frame_limit(self) -> int | None:
        """The largest frame worth reading: a frame can't exceed either limit."""
        limits = [limit for limit in (self.max_size, self.max_frame_size) if limit is not None]
        return min(limits) if limits else None

    @property
    def reading(self) -> Reading:
        """What the receiving side expects next."""
        return self._reading

    @property
    def close_code(self) -> int | None:
        """Close code from the peer once CLOSED: 1005 if it sent none, 1006 if no close frame."""
        if self._state is not State.CLOSED:
            return None
        if self.close_rcvd is None:
            # RFC 6455 §7.1.5: without a close frame, the close code is 1006;
            # RFC 6455 §7.2.1 [R6455-7.2.1-2]: a connection lost that way has failed
            return CloseCode.ABNORMAL_CLOSURE
        return self.close_rcvd.code

    @property
    def close_reason(self) -> str | None:
        """Close reason from the peer once CLOSED, ``""`` if none."""
        if self._state is not State.CLOSED:
            return None
        if self.close_rcvd is None:
            return ""
        return self.close_rcvd.reason

    @property
    def close_exc(self) -> ConnectionClosed:
        """The exception to raise when the application uses a closed connection."""
        exc: ConnectionClosed
        if (
            self.close_rcvd is not None
            and self.close_sent is not None
            and self.close_rcvd.code in _OK_CLOSE_CODES
            and self.close_sent.code in _OK_CLOSE_CODES
        ):
            exc = ConnectionClosedOK(self.close_rcvd, self.close_sent, self.close_rcvd_then_sent)
        else:
            exc = ConnectionClosedError(self.close_rcvd, self.close_sent, self.close_rcvd_then_sent)
        exc.__cause__ = self.failure_exc
        return exc

    def close_expected(self) -> bool:
        """Tell whether the TCP connection is expected to close soon.

        True once this side sent a close frame (or failed the connection, or the
        handshake failed) and the peer hasn't closed TCP yet. RFC 6455 §7.1.1: after
        the closing handshake the server closes TCP first; the client waits for it.
        Either way, the I/O layer should wait a bounded time (``close_timeout``) and
        then close the transport itself.
        """
        if self._reading is Reading.EOF:
            return False
        return self.close_sent is not None or self.eof_sent or self.handshake_exc is not None

    # Moving bytes and events

    def receive_data(self, data: bytes | bytearray) -> None:
        """Feed bytes read from the network."""
        if self._reading is Reading.EOF:
            raise EOFError("data received after the end of the stream")
        if self._reading is Reading.DISCARD or not data:
            return
        if self._reading is not Reading.FRAMES or type(data) is not bytes:
            if self._reading is Reading.ACCEPTING and not self._take_early_data(data):
                return
            self._buffer += data
        else:
            # The parser cuts frames straight out of ``data``: only an incomplete frame at
            # either end goes through the buffer (FrameParser.feed).
            self._frames.feed(data)
        Protocol._process(self)

    def _take_early_data(self, data: bytes | bytearray) -> bool:
        """Whether to keep bytes that arrive while a server decides on the handshake
        (overridden by the server, which bounds them)."""
        return True

    def receive_eof(self) -> None:
        """Signal that the peer closed its side of the TCP connection."""
        with self._guard:
            reading = self._reading
            if reading is Reading.EOF:
                return
            if self.pending_failure is not None:
                # The peer is gone before the held-back failure: nothing left to send it.
                self.failure_exc, self.pending_failure = self.pending_failure, None
            self._receive_eof_while(reading)
            self._buffer.clear()
            if not self.eof_sent:
                # The peer is gone: close our side of the TCP connection too.
                self.send_eof()
            self._transition(Change.EOF_RECEIVED)

    def _single_threaded(self) -> None:
        """One thread drives this connection (the asyncio API): don't take :attr:`lock`."""
        self._guard = _Guard(None)

    def data_to_send(self) -> list[bytes]:
        """Bytes to write to the network, in order. ``b""`` means: close the write side."""
        with self._guard:
            writes, self._writes = self._writes, []
            self._pending_pongs = []
            return writes

    @property
    def has_data_to_send(self) -> bool:
        """Whether :meth:`data_to_send` would return anything (a cheap check)."""
        return bool(self._writes)

    @property
    def pong_pending(self) -> bool:
        """Whether a pong answering a ping waits in :meth:`data_to_send`.

        Pongs that wait there are bounded (see ``_answer_ping()``; RFC 6455 §5.5.3
        allows answering only the most recent ping): an I/O layer whose write buffer is
        full may leave the bytes here, where a flood of pings can't pile up pongs.
        """
        return bool(self._pending_pongs)

    def events_received(self) -> list[Event]:
        """Events that arrived since the last call, in order.

        While a server waits for :meth:`~websocket_ref.server.ServerProtocol.send_response`,
        the list is a :class:`ReleasingEvents`: iterating over it also yields the frames
        that sending the response releases (those that arrived behind the request).
        """
        events = Protocol._take_events(self)
        if self._reading is Reading.ACCEPTING:
            return ReleasingEvents(events, self._take_events)
        return events

    def _take_events(self) -> list[Event]:
        if self._joined_event is not None:
            self._end_join()
        events, self._events = self._events, []
        self._separate_fragments = 0
        return events

    # Sending

    def send_text(self, data: bytes | str, fin: bool = True, *, compress: bool = True) -> None:
        """Send a text frame starting a message.

        ``data`` is a ``str``, or bytes that must be valid UTF-8: bytes are checked
        (across the fragments of a message) and refused with :exc:`ValueError` before
        anything is sent. ``compress=False`` sends this message uncompressed even if a
        compression extension (permessage-deflate) was negotiated; its continuation
        frames follow.
        """
        payload = Protocol._text_payload(self, data, fin, start=True)
        Protocol._start_message(self, Opcode.TEXT, payload, fin, compress)

    def _text_payload(self, data: bytes | str, fin: bool, start: bool) -> bytes:
        """``data`` as UTF-8 bytes, checked: a choice, where the RFC names no reaction
        for the sending side, to refuse invalid text rather than put it on the wire."""
        validator = self._send_utf8
        if start:
            if self._send_opcode is not None:
                return b""  # _start_message() raises InvalidState
            validator.reset()
        if isinstance(data, str):
            if validator.complete:
                return data.encode()  # valid by construction
            data = data.encode()
        state = validator.snapshot()
        try:
            # RFC 6455 §5.6 [R6455-5.6-1]: "the whole message MUST contain valid UTF-8"
            validator.feed(data, fin)
        except InvalidUTF8 as exc:
            validator.restore(state)
            raise ValueError(f"text isn't valid UTF-8 (RFC 6455 §5.6): {exc}") from None
        return data

    def send_binary(self, data: bytes, fin: bool = True, *, compress: bool = True) -> None:
        """Send a binary frame starting a message; ``compress`` as for :meth:`send_text`."""
        Protocol._start_message(self, Opcode.BINARY, data, fin, compress)

    def send_continuation(self, data: bytes | str, fin: bool) -> None:
        """Send a continuation frame of the message being sent in fragments.

        The data of a text message is checked as :meth:`send_text` does.
        """
        # RFC 6455 §6.1 [R6455-6.1-2]: the connection must be OPEN for each frame;
        # RFC 6455 §5.4 [R6455-5.4-6]: fragments of any size, the caller's choice
        self._check_open()
        if self._send_opcode is None:
            # RFC 6455 §5.4 [R6455-5.4-4]: a continuation frame continues a fragmented message
            raise InvalidState("no fragmented message to continue (RFC 6455 §5.4)")
        if self._send_opcode is Opcode.TEXT:
            data = self._text_payload(data, fin, start=False)
        elif isinstance(data, str):
            data = data.encode()
        if fin:
            self._send_opcode = None
        self._send_frame(Frame(Opcode.CONT, data, fin), self._send_compress)

    def _start_message(self, opcode: Opcode, data: bytes, fin: bool, compress: bool) -> None:
        # RFC 6455 §6.1 [R6455-6.1-1, R6455-6.1-2]: sending a message starts by making sure
        # the connection is OPEN; RFC 6455 §5.1 [R6455-5.1-7]: data frames go out after
        # the opening handshake and before our Close frame
        Protocol._check_open(self)
        if self._send_opcode is not None:
            # RFC 6455 §5.4 [R6455-5.4-4]: fragments of different messages MUST NOT be interleaved
            raise InvalidState("a fragmented message is in progress (RFC 6455 §5.4)")
        if not fin:
            # RFC 6455 §6.1 [R6455-6.1-5]: a message may go out as a series of frames
            # (§5.4): this one, then send_continuation() until fin
            self._send_opcode = opcode
            self._send_compress = compress
        # RFC 6455 §6.1 [R6455-6.1-6]: the first frame's opcode says text or binary;
        # RFC 6455 §6.1 [R6455-6.1-7]: FIN set on the last frame;
        # RFC 6455 §5.2 [R6455-5.2-7]: the first fragment may be the final one (fin=True)
        Protocol._send_frame(self, Frame(opcode, data, fin), compress)

    def send_prepared(self, message: PreparedMessage) -> None:
        """Send a message framed once for many connections (see
        :class:`~websocket_ref.prepared.PreparedMessage`).

        When this connection encodes messages the way other connections do (a server,
        and extensions without per-connection state, e.g. permessage-deflate without
        context takeover), the frame's bytes are computed once and shared; otherwise
        the message is sent as :meth:`send_text` or :meth:`send_binary` would.
        """
        self._check_open()
        if self._send_opcode is not None:
            # RFC 6455 §5.4 [R6455-5.4-4]: fragments of different messages MUST NOT be interleaved
            raise InvalidState("a fragmented message is in progress (RFC 6455 §5.4)")
        compress = message.compress
        if self._encoding_keys_for is not self._extensions:
            # Extensions are fixed once the handshake is done: ask them once.
            self._encoding_keys = (self._encoding_key(False), self._encoding_key(True))
            self._encoding_keys_for = self._extensions
        key = self._encoding_keys[compress]
        if key is None:
            self._send_frame(Frame(message.opcode, message.data), compress)
            return
        wire = message.frames.get(key)
        if wire is None:
            frame = self._encode(Frame(message.opcode, message.data), compress)
            header, payload = serialize_frame(frame, mask=False)
            wire = message.frames[key] = header + payload
        elif self.debug:
            # What _encode() would have logged, had this connection framed it.
            self._observe_frame(">", Frame(message.opcode, message.data), prepared=True)
        with self._guard:
            self._check_open()  # another thread may have closed it meanwhile
            self._writes.append(wire)

    def _encoding_key(self, compress: bool) -> tuple[object, ...] | None:
        """What determines the bytes of a message sent now, if nothing of this
        connection's own does; None if they're this connection's alone.

        A client's frames are masked with a fresh key each (RFC 6455 §5.3), so only a
        server's frames can be shared; and only if every extension that will encode
        the message keeps no state from one message to the next.
        """
        if self.side is CLIENT:
            return None
        key: list[object] = []
        for extension in self._extensions:
            if compress or not extension.compresses_messages:
                extension_key = extension.stateless_key()
                if extension_key is None:
                    return None
                key.append(extension_key)
        return tuple(key)

    def close(self, code: int | None = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Close the connection as the application asks: ``close()`` of both APIs calls it.

        Starts the closing handshake with ``code`` and ``reason``, as :meth:`send_close`
        does; but while a fragmented message is being sent, that message can't be
        completed any more, so the connection is failed instead, with 1011 (internal
        error) "close during fragmented message", whatever ``code`` was asked — as
        websockets does. The peer learns that the message it was receiving is cut.
        """
        with self._guard:
            if self._send_opcode is None or self._state is not State.OPEN:
                self.send_close(code, reason)  # InvalidState unless OPEN
                return
            if code is not None:
                Close(code, reason).serialize()  # the same checks as send_close()
            # RFC 6455 §5.4 [R6455-5.4-1]: a Close frame may go between two fragments of a
            # message, which then stays unfinished; RFC 6455 §7.4.1 [R6455-7.4.1-1]: the
            # code is a choice: not 1000 ("the purpose for which the connection was
            # established has been fulfilled") but 1011, an unexpected condition (§7.4.1
            # words 1011 as a server's; sent from either side here, docs/rfc-choices.md);
            # and the connection is failed (§7.1.7), as websockets does
            self.fail(CloseCode.INTERNAL_ERROR, "close during fragmented message")

    def send_close(self, code: int | None = None, reason: str = "") -> None:
        """Start the closing handshake (RFC 6455 §5.5.1, §7.1.2).

        Without ``code`` the close frame is empty and the peer reports 1005.
        """
        with self._guard:
            self._check_open()
            # RFC 6455 §7.3 [R6455-7.3-1]: a server may close whenever desired (and a client's
            # application may: RFC 6455 §7.3 [R6455-7.3-2] binds the library, which never
            # starts a closing handshake on its own); RFC 6455 §7.1.2 [R6455-7.1.2-1]
            if code is None:
                # RFC 6455 §5.5.1 [R6455-5.5.1-1]: the body is optional: none without a code
                if reason:
                    raise ValueError("a close reason requires a close code (RFC 6455 §5.5.1)")
                close = Close(CloseCode.NO_STATUS_RCVD, "")
                payload = b""
            else:
                # RFC 6455 §7.4 [R6455-7.4-1]: a code (and a reason) may say why
                close = Close(code, reason)
                payload = close.serialize()
            self._send_frame(Frame(Opcode.CLOSE, payload))
            self.close_sent = close
            self._transition(Change.CLOSE_SENT)

    def send_ping(self, data: bytes) -> None:
        """Send a ping (RFC 6455 §5.5.2); the peer answers with a pong of the same data."""
        # RFC 6455 §5.5.2 [R6455-5.5.2-4]: a ping may go out any time the connection is
        # established and not closed; our choice: while OPEN, since no pong can be relied
        # on once a Close frame was sent or received. RFC 6455 §5.5.2 [R6455-5.5.2-1]:
        # with application data, or none
        with self._guard:
            self._check_open()
            self._send_control(Opcode.PING, data)

    def send_pong(self, data: bytes) -> None:
        """Send a pong (RFC 6455 §5.5.3); unsolicited pongs serve as heartbeats."""
        with self._guard:
            self._check_open()
            self._send_control(Opcode.PONG, data)

    def _send_control(self, opcode: Opcode, data: bytes) -> None:
        # RFC 6455 §5.4 [R6455-5.4-1]: control frames may be injected in the middle of a
        # fragmented message being sent: no check of _send_opcode here
        if len(data) > 125:
            # RFC 6455 §5.5 [R6455-5.5-1]: control frames have a payload length of 125 bytes or less
            raise InvalidFrame("control frame too long", rule="RFC 6455 §5.5")
        self._send_frame(Frame(opcode, data))

    def fail(self, code: int, reason: str = "") -> None:
        """Fail the WebSocket connection (RFC 6455 §7.1.7).

        Sends a close frame with ``code`` if the connection is open, stops processing
        incoming data, and, on the server, closes the TCP connection (§7.1.1).
        """
        # RFC 6455 §7.1.7 [R6455-7.1.7-3, R6455-7.1.7-4]: send a close frame (if open, always:
        # the MAY to omit it isn't taken), then close the connection;
        # RFC 6455 §10.7 [R6455-10.7-3]: after invalid data, with an appropriate code
        with self._guard:
            if self._state is State.OPEN and code != CloseCode.ABNORMAL_CLOSURE:
                close = Close(code, _truncate_reason(reason))
                self._send_frame(Frame(Opcode.CLOSE, close.serialize()))
                self.close_sent = close
                self._transition(Change.CLOSE_SENT)
            # RFC 6455 §7.1.1 [R6455-7.1.1-5], §7.1.7 [R6455-7.1.7-2]: the server closes the TCP
            # connection first; the client waits for it (close_expected()):
            # RFC 6455 §7.1.7 [R6455-7.1.7-1, R6455-7.1.7-6]: the client _Closes the WebSocket
            # Connection_, which for a client means waiting for the server's TCP close
            if self.side is SERVER and not self.eof_sent:
                self.send_eof()
            # RFC 6455 §7.1.7 [R6455-7.1.7-5]: no more processing of the peer's data, not
            # even of its responding Close frame
            self._stop_reading()

    def fail_pending(self) -> None:
        """Fail the connection for the violation held back by ``defer_failures``.

        Why hold it back: the peer may have sent complete messages just before the bad
        frame, in the same read. Failing at once sends the close frame before the
        application could answer those messages; an echo server would drop its reply.
        With ``defer_failures`` set, the core stops reading at the bad frame, delivers
        the events before it and keeps the connection OPEN for sending; the I/O layer
        calls this once the application had its chance to answer (typically, when it
        asks for the next message), so replies and the close frame go out in order.
        Does nothing when no failure is pending.
        """
        exc, self.pending_failure = self.pending_failure, None
        if exc is not None:
            self._fail_with(exc)

    def send_eof(self) -> None:
        """Close the write side of the transport once pending data is written."""
        with self._guard:
            if self.eof_sent:
                raise InvalidState("end of stream already sent")
            self.eof_sent = True
            self._writes.append(b"")

    def _check_open(self) -> None:
        if self._state is not State.OPEN:
            raise InvalidState(f"connection is {self._state.name.lower()}")  # websockets' words

    def _encode(self, frame: Frame, compress: bool = True) -> Frame:
        """Pass an outgoing frame through the extensions, in negotiation order."""
        for extension in self._extensions:
            # RFC 7692 §6 [no keyword]: the RSV1 bit "indicates whether a message is
            # compressed or not", and RFC 7692 §6 [R7692-6-1]: it's set on the first frame
            # of a compressed message only. Skipping the compressing extension for a
            # whole message (compress=False) leaves RSV1 clear on all its frames.
            if compress or not extension.compresses_messages:
                frame = extension.encode(frame)
        if self.debug:
            self._observe_frame(">", frame)
        return frame

    def _send_frame(self, frame: Frame, compress: bool = True) -> None:
        """Encode, frame and queue ``frame``: encoding (compressing) and masking happen
        outside :attr:`lock`; a data frame is queued only if the connection is still OPEN
        once the lock is taken (another thread may have closed it meanwhile)."""
        if self._extensions:
            frame = self._encode(frame, compress)
        elif self.debug:
            self._observe_frame(">", frame)
        # RFC 6455 §6.1 [R6455-6.1-4]: the data is encapsulated in a frame (§5.2);
        # RFC 6455 §6.1 [R6455-6.1-8]: masked when the client sends it (§5.3)
        header, payload = serialize_frame(frame, mask=self.side is CLIENT)
        if len(payload) <= _JOIN_PAYLOAD:
            header, payload = header + payload, b""
        with self._guard:
            if is_data_opcode(frame.opcode):
                Protocol._check_open(self)
            # RFC 6455 §6.1 [R6455-6.1-9]: the frames formed are queued for transmission,
            # and the I/O layer writes data_to_send() in order: RFC 6455 §5.4 [R6455-5.4-3]
            self._writes.append(header)
            if payload:
                self._writes.append(payload)

    # Observing: debug logs and the trace hook, only called when ``self.debug`` is set

    def _observe(self, direction: str, message: str, *args: object) -> None:
        """A state change (``"="``) or a failure (``"!"``): ``message % args``."""
        self.logger.debug(f"{direction} {message}", *args)
        if self.trace is not None:
            text = message % args
            side = self.side.name.lower()
            self.trace(TraceEvent(side, direction, message=text, connection_id=self.id))

    def _observe_frame(self, direction: str, frame: Frame, *, prepared: bool = False) -> None:
        """A frame sent (``">"``) or received (``"<"``), as on the wire."""
        self.logger.debug(f"{direction} %s [prepared]" if prepared else f"{direction} %s", frame)
        if self.trace is not None:
            # Frames from a client are masked, frames from a server aren't:
            # RFC 6455 §5.1 [R6455-5.1-1, R6455-5.1-4]
            masked = (direction == ">") == (self.side is CLIENT)
            side = self.side.name.lower()
            # A copy: the core may join later fragments into a received frame's event.
            wire = Frame(frame.opcode, frame.data, frame.fin, frame.rsv1, frame.rsv2, frame.rsv3)
            self.trace(
                TraceEvent(
                    side,
                    direction,
                    frame=wire,
                    masked=masked,
                    prepared=prepared,
                    connection_id=self.id,
                )
            )

    def _observe_head(self, direction: str, head: Request | Response) -> None:
        """A handshake request or response sent (``">"``) or received (``"<"``)."""
        if isinstance(head, Request):
            self.logger.debug("%s GET %s HTTP/1.1", direction, head.path)
        else:
            self.logger.debug("%s HTTP/1.1 %d %s", direction, head.status_code, head.reason_phrase)
        for key, value in head.headers.raw_items():
            self.logger.debug("%s %s: %s", direction, key, value)
        if isinstance(head, Response) and head.body:
            self.logger.debug("%s [body] (%d bytes)", direction, len(head.body))
        if self.trace is not None:
            side = self.side.name.lower()
            self.trace(TraceEvent(side, direction, head=head, connection_id=self.id))

    # Receiving

    def _process(self) -> None:
        """Consume buffered bytes according to the reading state."""
        try:
            while True:
                reading = self._reading
                if reading is Reading.FRAMES:
                    Protocol._receive_frames(self)
                    return
                if reading is Reading.HANDSHAKE:
                    if not self._receive_handshake():
                        return
                elif reading is Reading.RESPONSE_BODY:
                    if not self._receive_response_body():
                        return
                else:  # ACCEPTING waits for send_response(); DISCARD and EOF drop data
                    return
        except ProtocolError as exc:
            # Kept until the connection is collected (ConnectionClosedError.__cause__): the
            # traceback would pin the parser's frames and the read's bytes with them (up to
            # a 256 KiB read buffer per failed connection). The message names the rule.
            exc = exc.with_traceback(None)
            if self.defer_failures and reading is Reading.FRAMES and self._state is State.OPEN:
                # Answer what came before the bad frame first; see fail_pending().
                self.pending_failure = exc
                self._stop_reading()
            else:
                self._fail_with(exc)

    def _fail_with(self, exc: ProtocolError) -> None:
        if self.side is SERVER:
            # RFC 6455 §7.1.7 [R6455-7.1.7-2]: the server SHOULD log the problem: at INFO,
            # once per connection (reading stops here), with the close code and the rule
            self.logger.info("failing connection with code %d: %s", exc.close_code, exc)
            if self.trace is not None:
                message = f"failing connection: {exc}"
                self.trace(TraceEvent("server", "!", message=message, connection_id=self.id))
        elif self.debug:
            # RFC 6455 §7.1.7 [R6455-7.1.7-1]: the client MAY report the problem to the
            # user: the application gets it (ConnectionClosedError.__cause__); logged at DEBUG
            self._observe("!", "failing connection: %s", exc)
        self.failure_exc = exc
        self.fail(exc.close_code, str(exc))

    def _stop_reading(self, change: Change = Change.READING_STOPPED) -> None:
        """Stop processing incoming bytes (reading becomes DISCARD) and drop those kept."""
        with self._guard:
            self._transition(change)
        self._buffer.clear()
        self._frames.header = None

    def _receive_handshake(self) -> bool:  # pragma: no cover - overridden
        """Parse the handshake from the buffer; return True if the reading state changed."""
        raise NotImplementedError

    def _receive_response_body(self) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    def _receive_eof_while(self, reading: Reading) -> None:
        """React to EOF according to what was expected (overridden for handshakes)."""
        if reading is Reading.FRAMES and self.debug:
            self._observe("!", "connection closed without a closing handshake")

    def _receive_frames(self) -> None:
        buf = self._buffer
        parser = self._frames
        while self._reading is Reading.FRAMES:
            # RFC 6455 §6.2 [R6455-6.2-1]: incoming data is parsed as frames (§5.2);
            # RFC 6455 §6.2 [R6455-6.2-7]: the parser removes a client's masking
            frame = parser.parse(buf)
            if frame is None:
                if parser.header is not None:
                    self._check_partial_frame()
                return
            if self.debug:
                self._observe_frame("<", frame)
            if not is_data_opcode(frame.opcode):
                # RFC 6455 §6.2 [R6455-6.2-2]: a control frame is handled as §5.5 says;
                # RFC 6455 §5.4 [R6455-5.4-5]: also between the fragments of a message,
                # whose reassembly state it leaves alone
                self._receive_control_frame(frame)
            else:
                # RFC 6455 §5.4 [R6455-5.4-7]: fragmented and unfragmented messages alike
                Protocol._receive_data_frame(self, frame)

    def _check_partial_frame(self) -> None:
        """Fail fast on a frame still arriving: message size, then UTF-8 of its payload."""
        header = self._frames.header
        assert header is not None
        opcode = header.opcode
        if opcode >= 0x8:
            return
        for extension in self._extensions:
            if not extension.decodes_unchanged(opcode, header.rsv):
                # The payload will be transformed (e.g. inflated); checked once decoded.
                return
        if opcode is Opcode.CONT:
            if self._recv_opcode is None:
                return  # reported when the frame is complete
            self._check_fragments(self._recv_fragments + 1)
            size = self._recv_size
        elif self._recv_opcode is not None:
            return  # reported when the frame is complete
        else:
            size = 0
        if self.max_size is not None and size + header.length > self.max_size:
            # RFC 6455 §10.4 [R6455-10.4-1, R6455-10.4-2]: impose a limit on the size of
            # reassembled messages, checked while the frame still arrives
            raise PayloadTooBig(
                header.length,
                self.max_size - size,
                size or None,
                message=f"message of more than {self.max_size} bytes",
                rule="RFC 6455 §10.4",
            )
        if opcode is Opcode.TEXT or self._recv_opcode is Opcode.TEXT:
            chunk = self._frames.peek_payload(self._buffer, self._validated)
            if chunk:
                # RFC 6455 §8.1 [R6455-8.1-1]: invalid UTF-8 fails the connection; a choice:
                # as soon as it is seen, also in a frame still arriving
                self._utf8.feed(chunk)
                self._validated += len(chunk)

    def _check_fragments(self, count: int) -> None:
        if self.max_fragments is not None and count > self.max_fragments:
            # RFC 6455 §10.4 [R6455-10.4-1]: protect against "a long stream of small frames
            # that are a part of a fragmented message". Failing with 1009 (message too big to
            # process, §7.4.1) is this library's choice of reaction.
            raise TooManyFragments(self.max_fragments)

    def _receive_data_frame(self, frame: Frame) -> None:
        if frame.opcode is Opcode.CONT:
            if self._recv_opcode is None:
                # RFC 6455 §5.4 [R6455-5.4-4, R6455-5.4-12]: a continuation frame needs a preceding
                # non-final frame
                raise InvalidFrame("unexpected continuation frame", rule="RFC 6455 §5.4")
            fragments = self._recv_fragments + 1
            self._check_fragments(fragments)
            size = self._recv_size
        else:
            if self._recv_opcode is not None:
                # RFC 6455 §5.4 [R6455-5.4-4]: fragments of one message are not interleaved
                # with another
                raise InvalidFrame(
                    f"expected a continuation frame, got {frame.opcode.name}",
                    rule="RFC 6455 §5.4",
                )
            # RFC 6455 §6.2 [R6455-6.2-3]: the first frame's opcode gives the message's type
            self._recv_opcode = frame.opcode
            fragments = 1
            size = 0
        validated = self._validated
        self._validated = 0
        max_size = self.max_size
        if self._extensions:
            remaining = None if max_size is None else max_size - size
            max_frame_size = self.max_frame_size
            if max_frame_size is not None and (remaining is None or remaining > max_frame_size):
                remaining = max_frame_size
            for extension in reversed(self._extensions):
                # RFC 6455 §6.2 [R6455-6.2-6]: extensions may modify the application data
                # (permessage-deflate inflates it)
                frame = extension.decode(frame, max_size=remaining)
            if max_frame_size is not None and len(frame.data) > max_frame_size:
                # RFC 6455 §10.4 [R6455-10.4-1]: an implementation-specific limit, here on
                # decoded frames
                raise PayloadTooBig(
                    len(frame.data),
                    max_frame_size,
                    message=f"frame of more than {max_frame_size} bytes",
                    rule="RFC 6455 §10.4",
                )
        size += len(frame.data)
        if max_size is not None and size > max_size:
            # RFC 6455 §10.4 [R6455-10.4-1]: impose a limit on the size of reassembled messages
            raise PayloadTooBig(
                None,
                max_size,
                message=f"message of more than {max_size} bytes",
                rule="RFC 6455 §10.4",
            )
        if self._recv_opcode is Opcode.TEXT:
            # RFC 6455 §5.6 [R6455-5.6-1], §8.1 [R6455-8.1-1]: text messages MUST be valid UTF-8,
            # checked across fragments
            data = frame.data
            self._utf8.feed(data[validated:] if validated else data, frame.fin)
        if frame.fin:
            # RFC 6455 §6.2 [R6455-6.2-4]: the data frames after the final one belong to
            # a new message
            self._recv_opcode = None
            self._recv_size = 0
            self._recv_fragments = 0
            self._utf8.reset()
        else:
            self._recv_size = size
            self._recv_fragments = fragments
        # RFC 6455 §5.4 [R6455-5.4-3]: fragments reach the application in the order sent
        if self._joined_event is not None and self._join(frame):
            return
        self._events.append(frame)
        if not frame.fin:
            self._joined_event = frame
        if not frame.fin or frame.opcode is Opcode.CONT:
            self._separate_fragments += 1

    def _join(self, frame: Frame) -> bool:
        """Join a fragment into the event before it, if both are small; True if done.

        Frame boundaries carry no meaning (RFC 6455 §5.4), so small fragments that arrive
        together become one event, their payloads joined in one growing buffer, in the
        order they were sent (R6455-5.4-3).
        """
        joined = self._joined_event
        assert joined is not None
        data = frame.data
        events = self._events
        if (
            frame.opcode is Opcode.CONT
            and self._separate_fragments >= self._separate_limit
            and len(data) < COALESCE_LIMIT
            and events
            and events[-1] is joined
        ):
            buffer = self._joined
            if buffer is None and data:
                if len(joined.data) >= COALESCE_LIMIT:
                    self._end_join()  # a large payload isn't copied to add a few bytes
                    return False
                buffer = self._joined = bytearray(joined.data)
            if buffer is not None:
                buffer += data
            if frame.fin:
                joined.fin = True
                self._end_join()
            return True
        self._end_join()
        return False

    def _end_join(self) -> None:
        """Give the event that small fragments were joined into its final payload."""
        joined, self._joined_event = self._joined_event, None
        if self._joined is not None:
            assert joined is not None
            joined.data = bytes(self._joined)
            self._joined = None

    def _receive_control_frame(self, frame: Frame) -> None:
        with self._guard:
            for extension in reversed(self._extensions):
                frame = extension.decode(frame, max_size=None)
            opcode = frame.opcode
            if opcode is Opcode.PING:
                # RFC 6455 §5.5.2 [R6455-5.5.2-2]: answer every ping with a pong, "unless it
                # already received a Close frame" -- also after sending ours (CLOSING). No
                # frame is read after the peer's Close, so only a closed write side stops it.
                # The pong carries the ping's data: RFC 6455 §5.5.3 [no keyword] "must have
                # identical 'Application data'" (lowercase: not a requirement of the registry)
                # RFC 6455 §5.5.2 [R6455-5.5.2-3]: as soon as practical: queued at once
                if not self.eof_sent:
                    self._answer_ping(frame.data)
            elif opcode is Opcode.CLOSE:
                self._receive_close(frame)
            # RFC 6455 §5.5.3 [R6455-5.5.3-2]: a pong may be unsolicited; no response is expected
            events = self._events
            if opcode is not Opcode.CLOSE and events:
                last = events[-1]
                if type(last) is Frame and last.opcode is opcode:
                    # A run of pings (or of pongs) that arrive between two calls of
                    # events_received() is reported by the most recent:
                    # RFC 6455 §5.5.3 [R6455-5.5.3-1]: a pong may answer only the most recent
                    # ping, and a pong acknowledges every ping sent before the one it answers.
                    # A flood can't make an event per frame.
                    events[-1] = frame
                    return
            events.append(frame)

    def _answer_ping(self, data: bytes) -> None:
        """Queue the pong for a ping; past ``max_pending_pongs`` pongs that nobody took
        yet, replace the last of them instead."""
        pending = self._pending_pongs
        if len(pending) < self.max_pending_pongs:
            pending.append(len(self._writes))
            self._send_frame(Frame(Opcode.PONG, data))
            return
        # RFC 6455 §5.5.3 [R6455-5.5.3-1]: with pongs for earlier pings still unsent, a
        # pong for only the most recent ping is enough (a choice the RFC leaves open, made
        # so that a peer that sends pings and never reads can't make pongs pile up). A few
        # are answered each (Autobahn 2.10 and 2.11 expect it): the limit applies past them.
        pong = Frame(Opcode.PONG, data)
        if self._extensions:
            pong = self._encode(pong)
        elif self.debug:
            self.logger.debug("> %s", pong)
        header, payload = serialize_frame(pong, mask=self.side is CLIENT)
        self._writes[pending[-1]] = header + payload  # a control frame: one piece
        if self.debug:
            self.logger.debug("= the pong replaces the unsent pong of an earlier ping")

    def _receive_close(self, frame: Frame) -> None:
        close = Close.parse(frame.data)
        self.close_rcvd = close
        if self._state is State.OPEN:
            # RFC 6455 §5.5.1 [R6455-5.5.1-6, R6455-5.5.1-7, R6455-5.5.1-8]: answer a close
            # frame with a close frame (echoing the code), at once, also between two
            # fragments of a message being sent: the MAY to delay it isn't taken
            self.close_rcvd_then_sent = True
            payload = b"" if close.code == CloseCode.NO_STATUS_RCVD else frame.data[:2]
            self._send_frame(Frame(Opcode.CLOSE, payload))
            self.close_sent = Close.parse(payload)
        elif self.close_rcvd_then_sent is None:
            self.close_rcvd_then_sent = False
        # RFC 6455 §5.5.1 [R6455-5.5.1-9, R6455-5.5.1-10]: once the closing handshake is
        # done, the server closes TCP at once; the client waits (close_expected()):
        # RFC 6455 §7.1.2 [R6455-7.1.2-2]: _Close the WebSocket Connection_, which is
        # RFC 6455 §7.1.1 [R6455-7.1.1-3, R6455-7.1.1-5]: TCP closed first by the server;
        # RFC 6455 §5.5.1 [R6455-5.5.1-11]: the client waits for it (with close_timeout in
        # the I/O layer); RFC 6455 §7.2.1 [R6455-7.2.1-3]: it doesn't close on its own
        if self.side is SERVER and not self.eof_sent:
            self.send_eof()
        # RFC 6455 §5.5.1 [R6455-5.5.1-5]: after a close frame, the peer sends no more data
        # frames; a choice: anything that still arrives is ignored:
        # RFC 6455 §7.1.1 [R6455-7.1.1-1]: "discarding any trailing bytes that may have been
        # received"
        self._stop_reading(Change.CLOSE_RECEIVED)  # CLOSING, reading DISCARD


def _truncate_reason(reason: str) -> str:
    """Cut a close reason to fit a control frame (RFC 6455 §5.5: 123 bytes after the code)."""
    encoded = reason.encode()
    if len(encoded) <= 123:
        return reason
    return encoded[:120].decode(errors="ignore") + "..."
