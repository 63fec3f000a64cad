"""What server and client cases share: an open connection and the checks run on it."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field

from .model import FAILED, NON_STRICT, OK, Outcome
from .wire import (
    BINARY,
    CLOSE,
    CONT,
    PING,
    PONG,
    TEXT,
    Frame,
    Head,
    Peer,
    close_frame,
    close_payload,
    inflate_message,
)

#: Seconds the suite waits for the implementation under test at each step.
STEP_TIMEOUT = 10.0
MESSAGE = "conformance: Ελληνικά, 日本語, emoji 🎉"


@dataclass
class Deflate:
    """permessage-deflate as agreed in a handshake (None on a Conn: not agreed)."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15
    #: The decompressor for messages from the implementation under test.
    inflater: object = field(default=None)

    def inflate(self, payload: bytes, *, peer_is_server: bool) -> bytes:
        no_takeover = (
            self.server_no_context_takeover if peer_is_server else self.client_no_context_takeover
        )
        bits = self.server_max_window_bits if peer_is_server else self.client_max_window_bits
        if self.inflater is None or no_takeover:
            self.inflater = zlib.decompressobj(-max(bits, 9))
        return inflate_message(payload, self.inflater)


_PARAM = re.compile(r"^\s*([A-Za-z0-9_!#$%&'*+.^`|~-]+)\s*(?:=\s*(\"[^\"]*\"|[^\s;,]*))?\s*$")


def parse_extensions(values: list[str]) -> list[tuple[str, list[tuple[str, str | None]]]] | None:
    """Sec-WebSocket-Extensions fields as [(name, [(param, value)])]; None if malformed."""
    result = []
    for value in values:
        for item in value.split(","):
            if not item.strip():
                continue
            name, *params = item.split(";")
            if not _PARAM.match(name) or "=" in name:
                return None
            parsed: list[tuple[str, str | None]] = []
            for param in params:
                match = _PARAM.match(param)
                if not match:
                    return None
                raw = match.group(2)
                parsed.append((match.group(1).lower(), raw.strip('"') if raw is not None else None))
            result.append((name.strip().lower(), parsed))
    return result


def deflate_from_response(params: list[tuple[str, str | None]]) -> Deflate:
    d = Deflate()
    for name, value in params:
        if name == "server_no_context_takeover":
            d.server_no_context_takeover = True
        elif name == "client_no_context_takeover":
            d.client_no_context_takeover = True
        elif name == "server_max_window_bits" and value and value.isdigit():
            d.server_max_window_bits = int(value)
        elif name == "client_max_window_bits" and value and value.isdigit():
            d.client_max_window_bits = int(value)
    return d


@dataclass
class Conn:
    """An open WebSocket connection to the implementation under test."""

    peer: Peer
    #: The implementation under test is the server (the suite is the client), or not.
    peer_is_server: bool
    deflate: Deflate | None = None

    def send(self, frame: Frame) -> bool:
        return self.peer.send_frame(frame)

    def frames_after(self, timeout: float = STEP_TIMEOUT) -> list[Frame]:
        """Frames until the connection ends: a server under test must close TCP after the
        closing handshake (§7.1.1), so read until EOF; a client under test waits for us to
        close TCP, so stop at its Close frame."""
        return self.peer.frames_until_close(timeout, stop_at_close=not self.peer_is_server)

    @property
    def tcp_done(self) -> bool:
        """TCP closed by the server under test, or (client under test) nothing to wait for."""
        return self.peer.eof or not self.peer_is_server

    def read_message(self, timeout: float = STEP_TIMEOUT) -> tuple[str, object] | None:
        """("text"|"binary", data) of the next data message, answering nothing; control
        frames seen on the way are kept in ``self.control``. None on close or timeout."""
        parts: list[bytes] = []
        first: Frame | None = None
        self.control: list[Frame] = getattr(self, "control", [])
        while True:
            frame = self.peer.read_frame(timeout)
            if frame is None:
                return None
            if frame.opcode >= 0x8:
                self.control.append(frame)
                if frame.opcode == CLOSE:
                    return None
                continue
            if first is None:
                first = frame
            parts.append(frame.payload)
            if frame.fin:
                break
        data = b"".join(parts)
        if first.rsv1:
            if self.deflate is None:
                return ("invalid", b"RSV1 set without permessage-deflate")
            data = self.deflate.inflate(data, peer_is_server=self.peer_is_server)
        if first.opcode == TEXT:
            return ("text", data.decode("utf-8", "replace"))
        return ("binary", data)


def describe_frames(frames: list[Frame]) -> str:
    return "; ".join(f.describe() for f in frames) or "no frame"


def echo_check(conn: Conn, message: str = MESSAGE) -> str | None:
    """Send a text message, expect it back; None if it came back intact, else the problem."""
    if not conn.send(Frame(TEXT, message.encode())):
        return "could not send a message (connection closed)"
    try:
        got = conn.read_message()
    except zlib.error as exc:
        return f"the echo did not inflate: {exc}"
    if got is None:
        seen = describe_frames(getattr(conn, "control", []))
        return f"no echo ({seen}{', connection closed' if conn.peer.eof else ''})"
    if got != ("text", message):
        return f"wrong echo: {got!r:.200}"
    return None


def close_check(conn: Conn) -> tuple[str, str]:
    """Close 1000, expect Close back and TCP closed: (behavior, observed)."""
    conn.send(close_frame(1000, b"bye"))
    frames = conn.frames_after()
    closes = [f for f in frames if f.opcode == CLOSE]
    if not closes:
        return FAILED, f"no Close frame in reply to Close 1000 ({describe_frames(frames)})"
    code, _ = close_payload(closes[0].payload)
    if code not in (1000, None):
        return FAILED, f"Close 1000 answered with {closes[0].describe()}"
    if not conn.tcp_done:
        return NON_STRICT, "Close frames exchanged, but TCP still open after 10 s"
    return OK, "echoed, then Close 1000 answered" + (" and TCP closed" if conn.peer.eof else "")


def accepted_and_working(conn: Conn, message: str = MESSAGE) -> Outcome:
    problem = echo_check(conn, message)
    if problem:
        return Outcome(FAILED, f"handshake accepted, but {problem}")
    behavior, observed = close_check(conn)
    return Outcome(behavior, observed)


def observe_failure(conn: Conn, codes: tuple[int, ...], what: str) -> Outcome:
    """After bad input on an open connection: expect a Close with one of ``codes``, then
    TCP closed; an echo or silence is FAILED, a close without a Close frame NON-STRICT."""
    frames = conn.frames_after()
    data = [f for f in frames if f.opcode in (TEXT, BINARY, CONT)]
    pongs = [f for f in frames if f.opcode == PONG]
    closes = [f for f in frames if f.opcode == CLOSE]
    seen = describe_frames(frames)
    if data or pongs:
        return Outcome(FAILED, f"after {what}: {seen} (processed it instead of failing)")
    if closes:
        code, _ = close_payload(closes[0].payload)
        if code in codes:
            tail = "" if conn.tcp_done else ", but TCP still open after 10 s"
            return Outcome(OK if conn.tcp_done else NON_STRICT, f"after {what}: {seen}{tail}")
        return Outcome(NON_STRICT, f"after {what}: {seen} (expected code {codes})")
    if conn.peer.eof:
        return Outcome(NON_STRICT, f"after {what}: TCP closed without a Close frame")
    return Outcome(FAILED, f"after {what}: nothing within 10 s, connection still open")


def ping_frames(frames: list[Frame]) -> list[Frame]:
    return [f for f in frames if f.opcode == PING]


def head_text(head: Head | None) -> str:
    if head is None:
        return "no response"
    shown = [head.start, *(f"{k}: {v}" for k, v in head.headers)]
    return " | ".join(shown)[:400]
