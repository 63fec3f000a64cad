"""Client cases: the scripted server's crafted responses (sections 3, 4 and 6).

The client under test connects to ``/runCase?case=N&agent=A`` as it would to wstest's
fuzzingserver; the case reads nothing more than the request head (already read) and answers
it. A client that must fail the handshake is sent a text message right behind the response:
echoing it means it took the connection as open.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .common import (
    STEP_TIMEOUT,
    Conn,
    accepted_and_working,
    deflate_from_response,
    head_text,
    parse_extensions,
)
from .model import FAILED, INFORMATIONAL, NON_STRICT, OK, REGISTRY, Outcome
from .wire import TEXT, Frame, Head, Peer, accept_for, deflate_message, encode_frame


@dataclass
class ClientSession:
    """One connection from the client under test, its request read."""

    peer: Peer
    request: Head
    case: int
    agent: str
    #: Called to wait for the client's next connection for this case (redirects).
    next_connection: Callable[[float], ClientSession | None] = field(default=lambda t: None)

    @property
    def key(self) -> str:
        return self.request.get("Sec-WebSocket-Key") or ""

    def offers(self) -> list[list[tuple[str, str | None]]]:
        parsed = parse_extensions(self.request.get_all("Sec-WebSocket-Extensions")) or []
        return [params for name, params in parsed if name == "permessage-deflate"]


def response(status: str, headers: list[tuple[str, str]]) -> bytes:
    return (status + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode(
        "latin-1"
    )


def accept_headers(s: ClientSession) -> list[tuple[str, str]]:
    return [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept_for(s.key)),
    ]


SWITCHING = "HTTP/1.1 101 Switching Protocols"


def client_failed(s: ClientSession, what: str, on_accept: str = FAILED) -> Outcome:
    """After a response the client must reject: it must not use the connection."""
    s.peer.send(encode_frame(Frame(TEXT, b"probe"), mask=False))
    frames = s.peer.frames_until_close(STEP_TIMEOUT, stop_at_close=True)
    if any(f.opcode == TEXT for f in frames):
        return Outcome(
            on_accept, f"after {what}: the client echoed a message: it accepted the handshake"
        )
    if frames:
        seen = "; ".join(f.describe() for f in frames)
        return Outcome(NON_STRICT, f"after {what}: the client sent {seen} instead of just closing")
    if s.peer.eof:
        return Outcome(OK, f"after {what}: the client closed the connection")
    return Outcome(FAILED, f"after {what}: the client kept the connection open for 10 s")


def client_case(
    group: str,
    title: str,
    expectation: str,
    reqs: Sequence[str],
    run: Callable[[ClientSession], Outcome],
) -> None:
    REGISTRY.add(group, "client", title, expectation, reqs, run)


# Section 3.1: the client's own request.


def _request_problems(s: ClientSession) -> list[str]:
    r = s.request
    problems = []
    method, _, rest = r.start.partition(" ")
    target, _, version = rest.rpartition(" ")
    if method != "GET":
        problems.append(f"method {method}")
    if not version.startswith("HTTP/1.") or version == "HTTP/1.0":
        problems.append(f"version {version}")
    if not target.startswith("/runCase?"):
        problems.append(f"request target {target}")
    if not r.get_all("Host"):
        problems.append("no Host")
    if "websocket" not in r.tokens("Upgrade"):
        problems.append(f"Upgrade: {r.get('Upgrade')}")
    if "upgrade" not in r.tokens("Connection"):
        problems.append(f"Connection: {r.get('Connection')}")
    keys = r.get_all("Sec-WebSocket-Key")
    try:
        ok_key = len(keys) == 1 and len(base64.b64decode(keys[0], validate=True)) == 16
    except ValueError:
        ok_key = False
    if not ok_key:
        problems.append(f"Sec-WebSocket-Key: {keys}")
    if r.get_all("Sec-WebSocket-Version") != ["13"]:
        problems.append(f"Sec-WebSocket-Version: {r.get_all('Sec-WebSocket-Version')}")
    protocols = r.tokens("Sec-WebSocket-Protocol")
    if len(set(protocols)) != len(protocols):
        problems.append("repeated subprotocols")
    if parse_extensions(r.get_all("Sec-WebSocket-Extensions")) is None:
        problems.append("malformed Sec-WebSocket-Extensions")
    return problems


def _valid_request(s: ClientSession) -> Outcome:
    problems = _request_problems(s)
    if problems:
        return Outcome(FAILED, "; ".join(problems) + f" — {head_text(s.request)}")
    s.peer.send(response(SWITCHING, accept_headers(s)))
    outcome = accepted_and_working(Conn(s.peer, peer_is_server=False))
    return Outcome(outcome.behavior, f"valid request; {outcome.observed}")


client_case(
    "3.1",
    "The client's opening handshake",
    "GET, HTTP/1.1, Host, Upgrade: websocket, Connection: Upgrade, a 16-byte base64 key, "
    "version 13",
    (
        "R6455-4.1-2",
        "R6455-4.1-19",
        "R6455-4.1-20",
        "R6455-4.1-21",
        "R6455-4.1-22",
        "R6455-4.1-23",
        "R6455-4.1-24",
        "R6455-4.1-25",
        "R6455-4.1-26",
        "R6455-4.1-30",
        "R6455-4.1-31",
        "R6455-4.1-34",
    ),
    _valid_request,
)


# Section 3.2: valid responses the client must accept.


def client_accepts(
    title: str, reqs: Sequence[str], build: Callable[[ClientSession], bytes]
) -> None:
    def run(s: ClientSession) -> Outcome:
        s.peer.send(build(s))
        return accepted_and_working(Conn(s.peer, peer_is_server=False))

    client_case(
        "3.2",
        title,
        "the connection opens: a message echoed, Close 1000 answered",
        (*HS_CLIENT, *reqs),
        run,
    )


HS_CLIENT = ("R6455-4.1-37", "R6455-4.1-38")
client_accepts("A minimal 101 response", (), lambda s: response(SWITCHING, accept_headers(s)))
client_accepts(
    "Header names in lower case",
    ("R6455-4.1-39", "R6455-4.1-40"),
    lambda s: response(SWITCHING, [(k.lower(), v) for k, v in accept_headers(s)]),
)
client_accepts(
    "Upgrade: WebSocket, Connection: upgrade (case-insensitive values)",
    ("R6455-4.1-39", "R6455-4.1-40"),
    lambda s: response(
        SWITCHING,
        [
            ("Upgrade", "WebSocket"),
            ("Connection", "upgrade"),
            ("Sec-WebSocket-Accept", accept_for(s.key)),
        ],
    ),
)
client_accepts(
    "Connection: keep-alive, Upgrade (a list)",
    ("R6455-4.1-40",),
    lambda s: response(
        SWITCHING,
        [
            ("Upgrade", "websocket"),
            ("Connection", "keep-alive, Upgrade"),
            ("Sec-WebSocket-Accept", accept_for(s.key)),
        ],
    ),
)
client_accepts(
    "A reason phrase other than Switching Protocols",
    (),
    lambda s: response("HTTP/1.1 101 Go Ahead", accept_headers(s)),
)
client_accepts(
    "Extra header fields (Server, Date, Set-Cookie)",
    (),
    lambda s: response(
        SWITCHING,
        [
            ("Server", "scripted"),
            ("Date", "Tue, 01 Dec 2026 00:00:00 GMT"),
            ("Set-Cookie", "a=b"),
            *accept_headers(s),
        ],
    ),
)
client_accepts(
    "Spaces and tabs around header values",
    (),
    lambda s: response(SWITCHING, [(k, f" \t{v} ") for k, v in accept_headers(s)]),
)


def _frame_with_response(s: ClientSession) -> Outcome:
    s.peer.send(
        response(SWITCHING, accept_headers(s))
        + encode_frame(Frame(TEXT, b"right behind"), mask=False)
    )
    conn = Conn(s.peer, peer_is_server=False)
    got = conn.read_message()
    if got != ("text", "right behind"):
        return Outcome(FAILED, f"the frame sent with the response was not echoed: {got!r}")
    outcome = accepted_and_working(conn)
    return Outcome(outcome.behavior, f"frame in the response's segment echoed; {outcome.observed}")


client_case(
    "3.2",
    "A text frame in the same write as the 101 response",
    "the frame processed (echoed) as the first message",
    ("R6455-4.1-38",),
    _frame_with_response,
)


def _redirect(status: str) -> Callable[[ClientSession], Outcome]:
    def run(s: ClientSession) -> Outcome:
        location = f"/runCase?case={s.case}&agent={s.agent}&redirected=1"
        headers = [("Location", location), ("Content-Length", "0"), ("Connection", "close")]
        s.peer.send(response(status, headers))
        s.peer.close()  # as an HTTP server does after a redirect: the client reconnects
        follow = s.next_connection(STEP_TIMEOUT)
        if follow is None:
            return Outcome(
                INFORMATIONAL, f"{status.split(' ', 1)[1]}: the client did not follow the redirect"
            )
        try:
            if "redirected=1" not in follow.request.start:
                return Outcome(FAILED, f"followed to the wrong target: {follow.request.start}")
            follow.peer.send(response(SWITCHING, accept_headers(follow)))
            outcome = accepted_and_working(Conn(follow.peer, peer_is_server=False))
            return Outcome(outcome.behavior, f"followed the redirect; {outcome.observed}")
        finally:
            follow.peer.close()

    return run


for status in (
    "HTTP/1.1 301 Moved Permanently",
    "HTTP/1.1 302 Found",
    "HTTP/1.1 307 Temporary Redirect",
    "HTTP/1.1 308 Permanent Redirect",
):
    client_case(
        "3.3",
        f"Redirect: {status[9:]}",
        "followed (or not: following redirects is the client's choice)",
        ("R6455-4.1-38", "R6455-4.2.2-3"),
        _redirect(status),
    )


# Section 4: responses the client must reject.


def _status(s: ClientSession, *, code: int, reason: str) -> bytes:
    extra = [("Sec-WebSocket-Version", "13")] if code == 426 else []
    return response(f"HTTP/1.1 {code} {reason}", [("Content-Length", "0"), *extra])


def client_rejects(
    group: str,
    title: str,
    reqs: Sequence[str],
    build: Callable[[ClientSession], bytes],
    on_accept: str = FAILED,
) -> None:
    def run(s: ClientSession) -> Outcome:
        s.peer.send(build(s))
        return client_failed(s, title[0].lower() + title[1:], on_accept)

    client_case(
        group, title, "the client fails the connection: no message echoed, TCP closed", reqs, run
    )


def swap(s: ClientSession, name: str, value: str | None, *extra: tuple[str, str]) -> bytes:
    headers = [(k, v) for k, v in accept_headers(s) if k != name]
    if value is not None:
        headers.append((name, value))
    return response(SWITCHING, [*headers, *extra])


client_rejects(
    "4.1",
    "A wrong Sec-WebSocket-Accept",
    ("R6455-4.1-41", "R6455-4.1-44"),
    lambda s: swap(s, "Sec-WebSocket-Accept", accept_for("dGhlIHNhbXBsZSBub25jZQ==")),
)
client_rejects(
    "4.1",
    "No Sec-WebSocket-Accept",
    ("R6455-4.1-41",),
    lambda s: swap(s, "Sec-WebSocket-Accept", None),
)
client_rejects(
    "4.1",
    "Sec-WebSocket-Accept of the key itself (not hashed)",
    ("R6455-4.1-41",),
    lambda s: swap(s, "Sec-WebSocket-Accept", s.key),
)
client_rejects(
    "4.1",
    "Two Sec-WebSocket-Accept fields",
    ("R6455-11.3.3-1", "R6455-4.1-41"),
    lambda s: response(
        SWITCHING, [*accept_headers(s), ("Sec-WebSocket-Accept", accept_for(s.key))]
    ),
)
client_rejects("4.1", "No Upgrade", ("R6455-4.1-39",), lambda s: swap(s, "Upgrade", None))
client_rejects("4.1", "Upgrade: h2c", ("R6455-4.1-39",), lambda s: swap(s, "Upgrade", "h2c"))
client_rejects(
    "4.1",
    "Upgrade: websocket, h2c (not exactly websocket)",
    ("R6455-4.1-39",),
    lambda s: swap(s, "Upgrade", "websocket, h2c"),
)
client_rejects("4.1", "No Connection", ("R6455-4.1-40",), lambda s: swap(s, "Connection", None))
client_rejects(
    "4.1", "Connection: close", ("R6455-4.1-40",), lambda s: swap(s, "Connection", "close")
)
client_rejects(
    "4.1",
    "An unrequested subprotocol",
    ("R6455-4.1-43",),
    lambda s: swap(s, "Sec-WebSocket-Protocol", "x-never-offered"),
)
client_rejects(
    "4.1",
    "An unrequested extension",
    ("R6455-4.1-42", "R6455-9.1-6"),
    lambda s: swap(s, "Sec-WebSocket-Extensions", "x-never-offered"),
)
for code, reason in (
    (200, "OK"),
    (400, "Bad Request"),
    (403, "Forbidden"),
    (404, "Not Found"),
    (426, "Upgrade Required"),
    (500, "Internal Server Error"),
    (503, "Service Unavailable"),
):
    client_rejects(
        "4.2",
        f"Status {code} {reason}",
        ("R6455-4.1-38",),
        functools.partial(_status, code=code, reason=reason),
    )
client_rejects(
    "4.2",
    "HTTP/1.0 101 (HTTP/1.0 has no Upgrade)",
    ("R6455-4.1-44",),
    lambda s: response("HTTP/1.0 101 Switching Protocols", accept_headers(s)),
    on_accept=NON_STRICT,
)
client_rejects(
    "4.2",
    "A status line that is not HTTP",
    ("R6455-4.1-44",),
    lambda s: response("SPDY/3 101 Switching", accept_headers(s)),
)
client_rejects(
    "4.2",
    "A header line without a colon",
    ("R6455-4.1-44",),
    lambda s: response(SWITCHING, [*accept_headers(s), ("X-Broken", "")]).replace(
        b"X-Broken: \r\n", b"X-Broken\r\n"
    ),
)
client_rejects(
    "4.2",
    "A header line of 100 KiB in the response",
    ("R6455-10.4-2",),
    lambda s: response(SWITCHING, [*accept_headers(s), ("X-Filler", "f" * 100 * 1024)]),
    on_accept=NON_STRICT,
)
client_rejects(
    "4.2",
    "Three thousand header fields in the response",
    ("R6455-10.4-2",),
    lambda s: response(SWITCHING, [*accept_headers(s), *(("X-Many", str(i)) for i in range(3000))]),
    on_accept=NON_STRICT,
)


def _closed_without_response(s: ClientSession) -> Outcome:
    s.peer.close()
    return Outcome(OK, "closed without a response (the client must report a failure, not hang)")


client_case(
    "4.2",
    "TCP closed without a response",
    "the client fails the connection",
    ("R6455-4.1-2",),
    _closed_without_response,
)


# Section 6: permessage-deflate responses (RFC 7692) to the client's offer.


def _pmd_case(
    group: str,
    title: str,
    reqs: Sequence[str],
    respond: Callable[[ClientSession], str | None],
    *,
    valid: bool,
) -> None:
    def run(s: ClientSession) -> Outcome:
        offers = s.offers()
        if not offers:
            s.peer.send(response(SWITCHING, accept_headers(s)))
            outcome = accepted_and_working(Conn(s.peer, peer_is_server=False))
            return Outcome(
                INFORMATIONAL if outcome.behavior == OK else outcome.behavior,
                f"the client does not offer permessage-deflate; {outcome.observed}",
            )
        value = respond(s)
        if value is None:
            s.peer.send(response(SWITCHING, accept_headers(s)))
            return Outcome(INFORMATIONAL, "not applicable to this client's offer")
        s.peer.send(response(SWITCHING, [*accept_headers(s), ("Sec-WebSocket-Extensions", value)]))
        if not valid:
            return client_failed(s, f"Sec-WebSocket-Extensions: {value}")
        conn = Conn(s.peer, peer_is_server=False)
        parsed = parse_extensions([value]) or [("", [])]
        conn.deflate = deflate_from_response(parsed[0][1])
        from .both_cases import our_bits

        data = ("server compressed " * 30).encode()
        if not conn.send(Frame(TEXT, deflate_message(data, our_bits(conn)), rsv1=True)):
            return Outcome(FAILED, "could not send")
        try:
            got = conn.read_message()
        except Exception as exc:  # zlib.error: the client broke the agreed window or context
            return Outcome(FAILED, f"the client's message did not inflate under {value!r}: {exc}")
        if got != ("text", data.decode()):
            return Outcome(FAILED, f"compressed message not echoed: {got!r:.80}")
        outcome = accepted_and_working(conn, "second message, after the first")
        return Outcome(
            outcome.behavior, f"accepted {value!r}; compressed messages echoed; {outcome.observed}"
        )

    expectation = (
        "the client uses the agreed parameters: messages echoed"
        if valid
        else "the client fails the connection (RFC 7692 §7)"
    )
    client_case(group, title, expectation, reqs, run)


def _fixed(s: ClientSession, *, value: str) -> str | None:
    return value


def _offered(s: ClientSession, name: str) -> bool:
    return any(any(n == name for n, _ in params) for params in s.offers())


PMD_OK = ("R7692-5-2", "R6455-9-1")
for value in (
    "permessage-deflate",
    "permessage-deflate; server_no_context_takeover",
    "permessage-deflate; client_no_context_takeover",
    "permessage-deflate; server_max_window_bits=10",
    "permessage-deflate; server_max_window_bits=9",
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
    "server_max_window_bits=12",
):
    _pmd_case(
        "6.1", f"Response: {value}", PMD_OK, functools.partial(_fixed, value=value), valid=True
    )
_pmd_case(
    "6.1",
    "Response: client_max_window_bits=10 (when the client offered it)",
    (*PMD_OK, "R7692-7.1.2.2-1"),
    lambda s: (
        "permessage-deflate; client_max_window_bits=10"
        if _offered(s, "client_max_window_bits")
        else None
    ),
    valid=True,
)
PMD_BAD = ("R7692-7-2", "R7692-5-5")
for value in (
    "permessage-deflate; server_max_window_bits=7",
    "permessage-deflate; server_max_window_bits=16",
    "permessage-deflate; server_max_window_bits=abc",
    "permessage-deflate; client_max_window_bits=7",
    "permessage-deflate; client_max_window_bits",
    "permessage-deflate; server_no_context_takeover=1",
    "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    "permessage-deflate; unknown_parameter",
    "permessage-deflate, permessage-deflate",
    "permessage-deflate, x-never-offered",
):
    _pmd_case(
        "6.2",
        f"Invalid response: {value}",
        PMD_BAD,
        functools.partial(_fixed, value=value),
        valid=False,
    )
_pmd_case(
    "6.2",
    "client_max_window_bits=10 when the client did not offer it",
    ("R7692-7.1.2.2-2", *PMD_BAD),
    lambda s: (
        None
        if _offered(s, "client_max_window_bits")
        else "permessage-deflate; client_max_window_bits=10"
    ),
    valid=False,
)


def open_client_conn(s: ClientSession, want_deflate: bool) -> tuple[Conn | None, str]:
    """For the both-role cases: accept the client's handshake (with permessage-deflate as
    offered, when asked and offered)."""
    headers = accept_headers(s)
    deflate = None
    if want_deflate and s.offers():
        value = "permessage-deflate"
        headers.append(("Sec-WebSocket-Extensions", value))
        deflate = deflate_from_response([])
    s.peer.send(response(SWITCHING, headers))
    return Conn(s.peer, peer_is_server=False, deflate=deflate), "accepted"


_ = Any
