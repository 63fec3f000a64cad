"""Server cases: opening handshakes over raw sockets, valid and invalid, and
permessage-deflate offers (sections 1, 2 and 5). The suite plays the client."""

from __future__ import annotations

import base64
import functools
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .common import (
    STEP_TIMEOUT,
    Conn,
    accepted_and_working,
    deflate_from_response,
    head_text,
    parse_extensions,
)
from .model import FAILED, INFORMATIONAL, NON_STRICT, OK, REGISTRY, Outcome
from .wire import TEXT, Frame, Head, Peer, accept_for, deflate_message, new_key


@dataclass(frozen=True)
class ServerTarget:
    host: str
    port: int
    path: str = "/"

    @property
    def authority(self) -> str:
        return f"{self.host}:{self.port}"

    def connect(self) -> Peer:
        return Peer.connect(self.host, self.port, STEP_TIMEOUT)


Headers = list[tuple[str, str]]


def base_headers(t: ServerTarget, key: str) -> Headers:
    return [
        ("Host", t.authority),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
    ]


def build(start: str, headers: Headers, *, eol: str = "\r\n", body: bytes = b"") -> bytes:
    lines = [start, *(f"{k}: {v}" if k else v for k, v in headers)]
    return (eol.join(lines) + eol + eol).encode("latin-1", "replace") + body


def replace(headers: Headers, name: str, value: str | None) -> Headers:
    """Drop every ``name`` field and, unless ``value`` is None, put one back in its place."""
    out: Headers = []
    placed = False
    for k, v in headers:
        if k.lower() == name.lower():
            if value is not None and not placed:
                out.append((k, value))
                placed = True
        else:
            out.append((k, v))
    if value is not None and not placed:
        out.append((name, value))
    return out


def handshake_problems(resp: Head | None, key: str) -> list[str]:
    """Why ``resp`` is not a valid 101 for ``key`` (RFC 6455 §4.2.2 step 5); [] if it is."""
    if resp is None:
        return ["no HTTP response"]
    if resp.status != 101:
        return [f"status {resp.status} ({resp.start})"]
    problems = []
    if "websocket" not in resp.tokens("Upgrade"):
        problems.append(f"Upgrade: {resp.get('Upgrade')}")
    if "upgrade" not in resp.tokens("Connection"):
        problems.append(f"Connection: {resp.get('Connection')}")
    accepts = resp.get_all("Sec-WebSocket-Accept")
    if accepts != [accept_for(key)]:
        problems.append(f"Sec-WebSocket-Accept: {accepts} (expected {accept_for(key)})")
    for name in ("Sec-WebSocket-Extensions", "Sec-WebSocket-Protocol"):
        if len(resp.get_all(name)) > 1:
            problems.append(f"{name} appears {len(resp.get_all(name))} times")
    return problems


def exchange(t: ServerTarget, request: bytes) -> tuple[Peer, Head | None]:
    peer = t.connect()
    peer.send(request)
    return peer, peer.read_head(STEP_TIMEOUT)


# Section 1: valid requests must be accepted (and the connection must work).


def accepted(
    group: str,
    title: str,
    reqs: Sequence[str],
    make: Callable[[ServerTarget, str], bytes],
    *,
    check: Callable[[Head], str | None] | None = None,
    refusal: str = FAILED,
    key: str | None = None,
) -> None:
    def run(t: ServerTarget) -> Outcome:
        k = key or new_key()
        peer, resp = exchange(t, make(t, k))
        try:
            problems = handshake_problems(resp, k)
            if problems:
                behavior = refusal if resp is not None and resp.status != 101 else FAILED
                return Outcome(behavior, "; ".join(problems) + f" — {head_text(resp)}")
            assert resp is not None
            if check is not None and (problem := check(resp)):
                return Outcome(FAILED, f"{problem} — {head_text(resp)}")
            conn = Conn(peer, peer_is_server=True)
            parsed = parse_extensions(resp.get_all("Sec-WebSocket-Extensions")) or []
            pmd = [params for name, params in parsed if name == "permessage-deflate"]
            if pmd:
                conn.deflate = deflate_from_response(pmd[0])
            return accepted_and_working(conn)
        finally:
            peer.close()

    REGISTRY.add(
        group,
        "server",
        title,
        "101 Switching Protocols with the right Sec-WebSocket-Accept; then a text message "
        "is echoed and Close 1000 answered",
        reqs,
        run,
    )


def std(
    t: ServerTarget,
    key: str,
    *,
    start: str | None = None,
    edit: Callable[[Headers], Headers] = lambda h: h,
) -> bytes:
    return build(start or f"GET {t.path} HTTP/1.1", edit(base_headers(t, key)))


def _no_header(name: str) -> Callable[[Head], str | None]:
    def check(resp: Head) -> str | None:
        return f"unexpected {name}: {resp.get(name)}" if resp.get_all(name) else None

    return check


HS_OK = (
    "R6455-4.2.1-1",
    "R6455-4.2.2-1",
    "R6455-4.2.2-13",
    "R6455-4.2.2-14",
    "R6455-4.2.2-15",
    "R6455-4.2.2-16",
)

accepted("1.1", "A minimal valid request", HS_OK, std)
accepted(
    "1.1",
    "Request-URI in absolute form (http://host:port/path)",
    (*HS_OK, "R6455-4.2.1-3"),
    lambda t, k: std(t, k, start=f"GET http://{t.authority}{t.path} HTTP/1.1"),
)
accepted(
    "1.1",
    "HTTP/1.2 (a higher minor version)",
    (*HS_OK, "R6455-4.2.1-2"),
    lambda t, k: std(t, k, start=f"GET {t.path} HTTP/1.2"),
    refusal=NON_STRICT,  # "HTTP/1.1 or higher" is allowed, but a server may refuse anything
)
accepted(
    "1.1",
    "Query string in the Request-URI",
    (*HS_OK, "R6455-4.2.1-3"),
    lambda t, k: std(t, k, start=f"GET {t.path}{'&' if '?' in t.path else '?'}a=1&b=%20x HTTP/1.1"),
)
accepted(
    "1.1",
    "Host without the port",
    (*HS_OK, "R6455-4.2.1-4"),
    lambda t, k: std(t, k, edit=lambda h: replace(h, "Host", t.host)),
)
accepted(
    "1.2",
    "Header field names in lower case",
    (*HS_OK, "R6455-4.2.1-5", "R6455-4.2.1-6"),
    lambda t, k: std(t, k, edit=lambda h: [(n.lower(), v) for n, v in h]),
)
accepted(
    "1.2",
    "Header field names in upper case",
    HS_OK,
    lambda t, k: std(t, k, edit=lambda h: [(n.upper(), v) for n, v in h]),
)
accepted(
    "1.2",
    "Upgrade: WebSocket (mixed case value)",
    (*HS_OK, "R6455-4.2.1-5"),
    lambda t, k: std(t, k, edit=lambda h: replace(h, "Upgrade", "WebSocket")),
)
accepted(
    "1.2",
    "Upgrade: WEBSOCKET",
    (*HS_OK, "R6455-4.2.1-5"),
    lambda t, k: std(t, k, edit=lambda h: replace(h, "Upgrade", "WEBSOCKET")),
)
accepted(
    "1.2",
    "Connection: upgrade (lower case token)",
    (*HS_OK, "R6455-4.2.1-6"),
    lambda t, k: std(t, k, edit=lambda h: replace(h, "Connection", "upgrade")),
)
accepted(
    "1.2",
    "Connection: keep-alive, Upgrade (a list)",
    (*HS_OK, "R6455-4.2.1-6"),
    lambda t, k: std(t, k, edit=lambda h: replace(h, "Connection", "keep-alive, Upgrade")),
)
accepted(
    "1.2",
    "Connection split over two header fields",
    (*HS_OK, "R6455-4.2.1-6"),
    lambda t, k: std(
        t,
        k,
        edit=lambda h: [*replace(h, "Connection", "keep-alive"), ("Connection", "Upgrade")],
    ),
)
accepted(
    "1.2",
    "Spaces and tabs around header values",
    HS_OK,
    lambda t, k: std(t, k, edit=lambda h: [(n, f" \t{v}\t ") for n, v in h]),
)
accepted(
    "1.2",
    "No space after the colons",
    HS_OK,
    lambda t, k: build(f"GET {t.path} HTTP/1.1", [("", f"{n}:{v}") for n, v in base_headers(t, k)]),
)
accepted(
    "1.2",
    "Upgrade lists another protocol before websocket",
    (*HS_OK, "R6455-4.2.1-5"),
    lambda t, k: std(t, k, edit=lambda h: replace(h, "Upgrade", "foo/2, websocket")),
    refusal=NON_STRICT,
)
accepted(
    "1.2",
    "Header fields in reverse order",
    (*HS_OK, "R6455-4.2.1-1"),
    lambda t, k: std(t, k, edit=lambda h: list(reversed(h))),
)
accepted(
    "1.2",
    "Fifty extra ordinary header fields",
    (*HS_OK, "R6455-4.1-36"),
    lambda t, k: std(t, k, edit=lambda h: h + [(f"X-Extra-{i}", "x" * 40) for i in range(50)]),
)
accepted(
    "1.3",
    "Origin header field present",
    (*HS_OK, "R6455-4.2.2-4", "R6455-10.2-2"),
    lambda t, k: std(t, k, edit=lambda h: [*h, ("Origin", "http://example.com")]),
    refusal=INFORMATIONAL,
)
accepted(
    "1.3",
    "Cookie and Authorization header fields",
    (*HS_OK, "R6455-4.1-36"),
    lambda t, k: std(
        t, k, edit=lambda h: [*h, ("Cookie", "a=b; c=d"), ("Authorization", "Bearer x")]
    ),
)
accepted(
    "1.3",
    "Sec-WebSocket-Key of all zero bits",
    (*HS_OK, "R6455-4.2.1-7"),
    std,
    key="AAAAAAAAAAAAAAAAAAAAAA==",
)
accepted(
    "1.4",
    "Subprotocols offered that the server does not speak: no Sec-WebSocket-Protocol back",
    (*HS_OK, "R6455-4.2.1-10", "R6455-4.2.2-9", "R6455-4.2.2-10"),
    lambda t, k: std(
        t, k, edit=lambda h: [*h, ("Sec-WebSocket-Protocol", "x-unknown-1, x-unknown-2")]
    ),
    check=_no_header("Sec-WebSocket-Protocol"),
)
accepted(
    "1.4",
    "Subprotocols over two header fields",
    (*HS_OK, "R6455-11.3.4-1", "R6455-4.2.2-9"),
    lambda t, k: std(
        t,
        k,
        edit=lambda h: [
            *h,
            ("Sec-WebSocket-Protocol", "x-unknown-1"),
            ("Sec-WebSocket-Protocol", "x-unknown-2"),
        ],
    ),
    check=_no_header("Sec-WebSocket-Protocol"),
)
accepted(
    "1.4",
    "An unknown extension offered: not in the response",
    (*HS_OK, "R6455-9-2", "R6455-9-3", "R6455-4.2.2-12"),
    lambda t, k: std(t, k, edit=lambda h: [*h, ("Sec-WebSocket-Extensions", "x-unknown; a=1")]),
    check=_no_header("Sec-WebSocket-Extensions"),
)


def _only_offered_extensions(resp: Head) -> str | None:
    parsed = parse_extensions(resp.get_all("Sec-WebSocket-Extensions"))
    if parsed is None:
        return "malformed Sec-WebSocket-Extensions"
    names = [n for n, _ in parsed]
    if any(n != "permessage-deflate" for n in names) or len(names) > 1:
        return f"extensions not offered or repeated: {names}"
    return None


accepted(
    "1.4",
    "Extension offers over two header fields",
    (*HS_OK, "R6455-11.3.2-1", "R6455-9.1-3", "R6455-4.2.2-11"),
    lambda t, k: std(
        t,
        k,
        edit=lambda h: [
            *h,
            ("Sec-WebSocket-Extensions", "x-unknown"),
            ("Sec-WebSocket-Extensions", "permessage-deflate"),
        ],
    ),
    check=_only_offered_extensions,
)


# Section 2: invalid requests must be refused with an HTTP error status.


def refused(
    group: str,
    title: str,
    reqs: Sequence[str],
    make: Callable[[ServerTarget, str], bytes],
    *,
    want: str = "an HTTP 4xx status (such as 400)",
    check: Callable[[Head], str | None] | None = None,
    on_accept: str = FAILED,
    on_silent_close: str = FAILED,
    also_ok: tuple[int, ...] = (),
) -> None:
    def run(t: ServerTarget) -> Outcome:
        key = new_key()
        try:
            peer, resp = exchange(t, make(t, key))
        except OSError as exc:
            return Outcome(on_silent_close, f"connection failed: {exc}")
        try:
            if resp is None:
                how = "closed the connection" if peer.eof else "nothing within 10 s"
                behavior = on_silent_close if peer.eof else FAILED
                return Outcome(behavior, f"no HTTP response ({how})")
            status = resp.status
            if status == 101:
                return Outcome(on_accept, f"accepted: {head_text(resp)}")
            if status is None or not 400 <= status < 600:
                return Outcome(FAILED, f"not an error status: {head_text(resp)}")
            if check is not None and (problem := check(resp)):
                return Outcome(FAILED, f"{problem} — {head_text(resp)}")
            behavior = OK if status < 500 or status in also_ok else NON_STRICT
            return Outcome(behavior, f"refused: {head_text(resp)}")
        finally:
            peer.close()

    REGISTRY.add(group, "server", title, f"the handshake refused with {want}", reqs, run)


def _with_header(t: ServerTarget, k: str, *, name: str, value: str) -> bytes:
    return std(t, k, edit=lambda h: replace(h, name, value))


def _with_method(t: ServerTarget, k: str, *, method: str) -> bytes:
    return std(t, k, start=f"{method} {t.path} HTTP/1.1")


def key_of(n: int) -> str:
    return base64.b64encode(bytes(range(n))).decode()


REFUSE = ("R6455-4.2.1-1",)
refused(
    "2.1",
    "No Sec-WebSocket-Key",
    (*REFUSE, "R6455-4.2.1-7"),
    lambda t, k: std(t, k, edit=lambda h: replace(h, "Sec-WebSocket-Key", None)),
)
refused(
    "2.1",
    "Two Sec-WebSocket-Key fields",
    (*REFUSE, "R6455-11.3.1-1", "R6455-4.2.1-7"),
    lambda t, k: std(t, k, edit=lambda h: [*h, ("Sec-WebSocket-Key", new_key())]),
)
refused(
    "2.1",
    "Sec-WebSocket-Key that is not base64",
    (*REFUSE, "R6455-4.2.1-7"),
    lambda t, k: std(t, k, edit=lambda h: replace(h, "Sec-WebSocket-Key", "not base64 at all!")),
)
for n in (15, 17, 0):
    refused(
        "2.1",
        f"Sec-WebSocket-Key decoding to {n} bytes instead of 16",
        (*REFUSE, "R6455-4.2.1-7"),
        functools.partial(_with_header, name="Sec-WebSocket-Key", value=key_of(n)),
    )


def _version_header(resp: Head) -> str | None:
    versions = resp.tokens("Sec-WebSocket-Version")
    if "13" not in versions:
        return f"no Sec-WebSocket-Version listing 13 (got {resp.get_all('Sec-WebSocket-Version')})"
    return None


for version in ("8", "14", "0"):
    refused(
        "2.2",
        f"Sec-WebSocket-Version: {version}",
        (*REFUSE, "R6455-4.2.1-8", "R6455-4.2.2-7", "R6455-4.4-1"),
        functools.partial(_with_header, name="Sec-WebSocket-Version", value=version),
        want="an HTTP error (such as 426) with Sec-WebSocket-Version: 13",
        check=_version_header,
    )
refused(
    "2.2",
    "No Sec-WebSocket-Version",
    (*REFUSE, "R6455-4.2.1-8"),
    lambda t, k: std(t, k, edit=lambda h: replace(h, "Sec-WebSocket-Version", None)),
)
refused(
    "2.2",
    "Two Sec-WebSocket-Version fields",
    (*REFUSE, "R6455-11.3.5-2", "R6455-4.2.1-8"),
    lambda t, k: std(t, k, edit=lambda h: [*h, ("Sec-WebSocket-Version", "13")]),
)
refused(
    "2.3",
    "No Upgrade header field",
    (*REFUSE, "R6455-4.2.1-5"),
    lambda t, k: std(t, k, edit=lambda h: replace(h, "Upgrade", None)),
)
refused(
    "2.3",
    "Upgrade: h2c",
    (*REFUSE, "R6455-4.2.1-5"),
    lambda t, k: std(t, k, edit=lambda h: replace(h, "Upgrade", "h2c")),
)
refused(
    "2.3",
    "No Connection header field",
    (*REFUSE, "R6455-4.2.1-6"),
    lambda t, k: std(t, k, edit=lambda h: replace(h, "Connection", None)),
)
refused(
    "2.3",
    "Connection: keep-alive (no Upgrade token)",
    (*REFUSE, "R6455-4.2.1-6"),
    lambda t, k: std(t, k, edit=lambda h: replace(h, "Connection", "keep-alive")),
)
refused(
    "2.3",
    "No Host header field",
    (*REFUSE, "R6455-4.2.1-4"),
    lambda t, k: std(t, k, edit=lambda h: replace(h, "Host", None)),
)
for method in ("POST", "PUT", "DELETE"):
    refused(
        "2.4",
        f"{method} instead of GET",
        (*REFUSE, "R6455-4.2.1-2"),
        functools.partial(_with_method, method=method),
    )
refused(
    "2.4",
    "HTTP/1.0",
    (*REFUSE, "R6455-4.2.1-2"),
    lambda t, k: std(t, k, start=f"GET {t.path} HTTP/1.0"),
    want="an HTTP 4xx status or 505 HTTP Version Not Supported",
    also_ok=(505,),
)
refused(
    "2.4",
    "Request line with an extra word",
    (*REFUSE, "R6455-4.2.1-1"),
    lambda t, k: std(t, k, start=f"GET {t.path} HTTP/1.1 extra"),
)
refused(
    "2.4",
    "Header line without a colon",
    (*REFUSE, "R6455-4.2.1-1"),
    lambda t, k: std(t, k, edit=lambda h: [*h, ("", "NoColonHere")]),
)
refused(
    "2.4",
    "Whitespace between a field name and the colon",
    (*REFUSE, "R6455-4.2.1-1"),
    lambda t, k: build(
        f"GET {t.path} HTTP/1.1",
        [("", f"{n} : {v}" if n == "Upgrade" else f"{n}: {v}") for n, v in base_headers(t, k)],
    ),
)
refused(
    "2.4",
    "Non-ASCII octets in a field name",
    (*REFUSE, "R6455-4.2.1-1"),
    lambda t, k: std(t, k, edit=lambda h: [*h, ("X-Caf\xe9", "1")]),
)
refused(
    "2.5",
    "A header line of 100 KiB",
    (*REFUSE, "R6455-10.4-2"),
    lambda t, k: std(t, k, edit=lambda h: [*h, ("X-Big", "x" * 100 * 1024)]),
    want="an HTTP error (431 or 400) or a closed connection",
    on_accept=INFORMATIONAL,
    on_silent_close=NON_STRICT,
)
refused(
    "2.5",
    "Ten thousand header fields",
    (*REFUSE, "R6455-10.4-2"),
    lambda t, k: std(t, k, edit=lambda h: h + [("X-Many", str(i)) for i in range(10000)]),
    want="an HTTP error (431 or 400) or a closed connection",
    on_accept=INFORMATIONAL,
    on_silent_close=NON_STRICT,
)
refused(
    "2.5",
    "obs-fold: a header value continued on the next line",
    ("R6455-4.2.1-1",),
    lambda t, k: std(t, k, edit=lambda h: [*h, ("X-Folded", "first"), ("", "  second")]),
    want="400 (RFC 7230 §3.2.4), or the fold read as a space",
    on_accept=OK,
)


# Requests with extra bytes after the head.


def _masked_hello() -> bytes:
    from .wire import encode_frame

    return encode_frame(Frame(TEXT, b"early"), mask=True)


def _after_head(
    group: str,
    title: str,
    reqs: Sequence[str],
    extra: Callable[[], bytes],
    expectation: str,
    edit: Callable[[Headers], Headers] = lambda h: h,
) -> None:
    def run(t: ServerTarget) -> Outcome:
        key = new_key()
        peer, resp = exchange(t, std(t, key, edit=edit) + extra())
        try:
            if resp is None:
                return Outcome(INFORMATIONAL, "no HTTP response: the connection was closed")
            if resp.status != 101:
                return Outcome(OK, f"refused: {head_text(resp)}")
            conn = Conn(peer, peer_is_server=True)
            got = conn.read_message(STEP_TIMEOUT)
            frames = getattr(conn, "control", [])
            if got is not None:
                return Outcome(
                    INFORMATIONAL,
                    f"accepted, then treated the early bytes as a frame: echoed {got!r:.80}",
                )
            closes = [f.describe() for f in frames]
            return Outcome(INFORMATIONAL, f"accepted, then: {', '.join(closes) or 'no frame'}")
        finally:
            peer.close()

    REGISTRY.add(group, "server", title, expectation, reqs, run)


_after_head(
    "2.6",
    "A request with a body (Content-Length: 5)",
    ("R6455-4.2.1-1", "R6455-4.1-19"),
    lambda: b"hello",
    "refused (400), or accepted with the body not taken for a frame; the RFC leaves it open",
    # Without the header the five bytes are no body (RFC 7230 §3.3.3) but early frame bytes.
    edit=lambda h: [*h, ("Content-Length", "5")],
)
_after_head(
    "2.6",
    "A masked text frame in the same write as the request",
    ("R6455-4.1-37",),
    _masked_hello,
    "clients must wait for the response (§4.1); a server may process or refuse such data",
)


# Section 5: permessage-deflate offers (RFC 7692).


def deflate_offer(
    offer: str | list[str],
    title: str,
    reqs: Sequence[str],
    *,
    valid: bool,
    check: Callable[[list[tuple[str, str | None]]], str | None] | None = None,
) -> None:
    offers = [offer] if isinstance(offer, str) else offer

    def run(t: ServerTarget) -> Outcome:
        key = new_key()
        request = std(t, key, edit=lambda h: h + [("Sec-WebSocket-Extensions", o) for o in offers])
        peer, resp = exchange(t, request)
        try:
            problems = handshake_problems(resp, key)
            if problems:
                behavior = NON_STRICT if not valid and resp is not None and resp.status else FAILED
                return Outcome(behavior, "; ".join(problems) + f" — {head_text(resp)}")
            assert resp is not None
            fields = resp.get_all("Sec-WebSocket-Extensions")
            parsed = parse_extensions(fields)
            if parsed is None or len(fields) > 1:
                return Outcome(FAILED, f"malformed or repeated Sec-WebSocket-Extensions: {fields}")
            pmd = [p for n, p in parsed if n == "permessage-deflate"]
            others = [n for n, _ in parsed if n != "permessage-deflate"]
            if others or len(pmd) > 1:
                return Outcome(FAILED, f"extensions not offered, or pmd twice: {fields}")
            conn = Conn(peer, peer_is_server=True)
            if not pmd:
                if valid:
                    outcome = accepted_and_working(conn)
                    note = "declined the offer (permessage-deflate is optional)"
                    if outcome.behavior != OK:
                        return outcome
                    return Outcome(INFORMATIONAL, f"{note}; {outcome.observed}")
                outcome = accepted_and_working(conn)
                return Outcome(outcome.behavior, f"declined the invalid offer; {outcome.observed}")
            if not valid:
                return Outcome(FAILED, f"accepted an offer it must decline: {fields}")
            if check is not None and (problem := check(pmd[0])):
                return Outcome(FAILED, f"{problem}: {fields}")
            conn.deflate = deflate_from_response(pmd[0])
            outcome = compressed_echo(conn)
            return Outcome(outcome.behavior, f"accepted {fields[0]!r}; {outcome.observed}")
        finally:
            peer.close()

    expectation = (
        "accepted with a valid response (or declined: the extension is optional), and a "
        "compressed message echoed"
        if valid
        else "the offer declined (RFC 7692 §5): no permessage-deflate in a 101 response"
    )
    REGISTRY.add("5." + ("1" if valid else "2"), "server", title, expectation, reqs, run)


def compressed_echo(conn: Conn) -> Outcome:
    """Send a compressed text message (fresh context), expect it back; then close."""
    data = ("compressed " * 20).encode()
    bits = conn.deflate.client_max_window_bits if conn.deflate else 15
    if not conn.send(Frame(TEXT, deflate_message(data, bits), rsv1=True)):
        return Outcome(FAILED, "could not send")
    from .common import close_check

    try:
        got = conn.read_message()
    except Exception as exc:  # zlib.error
        return Outcome(FAILED, f"the echo did not inflate: {exc}")
    if got != ("text", data.decode()):
        return Outcome(FAILED, f"compressed message not echoed: {got!r:.100}")
    behavior, observed = close_check(conn)
    return Outcome(behavior, f"compressed message echoed; {observed}")


def _param(params: list[tuple[str, str | None]], name: str) -> tuple[bool, str | None]:
    for n, v in params:
        if n == name:
            return True, v
    return False, None


def _response_ok(
    params: list[tuple[str, str | None]], offered: dict[str, str | None]
) -> str | None:
    """RFC 7692 §7.1: the response's parameters against the offer they answer."""
    names = [n for n, _ in params]
    if len(set(names)) != len(names):
        return "a parameter repeated"
    for name, value in params:
        if name not in (
            "server_no_context_takeover",
            "client_no_context_takeover",
            "server_max_window_bits",
            "client_max_window_bits",
        ):
            return f"unknown parameter {name}"
        if name.endswith("takeover") and value is not None:
            return f"{name} with a value"
        if name.endswith("bits") and not (value and value.isdigit() and 8 <= int(value) <= 15):
            return f"{name}={value} is not 8..15"
    if "client_max_window_bits" in names and "client_max_window_bits" not in offered:
        return "client_max_window_bits in the response but not in the offer (§7.1.2.2)"
    if "server_no_context_takeover" in offered and "server_no_context_takeover" not in names:
        return "server_no_context_takeover offered but not in the response (§7.1.1.1)"
    if "server_max_window_bits" in offered:
        present, value = _param(params, "server_max_window_bits")
        limit = offered["server_max_window_bits"]
        if not present:
            return "server_max_window_bits offered but not in the response (§7.1.2.1)"
        if limit and value and int(value) > int(limit):
            return f"server_max_window_bits={value} above the offered {limit}"
    if offered.get("client_max_window_bits"):
        _, value = _param(params, "client_max_window_bits")
        if value and int(value) > int(offered["client_max_window_bits"] or 15):
            return "client_max_window_bits above the offered value"
    return None


def _response_to(params: list[tuple[str, str | None]], *, offer: str) -> str | None:
    return _response_ok(params, _offer_params(offer))


def _offer_params(offer: str) -> dict[str, str | None]:
    parsed = parse_extensions([offer]) or [("", [])]
    return dict(parsed[0][1])


PMD = ("R7692-5-2", "R6455-9-2", "R6455-4.2.2-11")
for offer in (
    "permessage-deflate",
    "permessage-deflate; client_max_window_bits",
    "permessage-deflate; client_max_window_bits=10",
    "permessage-deflate; server_max_window_bits=10",
    "permessage-deflate; server_max_window_bits=9",
    "permessage-deflate; server_max_window_bits=15",
    "permessage-deflate; server_no_context_takeover",
    "permessage-deflate; client_no_context_takeover",
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
    "permessage-deflate; client_max_window_bits; server_max_window_bits=11; "
    "client_no_context_takeover; server_no_context_takeover",
    'permessage-deflate; server_max_window_bits="10"',
    "permessage-deflate;server_no_context_takeover;client_max_window_bits",
):
    deflate_offer(
        offer,
        f"Offer {offer}",
        PMD,
        valid=True,
        check=functools.partial(_response_to, offer=offer),
    )
deflate_offer(
    ["permessage-deflate; server_max_window_bits=8", "permessage-deflate"],
    "Two offers, the first asking for an 8-bit window",
    (*PMD, "R6455-11.3.2-1"),
    valid=True,
    check=lambda params: _response_ok(params, {}) if params else None,
)
deflate_offer(
    "permessage-deflate; server_max_window_bits=7, permessage-deflate",
    "An invalid offer, then a valid one: the second may be accepted",
    PMD,
    valid=True,
    check=lambda params: _response_ok(params, {}),
)
deflate_offer(
    "x-webkit-deflate-frame, permessage-deflate",
    "An unknown extension, then permessage-deflate",
    (*PMD, "R6455-9-3"),
    valid=True,
    check=lambda params: _response_ok(params, {}),
)
for bad in (
    "server_max_window_bits=7",
    "server_max_window_bits=16",
    "server_max_window_bits=abc",
    "server_max_window_bits=010",
    "server_max_window_bits",
    "client_max_window_bits=7",
    "client_max_window_bits=16",
    "client_max_window_bits=0x0a",
    "server_no_context_takeover=1",
    "client_no_context_takeover=yes",
    "server_no_context_takeover; server_no_context_takeover",
    "client_max_window_bits=10; client_max_window_bits=11",
    "unknown_parameter=1",
    "mux",
):
    deflate_offer(
        f"permessage-deflate; {bad}",
        f"Invalid offer: {bad}",
        ("R7692-7-1", "R6455-9.1-5", "R6455-9-4"),
        valid=False,
    )


def connect_with_deflate(
    t: ServerTarget, offer: str = "permessage-deflate"
) -> tuple[Conn | None, str]:
    """An open connection to a server, with permessage-deflate if it accepts ``offer``."""
    key = new_key()
    peer, resp = exchange(t, std(t, key, edit=lambda h: [*h, ("Sec-WebSocket-Extensions", offer)]))
    problems = handshake_problems(resp, key)
    if problems:
        peer.close()
        return None, "; ".join(problems)
    assert resp is not None
    parsed = parse_extensions(resp.get_all("Sec-WebSocket-Extensions")) or []
    pmd = [p for n, p in parsed if n == "permessage-deflate"]
    conn = Conn(peer, peer_is_server=True)
    if pmd:
        conn.deflate = deflate_from_response(pmd[0])
    return conn, head_text(resp)


def plain_connection(t: ServerTarget) -> tuple[Conn | None, str]:
    key = new_key()
    peer, resp = exchange(t, std(t, key))
    problems = handshake_problems(resp, key)
    if problems:
        peer.close()
        return None, "; ".join(problems)
    return Conn(peer, peer_is_server=True), head_text(resp)


_ = socket  # the module's Peer owns the sockets
