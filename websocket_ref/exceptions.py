"""The exception family of websocket_ref.

Names follow the `websockets` library so that applications moving over keep their
``except`` clauses. Two additions make errors teach the protocol:

* every :class:`ProtocolError` carries the ``close_code`` that the connection is failed
  with (1002 by default, 1007 for bad UTF-8, 1009 for oversized messages), and
* errors raised for a rule of an RFC carry that rule (``rule="RFC 6455 §5.5"``), which
  is shown in the message.

Tree::

    WebSocketException
    ├── ConnectionClosed
    │   ├── ConnectionClosedOK
    │   └── ConnectionClosedError
    ├── InvalidURI
    ├── InvalidProxy
    ├── InvalidHandshake
    │   ├── SecurityError
    │   │   ├── RequestLineTooLong
    │   │   ├── StatusLineTooLong
    │   │   ├── HeaderLineTooLong
    │   │   ├── TooManyHeaders
    │   │   └── HeadTooLarge
    │   ├── ProxyError
    │   │   ├── InvalidProxyMessage
    │   │   └── InvalidProxyStatus
    │   ├── InvalidMessage
    │   │   ├── InvalidMethod   (405)
    │   │   └── InvalidProtocol (505)
    │   ├── InvalidStatus
    │   ├── InvalidHeader
    │   │   ├── InvalidHeaderFormat
    │   │   ├── InvalidHeaderValue
    │   │   ├── InvalidOrigin
    │   │   └── InvalidUpgrade
    │   └── NegotiationError
    │       ├── DuplicateParameter
    │       ├── InvalidParameterName
    │       └── InvalidParameterValue
    ├── ProtocolError
    │   ├── InvalidFrame          (1002: a framing rule of §5 is broken)
    │   ├── InvalidCloseFrame     (1002: a close payload breaks §5.5.1 / §7.4)
    │   ├── InvalidUTF8           (1007)
    │   └── PayloadTooBig         (1009)
    ├── InvalidState
    └── ConcurrencyError
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .frames import Close
    from .http11 import Response

__all__ = [
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


class WebSocketException(Exception):
    """Base class for every exception defined by websocket_ref."""


class ConnectionClosed(WebSocketException):
    """Raised when trying to use a connection that is closed.

    ``rcvd`` and ``sent`` are the close frames received and sent, if any;
    ``rcvd_then_sent`` tells which came first when both exist.
    """

    def __init__(
        self,
        rcvd: Close | None,
        sent: Close | None,
        rcvd_then_sent: bool | None = None,
    ) -> None:
        self.rcvd = rcvd
        self.sent = sent
        self.rcvd_then_sent = rcvd_then_sent
        super().__init__(rcvd, sent, rcvd_then_sent)

    def __str__(self) -> str:
        if self.rcvd is None:
            if self.sent is None:
                return "no close frame received or sent"
            return f"sent {self.sent}; no close frame received"
        if self.sent is None:
            return f"received {self.rcvd}; no close frame sent"
        if self.rcvd_then_sent:
            return f"received {self.rcvd}; then sent {self.sent}"
        return f"sent {self.sent}; then received {self.rcvd}"

    @property
    def code(self) -> int:
        """Close code received from the peer: 1005 if absent, 1006 if none arrived."""
        if self.rcvd is None:
            return 1006
        return self.rcvd.code

    @property
    def reason(self) -> str:
        """Close reason received from the peer, ``""`` if none arrived."""
        if self.rcvd is None:
            return ""
        return self.rcvd.reason


class ConnectionClosedOK(ConnectionClosed):
    """The connection was closed properly: both close frames with 1000, 1001 or no code."""


class ConnectionClosedError(ConnectionClosed):
    """The connection was closed with an error code or without a closing handshake."""


class InvalidURI(WebSocketException):
    """A connection was attempted with a URI that isn't a valid WebSocket URI (§3)."""

    def __init__(self, uri: str, msg: str) -> None:
        self.uri = uri
        self.msg = msg
        super().__init__(uri, msg)

    def __str__(self) -> str:
        return f"{self.uri} isn't a valid URI: {self.msg}"


class InvalidProxy(WebSocketException):
    """A proxy URL (``proxy=`` or from the environment) can't be used."""

    def __init__(self, proxy: str, msg: str) -> None:
        self.proxy = proxy
        self.msg = msg
        super().__init__(proxy, msg)

    def __str__(self) -> str:
        return f"{self.proxy} isn't a valid proxy: {self.msg}"


class InvalidHandshake(WebSocketException):
    """The opening handshake failed (RFC 6455 §4)."""


class SecurityError(InvalidHandshake):
    """An HTTP message exceeded one of the hard limits that keep memory bounded."""


class RequestLineTooLong(SecurityError):
    """The request line of an HTTP request is longer than the limit."""


class StatusLineTooLong(SecurityError):
    """The status line of an HTTP response is longer than the limit."""


class HeaderLineTooLong(SecurityError):
    """A header line of an HTTP message is longer than the limit."""


class TooManyHeaders(SecurityError):
    """An HTTP message has more header lines than the limit."""


class HeadTooLarge(SecurityError):
    """The head of an HTTP message (start line and headers) is larger than ``max_head_size``."""


class ProxyError(InvalidHandshake):
    """Connecting through a proxy failed: the proxy refused or didn't answer properly."""


class InvalidProxyMessage(ProxyError):
    """The proxy's answer to the CONNECT request (or the SOCKS handshake) is malformed."""


class InvalidProxyStatus(ProxyError):
    """The proxy answered the CONNECT request with a status other than 2xx.

    ``response`` holds the status, headers and body (e.g. 407 and its challenge).
    """

    def __init__(self, response: Response) -> None:
        self.response = response
        super().__init__(response)

    def __str__(self) -> str:
        return f"proxy rejected connection: HTTP {self.response.status_code:d}"


class InvalidMessage(InvalidHandshake):
    """The HTTP request or response of the handshake is malformed."""


class InvalidMethod(InvalidMessage):
    """The handshake request's method isn't GET (RFC 6455 §4.2.1): 405."""

    def __init__(self, method: str) -> None:
        self.method = method
        super().__init__(method)

    def __str__(self) -> str:
        return f"invalid HTTP method; expected GET; got {self.method}"


class InvalidProtocol(InvalidMessage):
    """The HTTP version of a handshake message can't be WebSocket's.

    A request below HTTP/1.1 or above 1.x (RFC 6455 §4.2.1: the server answers 505), or
    a 101 (any 1xx) response in HTTP/1.0, which has neither 1xx statuses nor Upgrade.
    """

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        super().__init__(protocol)

    def __str__(self) -> str:
        return f"invalid HTTP protocol; expected HTTP/1.1; got {self.protocol}"


class InvalidStatus(InvalidHandshake):
    """The server answered the handshake with a status other than 101.

    ``response`` holds the status, headers and body, so that clients can show the
    server's explanation.
    """

    def __init__(self, response: Response) -> None:
        self.response = response
        super().__init__(response)

    def __str__(self) -> str:
        return f"server rejected WebSocket connection: HTTP {self.response.status_code:d}"


class InvalidHeader(InvalidHandshake):
    """A handshake header is missing, duplicated or has a wrong value."""

    def __init__(self, name: str, value: str | None = None) -> None:
        self.name = name
        self.value = value
        super().__init__(name, value)

    def __str__(self) -> str:
        if self.value is None:
            return f"missing {self.name} header"
        if self.value == "":
            return f"empty {self.name} header"
        return f"invalid {self.name} header: {self.value}"


class InvalidHeaderFormat(InvalidHeader):
    """A header value could not be parsed according to its grammar."""

    def __init__(self, name: str, error: str, header: str, pos: int) -> None:
        super().__init__(name, f"{error} at {pos} in {header}")


class InvalidHeaderValue(InvalidHeader):
    """A header value was parsed but isn't acceptable."""


class InvalidOrigin(InvalidHeader):
    """The Origin header is missing or not in the server's allowed list (§10.2)."""

    def __init__(self, origin: str | None) -> None:
        super().__init__("Origin", origin)


class InvalidUpgrade(InvalidHeader):
    """The Upgrade or Connection header doesn't ask for (or complete) a WebSocket upgrade.

    A server answers such a request with 426 (RFC 6455 §4.2.1); a client fails the
    connection on such a 101 (RFC 6455 §4.1).
    """


class NegotiationError(InvalidHandshake):
    """Extension or subprotocol negotiation failed."""


class DuplicateParameter(NegotiationError):
    """An extension parameter appears more than once."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)

    def __str__(self) -> str:
        return f"duplicate parameter: {self.name}"


class InvalidParameterName(NegotiationError):
    """An extension parameter has an unknown name."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)

    def __str__(self) -> str:
        return f"invalid parameter name: {self.name}"


class InvalidParameterValue(NegotiationError):
    """An extension parameter has a value it can't take."""

    def __init__(self, name: str, value: str | None) -> None:
        self.name = name
        self.value = value
        super().__init__(name, value)

    def __str__(self) -> str:
        if self.value is None:
            return f"missing value for parameter {self.name}"
        if self.value == "":
            return f"empty value for parameter {self.name}"
        return f"invalid value for parameter {self.name}: {self.value}"


class ProtocolError(WebSocketException):
    """The peer broke a rule of the WebSocket protocol after the handshake.

    The connection is failed with :attr:`close_code`. ``rule`` names the section of
    the RFC that was broken, e.g. ``"RFC 6455 §5.5"``.
    """

    #: Close code sent when the connection is failed because of this error.
    close_code: int = 1002

    def __init__(self, message: str, *, rule: str | None = None) -> None:
        self.message = message
        self.rule = rule
        super().__init__(message)

    def __str__(self) -> str:
        if self.rule is None:
            return self.message
        return f"{self.message} ({self.rule})"


class InvalidFrame(ProtocolError):
    """A frame breaks a framing rule of RFC 6455 §5 (or of a negotiated extension)."""


class InvalidCloseFrame(ProtocolError):
    """A close frame has an invalid payload or close code (RFC 6455 §5.5.1, §7.4)."""


class InvalidUTF8(ProtocolError):
    """A text message or a close reason isn't valid UTF-8 (RFC 6455 §8.1)."""

    close_code = 1007


class PayloadTooBig(ProtocolError):
    """A frame or a message exceeds ``max_size``."""

    close_code = 1009


class TooManyFragments(PayloadTooBig):
    """A fragmented message has more frames than ``max_fragments``.

    websockets (≥ 17) has the same exception; here it's a :exc:`PayloadTooBig` too (the
    connection is failed with 1009 in both), so ``except PayloadTooBig`` catches it.
    """

    def __init__(self, max_fragments: int) -> None:
        #: The limit that was exceeded.
        self.max_fragments = max_fragments
        super().__init__(
            f"fragmented message exceeds limit of {max_fragments} frames", rule="RFC 6455 §10.4"
        )


class InvalidState(WebSocketException, AssertionError):
    """An operation isn't allowed in the current state of the connection.

    This is a bug in the calling code, not a problem with the peer.
    """


class ConcurrencyError(WebSocketException, RuntimeError):
    """Two coroutines or threads tried to read from (or stream to) a connection at once."""
