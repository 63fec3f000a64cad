"""The client side of the Sans-I/O protocol: sending a handshake request, checking the answer."""

from __future__ import annotations

import math
import random
import urllib.parse
import warnings
from collections.abc import Generator, Sequence

from .datastructures import Headers, HeadersLike, check_header
from .exceptions import (
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidProxyMessage,
    InvalidProxyStatus,
    InvalidStatus,
    InvalidURI,
    NegotiationError,
    SecurityError,
)
from .extensions.base import ClientExtensionFactory, Extension, as_extension
from .frames import CloseCode
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
from .http11 import (
    MAX_BODY_SIZE,
    MAX_HEAD_SIZE,
    MAX_LINE_LENGTH,
    MAX_NUM_HEADERS,
    USER_AGENT,
    BodyReader,
    Request,
    Response,
    check_limits,
    parse_response_head,
)
from .protocol import (
    CLIENT,
    MAX_FRAGMENTS,
    MAX_PENDING_PONGS,
    LoggerLike,
    MaxSize,
    Protocol,
    Reading,
    State,
)
from .states import Change
from .trace import TraceHook
from .uri import WebSocketURI, parse_uri

__all__ = [
    "ClientProtocol",
    "USER_AGENT",  # defined in http11 (as in websockets); still importable from here
    "HANDSHAKE_HEADERS",
    "check_additional_headers",
    "dropped",
    "follow_redirect",
    "redirect_location",
    "without_credentials",
    "CREDENTIAL_HEADERS",
]


# Default delays between reconnection attempts, in seconds (see backoff()).
BACKOFF_INITIAL_DELAY = 5.0
BACKOFF_MIN_DELAY = 3.1
BACKOFF_MAX_DELAY = 90.0
BACKOFF_FACTOR = 1.618


def backoff(
    initial_delay: float = BACKOFF_INITIAL_DELAY,
    min_delay: float = BACKOFF_MIN_DELAY,
    max_delay: float = BACKOFF_MAX_DELAY,
    factor: float = BACKOFF_FACTOR,
) -> Generator[float, None, None]:
    """Delays between reconnection attempts, in seconds: random first, then growing.

    RFC 6455 §7.2.3: "The first reconnect attempt SHOULD be delayed by a random amount
    of time" -- here between 0 and ``initial_delay`` (the RFC's example: 0 to 5
    seconds; never more than ``max_delay``), so that clients dropped at once don't come
    back at once -- and "subsequent reconnect attempts SHOULD be delayed by increasingly
    longer amounts of time, using a method such as truncated binary exponential
    backoff": ``min_delay``, multiplied by ``factor`` after each attempt, truncated at
    ``max_delay``. The steps of that schedule that aren't longer than the random first
    delay are skipped, so that the second delay is never shorter than the first (with
    the defaults, a first delay of 4 s is followed by 5.0, 8.1, 13.1... instead of 3.1).
    Defaults: the module's ``BACKOFF_*`` values (as in websockets: 5, 3.1, 90 and
    1.618). Pass your own to ``connect()`` with
    ``reconnect_delays=functools.partial(backoff, initial_delay=1, max_delay=30)``.
    """
    initial, delay, maximum, growth = initial_delay, min_delay, max_delay, factor
    if not (initial >= 0 and 0 < delay <= maximum and growth >= 1):
        raise ValueError(
            "backoff needs initial_delay >= 0, 0 < min_delay <= max_delay, factor >= 1"
        )
    # RFC 6455 §7.2.3 [R6455-7.2.3-2, R6455-7.2.3-3]: the first reconnect attempt
    # SHOULD be delayed by a random amount (0-5 s is the RFC's example)
    first = min(random.random() * initial, maximum)
    yield first
    # RFC 6455 §7.2.3 [R6455-7.2.3-4]: subsequent attempts SHOULD be delayed by
    # increasingly longer amounts -- longer than the random first one too
    if growth > 1 and delay <= first:
        # Skip those steps in one go: stepping through them takes ~log(first/delay) /
        # log(factor) multiplications, which a factor barely above 1 makes endless.
        steps = math.floor(math.log(first / delay) / math.log(growth)) + 1
        delay = min(delay * growth**steps, maximum)
    delay = max(delay, first)  # factor 1 (constant delays, the caller's choice) included
    while delay < maximum:
        yield delay
        delay *= growth
    while True:
        yield maximum


def dropped(protocol: Protocol) -> bool:
    """Whether a connection ended without the application closing it normally.

    ``async for websocket in connect(...)`` (and the threading API's ``reconnect()``)
    wait a random delay before reconnecting after such a connection (RFC 6455 §7.2.3).
    True if the connection was lost (1006), if the server closed it, or if this side
    failed it (a protocol error, a keepalive timeout); False while it's still open (the
    loop closes it) and after the application closed it with 1000.
    """
    if protocol.state is State.OPEN:
        return False
    sent = protocol.close_sent
    closed_by_us = (
        sent is not None
        and sent.code == CloseCode.NORMAL_CLOSURE
        and protocol.close_rcvd_then_sent is not True
    )
    return not closed_by_us


def redirect_location(exc: InvalidStatus) -> str | None:
    """The target of a redirect response (RFC 9110 §15.4), or None if it isn't one."""
    response = exc.response
    if not 300 <= response.status_code < 400:
        return None
    locations = response.headers.get_all("Location")
    if len(locations) != 1:
        return None
    location = locations[0].strip()
    # An HTTP URL points at the same resource over WebSocket: http→ws, https→wss.
    scheme, sep, rest = location.partition("://")
    if sep and scheme.lower() in ("http", "https"):
        location = ("ws" if scheme.lower() == "http" else "wss") + "://" + rest
    return location


#: Request headers that carry credentials, dropped on a redirect to another origin.
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


def follow_redirect(
    uri: str,
    exc: Exception,
    *,
    socket_given: bool = False,
    unix: bool = False,
    address_given: bool = False,
) -> tuple[Exception | str, bool]:
    """Whether a failed handshake is a redirect to follow, for both clients.

    Returns the new URI, or the exception to raise (``exc`` itself if it isn't a
    redirect), and whether the new URI is another origin (then the caller drops
    ``CREDENTIAL_HEADERS`` from the headers it adds, so that credentials meant for
    one server don't reach another). Refused: any redirect when the caller gave a
    connected socket (the first attempt used it up), one from ``wss://`` to ``ws://``,
    and one to another origin over a Unix socket or with an explicit host or port.
    """
    if not isinstance(exc, InvalidStatus):
        return exc, False
    location = redirect_location(exc)
    if location is None:
        return exc, False
    old_wsuri = parse_uri(uri)
    new_uri = urllib.parse.urljoin(uri, location)
    try:
        new_wsuri = parse_uri(new_uri)
    except InvalidURI as invalid:
        return invalid, False
    if socket_given:
        return ValueError(f"cannot follow redirect to {new_uri} with a preexisting socket"), False
    # RFC 6455 §10.6 [R6455-10.6-2]: a redirect never drops TLS
    if old_wsuri.secure and not new_wsuri.secure:
        return SecurityError(f"cannot follow redirect to non-secure URI {new_uri}"), False
    cross_origin = (new_wsuri.secure, new_wsuri.host, new_wsuri.port) != (
        old_wsuri.secure,
        old_wsuri.host,
        old_wsuri.port,
    )
    if cross_origin and unix:
        return ValueError(
            f"cannot follow cross-origin redirect to {new_uri} with a Unix socket"
        ), False
    if cross_origin and address_given:
        return ValueError(
            f"cannot follow cross-origin redirect to {new_uri} with an explicit host or port"
        ), False
    return new_uri, cross_origin


def without_credentials(headers: HeadersLike) -> Headers:
    """``headers`` without ``CREDENTIAL_HEADERS``."""
    return Headers(
        (name, value)
        for name, value in Headers(headers).raw_items()
        if name.lower() not in CREDENTIAL_HEADERS
    )


def process_exception(exc: Exception) -> Exception | None:
    """Tell whether a failed connection attempt should be retried (``None``) or raised.

    Transient: network errors and timeouts (:exc:`OSError`, which includes
    :exc:`TimeoutError`), the server closing the connection during the handshake
    (:exc:`EOFError`, or :exc:`InvalidMessage` caused by one; the same from a proxy),
    and HTTP 500, 502, 503 and 504 from the server or the proxy. Anything else is a
    bug or a refusal that retrying won't fix, so it is returned, to be raised.
    """
    if isinstance(exc, (EOFError, OSError)):
        return None
    if isinstance(exc, (InvalidMessage, InvalidProxyMessage)) and isinstance(
        exc.__cause__, EOFError
    ):
        return None
    if isinstance(exc, (InvalidStatus, InvalidProxyStatus)) and exc.response.status_code in (
        500,
        502,
        503,
        504,
    ):
        return None
    return exc


#: Headers of the handshake request that only the client protocol writes: the
#: negotiation itself. Subprotocols and extensions have arguments of their own.
HANDSHAKE_HEADERS = (
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Extensions",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Accept",
)


def check_additional_headers(additional_headers: HeadersLike) -> Headers:
    """``additional_headers`` as :class:`Headers`, checked before anything is sent.

    Raises :exc:`ValueError` for a header line that can't be written (a name that isn't
    a token, a value with CR, LF, NUL or another control character: they would forge
    header lines) and for a header of :data:`HANDSHAKE_HEADERS`: the client sends those
    itself, and a second ``Sec-WebSocket-Key`` or ``Sec-WebSocket-Version`` would make
    the request invalid. Refusing is this library's choice; replacing them would break
    the handshake's checks of the response (the key is the client's own nonce).
    """
    headers = Headers(additional_headers)
    for name in HANDSHAKE_HEADERS:
        if name in headers:
            # RFC 6455 §11.3.1 [R6455-11.3.1-1], §11.3.5 [R6455-11.3.5-2]:
            # Sec-WebSocket-Key and Sec-WebSocket-Version MUST NOT appear more than once
            # in a request; the other headers of the negotiation are the client's too
            hint = ""
            if name == "Sec-WebSocket-Protocol":
                hint = "; use subprotocols="
            elif name == "Sec-WebSocket-Extensions":
                hint = "; use extensions= or compression="
            raise ValueError(f"additional_headers can't set {name}: the handshake does{hint}")
    return headers


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
        max_size: MaxSize = 2**20,
        max_fragments: int | None = MAX_FRAGMENTS,
        max_pending_pongs: int = MAX_PENDING_PONGS,
        max_line_length: int = MAX_LINE_LENGTH,
        max_num_headers: int = MAX_NUM_HEADERS,
        max_head_size: int = MAX_HEAD_SIZE,
        max_body_size: int = MAX_BODY_SIZE,
        logger: LoggerLike | None = None,
        trace: TraceHook | None = None,
    ) -> None:
        check_limits(
            max_line_length=max_line_length,
            max_num_headers=max_num_headers,
            max_head_size=max_head_size,
            max_body_size=max_body_size,
        )
        #: Longest status line or header line accepted in the response, in bytes.
        self.max_line_length = max_line_length
        #: Most header lines accepted in the response.
        self.max_num_headers = max_num_headers
        #: Largest response head (status line and headers) accepted, in bytes.
        self.max_head_size = max_head_size
        #: Largest body read from a response that refuses the upgrade, in bytes.
        self.max_body_size = max_body_size
        super().__init__(
            CLIENT,
            state=state,
            max_size=max_size,
            max_fragments=max_fragments,
            max_pending_pongs=max_pending_pongs,
            logger=logger,
            trace=trace,
        )
        self.uri = uri
        if origin is not None:
            check_header("Origin", origin)  # no CR/LF: checked before anything is sent
        self.origin = origin
        self.available_extensions = list(extensions or [])
        if subprotocols is not None:
            validate_subprotocols(subprotocols)
        self.available_subprotocols = list(subprotocols or [])
        # RFC 6455 §4.1 [R6455-4.1-27]: the nonce is selected randomly for each
        # connection: each ClientProtocol is one connection attempt
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
        """Build the handshake request (RFC 6455 §4.1); send it with :meth:`send_request`.

        ``additional_headers`` go after the handshake's own; a ``Host``, ``Origin``,
        ``Authorization`` or ``User-Agent`` among them replaces the one the client would
        send. Those the handshake is made of can't be given there (see
        :func:`check_additional_headers`).
        """
        uri = self.uri
        extra = (
            Headers()
            if additional_headers is None
            else check_additional_headers(additional_headers)
        )
        headers = Headers()
        if "Host" not in extra:
            # RFC 6455 §4.1 [R6455-4.1-22]: Host is /host/, plus ":" /port/ unless it's
            # the scheme's default
            headers["Host"] = build_host(uri.host, uri.port, uri.secure)
        if uri.user_info and "Authorization" not in extra:
            # RFC 6455 §4.1 [R6455-4.1-36]: other headers, e.g. Authorization, may be sent
            headers["Authorization"] = build_authorization_basic(*uri.user_info)
        if self.origin is not None and "Origin" not in extra:
            # RFC 6455 §4.1 [R6455-4.1-29]: a non-browser client MAY send Origin (only
            # when the application gives one)
            headers["Origin"] = self.origin
        # RFC 6455 §4.1 [R6455-4.1-23]: an Upgrade header that includes "websocket"
        headers._add("Upgrade", "websocket")  # constants: no check
        # RFC 6455 §4.1 [R6455-4.1-24]: a Connection header that includes "Upgrade"
        headers._add("Connection", "Upgrade")
        # RFC 6455 §4.1 [R6455-4.1-25, R6455-4.1-26]: Sec-WebSocket-Key, a random 16-byte
        # nonce, base64-encoded; RFC 6455 §11.3.1 [R6455-11.3.1-1]: sent once
        headers["Sec-WebSocket-Key"] = self.key
        # RFC 6455 §4.1 [R6455-4.1-30, R6455-4.1-31]: Sec-WebSocket-Version: 13;
        # RFC 6455 §11.3.5 [R6455-11.3.5-2]: sent once
        headers._add("Sec-WebSocket-Version", "13")
        if self.available_extensions:
            # RFC 6455 §4.1 [R6455-4.1-35], §9 [R6455-9-1]: the client MAY request
            # extensions, in order of preference (§9.1), in one header although
            # RFC 6455 §11.3.2 [R6455-11.3.2-1] would allow several
            # RFC 6455 §5.8 [R6455-5.8-1]: extensions are negotiated in the opening
            # handshake; RFC 7692 §5 [R7692-5-1]: several offers may name the same
            # extension (e.g. permessage-deflate with different parameters)
            headers["Sec-WebSocket-Extensions"] = build_extension(
                [(f.name, list(f.get_request_params())) for f in self.available_extensions]
            )
        if self.available_subprotocols:
            # RFC 6455 §4.1 [R6455-4.1-32]: the request MAY include Sec-WebSocket-Protocol
            # (one header; RFC 6455 §11.3.4 [R6455-11.3.4-1] would allow several)
            headers["Sec-WebSocket-Protocol"] = build_subprotocol(self.available_subprotocols)
        headers.update(extra)
        if user_agent_header is not None and "User-Agent" not in headers:
            headers["User-Agent"] = user_agent_header
        # RFC 6455 §4.1 [R6455-4.1-21]: the Request-URI is the /resource name/ (§3)
        return Request(uri.resource_name, headers)

    def send_request(self, request: Request) -> None:
        """Send the handshake request."""
        if self.debug:
            self._observe_head(">", request)
        self.request = request
        # RFC 6455 §4.1 [R6455-4.1-18, R6455-4.1-19, R6455-4.1-20]: once connected, send
        # the opening handshake: a valid HTTP/1.1 GET request
        self._writes.append(request.serialize())

    # Handshake

    def _receive_handshake(self) -> bool:
        try:
            head = parse_response_head(
                self._buffer,
                self._head_scanned,
                max_line_length=self.max_line_length,
                max_num_headers=self.max_num_headers,
                max_head_size=self.max_head_size,
            )
        except (InvalidMessage, SecurityError) as exc:
            self._handshake_failed(exc)
            return True
        if head is None:
            self._head_scanned = len(self._buffer)
            return False
        status_code, reason, headers = head
        if self.debug:
            self._observe_head("<", Response(status_code, reason, headers))
        if 100 <= status_code < 200 and status_code != 101:
            # RFC 6455 §4.1 [R6455-4.1-38]: a status other than 101 is handled per HTTP:
            # RFC 7231 §6.2: a client MUST parse interim 1xx responses before the final
            # one, even unexpected ones, and a user agent MAY ignore them (we do)
            self._head_scanned = 0
            return True
        if status_code == 101:
            # RFC 6455 §4.1 [R6455-4.1-2]: read the server's handshake in response
            response = Response(status_code, reason, headers)
            self.response = response
            try:
                self._process_response(response)
            except InvalidHandshake as exc:
                self._events.append(response)
                self._handshake_failed(exc)
                return True
            self._transition(Change.HANDSHAKE_ACCEPTED)
            self._events.append(response)
            return True
        # RFC 6455 §4.1 [R6455-4.1-38]: a status other than 101 is handled per HTTP: the
        # server refused the upgrade; read the explanation it gave, if any, by its framing
        try:
            self._body = BodyReader(status_code, headers, self.max_body_size, self.max_line_length)
        except (InvalidMessage, SecurityError) as exc:
            self._handshake_failed(exc)
            return True
        self._response_head = (status_code, reason, headers)
        self._transition(Change.REFUSAL_RECEIVED)
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
            # websockets' words, and its cause: an EOFError tells reconnection loops that
            # the failure may be transient (see process_exception()).
            error = InvalidMessage("did not receive a valid HTTP response")
            part = "headers" if b"\r\n" in self._buffer else "status line"
            error.__cause__ = EOFError(f"connection closed while reading HTTP {part}")
            self.handshake_exc = error
        super()._receive_eof_while(reading)

    def _handshake_failed(self, exc: Exception) -> None:
        if self.debug:
            self._observe("!", "opening handshake failed: %s", exc)
        # The server's bytes are at fault, not our code: no traceback, which would keep
        # the frames of the read that brought them alive, and that read's bytes with them.
        self.handshake_exc = exc.with_traceback(None)
        # RFC 6455 §4.1 [R6455-4.1-44]: if the server's response doesn't conform, the
        # client MUST _Fail the WebSocket Connection_: before OPEN, that's closing TCP;
        # RFC 6455 §7.2.1 [R6455-7.2.1-1]: as §7.1.7 defines it (no Close frame: the
        # connection was never established)
        if not self.eof_sent:
            self.send_eof()
        self._stop_reading()

    def _process_response(self, response: Response) -> None:
        headers = response.headers
        check_response_upgrade(headers)
        # RFC 6455 §11.3.3 [R6455-11.3.3-1]: Sec-WebSocket-Accept appears once at most
        accept = single_header(headers, "Sec-WebSocket-Accept")
        # RFC 6455 §4.1 [R6455-4.1-41]: fail unless Sec-WebSocket-Accept is the base64
        # SHA-1 of the key and the GUID (surrounding whitespace was stripped by parsing)
        if accept != accept_key(self.key):
            raise InvalidHeaderValue("Sec-WebSocket-Accept", accept)
        self.extensions = self._negotiate_extensions(headers)
        self.subprotocol = self._negotiate_subprotocol(headers)

    def _negotiate_extensions(self, headers: Headers) -> list[Extension]:
        """Build the extensions the server accepted (RFC 6455 §9.1).

        An extension the client didn't offer fails the connection, and so does an answer
        the offering factory can't accept.
        """
        answers: list[ExtensionHeader] = []
        # RFC 6455 §11.3.2 [R6455-11.3.2-2]: a response MUST NOT have the header more than
        # once, but §4.2.2 allows the list split over several: our choice is to read all
        # as one list (see docs/rfc-choices.md); RFC 6455 §9.1 [R6455-9.1-3]
        for value in headers.get_all("Sec-WebSocket-Extensions"):
            # RFC 6455 §9.1 [R6455-9.1-1]: a value that doesn't fit the ABNF fails the
            # connection (parse_extension raises InvalidHeaderFormat)
            answers.extend(parse_extension(value))
        if answers and not self.available_extensions:
            # RFC 6455 §4.1 [R6455-4.1-42]: an extension not requested by the client
            # fails the connection
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
                # RFC 6455 §4.1 [R6455-4.1-42]: an extension not in the client's handshake
                # (or with parameters its factory refuses: RFC 6455 §9 [R6455-9-4]) fails
                # the connection; RFC 7692 §5 [R7692-5-5]: e.g. accepting a PMCE the client
                # didn't offer
                raise NegotiationError(f"Unsupported extension: name = {name}, params = {params}")
            reserved_bits = as_extension(extension).reserved_bits
            if reserved_bits & used_bits:
                # RFC 6455 §5.2 [R6455-5.2-1]: a reserved bit means what the extension that
                # defines it says; two extensions claiming one bit would make it ambiguous,
                # so our choice is to refuse the second; RFC 7692 §5 [R7692-5-4]: a response
                # accepting a PMCE with another extension using RSV1 fails the connection
                raise NegotiationError(f"extension {name} reuses a reserved bit")
            used_bits |= reserved_bits
            extensions.append(extension)
        # RFC 6455 §9.1 [R6455-9.1-6]: the client uses only the extensions the server
        # accepted, in the order of the response
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
            # RFC 6455 §11.3.4 [R6455-11.3.4-2]: the header appears once in a response,
            # and (ABNF of §4.3) with a single token
            raise InvalidHeader("Sec-WebSocket-Protocol", "multiple values")
        subprotocol = subprotocols[0]
        if subprotocol not in self.available_subprotocols:
            # RFC 6455 §4.1 [R6455-4.1-43]: a subprotocol not requested by the client fails
            # the connection
            raise NegotiationError(f"unsupported subprotocol: {subprotocol}")
        return subprotocol


def __getattr__(name: str) -> object:
    if name == "ClientConnection":  # websockets' deprecated name
        warnings.warn(
            "ClientConnection was renamed to ClientProtocol", DeprecationWarning, stacklevel=2
        )
        return ClientProtocol
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
