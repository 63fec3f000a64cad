"""websocket_ref: the WebSocket protocol (RFC 6455, RFC 7692), correct first, then fast.

The Sans-I/O core (:class:`ClientProtocol`, :class:`ServerProtocol`) makes every
protocol decision; :mod:`websocket_ref.asyncio` and :mod:`websocket_ref.sync` put it
on sockets.
"""

from __future__ import annotations

from .client import ClientProtocol
from .datastructures import Headers, HeadersLike, MultipleValuesError
from .exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    DuplicateParameter,
    InvalidCloseFrame,
    InvalidFrame,
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderFormat,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidOrigin,
    InvalidParameterName,
    InvalidParameterValue,
    InvalidState,
    InvalidStatus,
    InvalidUpgrade,
    InvalidURI,
    InvalidUTF8,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
    SecurityError,
    WebSocketException,
)
from .frames import Close, CloseCode, Frame, Opcode
from .http11 import Request, Response
from .protocol import Protocol, Side, State
from .server import ServerProtocol
from .uri import WebSocketURI, parse_uri
from .version import version as __version__

__all__ = [
    "__version__",
    "ClientProtocol",
    "ServerProtocol",
    "Protocol",
    "Side",
    "State",
    "Frame",
    "Opcode",
    "Close",
    "CloseCode",
    "Request",
    "Response",
    "Headers",
    "HeadersLike",
    "MultipleValuesError",
    "WebSocketURI",
    "parse_uri",
    "WebSocketException",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "InvalidURI",
    "InvalidHandshake",
    "SecurityError",
    "InvalidMessage",
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
    "InvalidState",
    "ConcurrencyError",
]
