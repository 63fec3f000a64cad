"""Cases for both roles, on an open connection: permessage-deflate streams (section 7) and
close and ping rules (section 8). Each is registered twice, once per role."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import Any

from .common import (
    STEP_TIMEOUT,
    Conn,
    close_check,
    describe_frames,
    observe_failure,
)
from .model import FAILED, INFORMATIONAL, NON_STRICT, OK, REGISTRY, Outcome, Role
from .wire import (
    BINARY,
    CLOSE,
    CONT,
    PING,
    PONG,
    TEXT,
    Frame,
    close_frame,
    close_payload,
    deflate_message,
    encode_frame,
)

#: How a role opens a connection for these cases: (context, want_deflate) -> (conn, note).
Opener = Callable[[Any, bool], tuple[Conn | None, str]]
OPENERS: dict[Role, Opener] = {}


def our_bits(conn: Conn) -> int:
    """The window the suite may use when it compresses (its own direction)."""
    assert conn.deflate is not None
    bits = (
        conn.deflate.client_max_window_bits
        if conn.peer_is_server
        else conn.deflate.server_max_window_bits
    )
    return max(bits, 9)


def both(
    group: str,
    title: str,
    expectation: str,
    reqs: Sequence[str],
    body: Callable[[Conn], Outcome],
    *,
    deflate: bool = False,
) -> None:
    roles: tuple[Role, ...] = ("server", "client")
    for role in roles:

        def run(ctx: Any, role: Role = role) -> Outcome:
            conn, note = OPENERS[role](ctx, deflate)
            if conn is None:
                return Outcome(FAILED, f"could not open a connection: {note}")
            try:
                if deflate and conn.deflate is None:
                    return Outcome(
                        INFORMATIONAL, "permessage-deflate not negotiated: case not applicable"
                    )
                return body(conn)
            finally:
                conn.peer.close()

        REGISTRY.add(group, role, title, expectation, reqs, run)


# Section 7: permessage-deflate streams.


def _echo_messages(
    conn: Conn, payloads: Sequence[Sequence[Frame]], expected: list[tuple[str, object]]
) -> Outcome:
    for frames in payloads:
        for frame in frames:
            if not conn.send(frame):
                return Outcome(FAILED, "could not send (connection closed)")
    got: list[tuple[str, object]] = []
    for _ in expected:
        try:
            message = conn.read_message(STEP_TIMEOUT)
        except zlib.error as exc:
            return Outcome(FAILED, f"an echo did not inflate: {exc}")
        if message is None:
            seen = describe_frames(getattr(conn, "control", []))
            return Outcome(FAILED, f"{len(got)} of {len(expected)} messages echoed, then {seen}")
        got.append(message)
    if got != expected:
        return Outcome(FAILED, f"echoed {[repr(g)[:60] for g in got]}")
    behavior, observed = close_check(conn)
    return Outcome(behavior, f"{len(expected)} message(s) echoed intact; {observed}")


def _text(data: bytes) -> tuple[str, object]:
    return ("text", data.decode())


DEFLATE_STREAM = ("R7692-7.2.2-2", "R7692-7.2.2-4", "R7692-6-1")


def _split_compressed(conn: Conn) -> Outcome:
    data = ("fragmented and compressed " * 40).encode()
    payload = deflate_message(data, our_bits(conn))
    third = len(payload) // 3
    frames = (
        Frame(TEXT, payload[:third], fin=False, rsv1=True),
        Frame(CONT, payload[third : 2 * third], fin=False),
        Frame(CONT, payload[2 * third :]),
    )
    return _echo_messages(conn, [frames], [_text(data)])


both(
    "7.1",
    "A compressed message in three fragments (RSV1 on the first only)",
    "the message echoed",
    DEFLATE_STREAM,
    _split_compressed,
    deflate=True,
)


def _context_takeover(conn: Conn) -> Outcome:
    assert conn.deflate is not None
    bits = our_bits(conn)
    no_takeover = (
        conn.deflate.client_no_context_takeover
        if conn.peer_is_server
        else conn.deflate.server_no_context_takeover
    )
    comp = (
        None if no_takeover else zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -bits)
    )
    data = [b"the same words again and again " * 8 for _ in range(3)]
    frames = [(Frame(TEXT, deflate_message(d, bits, comp), rsv1=True),) for d in data]
    return _echo_messages(conn, frames, [_text(d) for d in data])


both(
    "7.1",
    "Three compressed messages sharing one LZ77 window (context takeover)",
    "each message decompressed with the window of the previous ones, and echoed",
    DEFLATE_STREAM,
    _context_takeover,
    deflate=True,
)


def _bfinal(conn: Conn) -> Outcome:
    bits = our_bits(conn)
    first = b"a message that ends with a final block " * 4
    comp = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -bits)
    payload1 = comp.compress(first) + comp.flush(zlib.Z_FINISH)  # BFINAL=1, no sync-flush tail
    second = b"and the next message starts a new stream " * 4
    payload2 = deflate_message(second, bits)
    frames = [(Frame(TEXT, payload1, rsv1=True),), (Frame(TEXT, payload2, rsv1=True),)]
    return _echo_messages(conn, frames, [_text(first), _text(second)])


both(
    "7.1",
    "A message compressed into a block with BFINAL set, then another message",
    "both messages decompressed and echoed (RFC 7692 §7.2.3.4)",
    ("R7692-7.2.1-6", *DEFLATE_STREAM),
    _bfinal,
    deflate=True,
)


def _empty_compressed(conn: Conn) -> Outcome:
    frames = [(Frame(TEXT, b"\x00", rsv1=True),), (Frame(BINARY, b"", rsv1=True),)]
    return _echo_messages(conn, frames, [("text", ""), ("binary", b"")])


both(
    "7.1",
    "Empty messages, compressed (a single 0x00 octet, and nothing at all)",
    "two empty messages echoed (RFC 7692 §7.2.3.6)",
    DEFLATE_STREAM,
    _empty_compressed,
    deflate=True,
)


def _uncompressed_in_pmd(conn: Conn) -> Outcome:
    data = b"not compressed although permessage-deflate is on"
    return _echo_messages(conn, [(Frame(TEXT, data),)], [_text(data)])


both(
    "7.1",
    "An uncompressed message (RSV1 clear) on a permessage-deflate connection",
    "the message echoed (compression is per message)",
    ("R7692-6-1",),
    _uncompressed_in_pmd,
    deflate=True,
)


def _stored_block(conn: Conn) -> Outcome:
    data = bytes(range(256)) * 4
    comp = zlib.compressobj(0, zlib.DEFLATED, -our_bits(conn))
    payload = comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH)
    return _echo_messages(conn, [(Frame(BINARY, payload[:-4], rsv1=True),)], [("binary", data)])


both(
    "7.1",
    "A binary message in a stored (uncompressed) DEFLATE block",
    "the message echoed",
    DEFLATE_STREAM,
    _stored_block,
    deflate=True,
)


def _many_fragments(conn: Conn) -> Outcome:
    data = ("x" * 1000 + "y" * 1000).encode() * 10
    payload = deflate_message(data, our_bits(conn))
    n = 10
    size = max(1, len(payload) // n + 1)
    chunks = [payload[i : i + size] for i in range(0, len(payload), size)]
    frames = tuple(
        Frame(TEXT if i == 0 else CONT, chunk, fin=i == len(chunks) - 1, rsv1=i == 0)
        for i, chunk in enumerate(chunks)
    )
    return _echo_messages(conn, [frames], [_text(data)])


both(
    "7.1",
    "A compressed message split at arbitrary byte positions into ten fragments",
    "the message echoed",
    DEFLATE_STREAM,
    _many_fragments,
    deflate=True,
)


def _failing(
    frames: Callable[[Conn], list[Frame]], what: str, codes: tuple[int, ...]
) -> Callable[[Conn], Outcome]:
    def body(conn: Conn) -> Outcome:
        for frame in frames(conn):
            conn.send(frame)
        return observe_failure(conn, codes, what)

    return body


both(
    "7.2",
    "A compressed Ping (RSV1 on a control frame)",
    "the connection failed, with Close 1002",
    ("R7692-6-2", "R7692-6-1"),
    _failing(lambda c: [Frame(PING, b"", rsv1=True)], "a Ping with RSV1", (1002,)),
    deflate=True,
)
both(
    "7.2",
    "RSV1 on a continuation frame",
    "the connection failed, with Close 1002",
    ("R7692-6-2", "R7692-6-1"),
    _failing(
        lambda c: [
            Frame(TEXT, deflate_message(b"abc" * 10, our_bits(c))[:3], fin=False, rsv1=True),
            Frame(CONT, deflate_message(b"abc" * 10, our_bits(c))[3:], rsv1=True),
        ],
        "RSV1 on a continuation",
        (1002,),
    ),
    deflate=True,
)
both(
    "7.2",
    "Compressed data that does not inflate",
    "the connection failed (Close 1002 or 1007)",
    ("R6455-10.7-1", "R6455-10.7-3"),
    _failing(
        lambda c: [Frame(TEXT, b"\xff\xff\xff\xff garbage", rsv1=True)],
        "bad DEFLATE data",
        (1002, 1007),
    ),
    deflate=True,
)
both(
    "7.2",
    "A compressed text message that inflates to invalid UTF-8",
    "the connection failed with Close 1007",
    ("R6455-10.7-1", "R6455-10.7-3"),
    _failing(
        lambda c: [
            Frame(
                TEXT,
                deflate_message(
                    b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80", our_bits(c)
                ),
                rsv1=True,
            )
        ],
        "invalid UTF-8 after inflating",
        (1007,),
    ),
    deflate=True,
)
both(
    "7.2",
    "RSV1 on a data frame without permessage-deflate",
    "the connection failed with Close 1002",
    ("R6455-10.7-1",),
    _failing(lambda c: [Frame(TEXT, b"hello", rsv1=True)], "RSV1 without an extension", (1002,)),
)


# Section 8: close and ping rules.

CLOSE_REQS = ("R6455-5.5.1-6", "R6455-5.5.1-9")


def _close_then_ping(conn: Conn) -> Outcome:
    conn.peer.send(
        b"".join(
            __import__("conformance.handshake.wire", fromlist=["encode_frame"]).encode_frame(
                f, mask=conn.peer.client
            )
            for f in (close_frame(1000), Frame(PING, b"after close"))
        )
    )
    frames = conn.frames_after()
    seen = describe_frames(frames)
    if any(f.opcode == PONG for f in frames):
        return Outcome(FAILED, f"answered the Ping that followed the Close: {seen}")
    if not any(f.opcode == CLOSE for f in frames):
        return Outcome(FAILED, f"no Close in reply: {seen}")
    return Outcome(OK, f"{seen}; no Pong")


both(
    "8.1",
    "A Ping right behind our Close",
    "a Close in reply and no Pong (§5.5.2: unless it already received a Close)",
    ("R6455-5.5.2-2", *CLOSE_REQS),
    _close_then_ping,
)


def _close_reply(
    payload: bytes, codes: tuple[int | None, ...], expectation_failed: str = FAILED
) -> Callable[[Conn], Outcome]:
    def body(conn: Conn) -> Outcome:
        conn.send(Frame(CLOSE, payload))
        frames = conn.frames_after()
        closes = [f for f in frames if f.opcode == CLOSE]
        seen = describe_frames(frames)
        if not closes:
            return Outcome(NON_STRICT if conn.peer.eof else FAILED, f"no Close in reply: {seen}")
        code, _ = close_payload(closes[0].payload)
        if code in (1005, 1006, 1015):
            return Outcome(FAILED, f"reserved code {code} on the wire: {seen}")
        if code not in codes:
            return Outcome(expectation_failed, f"{seen} (expected {codes})")
        return Outcome(OK, seen)

    return body


both(
    "8.1",
    "Close with no payload",
    "a Close with no code or 1000 — never 1005 on the wire",
    ("R6455-7.4.1-3", "R6455-5.5.1-6"),
    _close_reply(b"", (None, 1000)),
)
both(
    "8.1",
    "Close 1000 with a 123-byte reason (the most that fits)",
    "Close 1000 in reply",
    (*CLOSE_REQS, "R6455-5.5.1-3"),
    _close_reply(b"\x03\xe8" + b"r" * 123, (1000,)),
)
both(
    "8.1",
    "Close 1001 (going away)",
    "a Close in reply (1000 or 1001)",
    CLOSE_REQS,
    _close_reply(b"\x03\xe9", (1000, 1001)),
)
both(
    "8.1",
    "Close 3000 (registered range)",
    "a Close in reply (1000 or 3000)",
    CLOSE_REQS,
    _close_reply(b"\x0b\xb8", (1000, 3000)),
)
both(
    "8.1",
    "Close 4999 (private range)",
    "a Close in reply (1000 or 4999)",
    CLOSE_REQS,
    _close_reply(b"\x13\x87", (1000, 4999)),
)
both(
    "8.2",
    "Close with a 1-byte payload",
    "Close 1002",
    ("R6455-5.5.1-2",),
    _close_reply(b"\x03", (1002,)),
)
both(
    "8.2",
    "Close with code 1005",
    "Close 1002",
    ("R6455-7.4.1-3",),
    _close_reply(b"\x03\xed", (1002,)),
)
both(
    "8.2",
    "Close with code 1006",
    "Close 1002",
    ("R6455-7.4.1-4",),
    _close_reply(b"\x03\xee", (1002,)),
)
both(
    "8.2",
    "Close with code 1015",
    "Close 1002",
    ("R6455-7.4.1-6",),
    _close_reply(b"\x03\xf7", (1002,)),
)
both(
    "8.2",
    "Close with code 999",
    "Close 1002",
    ("R6455-5.5.1-2",),
    _close_reply(b"\x03\xe7", (1002,)),
)
both(
    "8.2",
    "Close 1000 with a reason that is not UTF-8",
    "Close 1007",
    ("R6455-5.5.1-3", "R6455-10.7-1"),
    _close_reply(b"\x03\xe8\xff\xfe", (1007,), NON_STRICT),
)
both(
    "8.2",
    "Close with a 124-byte reason (payload over 125 bytes)",
    "Close 1002",
    ("R6455-5.5-1",),
    _close_reply(b"\x03\xe8" + b"r" * 124, (1002,)),
)


def _ping_sizes(conn: Conn) -> Outcome:
    for size in (0, 125):
        payload = bytes(range(size % 256))[:size] if size else b""
        payload = b"p" * size
        conn.send(Frame(PING, payload))
        frame = conn.peer.read_frame(STEP_TIMEOUT)
        while frame is not None and frame.opcode not in (PONG, CLOSE):
            frame = conn.peer.read_frame(STEP_TIMEOUT)
        if frame is None or frame.opcode != PONG or frame.payload != payload:
            return Outcome(
                FAILED, f"Ping of {size} bytes: {frame.describe() if frame else 'no answer'}"
            )
    behavior, observed = close_check(conn)
    return Outcome(behavior, f"Pongs with the same payload (0 and 125 bytes); {observed}")


both(
    "8.3",
    "Pings of 0 and 125 bytes",
    "a Pong with the same payload for each",
    ("R6455-5.5.2-2", "R6455-5.5.2-3"),
    _ping_sizes,
)
both(
    "8.3",
    "A Ping of 126 bytes",
    "Close 1002 (control frames carry at most 125 bytes)",
    ("R6455-5.5-1",),
    _failing(lambda c: [Frame(PING, b"p" * 126)], "a 126-byte Ping", (1002,)),
)
both(
    "8.3",
    "A fragmented Ping",
    "Close 1002",
    ("R6455-5.5-1",),
    _failing(lambda c: [Frame(PING, b"p", fin=False)], "a Ping without FIN", (1002,)),
)


def _unsolicited_pong(conn: Conn) -> Outcome:
    conn.send(Frame(PONG, b"unsolicited"))
    from .common import accepted_and_working

    outcome = accepted_and_working(conn, "after an unsolicited Pong")
    return Outcome(outcome.behavior, f"Pong ignored; {outcome.observed}")


both(
    "8.3",
    "An unsolicited Pong",
    "ignored; the connection goes on",
    ("R6455-5.5.3-2",),
    _unsolicited_pong,
)


def _data_after_close(conn: Conn) -> Outcome:
    conn.peer.send(
        encode_frame(close_frame(1000), mask=conn.peer.client)
        + encode_frame(Frame(TEXT, b"after close"), mask=conn.peer.client)
    )
    frames = conn.frames_after()
    seen = describe_frames(frames)
    if any(f.opcode in (TEXT, BINARY, CONT) for f in frames):
        return Outcome(FAILED, f"answered data received after a Close: {seen}")
    return Outcome(OK if any(f.opcode == CLOSE for f in frames) else FAILED, seen)


both(
    "8.4",
    "A text message right behind our Close",
    "a Close in reply, the message not echoed",
    ("R6455-5.5.1-5", "R6455-7.1.7-5"),
    _data_after_close,
)


def _tcp_close_order(conn: Conn) -> Outcome:
    conn.send(close_frame(1000))
    frames = conn.frames_after()
    if not any(f.opcode == CLOSE for f in frames):
        return Outcome(FAILED, f"no Close in reply: {describe_frames(frames)}")
    if conn.peer_is_server:
        if conn.peer.eof:
            return Outcome(OK, "Close answered and TCP closed by the server")
        return Outcome(NON_STRICT, "Close answered, but the server did not close TCP within 10 s")
    # The client SHOULD wait for the server to close TCP: it may close too, after a while.
    return Outcome(
        OK if not conn.peer.eof else INFORMATIONAL,
        "Close answered; "
        + (
            "the client waits for the server to close TCP"
            if not conn.peer.eof
            else "the client closed TCP itself"
        ),
    )


both(
    "8.4",
    "Who closes TCP after the closing handshake",
    "the server closes TCP first (§7.1.1)",
    ("R6455-5.5.1-10", "R6455-7.1.1-3", "R6455-5.5.1-11"),
    _tcp_close_order,
)
