"""websocket_ref: the WebSocket protocol (RFC 6455, RFC 7692), correct first, then fast.

The Sans-I/O core (:class:`ClientProtocol`, :class:`ServerProtocol`) makes every
protocol decision; :mod:`websocket_ref.asyncio` and :mod:`websocket_ref.sync` put it
on sockets.

Every public name is importable from the package itself, as from the ``websockets``
library: ``from websocket_ref import connect, serve, ConnectionClosed``, where
``connect``, ``serve``, ``route`` and ``broadcast`` are the asyncio API's (the threading
API's are in :mod:`websocket_ref.sync`). They are imported on first use (PEP 562), so
``import websocket_ref`` loads neither asyncio nor zlib nor any optional dependency.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import version as __version__  # noqa: F401 - not in __all__, as usual

if TYPE_CHECKING:  # the lazy names below, for type checkers and IDEs
    from .asyncio.client import ClientConnection, backoff, connect, process_exception, unix_connect
    from .asyncio.router import Router, route, unix_route
    from .asyncio.server import (
        Server,
        ServerConnection,
        basic_auth,
        broadcast,
        serve,
        unix_serve,
    )
    from .client import (
        ClientProtocol,
        check_additional_headers,
        dropped,
        follow_redirect,
        redirect_location,
        without_credentials,
    )
    from .datastructures import Headers, HeadersLike, MultipleValuesError, check_header
    from .exceptions import (
        ConcurrencyError,
        ConnectionClosed,
        ConnectionClosedError,
        ConnectionClosedOK,
        DuplicateParameter,
        HeaderLineTooLong,
        HeadTooLarge,
        InvalidCloseFrame,
        InvalidFrame,
        InvalidHandshake,
        InvalidHeader,
        InvalidHeaderFormat,
        InvalidHeaderValue,
        InvalidMessage,
        InvalidMethod,
        InvalidOrigin,
        InvalidParameterName,
        InvalidParameterValue,
        InvalidProtocol,
        InvalidProxy,
        InvalidProxyMessage,
        InvalidProxyStatus,
        InvalidState,
        InvalidStatus,
        InvalidUpgrade,
        InvalidURI,
        InvalidUTF8,
        NegotiationError,
        PayloadTooBig,
        ProtocolError,
        ProxyError,
        RequestLineTooLong,
        SecurityError,
        StatusLineTooLong,
        TooManyFragments,
        TooManyHeaders,
        WebSocketException,
    )
    from .frames import (
        Close,
        CloseCode,
        Frame,
        FrameHeader,
        Opcode,
        is_valid_close_code,
        parse_frame,
        parse_header,
        serialize_frame,
    )
    from .http11 import (
        BodyReader,
        Request,
        Response,
        check_limits,
        parse_request,
        parse_response_head,
    )
    from .protocol import (
        Event,
        MaxSize,
        Protocol,
        Reading,
        ReleasingEvents,
        Side,
        State,
        split_max_size,
    )
    from .server import ServerProtocol
    from .typing import (
        BytesLike,
        Data,
        DataLike,
        ExtensionName,
        ExtensionParameter,
        LoggerLike,
        Origin,
        StatusLike,
        Subprotocol,
    )
    from .uri import WebSocketURI, parse_uri  # noqa: F401 - importable, not in __all__

# Public name -> module (relative to this package) that defines it.
_LAZY: dict[str, str] = {
    # asyncio API
    "connect": ".asyncio.client",
    "unix_connect": ".asyncio.client",
    "ClientConnection": ".asyncio.client",
    "route": ".asyncio.router",
    "unix_route": ".asyncio.router",
    "Router": ".asyncio.router",
    "basic_auth": ".asyncio.server",
    "broadcast": ".asyncio.server",
    "serve": ".asyncio.server",
    "unix_serve": ".asyncio.server",
    "ServerConnection": ".asyncio.server",
    "Server": ".asyncio.server",
    # Sans-I/O core
    "ClientProtocol": ".client",
    "ServerProtocol": ".server",
    "Protocol": ".protocol",
    "Side": ".protocol",
    "State": ".protocol",
    "Close": ".frames",
    "CloseCode": ".frames",
    "Frame": ".frames",
    "Opcode": ".frames",
    "Request": ".http11",
    "Response": ".http11",
    "Headers": ".datastructures",
    "HeadersLike": ".datastructures",
    "MultipleValuesError": ".datastructures",
    "WebSocketURI": ".uri",
    "parse_uri": ".uri",
    # Helpers the modules above export (websockets' rule: the package re-exports
    # every name its modules export)
    "backoff": ".asyncio.client",
    "process_exception": ".asyncio.client",
    "check_additional_headers": ".client",
    "dropped": ".client",
    "follow_redirect": ".client",
    "redirect_location": ".client",
    "without_credentials": ".client",
    "check_header": ".datastructures",
    "FrameHeader": ".frames",
    "parse_header": ".frames",
    "parse_frame": ".frames",
    "serialize_frame": ".frames",
    "is_valid_close_code": ".frames",
    "parse_request": ".http11",
    "parse_response_head": ".http11",
    "check_limits": ".http11",
    "BodyReader": ".http11",
    "MaxSize": ".protocol",
    "split_max_size": ".protocol",
    "Reading": ".protocol",
    "Event": ".protocol",
    "ReleasingEvents": ".protocol",
    "BytesLike": ".typing",
    "DataLike": ".typing",
    # Type aliases
    "Data": ".typing",
    "ExtensionName": ".typing",
    "ExtensionParameter": ".typing",
    "LoggerLike": ".typing",
    "Origin": ".typing",
    "StatusLike": ".typing",
    "Subprotocol": ".typing",
}
_EXCEPTIONS = [
    "WebSocketException",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "InvalidURI",
    "InvalidProxy",
    "InvalidHandshake",
    "SecurityError",
    "RequestLineTooLong",
    "StatusLineTooLong",
    "HeaderLineTooLong",
    "TooManyHeaders",
    "HeadTooLarge",
    "ProxyError",
    "InvalidProxyMessage",
    "InvalidProxyStatus",
    "InvalidMessage",
    "InvalidMethod",
    "InvalidProtocol",
    "InvalidStatus",
    "InvalidHeader",
    "InvalidHeaderFormat",
    "InvalidHeaderValue",
    "InvalidOrigin",
    "InvalidUpgrade",
    "NegotiationError",
    "DuplicateParameter",
    "InvalidParameterName",
    "InvalidParameterValue",
    "ProtocolError",
    "InvalidFrame",
    "InvalidCloseFrame",
    "InvalidUTF8",
    "PayloadTooBig",
    "TooManyFragments",
    "InvalidState",
    "ConcurrencyError",
]
_LAZY.update(dict.fromkeys(_EXCEPTIONS, ".exceptions"))

# Every lazy name but the two of websocket_ref.uri, a module websockets' package
# doesn't re-export either: importable from here, left out of ``import *``.
__all__ = [
    "connect",
    "unix_connect",
    "ClientConnection",
    "route",
    "unix_route",
    "Router",
    "basic_auth",
    "broadcast",
    "serve",
    "unix_serve",
    "ServerConnection",
    "Server",
    "ClientProtocol",
    "ServerProtocol",
    "Protocol",
    "Side",
    "State",
    "Close",
    "CloseCode",
    "Frame",
    "Opcode",
    "Request",
    "Response",
    "Headers",
    "HeadersLike",
    "MultipleValuesError",
    "Data",
    "ExtensionName",
    "ExtensionParameter",
    "LoggerLike",
    "Origin",
    "StatusLike",
    "Subprotocol",
    "WebSocketException",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "InvalidURI",
    "InvalidProxy",
    "InvalidHandshake",
    "SecurityError",
    "RequestLineTooLong",
    "StatusLineTooLong",
    "HeaderLineTooLong",
    "TooManyHeaders",
    "HeadTooLarge",
    "ProxyError",
    "InvalidProxyMessage",
    "InvalidProxyStatus",
    "InvalidMessage",
    "InvalidMethod",
    "InvalidProtocol",
    "InvalidStatus",
    "InvalidHeader",
    "InvalidHeaderFormat",
    "InvalidHeaderValue",
    "InvalidOrigin",
    "InvalidUpgrade",
    "NegotiationError",
    "DuplicateParameter",
    "InvalidParameterName",
    "InvalidParameterValue",
    "ProtocolError",
    "InvalidFrame",
    "InvalidCloseFrame",
    "InvalidUTF8",
    "PayloadTooBig",
    "TooManyFragments",
    "InvalidState",
    "ConcurrencyError",
    "backoff",
    "process_exception",
    "check_additional_headers",
    "dropped",
    "follow_redirect",
    "redirect_location",
    "without_credentials",
    "check_header",
    "FrameHeader",
    "parse_header",
    "parse_frame",
    "serialize_frame",
    "is_valid_close_code",
    "parse_request",
    "parse_response_head",
    "check_limits",
    "BodyReader",
    "MaxSize",
    "split_max_size",
    "Reading",
    "Event",
    "ReleasingEvents",
    "BytesLike",
    "DataLike",
]


def __getattr__(name: str) -> Any:
    """Import a public name's module on first access (PEP 562) and cache the name."""
    try:
        module_name = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module_name, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
