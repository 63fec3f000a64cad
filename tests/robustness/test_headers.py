"""Headers in both directions: injection by the application, abuse by the peer.

Outgoing: a header the application gives (``additional_headers``, ``--header``, the
response of ``process_request``/``process_response``, ``origin``, ``user_agent_header``,
``server_header``) with CR, LF or NUL would end the header line early and forge others.
It raises :exc:`ValueError` before anything is sent (for a hook's response: the client
gets a 500, the hook's bytes never go out). Headers that make the handshake can't be
given twice: ``additional_headers`` can't set ``Sec-WebSocket-Key`` & co (refused),
and a ``Host``, ``Origin``, ``Authorization`` or ``User-Agent`` in it replaces the
client's own.

Incoming: a client that sends huge or endless heads gets a 4xx at once, in bounded memory.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from websocket_ref import ClientProtocol, Headers, Request, Response, parse_uri
from websocket_ref.asyncio.client import connect as asyncio_connect
from websocket_ref.cli import main as cli_main
from websocket_ref.client import HANDSHAKE_HEADERS
from websocket_ref.sync.client import connect as sync_connect

from .support import APIS, TIMEOUT, running_server, traced_peak

BAD_VALUES = ["a\r\nInjected: 1", "a\nInjected: 1", "a\rb", "a\x00b", "\x7f"]
BAD_NAMES = ["X-A\r\nInjected", "X A", "X:A", "", "é"]


# The core


@pytest.mark.parametrize("value", BAD_VALUES)
def test_header_values_with_control_characters_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="control characters"):
        Headers({"X-A": value})
    headers = Headers()
    with pytest.raises(ValueError):
        headers["X-A"] = value
    assert not headers


@pytest.mark.parametrize("name", BAD_NAMES)
def test_header_names_that_arent_tokens_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="header name"):
        Headers([(name, "value")])


def test_valid_header_values_are_kept() -> None:
    headers = Headers({"X-A": "tab\tand space, obs-text é, and \u0085"})
    assert headers["x-a"] == "tab\tand space, obs-text é, and \u0085"


def test_status_line_and_request_line_are_checked() -> None:
    with pytest.raises(ValueError, match="reason phrase"):
        Response(200, "OK\r\nInjected: 1", Headers()).serialize()
    with pytest.raises(ValueError, match="status code"):
        Response(2000, "OK", Headers()).serialize()
    with pytest.raises(ValueError, match="request target"):
        Request("/a b", Headers()).serialize()


@pytest.mark.parametrize("value", BAD_VALUES)
def test_client_protocol_refuses_injected_headers(value: str) -> None:
    protocol = ClientProtocol(parse_uri("ws://example.com/"))
    with pytest.raises(ValueError):
        protocol.connect(additional_headers={"X-A": value})
    with pytest.raises(ValueError):
        protocol.connect(user_agent_header=value)
    with pytest.raises(ValueError):
        ClientProtocol(parse_uri("ws://example.com/"), origin=value)
    assert protocol.data_to_send() == []


@pytest.mark.rfc("R6455-11.3.1-1", "R6455-11.3.5-2")
@pytest.mark.parametrize("name", HANDSHAKE_HEADERS)
def test_handshake_headers_cant_be_added(name: str) -> None:
    protocol = ClientProtocol(parse_uri("ws://example.com/"))
    with pytest.raises(ValueError, match=f"can't set {name}"):
        protocol.connect(additional_headers=[(name.lower(), "x")])


def test_some_headers_replace_the_clients_own() -> None:
    protocol = ClientProtocol(parse_uri("ws://user:pass@example.com/"), origin="https://a")
    request = protocol.connect(
        additional_headers={
            "Host": "virtual.example",
            "Origin": "https://b",
            "Authorization": "Bearer token",
            "User-Agent": "agent/1",
        }
    )
    headers = request.headers
    for name, value in [
        ("Host", "virtual.example"),
        ("Origin", "https://b"),
        ("Authorization", "Bearer token"),
        ("User-Agent", "agent/1"),
    ]:
        assert headers.get_all(name) == [value]
    assert len(headers.get_all("Sec-WebSocket-Key")) == 1


# The client APIs: refused before connecting


class Listener:
    """A socket that counts the connections made to it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)

    @property
    def uri(self) -> str:
        return f"ws://127.0.0.1:{self.sock.getsockname()[1]}/"

    def connections(self) -> int:
        count = 0
        try:
            while True:
                conn, _ = self.sock.accept()
                conn.close()
                count += 1
        except OSError:
            return count


@pytest.mark.parametrize(
    "kwargs",
    [
        {"additional_headers": {"X-A": "a\r\nInjected: 1"}},
        {"additional_headers": [("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")]},
        {"additional_headers": {"Sec-WebSocket-Version": "8"}},
        {"user_agent_header": "agent\r\nInjected: 1"},
        {"origin": "https://a\r\nInjected: 1"},
    ],
)
@pytest.mark.parametrize("api", APIS)
def test_client_refuses_before_connecting(api: str, kwargs: dict[str, Any]) -> None:
    listener = Listener()
    with listener.sock:
        with pytest.raises(ValueError):
            if api == "asyncio":
                import asyncio

                async def main() -> None:
                    async with asyncio_connect(listener.uri, open_timeout=TIMEOUT, **kwargs):
                        pass

                asyncio.run(main())
            else:
                sync_connect(listener.uri, open_timeout=TIMEOUT, **kwargs)
        assert listener.connections() == 0


def test_cli_header_refused(capsys: pytest.CaptureFixture[str]) -> None:
    for header in ["X-A: b\r\nInjected: 1", "Sec-WebSocket-Key: abc"]:
        with pytest.raises(SystemExit) as exc_info:
            cli_main(["ws://127.0.0.1:9/", "--header", header])
        assert exc_info.value.code == 2
        assert "--header" in capsys.readouterr().err


# The server APIs: a hook's response that can't be sent becomes a 500


def bad_reason(connection: Any, request: Request) -> Response:
    return Response(200, "OK\r\nInjected: 1", Headers(), b"body")


def bad_header(connection: Any, request: Request, response: Response) -> None:
    response.headers["X-A"] = "a\r\nInjected: 1"  # raises ValueError in the hook


def raw_request(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


@pytest.mark.parametrize("hook", ["process_request", "process_response"])
@pytest.mark.parametrize("api", APIS)
def test_server_answers_500_instead_of_an_injected_response(api: str, hook: str) -> None:
    options = {hook: bad_reason if hook == "process_request" else bad_header}
    with running_server(api, **options) as (port, _):
        response = raw_request(port)
    assert response.startswith(b"HTTP/1.1 500 ")
    assert b"Injected" not in response


@pytest.mark.parametrize("api", APIS)
def test_server_header_checked_when_serving(api: str) -> None:
    with pytest.raises(ValueError):
        with running_server(api, server_header="x\r\nInjected: 1"):
            pass  # pragma: no cover


# Header abuse by clients: a 4xx at once, in bounded memory


def send_head(port: int, head: bytes) -> bytes:
    """Send ``head`` (until the server stops reading); return the server's answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        try:
            for start in range(0, len(head), 65536):
                sock.sendall(head[start : start + 65536])
        except OSError:  # the server answered and closed while we sent
            pass
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except OSError:
            pass
    return data


ABUSES = {
    # Thousands of headers: past the header count limit.
    "many headers": b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 10_000 + b"\r\n",
    # One endless header line: past the line length limit, before the end of the line.
    "long line": b"GET / HTTP/1.1\r\nX-A: " + b"a" * 2**20,
    # An endless request line.
    "long request line": b"GET /" + b"a" * 2**20,
    # Garbage.
    "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" * 1000,
}


@pytest.mark.parametrize("abuse", list(ABUSES))
@pytest.mark.parametrize("api", APIS)
def test_header_abuse_gets_a_4xx_in_bounded_memory(api: str, abuse: str) -> None:
    head = ABUSES[abuse]
    with running_server(api) as (port, handlers):
        with traced_peak() as peak:
            answer = send_head(port, head)
            growth = peak()
    status = answer.split(b" ", 2)[1] if answer.startswith(b"HTTP/1.1 ") else b""
    assert status in (b"400", b"414", b"431", b"505"), answer[:100]
    assert handlers.handled == 0
    # The server keeps at most one head's worth (max_head_size, 64 KiB): what it
    # doesn't need is neither buffered nor parsed.
    assert growth < 3 * 2**20, growth


VALID_HEAD = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
)
BODIES = {
    # The body's bytes would otherwise be read as frames ("hello": RSV bits set, 1002).
    "content-length": b"Content-Length: 5\r\n\r\nhello",
    "chunked": b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
}


@pytest.mark.rfc("R6455-4.2.1-1", "R6455-4.2.1-2")
@pytest.mark.parametrize("body", list(BODIES))
@pytest.mark.parametrize("api", APIS)
def test_handshake_request_with_a_body_gets_400(api: str, body: str) -> None:
    with running_server(api) as (port, handlers):
        answer = send_head(port, VALID_HEAD + BODIES[body])
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:100]
    assert b"unexpected request body" in answer
    assert handlers.handled == 0
