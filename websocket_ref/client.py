"""The client side of the Sans-I/O protocol: sending a handshake request, checking the answer."""

from __future__ import annotations

from collections.abc import Sequence

from .datastructures import Headers, HeadersLike
from .exceptions import (
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidStatus,
    NegotiationError,
    SecurityError,
)
from .extensions.base import ClientExtensionFactory, Extension
from .handshake import accept_key, check_response_upgrade, generate_key, single_header
from .headers import (
    ExtensionHeader,
    Subprotocol,
    build_authorization_basic,
    build_extension,
    build_host,
    build_subprotocol,
    parse_extension,
    parse_subprotocol,
    validate_subprotocols,
)
from .http11 import BodyReader, Request, Response, parse_response_head
from .protocol import CLIENT, LoggerLike, Protocol, Reading, State
from .uri import WebSocketURI
from .version import version as websocket_ref_version

__all__ = ["ClientProtocol", "USER_AGENT"]

#: Default value of the User-Agent header of handshake requests.
USER_AGENT = f"Python/3 websocket_ref/{websocket_ref_version}"


class ClientProtocol(Protocol):
    """Sans-I/O client: builds the handshake request, checks the response, then frames.

    Typical use::

        protocol = ClientProtocol(parse_uri("ws://example.com/chat"))
        protocol.send_request(protocol.connect())
        # write protocol.data_to_send(), feed replies to protocol.receive_data(...)
    """

    def __init__(
        self,
        uri: WebSocketURI,
        *,
        origin: str | None = None,
        extensions: Sequence[ClientExtensionFactory] | None = None,
        subprotocols: Sequence[Subprotocol] | None = None,
        state: State = State.CONNECTING,
        max_size: int | None = 2**20,
        logger: LoggerLike | None = None,
    ) -> None:
        super().__init__(CLIENT, state=state, max_size=max_size, logger=logger)
        self.uri = uri
        self.origin = origin
        self.available_extensions = list(extensions or [])
        if subprotocols is not None:
            validate_subprotocols(subprotocols)
        self.available_subprotocols = list(subprotocols or [])
        self.key = generate_key()
        #: The handshake request, once sent.
        self.request: Request | None = None
        #: The handshake response, once received.
        self.response: Response | None = None
        #: The subprotocol selected by the server, if any.
        self.subprotocol: Subprotocol | None = None
        self._response_head: tuple[int, str, Headers] | None = None
        self._body: BodyReader | None = None

    def connect(
        self,
        *,
        additional_headers: HeadersLike | None = None,
        user_agent_header: str | None = USER_AGENT,
    ) -> Request:
        """Build the handshake request (RFC 6455 §4.1); send it with :meth:`send_request`."""
        uri = self.uri
        headers = Headers()
        # RFC 6455 §4.1: Host, with the port unless it's the scheme's default
        headers["Host"] = build_host(uri.host, uri.port, uri.secure)
        if uri.user_info:
            headers["Authorization"] = build_authorization_basic(*uri.user_info)
        if self.origin is not None:
            headers["Origin"] = self.origin
        # RFC 6455 §4.1: Upgrade: websocket, Connection: Upgrade, a fresh 16-byte key, version 13
        headers["Upgrade"] = "websocket"
        headers["Connection"] = "Upgrade"
        headers["Sec-WebSocket-Key"] = self.key
        headers["Sec-WebSocket-Version"] = "13"
        if self.available_extensions:
            headers["Sec-WebSocket-Extensions"] = build_extension(
                [(f.name, list(f.get_request_params())) for f in self.available_extensions]
            )
        if self.available_subprotocols:
            headers["Sec-WebSocket-Protocol"] = build_subprotocol(self.available_subprotocols)
        if additional_headers is not None:
            headers.update(additional_headers)
        if user_agent_header is not None and "User-Agent" not in headers:
            headers["User-Agent"] = user_agent_header
        return Request(uri.resource_name, headers)

    def send_request(self, request: Request) -> None:
        """Send the handshake request."""
        if self.debug:
            self.logger.debug("> GET %s HTTP/1.1", request.path)
            for key, value in request.headers.raw_items():
                self.logger.debug("> %s: %s", key, value)
        self.request = request
        self._writes.append(request.serialize())

    # Handshake

    def _receive_handshake(self) -> bool:
        try:
            head = parse_response_head(self._buffer, self._head_scanned)
        except (InvalidMessage, SecurityError) as exc:
            self._handshake_failed(exc)
            return True
        if head is None:
            self._head_scanned = len(self._buffer)
            return False
        status_code, reason, headers = head
        if self.debug:
            self.logger.debug("< HTTP/1.1 %d %s", status_code, reason)
            for key, value in headers.raw_items():
                self.logger.debug("< %s: %s", key, value)
        if 100 <= status_code < 200 and status_code != 101:
            # RFC 6455 §4.1 [R6455-4.1-38]: a status other than 101 is handled per HTTP:
            # RFC 7231 §6.2: a client MUST parse interim 1xx responses before the final
            # one, even unexpected ones, and a user agent MAY ignore them (we do)
            self._head_scanned = 0
            return True
        if status_code == 101:
            response = Response(status_code, reason, headers)
            self.response = response
            try:
                self._process_response(response)
            except InvalidHandshake as exc:
                self._events.append(response)
                self._handshake_failed(exc)
                return True
            self.state = State.OPEN
            self._reading = Reading.FRAMES
            self._events.append(response)
            return True
        # The server refused the upgrade; read the explanation it gave, if any.
        try:
            self._body = BodyReader(status_code, headers)
        except (InvalidMessage, SecurityError) as exc:
            self._handshake_failed(exc)
            return True
        self._response_head = (status_code, reason, headers)
        self._reading = Reading.RESPONSE_BODY
        return True

    def _receive_response_body(self) -> bool:
        assert self._body is not None
        try:
            done = self._body.feed(self._buffer)
        except (InvalidMessage, SecurityError) as exc:
            self._handshake_failed(exc)
            return True
        if not done:
            return False
        self._refused()
        return True

    def _refused(self) -> None:
        assert self._body is not None and self._response_head is not None
        status_code, reason, headers = self._response_head
        response = Response(status_code, reason, headers, bytes(self._body.body))
        self.response = response
        self._events.append(response)
        self._handshake_failed(InvalidStatus(response))

    def _receive_eof_while(self, reading: Reading) -> None:
        if reading is Reading.RESPONSE_BODY:
            assert self._body is not None
            try:
                self._body.feed_eof()
            except InvalidMessage as exc:
                self.handshake_exc = exc
            else:
                self._refused()
        elif reading is Reading.HANDSHAKE and self.handshake_exc is None:
            self.handshake_exc = InvalidMessage("connection closed during the opening handshake")
        super()._receive_eof_while(reading)

    def _handshake_failed(self, exc: Exception) -> None:
        if self.debug:
            self.logger.debug("! opening handshake failed: %s", exc)
        self.handshake_exc = exc
        # RFC 6455 §4.1: if the server's response isn't valid, the client fails the connection
        if not self.eof_sent:
            self.send_eof()
        self._stop_reading()

    def _process_response(self, response: Response) -> None:
        headers = response.headers
        check_response_upgrade(headers)
        # RFC 6455 §4.1 item 4: Sec-WebSocket-Accept is base64(SHA-1(key + GUID))
        accept = single_header(headers, "Sec-WebSocket-Accept")
        if accept != accept_key(self.key):
            raise InvalidHeaderValue("Sec-WebSocket-Accept", accept)
        self.extensions = self._negotiate_extensions(headers)
        self.subprotocol = self._negotiate_subprotocol(headers)

    def _negotiate_extensions(self, headers: Headers) -> list[Extension]:
        """Build the extensions the server accepted (RFC 6455 §9.1).

        RFC 6455 §4.1 item 5: an extension the client didn't offer fails the connection,
        and so does an answer the offering factory can't accept.
        """
        answers: list[ExtensionHeader] = []
        for value in headers.get_all("Sec-WebSocket-Extensions"):
            answers.extend(parse_extension(value))
        if answers and not self.available_extensions:
            raise InvalidHandshake("no extensions supported")
        extensions: list[Extension] = []
        used_bits = 0
        for name, params in answers:
            for factory in self.available_extensions:
                if factory.name != name:
                    continue
                try:
                    extension = factory.process_response_params(params, extensions)
                except NegotiationError:
                    continue
                break
            else:
                raise NegotiationError(f"Unsupported extension: name = {name}, params = {params}")
            if extension.reserved_bits & used_bits:
                # RFC 6455 §9: two extensions can't share a reserved bit
                raise NegotiationError(f"extension {name} reuses a reserved bit")
            used_bits |= extension.reserved_bits
            extensions.append(extension)
        self._frames.allowed_rsv = used_bits
        return extensions

    def _negotiate_subprotocol(self, headers: Headers) -> Subprotocol | None:
        values = headers.get_all("Sec-WebSocket-Protocol")
        if not values:
            return None
        subprotocols: list[Subprotocol] = []
        for value in values:
            subprotocols.extend(parse_subprotocol(value))
        if len(subprotocols) > 1:
            raise InvalidHeader("Sec-WebSocket-Protocol", "multiple values")
        subprotocol = subprotocols[0]
        if subprotocol not in self.available_subprotocols:
            # RFC 6455 §4.1 item 6: a subprotocol the client didn't offer fails the connection
            raise NegotiationError(f"unsupported subprotocol: {subprotocol}")
        return subprotocol
