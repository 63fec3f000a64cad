"""Proxies: the Sans-I/O pieces, then both clients through a real proxy (pproxy).

pproxy serves HTTP CONNECT, SOCKS4 and SOCKS5 on one port, with or without
credentials, with or without TLS; the tests start it and stop it. The WebSocket
servers behind it are ours and websockets'.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from websocket_ref import (
    InvalidMessage,
    InvalidProxy,
    InvalidProxyMessage,
    InvalidProxyStatus,
    ProxyError,
    parse_uri,
)
from websocket_ref.asyncio.client import connect, process_exception
from websocket_ref.asyncio.server import ServerConnection, serve
from websocket_ref.proxy import Proxy, ProxyHandshake, get_proxy, parse_proxy, socks_url
from websocket_ref.sync.client import connect as sync_connect
from websocket_ref.sync.server import ServerConnection as SyncServerConnection
from websocket_ref.sync.server import serve as sync_serve

from .proxies import pproxy

FAST: dict[str, Any] = {"ping_interval": None, "close_timeout": 1, "open_timeout": 10}
# tests/conftest.py clears the proxy variables of the environment for every test.


# parse_proxy, get_proxy


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://proxy:3128", Proxy("http", "proxy", 3128)),
        ("http://proxy", Proxy("http", "proxy", 80)),
        ("https://proxy/", Proxy("https", "proxy", 443)),
        ("socks5h://proxy", Proxy("socks5h", "proxy", 1080)),
        ("SOCKS4://10.0.0.1:9", Proxy("socks4", "10.0.0.1", 9)),
        ("http://[::1]:8080", Proxy("http", "::1", 8080)),
        ("http://us%40er:p%3Ass@proxy:1", Proxy("http", "proxy", 1, ("us@er", "p:ss"))),
        ("socks5://user@proxy", Proxy("socks5", "proxy", 1080, ("user", ""))),
    ],
)
def test_parse_proxy(url: str, expected: Proxy) -> None:
    assert parse_proxy(url) == expected


@pytest.mark.parametrize(
    "url",
    ["ftp://proxy", "http://", "http://proxy:99999", "http://proxy/path", "proxy:3128"],
)
def test_parse_proxy_refuses(url: str) -> None:
    with pytest.raises(InvalidProxy) as raised:
        parse_proxy(url)
    assert url in str(raised.value)


def test_socks_url() -> None:
    assert socks_url(parse_proxy("socks5h://a%20b:c@proxy")) == "socks5://a%20b:c@proxy:1080"
    assert socks_url(parse_proxy("socks4a://[::1]:9")) == "socks4://[::1]:9"


def test_get_proxy_reads_the_environment_once_without_proxies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each urllib lookup reads the whole environment; with no proxy set (tests/conftest.py
    # clears the variables), NO_PROXY isn't consulted: one lookup per connection.
    import urllib.request

    calls: list[str] = []
    monkeypatch.setattr(urllib.request, "proxy_bypass", calls.append)
    monkeypatch.setenv("NO_PROXY", "example.com")
    assert get_proxy(parse_uri("ws://example.com/")) is None
    assert calls == []
    monkeypatch.setenv("HTTP_PROXY", "http://proxy:3128")
    monkeypatch.setattr(urllib.request, "proxy_bypass", lambda host: not calls.append(host))
    assert get_proxy(parse_uri("ws://example.com/")) is None  # NO_PROXY still applies
    assert calls


def test_get_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    ws, wss = parse_uri("ws://example.com/"), parse_uri("wss://example.com/")
    assert get_proxy(ws) is None
    monkeypatch.setenv("ALL_PROXY", "socks5h://all:1080")
    assert get_proxy(ws) == get_proxy(wss) == "socks5h://all:1080"
    monkeypatch.setenv("HTTP_PROXY", "http://plain:3128")
    assert get_proxy(ws) == "http://plain:3128"
    assert get_proxy(wss) == "socks5h://all:1080"  # HTTP_PROXY isn't for wss://
    # RFC 6455 §4.1: prefer the proxy for HTTPS over the proxy for HTTP...
    monkeypatch.setenv("HTTPS_PROXY", "http://secure:3128")
    assert get_proxy(ws) == get_proxy(wss) == "http://secure:3128"
    # ...and a SOCKS5 proxy over both.
    monkeypatch.setenv("SOCKS_PROXY", "http://socks:1080")
    assert get_proxy(ws) == get_proxy(wss) == "socks5h://socks:1080"
    # A proxy set for WebSocket itself comes first.
    monkeypatch.setenv("WS_PROXY", "http://ws:1")
    monkeypatch.setenv("WSS_PROXY", "http://wss:1")
    assert (get_proxy(ws), get_proxy(wss)) == ("http://ws:1", "http://wss:1")
    monkeypatch.setenv("NO_PROXY", "example.com,.internal")
    assert get_proxy(ws) is None
    assert get_proxy(parse_uri("ws://api.internal:8000/")) is None
    assert get_proxy(parse_uri("ws://example.org/")) == "http://ws:1"


# ProxyHandshake


def handshake(url: str = "http://proxy:3128", uri: str = "wss://example.com/") -> ProxyHandshake:
    return ProxyHandshake(parse_proxy(url), parse_uri(uri), "agent/1")


@pytest.mark.rfc("R6455-4.1-10")
def test_connect_request() -> None:
    assert handshake().data_to_send() == (
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nUser-Agent: agent/1\r\n\r\n"
    )
    request = handshake("http://al%20ice:s3cret@proxy", "ws://[::1]:8000/").data_to_send()
    assert request.startswith(b"CONNECT [::1]:8000 HTTP/1.1\r\nHost: [::1]:8000\r\n")
    assert b"Proxy-Authorization: Basic YWwgaWNlOnMzY3JldA==\r\n" in request


def test_tunnel_established_in_pieces() -> None:
    exchange = handshake()
    for byte in b"HTTP/1.1 200 Connection established\r\nVia: x\r\n\r\n":
        assert not exchange.done
        exchange.receive_data(bytes([byte]))
    assert exchange.done and exchange.exc is None and exchange.leftover == b""
    assert exchange.response is not None and exchange.response.status_code == 200


def test_bytes_after_the_answer_are_kept() -> None:
    exchange = handshake()
    exchange.receive_data(b"HTTP/1.0 200 OK\r\n\r\nearly")
    exchange.receive_data(b" bytes")
    assert exchange.leftover == b"early bytes"


@pytest.mark.rfc("R6455-4.1-13")
def test_refused_tunnel() -> None:
    exchange = handshake()
    exchange.receive_data(b"HTTP/1.1 407 Proxy Authentication Required\r\n")
    exchange.receive_data(b'Proxy-Authenticate: Basic realm="x"\r\n\r\n')
    assert isinstance(exchange.exc, InvalidProxyStatus)
    assert exchange.exc.response.status_code == 407
    assert "407" in str(exchange.exc)
    assert isinstance(exchange.exc, ProxyError)


@pytest.mark.parametrize("data", [b"SSH-2.0-OpenSSH\r\n\r\n", b"HTTP/1.1 200 OK\r\n" + b"x" * 9000])
def test_malformed_answer(data: bytes) -> None:
    exchange = handshake()
    exchange.receive_data(data)
    assert isinstance(exchange.exc, InvalidProxyMessage)


def test_proxy_closes_before_answering() -> None:
    exchange = handshake()
    exchange.receive_data(b"HTTP/1.1 200")
    exchange.receive_eof()
    assert isinstance(exchange.exc, InvalidProxyMessage)
    assert process_exception(exchange.exc) is None  # transient: worth retrying


# Servers and certificates


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    """A PEM for servers and proxies on 127.0.0.1/localhost, and a client context."""
    ca = trustme.CA()
    pem = tmp_path_factory.mktemp("tls") / "server.pem"
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(pem)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    return pem, client_context


def server_context(pem: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem)
    return context


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


@contextlib.asynccontextmanager
async def echo_server(tls: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    async with serve(echo, "127.0.0.1", 0, ssl=tls, **FAST) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"{'wss' if tls else 'ws'}://127.0.0.1:{port}/"


async def round_trip(uri: str, **kwargs: Any) -> tuple[Any, Any]:
    """Echo a message through the connection; return the connection's remote address."""
    async with connect(uri, **FAST, **kwargs) as ws:
        await ws.send("through the proxy")
        assert await ws.recv() == "through the proxy"
        return ws.remote_address, ws.local_address


# asyncio client through pproxy


@pytest.mark.asyncio
@pytest.mark.rfc("R6455-4.1-10")
@pytest.mark.parametrize("scheme", ["http", "socks5", "socks5h", "socks4", "socks4a"])
@pytest.mark.rfc("R6455-4.1-10", "R6455-4.1-18")
async def test_asyncio_ws_through_proxy(scheme: str) -> None:
    with pproxy() as address:
        async with echo_server() as uri:
            remote, _ = await round_trip(uri, proxy=f"{scheme}://{address}")
    assert remote[1] == int(address.split(":")[1])  # connected to the proxy, not the server


@pytest.mark.asyncio
@pytest.mark.parametrize("scheme", ["http", "socks5"])
async def test_asyncio_wss_through_proxy(
    scheme: str, certificates: tuple[Path, ssl.SSLContext]
) -> None:
    pem, client_context = certificates
    with pproxy() as address:
        async with echo_server(server_context(pem)) as uri:
            await round_trip(uri, proxy=f"{scheme}://{address}", ssl=client_context)


@pytest.mark.asyncio
@pytest.mark.parametrize("target", ["ws", "wss"])
async def test_asyncio_through_https_proxy(
    target: str, certificates: tuple[Path, ssl.SSLContext]
) -> None:
    if target == "wss" and sys.version_info < (3, 11):
        pytest.skip("TLS in TLS needs asyncio's start_tls on a TLS transport (3.11+)")
    pem, client_context = certificates
    tls = server_context(pem) if target == "wss" else None
    extra = {"ssl": client_context} if target == "wss" else {}
    with pproxy("http", tls=pem) as address:
        async with echo_server(tls) as uri:
            await round_trip(uri, proxy=f"https://{address}", proxy_ssl=client_context, **extra)


@pytest.mark.asyncio
@pytest.mark.rfc("R6455-4.1-13")
@pytest.mark.parametrize("scheme", ["http", "socks5"])
async def test_asyncio_proxy_credentials(scheme: str) -> None:
    with pproxy(auth="user:pa ss") as address:
        async with echo_server() as uri:
            if scheme == "http":
                with pytest.raises(InvalidProxyStatus) as raised:
                    await round_trip(uri, proxy=f"http://{address}")
                assert raised.value.response.status_code == 407
            else:
                with pytest.raises(ProxyError):
                    await round_trip(uri, proxy=f"socks5://{address}")
            with pytest.raises(ProxyError):
                await round_trip(uri, proxy=f"{scheme}://user:wrong@{address}")
            await round_trip(uri, proxy=f"{scheme}://user:pa%20ss@{address}")


@pytest.mark.asyncio
@pytest.mark.rfc("R6455-4.1-10", "R6455-4.1-11")
async def test_asyncio_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pproxy() as address:
        async with echo_server() as uri:
            port = int(address.split(":")[1])
            monkeypatch.setenv("HTTP_PROXY", f"http://{address}")
            remote, _ = await round_trip(uri)  # proxy=True is the default
            assert remote[1] == port
            remote, _ = await round_trip(uri, proxy=None)
            assert remote[1] != port
            monkeypatch.setenv("NO_PROXY", "127.0.0.1")
            remote, _ = await round_trip(uri)
            assert remote[1] != port


@pytest.mark.asyncio
@pytest.mark.rfc("R6455-4.1-13")
async def test_asyncio_unreachable_target_and_proxy() -> None:
    with pproxy() as address:
        # The proxy can't reach the server: pproxy closes, before or after answering
        # 200; either way, as with a server that closes: transient, for reconnection.
        with pytest.raises((InvalidMessage, InvalidProxyMessage)) as raised:
            await connect("ws://127.0.0.1:1/", proxy=f"http://{address}", **FAST)
        assert process_exception(raised.value) is None
        # SOCKS5: a refusal (ProxyError), or, as above, success and then EOF.
        with pytest.raises((ProxyError, InvalidMessage)):
            await connect("ws://127.0.0.1:1/", proxy=f"socks5://{address}", **FAST)
    # Nobody listens where the proxy was: a transient network error.
    with pytest.raises(OSError):
        await connect("ws://127.0.0.1:1/", proxy=f"http://{address}", **FAST)


@pytest.mark.asyncio
async def test_asyncio_websockets_server_behind_the_proxy() -> None:
    websockets_server = pytest.importorskip("websockets.asyncio.server")

    async def handler(ws: Any) -> None:
        await ws.send(ws.request.path)

    with pproxy() as address:
        async with websockets_server.serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            async with connect(
                f"ws://127.0.0.1:{port}/via-proxy", proxy=f"http://{address}", **FAST
            ) as ws:
                assert await ws.recv() == "/via-proxy"


# sync client through pproxy


@contextlib.contextmanager
def sync_echo_server(tls: ssl.SSLContext | None = None) -> Iterator[str]:
    def handler(ws: SyncServerConnection) -> None:
        for message in ws:
            ws.send(message)

    server = sync_serve(handler, "127.0.0.1", 0, ssl=tls, **FAST)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.socket.getsockname()[1]
        yield f"{'wss' if tls else 'ws'}://127.0.0.1:{port}/"
    finally:
        server.shutdown()
        thread.join(10)


def sync_round_trip(uri: str, **kwargs: Any) -> Any:
    with sync_connect(uri, **FAST, **kwargs) as ws:
        ws.send("through the proxy")
        assert ws.recv(timeout=10) == "through the proxy"
        return ws.remote_address


@pytest.mark.rfc("R6455-4.1-10")
@pytest.mark.parametrize("scheme", ["http", "socks5h", "socks4"])
@pytest.mark.rfc("R6455-4.1-10")
def test_sync_ws_through_proxy(scheme: str) -> None:
    with pproxy() as address, sync_echo_server() as uri:
        remote = sync_round_trip(uri, proxy=f"{scheme}://{address}")
        assert remote[1] == int(address.split(":")[1])


@pytest.mark.parametrize("scheme", ["http", "socks5"])
def test_sync_wss_through_proxy(scheme: str, certificates: tuple[Path, ssl.SSLContext]) -> None:
    pem, client_context = certificates
    with pproxy() as address, sync_echo_server(server_context(pem)) as uri:
        sync_round_trip(uri, proxy=f"{scheme}://{address}", ssl=client_context)


def test_sync_ws_through_https_proxy(certificates: tuple[Path, ssl.SSLContext]) -> None:
    pem, client_context = certificates
    with pproxy("http", tls=pem) as address, sync_echo_server() as uri:
        sync_round_trip(uri, proxy=f"https://{address}", proxy_ssl=client_context)
        # wss:// inside TLS to the proxy isn't available in the threading API: said so.
        with pytest.raises(InvalidProxy, match="asyncio"):
            sync_round_trip(uri.replace("ws://", "wss://"), proxy=f"https://{address}")


@pytest.mark.rfc("R6455-4.1-13")
def test_sync_proxy_credentials_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pproxy(auth="user:secret") as address, sync_echo_server() as uri:
        with pytest.raises(InvalidProxyStatus) as raised:
            sync_round_trip(uri, proxy=f"http://{address}")
        assert raised.value.response.status_code == 407
        with pytest.raises(ProxyError):
            sync_round_trip(uri, proxy=f"socks5://{address}")
        monkeypatch.setenv("HTTP_PROXY", f"http://user:secret@{address}")
        assert sync_round_trip(uri)[1] == int(address.split(":")[1])
        assert sync_round_trip(uri, proxy=None)[1] != int(address.split(":")[1])


def test_sync_unreachable_proxy() -> None:
    with pproxy() as address:
        pass
    with pytest.raises(OSError):
        sync_connect("ws://127.0.0.1:1/", proxy=f"http://{address}", **FAST)


@pytest.mark.asyncio
async def test_asyncio_open_timeout_covers_a_silent_proxy() -> None:
    # A "proxy" that accepts and never answers: open_timeout ends the wait.
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(TimeoutError):
            await connect(
                "ws://example.invalid/",
                proxy=f"http://127.0.0.1:{port}",
                **{**FAST, "open_timeout": 0.5},
            )
    finally:
        server.close()
        await server.wait_closed()
