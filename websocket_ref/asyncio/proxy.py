"""Opening the asyncio client's connection through a proxy (HTTP CONNECT or SOCKS).

The proxy is chosen and the CONNECT exchange is read by :mod:`websocket_ref.proxy`
(Sans-I/O); this module moves its bytes. For an HTTP proxy: a TCP connection to the
proxy (TLS for ``https://`` proxies), the CONNECT request, the proxy's answer; then, for
``wss://``, a TLS handshake with the server inside the tunnel (``loop.start_tls``),
and finally the WebSocket connection takes over the transport. SOCKS proxies go
through python-socks, which hands back a connected socket.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from collections.abc import Callable
from types import EllipsisType
from typing import Any, Literal, TypeVar

from ..exceptions import InvalidProxyMessage, ProxyError
from ..proxy import Proxy, ProxyHandshake, socks_url
from ..uri import WebSocketURI

__all__ = ["create_connection_through_proxy"]

_ProtocolT = TypeVar("_ProtocolT", bound=asyncio.BaseProtocol)


class _Tunnel(asyncio.Protocol):
    """Runs the CONNECT exchange on the transport to the proxy."""

    def __init__(self, handshake: ProxyHandshake) -> None:
        self.handshake = handshake
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(self.handshake.data_to_send())

    def data_received(self, data: bytes) -> None:
        self.handshake.receive_data(data)
        self._check()

    def eof_received(self) -> None:
        self.handshake.receive_eof()
        self._check()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            if exc is not None:
                self.done.set_exception(exc)
            else:
                self.handshake.receive_eof()
                self._check()

    def _check(self) -> None:
        if self.handshake.done and not self.done.done():
            self.done.set_result(None)


async def create_connection_through_proxy(
    factory: Callable[[], _ProtocolT],
    proxy: Proxy,
    uri: WebSocketURI,
    *,
    ssl: ssl_module.SSLContext | None,
    server_hostname: str | None,
    proxy_ssl: ssl_module.SSLContext | Literal[True] | EllipsisType | None = ...,
    proxy_server_hostname: str | None = None,
    user_agent_header: str | None = None,
    **kwargs: Any,
) -> _ProtocolT:
    """Connect to ``uri``'s host through ``proxy``; return the protocol ``factory`` made.

    ``ssl`` and ``server_hostname`` are for the server (``wss://``); ``proxy_ssl`` and
    ``proxy_server_hostname`` for an ``https://`` proxy. Other keyword arguments go to
    :meth:`~asyncio.loop.create_connection` (e.g. ``local_addr``).
    """
    loop = asyncio.get_running_loop()
    if proxy.is_socks:
        sock = await _socks_connect(proxy, uri, kwargs.pop("local_addr", None))
        try:
            _, protocol = await loop.create_connection(
                factory, sock=sock, ssl=ssl, server_hostname=server_hostname, **kwargs
            )
        except BaseException:
            sock.close()
            raise
        return protocol

    handshake = ProxyHandshake(proxy, uri, user_agent_header)
    # proxy_ssl: a context, True for the default one, or ... when not given.
    proxy_context: ssl_module.SSLContext | None = None
    if proxy.tls:
        if proxy_ssl is None:
            raise ValueError("proxy_ssl=None is incompatible with an https:// proxy")
        if isinstance(proxy_ssl, ssl_module.SSLContext):
            proxy_context = proxy_ssl
        else:
            proxy_context = ssl_module.create_default_context()
        kwargs["server_hostname"] = proxy_server_hostname or proxy.host
    elif proxy_ssl is not None and proxy_ssl is not ...:
        raise ValueError("proxy_ssl argument is incompatible with an http:// proxy")
    transport, tunnel = await loop.create_connection(
        lambda: _Tunnel(handshake), proxy.host, proxy.port, ssl=proxy_context, **kwargs
    )
    try:
        await tunnel.done
        if handshake.exc is not None:
            raise handshake.exc
        leftover = handshake.leftover
        if ssl is not None:
            if leftover:
                # The server speaks after the client's TLS hello, never before it.
                raise InvalidProxyMessage("unexpected data from the proxy after its answer")
            tls_transport = await loop.start_tls(
                transport, tunnel, ssl, server_hostname=server_hostname
            )
            assert tls_transport is not None
            transport = tls_transport
        protocol = factory()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if leftover:
            _feed(protocol, leftover)
    except BaseException:
        transport.abort()
        raise
    return protocol


def _feed(protocol: asyncio.BaseProtocol, data: bytes) -> None:
    """Hand ``data`` to ``protocol`` as a transport would: a Protocol or a BufferedProtocol."""
    if isinstance(protocol, asyncio.BufferedProtocol):
        view = memoryview(data)
        while view:
            buffer = memoryview(protocol.get_buffer(len(view)))
            size = min(len(buffer), len(view))
            buffer[:size] = view[:size]
            protocol.buffer_updated(size)
            view = view[size:]
    else:
        assert isinstance(protocol, asyncio.Protocol)
        protocol.data_received(data)


async def _socks_connect(proxy: Proxy, uri: WebSocketURI, local_addr: Any) -> Any:
    """A socket connected to ``uri``'s host through a SOCKS proxy, by python-socks."""
    try:
        from python_socks import ProxyError as SocksError
        from python_socks.async_.asyncio import Proxy as SocksProxy
    except ImportError as exc:
        raise ImportError(
            "SOCKS proxies need python-socks: pip install 'websocket-ref[socks]'"
        ) from exc
    socks = SocksProxy.from_url(socks_url(proxy), rdns=proxy.scheme in ("socks5h", "socks4a"))
    try:
        # python-socks raises ProxyConnectionError (an OSError) when the proxy can't
        # be reached and ProxyTimeoutError (a TimeoutError): both stay transient.
        return await socks.connect(uri.host, uri.port, local_addr=local_addr)
    except SocksError as exc:
        raise ProxyError("failed to connect to SOCKS proxy") from exc
