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

import warnings
from typing import TYPE_CHECKING, Any

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
        """Close code received from the peer: 1005 if absent, 1006 if none arrived.

        Deprecated, as in websockets (≥ 13.1): use ``rcvd.code`` or the connection's
        ``close_code``.
        """
        warnings.warn(  # websockets' words
            "ConnectionClosed.code is deprecated; "
            "use Protocol.close_code or ConnectionClosed.rcvd.code",
            DeprecationWarning,
            stacklevel=2,
        )
        if self.rcvd is None:
            return 1006
        return self.rcvd.code

    @property
    def reason(self) -> str:
        """Close reason received from the peer, ``""`` if none arrived.

        Deprecated, as in websockets (≥ 13.1): use ``rcvd.reason`` or the connection's
        ``close_reason``.
        """
        warnings.warn(  # websockets' words
            "ConnectionClosed.reason is deprecated; "
            "use Protocol.close_reason or ConnectionClosed.rcvd.reason",
            DeprecationWarning,
            stacklevel=2,
        )
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


class InvalidUTF8(ProtocolError, UnicodeDecodeError):
    """A text message or a close reason isn't valid UTF-8 (RFC 6455 §8.1).

    It's a :exc:`UnicodeDecodeError` too, so code written for websockets, which lets
    the decoder's error through, keeps catching it. ``object[start:end]`` are the
    invalid bytes when they're known: for a close reason, ``object`` is the reason; for
    a message, only the invalid bytes (a failed connection keeps its error: it doesn't
    pin the message).
    """

    close_code = 1007

    def __init__(
        self,
        message: str,
        *,
        rule: str | None = None,
        data: bytes = b"",
        start: int = 0,
        end: int = 0,
        reason: str | None = None,
    ) -> None:
        # Not ProtocolError.__init__: the next __init__ in line is UnicodeDecodeError's,
        # which takes the decoder's five arguments.
        UnicodeDecodeError.__init__(
            self, "utf-8", data, start, end, message if reason is None else reason
        )
        self.message = message
        self.rule = rule

    def __str__(self) -> str:
        return ProtocolError.__str__(self)

    def __reduce__(self) -> tuple[Any, ...]:
        details = (self.object, self.start, self.end, self.reason)
        return (_rebuild_invalid_utf8, (self.message, self.rule, details))


def _rebuild_invalid_utf8(
    message: str, rule: str | None, details: tuple[bytes, int, int, str]
) -> InvalidUTF8:
    data, start, end, reason = details
    return InvalidUTF8(message, rule=rule, data=data, start=start, end=end, reason=reason)


class PayloadTooBig(ProtocolError):
    """A frame or a message exceeds ``max_size``.

    Built as websockets builds it, ``PayloadTooBig(size, max_size, current_size)``:
    ``size`` is the frame's size (None if unknown yet), ``current_size`` what was read
    of the message before it (then ``max_size`` is the limit on the whole message).
    websocket_ref says which limit was hit in its own words (``message=``);
    ``PayloadTooBig("text")`` still works, with websockets' deprecation warning.
    """

    close_code = 1009

    def __init__(
        self,
        size_or_message: int | str | None = None,
        max_size: int | None = None,
        current_size: int | None = None,
        *,
        message: str | None = None,
        rule: str | None = None,
    ) -> None:
        if isinstance(size_or_message, str):
            warnings.warn(  # websockets' words
                "PayloadTooBig(message) is deprecated; change to PayloadTooBig(size, max_size)",
                DeprecationWarning,
                stacklevel=2,
            )
            message, size_or_message = size_or_message, None
        #: Size of the frame that exceeded the limit, if known.
        self.size: int | None = size_or_message
        #: The limit.
        self.max_size = max_size
        #: Bytes of the message read before that frame, if known.
        self.current_size: int | None = None
        self._message = message
        self.rule = rule
        # Not ProtocolError.__init__: the message is built when it's read, once
        # set_current_size() may have completed it.
        WebSocketException.__init__(self, self.size, max_size, current_size)
        self.set_current_size(current_size)

    @property
    def message(self) -> str:
        """What was exceeded: websocket_ref's words, else websockets' wording."""
        if self._message is not None:
            return self._message
        text = "frame "
        if self.size is not None:
            text += f"with {self.size} bytes "
        if self.current_size is not None:
            text += f"after reading {self.current_size} bytes "
        return text + f"exceeds limit of {self.max_size} bytes"

    @message.setter
    def message(self, message: str) -> None:
        self._message = message

    def set_current_size(self, current_size: int | None) -> None:
        """Record what was read of the message before the frame, as websockets does:
        the limit then applies to the whole message."""
        assert self.current_size is None
        if current_size is not None:
            self.current_size = current_size
            if self.max_size is not None:
                self.max_size += current_size


class TooManyFragments(PayloadTooBig):
    """A fragmented message has more frames than ``max_fragments``.

    websockets (≥ 17) has the same exception; here it's a :exc:`PayloadTooBig` too (the
    connection is failed with 1009 in both), so ``except PayloadTooBig`` catches it.
    """

    def __init__(self, max_fragments: int) -> None:
        #: The limit that was exceeded.
        self.max_fragments = max_fragments
        super().__init__(
            message=f"fragmented message exceeds limit of {max_fragments} frames",
            rule="RFC 6455 §10.4",
        )
        self.args = (max_fragments,)


class InvalidState(WebSocketException, AssertionError):
    """An operation isn't allowed in the current state of the connection.

    This is a bug in the calling code, not a problem with the peer.
    """


class ConcurrencyError(WebSocketException, RuntimeError):
    """Two coroutines or threads tried to read from (or stream to) a connection at once."""
