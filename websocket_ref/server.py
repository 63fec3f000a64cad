"""The server side of the Sans-I/O protocol: reading a handshake request and answering it."""

from __future__ import annotations

import email.utils
import http
import re
import time
import types
import warnings
from collections.abc import Callable, Sequence

from .datastructures import Headers
from .exceptions import (
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidMethod,
    InvalidOrigin,
    InvalidProtocol,
    InvalidState,
    InvalidUpgrade,
    NegotiationError,
    ProtocolError,
    SecurityError,
)
from .extensions.base import Extension, ServerExtensionFactory, as_extension
from .handshake import accept_key, check_key, check_request_upgrade, single_header
from .headers import (
    ExtensionHeader,
    Subprotocol,
    build_extension,
    parse_extension,
    parse_host,
    parse_subprotocol,
    validate_subprotocols,
)
from .http11 import (
    MAX_HEAD_SIZE,
    MAX_LINE_LENGTH,
    MAX_NUM_HEADERS,
    Request,
    Response,
    check_limits,
    parse_request,
)
from .protocol import (
    MAX_FRAGMENTS,
    MAX_PENDING_PONGS,
    SERVER,
    LoggerLike,
    MaxSize,
    Protocol,
    Reading,
    State,
)
from .states import Change
from .trace import TraceHook
from .version import version as websocket_ref_version

__all__ = ["ServerProtocol", "SERVER_HEADER"]

#: Default value of the Server header of handshake responses.
SERVER_HEADER = f"Python/3 websocket_ref/{websocket_ref_version}"

#: Bytes kept from a client that sends before the handshake response: enough for a
#: client that pipelines a few frames, small enough that waiting on the application's
#: decision (accept or reject) can't fill memory.
EARLY_DATA_LIMIT = 2**16

#: The headers of a 101 that carry the outcome of the negotiation: send_response() sends
#: a 101 only with these exactly as accept() built them.
ACCEPTANCE_HEADERS = (
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Accept",
    "Sec-WebSocket-Extensions",
    "Sec-WebSocket-Protocol",
)

# (second, Date header value for that second): one tuple, replaced whole, so that
# threads accepting at once never pair a second with another second's value.
_date_cache: tuple[int, str] = (-1, "")


def http_date() -> str:
    """The Date header's value for now, as ``email.utils.formatdate(usegmt=True)`` gives
    it (RFC 7231 §7.1.1.1 IMF-fixdate, whole seconds): formatted once per second, not
    for every handshake."""
    global _date_cache  # the cache is the module's
    now = int(time.time())
    cached = _date_cache
    if cached[0] != now:
        cached = _date_cache = (now, email.utils.formatdate(now, usegmt=True))
    return cached[1]


Origin = str
OriginPattern = str | re.Pattern[str] | None


class ServerProtocol(Protocol):
    """Sans-I/O server: reads a handshake request, accepts or rejects it, then frames.

    Typical use::

        protocol.receive_data(data)
        for event in protocol.events_received():
            if isinstance(event, Request):
                protocol.send_response(protocol.accept(event))

    ``origins`` lists acceptable Origin headers (``None`` in the list allows requests
    without one; strings match exactly, compiled patterns match fully); ``extensions``
    are the server's extension factories in order of preference; ``subprotocols`` the
    subprotocols it supports, and ``select_subprotocol`` overrides how one is chosen.
    """

    def __init__(
        self,
        *,
        origins: Sequence[OriginPattern] | None = None,
        extensions: Sequence[ServerExtensionFactory] | None = None,
        subprotocols: Sequence[Subprotocol] | None = None,
        select_subprotocol: Callable[[ServerProtocol, Sequence[Subprotocol]], Subprotocol | None]
        | None = None,
        state: State = State.CONNECTING,
        max_size: MaxSize = 2**20,
        max_fragments: int | None = MAX_FRAGMENTS,
        max_pending_pongs: int = MAX_PENDING_PONGS,
        max_line_length: int = MAX_LINE_LENGTH,
        max_num_headers: int = MAX_NUM_HEADERS,
        max_head_size: int = MAX_HEAD_SIZE,
        max_early_data: int = EARLY_DATA_LIMIT,
        logger: LoggerLike | None = None,
        trace: TraceHook | None = None,
    ) -> None:
        check_limits(
            max_line_length=max_line_length,
            max_num_headers=max_num_headers,
            max_head_size=max_head_size,
            max_early_data=max_early_data,
        )
        #: Longest request line or header line accepted, in bytes.
        self.max_line_length = max_line_length
        #: Most header lines accepted in the request.
        self.max_num_headers = max_num_headers
        #: Largest request head (request line and headers) accepted, in bytes.
        self.max_head_size = max_head_size
        #: Bytes kept from a client that sends before the handshake response is sent.
        self.max_early_data = max_early_data
        super().__init__(
            SERVER,
            state=state,
            max_size=max_size,
            max_fragments=max_fragments,
            max_pending_pongs=max_pending_pongs,
            logger=logger,
            trace=trace,
        )
        self.origins = origins
        #: The request's Origin header once the handshake checked it (None without one).
        self.origin: str | None = None
        self.available_extensions = list(extensions or [])
        if subprotocols is not None:
            validate_subprotocols(subprotocols)
        self.available_subprotocols = list(subprotocols or [])
        if select_subprotocol is not None:
            # Bind the callable so it's called like a method, with the protocol first.
            # MethodType works for any callable (functools.partial, objects with
            # __call__), not only for functions, which have __get__.
            self.select_subprotocol = types.MethodType(select_subprotocol, self)  # type: ignore[method-assign]
        #: The handshake request, once received.
        self.request: Request | None = None
        #: The handshake response, once sent.
        self.response: Response | None = None
        #: The subprotocol selected in the handshake, if any.
        self.subprotocol: Subprotocol | None = None
        # select_subprotocol() chose a subprotocol the client didn't offer (a bug: 500).
        self._selected_not_offered = False
        # More than max_early_data bytes arrived before the response was sent.
        self._early_data_dropped = False
        # The ACCEPTANCE_HEADERS of the 101 that accept() built, once it did.
        self._acceptance: dict[str, list[str]] | None = None

    def _take_early_data(self, data: bytes | bytearray) -> bool:
        """Bytes received while the response is pending are bounded by max_early_data.

        A hook of :meth:`receive_data`, called only in that state: the server doesn't
        override receive_data() itself, which stays a native call in the mypyc build.
        """
        if len(self._buffer) + len(data) > self.max_early_data:
            # RFC 6455 §4.1 [R6455-4.1-37]: the client MUST wait for the response before
            # sending more data. Our choice: keep up to max_early_data bytes sent early
            # (they may be in flight), drop the rest and fail the connection after the 101
            self._early_data_dropped = True
            return False
        return True

    # Handshake

    def _receive_handshake(self) -> bool:
        try:
            request = parse_request(
                self._buffer,
                self._head_scanned,
                max_line_length=self.max_line_length,
                max_num_headers=self.max_num_headers,
                max_head_size=self.max_head_size,
            )
        except (InvalidMessage, SecurityError) as exc:
            self._refuse_unparsable_request(exc)
            return True
        if request is None:
            self._head_scanned = len(self._buffer)
            return False
        if self.debug:
            self._observe_head("<", request)
        self.request = request
        self._transition(Change.REQUEST_RECEIVED)
        if len(self._buffer) > self.max_early_data:
            # RFC 6455 §4.1 [R6455-4.1-37]: as in receive_data(), for what arrived
            # together with the request
            self._early_data_dropped = True
            self._buffer.clear()
        self._events.append(request)
        return True

    def _refuse_unparsable_request(self, exc: InvalidHandshake) -> None:
        """Answer a request that can't be parsed with an HTTP error, then close."""
        # RFC 6455 §10.7 [R6455-10.7-4]: invalid data in the handshake gets an appropriate
        # HTTP status code. The client's bytes are at fault, not our code: no traceback,
        # which would keep the frames of the read that brought them alive (and that read's
        # bytes, e.g. 256 KiB in asyncio) as long as the connection.
        self.handshake_exc = exc.with_traceback(None)
        if isinstance(exc, InvalidMethod):
            status = http.HTTPStatus.METHOD_NOT_ALLOWED
        elif isinstance(exc, InvalidProtocol):
            status = http.HTTPStatus.HTTP_VERSION_NOT_SUPPORTED
        elif isinstance(exc, SecurityError):
            # RFC 6585 §5: headers too large
            status = http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
        else:
            status = http.HTTPStatus.BAD_REQUEST
        reason = f"{exc}: {exc.__cause__}" if isinstance(exc.__cause__, ValueError) else exc
        response = self.reject(status, f"Failed to open a WebSocket connection: {reason}.\n")
        if status == http.HTTPStatus.METHOD_NOT_ALLOWED:
            # RFC 7231 §6.5.5: a 405 MUST list the methods the resource supports
            response.headers["Allow"] = "GET"
        self.send_response(response)

    def _receive_eof_while(self, reading: Reading) -> None:
        if reading is Reading.HANDSHAKE and self.handshake_exc is None:
            # websockets' words, and its cause (as in the client)
            error = InvalidMessage("did not receive a valid HTTP request")
            part = "headers" if b"\r\n" in self._buffer else "request line"
            error.__cause__ = EOFError(f"connection closed while reading HTTP {part}")
            self.handshake_exc = error
        super()._receive_eof_while(reading)

    def accept(self, request: Request) -> Response:
        """Validate a handshake request and build the response to send.

        Returns a 101 response if the request is a valid WebSocket upgrade; otherwise an
        HTTP error response (400, 403 or 426) and
        :attr:`~websocket_ref.protocol.Protocol.handshake_exc` is set. Send it
        with :meth:`send_response` either way.
        """
        try:
            key, extensions_header, protocol_header = self._process_request(request)
        except InvalidOrigin as exc:
            self.handshake_exc = exc
            # RFC 6455 §4.2.2 [R6455-4.2.2-6]: an origin the server doesn't accept gets an
            # HTTP error; RFC 6455 §10.2 [R6455-10.2-2]: 403 Forbidden
            return self.reject(
                http.HTTPStatus.FORBIDDEN, f"Failed to open a WebSocket connection: {exc}.\n"
            )
        except InvalidUpgrade as exc:
            self.handshake_exc = exc
            # RFC 6455 §4.2.1 [R6455-4.2.1-5, R6455-4.2.1-6]: not a WebSocket upgrade;
            # 426 is our choice of error code
            response = self.reject(
                http.HTTPStatus.UPGRADE_REQUIRED,
                f"Failed to open a WebSocket connection: {exc}.\n\n"
                "You cannot access a WebSocket server directly with a browser. "
                "You need a WebSocket client.\n",
            )
            # RFC 7231 §6.5.15: a 426 MUST send Upgrade with the protocol required;
            # RFC 7230 §6.7: a sender of Upgrade MUST also send Connection: upgrade
            response.headers["Upgrade"] = "websocket"
            del response.headers["Connection"]
            response.headers["Connection"] = "Upgrade, close"
            return response
        except InvalidHeader as exc:
            self.handshake_exc = exc
            if exc.name == "Sec-WebSocket-Version":
                # RFC 6455 §4.2.2 [R6455-4.2.2-7]: abort with an error code (426) and
                # Sec-WebSocket-Version; RFC 6455 §4.4 [R6455-4.4-1]: all the versions the
                # server speaks; RFC 6455 §11.3.5 [R6455-11.3.5-1]: in one header
                response = self.reject(
                    http.HTTPStatus.UPGRADE_REQUIRED,
                    f"Failed to open a WebSocket connection: {exc}.\n",
                )
                response.headers["Sec-WebSocket-Version"] = "13"
                return response
            # RFC 6455 §4.2.1 [R6455-4.2.1-1]: a handshake that doesn't match: 400
            return self.reject(
                http.HTTPStatus.BAD_REQUEST, f"Failed to open a WebSocket connection: {exc}.\n"
            )
        except NegotiationError as exc:
            # Extension factories' NegotiationErrors decline offers and don't get here.
            self.handshake_exc = exc
            if not self._selected_not_offered:
                # select_subprotocol refused the client's offers (as in websockets): 400
                return self.reject(
                    http.HTTPStatus.BAD_REQUEST,
                    f"Failed to open a WebSocket connection: {exc}.\n",
                )
            # select_subprotocol chose a value the client didn't offer: a bug of the
            # server, not a bad request.
            self.logger.error("opening handshake failed: %s", exc)
            return self.reject(
                http.HTTPStatus.INTERNAL_SERVER_ERROR,
                "Failed to open a WebSocket connection.\nSee server log for more information.\n",
            )
        except InvalidHandshake as exc:
            self.handshake_exc = exc
            return self.reject(
                http.HTTPStatus.BAD_REQUEST, f"Failed to open a WebSocket connection: {exc}.\n"
            )
        except Exception as exc:  # a bug in an extension factory or select_subprotocol
            self.handshake_exc = exc
            self.logger.error("opening handshake failed", exc_info=True)
            return self.reject(
                http.HTTPStatus.INTERNAL_SERVER_ERROR,
                "Failed to open a WebSocket connection.\nSee server log for more information.\n",
            )

        headers = Headers()
        headers._add("Date", http_date())  # constants and computed values: no check
        # RFC 6455 §4.2.2 [R6455-4.2.2-14]: an Upgrade header with value "websocket"
        headers._add("Upgrade", "websocket")
        # RFC 6455 §4.2.2 [R6455-4.2.2-15]: a Connection header with value "Upgrade"
        headers._add("Connection", "Upgrade")
        # RFC 6455 §4.2.2 [R6455-4.2.2-16]: Sec-WebSocket-Accept, computed from /key/;
        # RFC 6455 §11.3.3 [R6455-11.3.3-1]: once
        headers._add("Sec-WebSocket-Accept", accept_key(key))  # base64
        if extensions_header is not None:
            # RFC 6455 §11.3.2 [R6455-11.3.2-2]: one Sec-WebSocket-Extensions header
            headers["Sec-WebSocket-Extensions"] = extensions_header
        if protocol_header is not None:
            # RFC 6455 §11.3.4 [R6455-11.3.4-2]: one Sec-WebSocket-Protocol header
            headers["Sec-WebSocket-Protocol"] = protocol_header
        # RFC 6455 §4.2.2 [R6455-4.2.2-1, R6455-4.2.2-13]: having completed the steps,
        # accept with a valid HTTP response whose Status-Line has 101
        self._acceptance = {name: list(headers.get_all(name)) for name in ACCEPTANCE_HEADERS}
        return Response(101, "Switching Protocols", headers)

    def _process_request(self, request: Request) -> tuple[str, str | None, str | None]:
        headers = request.headers
        check_request_upgrade(headers)
        # RFC 6455 §4.2.1 [R6455-4.2.1-4]: a Host header containing the server's
        # authority; RFC 7230 §5.4: 400 if there's none, several, or an invalid one
        parse_host(single_header(headers, "Host"))
        # RFC 6455 §11.3.1 [R6455-11.3.1-1]: Sec-WebSocket-Key appears once at most
        key = single_header(headers, "Sec-WebSocket-Key")
        check_key(key)
        # RFC 6455 §11.3.5 [R6455-11.3.5-2]: Sec-WebSocket-Version appears once at most
        version = single_header(headers, "Sec-WebSocket-Version")
        if version.strip() != "13":
            # RFC 6455 §4.2.1 [R6455-4.2.1-8]: a Sec-WebSocket-Version with a value of 13
            raise InvalidHeaderValue("Sec-WebSocket-Version", version)
        self._check_origin(headers)
        extensions_header, self.extensions = self._negotiate_extensions(headers)
        protocol_header = self.subprotocol = self._negotiate_subprotocol(headers)
        return key, extensions_header, protocol_header

    def _check_origin(self, headers: Headers) -> None:
        origins = headers.get_all("Origin")
        if len(origins) == 1:
            self.origin = origins[0]
        if self.origins is None:
            return
        if len(origins) > 1:
            raise InvalidHeader("Origin", "multiple values")
        origin = origins[0] if origins else None
        if origin is None:
            # RFC 6455 §4.2.1 [R6455-4.2.1-9]: a request without Origin isn't taken for a
            # browser's: it's allowed only if origins lists None
            if None in self.origins:
                return
            raise InvalidOrigin(origin)
        # RFC 6455 §4.2.2 [R6455-4.2.2-5]: the origin is serialized to ASCII and
        # converted to lowercase (a value that isn't ASCII can't be an origin)
        lowered = origin.lower() if origin.isascii() else None
        for allowed in self.origins:
            if lowered is None or allowed is None:
                continue
            if isinstance(allowed, str):
                if lowered == allowed.lower():
                    return
            elif allowed.fullmatch(lowered):
                return
        # RFC 6455 §4.2.2 [R6455-4.2.2-4]: the server MAY use the origin to decide;
        # RFC 6455 §10.2 [R6455-10.2-1]: a server for certain sites verifies it
        raise InvalidOrigin(origin)

    def _negotiate_extensions(self, headers: Headers) -> tuple[str | None, list[Extension]]:
        """Accept the client's offers that a factory agrees to, in the client's order.

        The server accepts offers with response parameters and declines an offer by
        leaving it out (RFC 6455 §9.1). Two extensions may not claim the same reserved bit.
        """
        offers: list[ExtensionHeader] = []
        # RFC 6455 §11.3.2 [R6455-11.3.2-1]: the header MAY appear several times in a
        # request, as a single list; RFC 6455 §9.1 [R6455-9.1-3]
        for value in headers.get_all("Sec-WebSocket-Extensions"):
            # RFC 6455 §9.1 [R6455-9.1-1]: a value that doesn't fit the ABNF fails the
            # handshake (InvalidHeaderFormat: 400)
            offers.extend(parse_extension(value))
        accepted: list[ExtensionHeader] = []
        extensions: list[Extension] = []
        used_bits = 0
        for name, params in offers:
            for factory in self.available_extensions:
                if factory.name != name:
                    continue
                try:
                    # RFC 6455 §9 [R6455-9-4]: the factory chooses the parameters per its
                    # extension's specification, or declines the offer
                    response_params, extension = factory.process_request_params(params, extensions)
                except NegotiationError:
                    continue
                reserved_bits = as_extension(extension).reserved_bits
                if reserved_bits & used_bits:
                    # RFC 6455 §5.2 [R6455-5.2-1]: a reserved bit means what the extension
                    # that defines it says: our choice is to decline a second claimant;
                    # RFC 7692 §5 [R7692-5-3]: never a PMCE with another extension on RSV1
                    continue
                used_bits |= reserved_bits
                # RFC 6455 §9 [R6455-9-2]: the server MAY accept some or all offers;
                # RFC 6455 §4.2.2 [R6455-4.2.2-11, R6455-4.2.2-12]: derived from the
                # client's offers (the name is the offer's), none the client didn't list;
                # RFC 6455 §9 [R6455-9-3]: never an extension not requested;
                # RFC 7692 §5 [R7692-5-2]: accepting a PMCE names it in the response
                accepted.append((name, response_params))
                extensions.append(extension)
                break
        self._frames.allowed_rsv = used_bits
        return (build_extension(accepted) if accepted else None), extensions

    def _negotiate_subprotocol(self, headers: Headers) -> Subprotocol | None:
        offered: list[Subprotocol] = []
        # RFC 6455 §11.3.4 [R6455-11.3.4-1]: the header MAY appear several times in a
        # request, as a single list
        for value in headers.get_all("Sec-WebSocket-Protocol"):
            # RFC 6455 §4.2.1 [R6455-4.2.1-10]: a list of tokens, or 400
            offered.extend(parse_subprotocol(value))
        subprotocol = self.select_subprotocol(offered)
        if subprotocol is not None and subprotocol not in offered:
            # RFC 6455 §4.2.2 [R6455-4.2.2-9]: the value MUST be one the client offered
            # (select_subprotocol broke that: accept() answers 500)
            self._selected_not_offered = True
            raise NegotiationError(f"selected subprotocol not offered: {subprotocol}")
        return subprotocol

    def select_subprotocol(self, subprotocols: Sequence[Subprotocol]) -> Subprotocol | None:
        """Pick a subprotocol among the client's offers, in the client's order of preference.

        Returns None — no Sec-WebSocket-Protocol header, as RFC 6455 §4.2.2 prescribes
        when the server agrees to none — if no offer is in ``available_subprotocols``.
        Override with the ``select_subprotocol`` argument.
        """
        for subprotocol in subprotocols:
            if subprotocol in self.available_subprotocols:
                return subprotocol
        # RFC 6455 §4.2.2 [R6455-4.2.2-10]: agreeing to none means no
        # Sec-WebSocket-Protocol header in the response
        return None

    def reject(self, status: http.HTTPStatus | int, text: str) -> Response:
        """Build an HTTP error response with a plain-text body, refusing the upgrade."""
        status = http.HTTPStatus(status)
        body = text.encode()
        headers = Headers()
        headers["Date"] = http_date()
        headers["Connection"] = "close"
        headers["Content-Length"] = str(len(body))
        headers["Content-Type"] = "text/plain; charset=utf-8"
        return Response(status.value, status.phrase, headers, body)

    def send_response(self, response: Response) -> None:
        """Send the handshake response: OPEN after a 101; otherwise close the connection.

        A 101 must be the one :meth:`accept` built: its headers may be added to, but
        those of ``ACCEPTANCE_HEADERS`` (the negotiation) must be unchanged; anything else raises
        :exc:`ValueError` and nothing is sent.
        """
        if self._state is not State.CONNECTING:
            raise InvalidState(f"connection is {self._state.name}; a response needs CONNECTING")
        if response.status_code == 101:
            acceptance = self._acceptance
            # RFC 6455 §4.2.2 [R6455-4.2.2-13, R6455-4.2.2-16]: a server accepts only a
            # validated request, with a 101 indicating Upgrade, Connection and
            # Sec-WebSocket-Accept; RFC 6455 §4.2.2 [R6455-4.2.2-9, R6455-4.2.2-12]: and
            # the negotiated subprotocol and extensions, each in one header:
            # RFC 6455 §11.3.4 [R6455-11.3.4-2]. A hook that changed them would break
            # the handshake.
            if (
                acceptance is None
                or self.handshake_exc is not None
                or any(response.headers.get_all(n) != v for n, v in acceptance.items())
            ):
                raise ValueError(
                    "the response is not the 101 that accept() built for this request: "
                    f"its {', '.join(ACCEPTANCE_HEADERS)} headers must be unchanged"
                )
        if self.debug:
            self._observe_head(">", response)
        self.response = response
        self._writes.append(response.serialize())
        if response.status_code == 101 and self.handshake_exc is None:
            self._transition(Change.HANDSHAKE_ACCEPTED)
            if self._reading is Reading.FRAMES:
                if self._early_data_dropped:
                    # RFC 6455 §4.1 [R6455-4.1-37]: the client MUST wait for the response
                    # before sending; our choice: fail past max_early_data, with 1002
                    self._fail_with(
                        ProtocolError(
                            f"client sent more than {self.max_early_data} bytes before "
                            "the handshake response",
                            rule="RFC 6455 §4.1",
                        )
                    )
                # Frames may have arrived right behind the request.
                elif self._buffer:
                    self._process()
        else:
            if self.handshake_exc is None:
                self.handshake_exc = InvalidHandshake(
                    f"server rejected the connection: HTTP {response.status_code}"
                )
            # RFC 6455 §4.2.1 [R6455-4.2.1-1], §4.2.2 [R6455-4.2.2-6]: an error response
            # aborts the handshake; closing the connection after it is our choice:
            # RFC 6455 §7.2.2 [R6455-7.2.2-1]: to abort, the server simply closes the
            # connection; RFC 6455 §10.7 [R6455-10.7-2]: it may drop TCP on a handshake it
            # doesn't expect
            self.send_eof()
            self._stop_reading()


def __getattr__(name: str) -> object:
    if name == "ServerConnection":  # websockets' deprecated name
        warnings.warn(
            "ServerConnection was renamed to ServerProtocol", DeprecationWarning, stacklevel=2
        )
        return ServerProtocol
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
