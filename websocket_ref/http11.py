"""The HTTP/1.1 messages of the opening handshake (RFC 6455 §4, RFC 7230).

Only what a WebSocket endpoint needs: a GET request with headers and no body, and a
response with a status, headers and, for a refusal, a body. Parsing is incremental
(fed from a ``bytearray`` as bytes arrive) and bounded: each limit below turns into a
:class:`~websocket_ref.exceptions.SecurityError` before memory can grow past it, and
each malformed input into a precise :class:`~websocket_ref.exceptions.InvalidMessage`.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from typing import NoReturn

from .datastructures import Headers
from .exceptions import (
    HeaderLineTooLong,
    HeadTooLarge,
    InvalidMessage,
    InvalidMethod,
    InvalidProtocol,
    RequestLineTooLong,
    SecurityError,
    StatusLineTooLong,
    TooManyHeaders,
)
from .version import version as websocket_ref_version

__all__ = [
    "Request",
    "Response",
    "MAX_LINE_LENGTH",
    "MAX_NUM_HEADERS",
    "MAX_HEAD_SIZE",
    "MAX_BODY_SIZE",
    "check_limits",
    "parse_request",
    "parse_response_head",
    "BodyReader",
    "USER_AGENT",
]

#: Default value of the User-Agent header of handshake requests (and of the requests to
#: a proxy), as in websockets' ``http11.USER_AGENT``.
USER_AGENT = f"Python/3 websocket_ref/{websocket_ref_version}"


def check_limits(**limits: int) -> None:
    """Raise :exc:`ValueError` unless each limit is an int, at least 1 (0 for
    ``max_early_data``, which may forbid early data outright)."""
    for name, value in limits.items():
        minimum = 0 if name == "max_early_data" else 1
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


#: Longest request line, status line or header line accepted, in bytes.
MAX_LINE_LENGTH = 8192
#: Most header lines accepted in one message.
MAX_NUM_HEADERS = 128
#: Largest head accepted (start line, header lines and the empty line that ends them), in
#: bytes. The two limits above alone let a head reach about 1 MiB, which a slow client could
#: make a server hold per connection until ``open_timeout``; real heads are far smaller:
#: Node.js refuses more than 16 KiB, nginx (by default) header lines over 8 KiB and heads
#: over 32 KiB, so browsers and proxies stay below those. 64 KiB leaves room above them.
MAX_HEAD_SIZE = 65536
#: Largest body of a non-101 response read by a client, in bytes.
MAX_BODY_SIZE = 1_048_576


# RFC 7230 §3.2: field-name = token
_TOKEN_RE = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
# RFC 7230 §3.2: field-value = *( field-content / obs-fold ), VCHAR / obs-text / SP / HTAB
_VALUE_RE = re.compile(rb"[\x09\x20-\x7e\x80-\xff]*")
# RFC 7230 §3.1.2: status-line = HTTP-version SP status-code SP reason-phrase; §2.6: a
# higher minor version of HTTP/1 is processed as HTTP/1.1
_STATUS_RE = re.compile(rb"HTTP/1\.([0-9]) ([1-5][0-9][0-9])(?: ([\x09\x20-\x7e\x80-\xff]*))?")
# RFC 7230 §2.6: HTTP-version = HTTP-name "/" DIGIT "." DIGIT
_VERSION_RE = re.compile(rb"HTTP/([0-9])\.([0-9])")
# RFC 7230 §5.3, RFC 3986 §3: a request-target is visible ASCII; "#" starts a fragment,
# which is never sent
_TARGET_RE = re.compile(rb"[\x21\x22\x24-\x7e]+")
# RFC 3986 §3: "http" / "https" "://" authority path-abempty [ "?" query ]; the scheme is
# case-insensitive and the authority not empty
_ABSOLUTE_TARGET_RE = re.compile(rb"(?i:https?)://[^/?]+(/[^?]*)?(?:\?(.*))?")
# What the library writes (as str): a request-target without whitespace or controls,
# a reason phrase without controls (RFC 7230 §3.1.1, §3.1.2).
_SERIALIZED_TARGET_RE = re.compile(r"[^\x00-\x20\x7f]+")
_SERIALIZED_REASON_RE = re.compile(r"[^\x00-\x08\x0a-\x1f\x7f]*")
_CHUNK_SIZE_RE = re.compile(rb"([0-9a-fA-F]+)[\t ]*(?:;[^\r\n]*)?")


@dataclasses.dataclass
class Request:
    """A WebSocket handshake request: ``GET path HTTP/1.1`` and its headers."""

    path: str
    headers: Headers

    def serialize(self) -> bytes:
        """The request's bytes; :exc:`ValueError` if the path can't be one token."""
        if not self.path or _SERIALIZED_TARGET_RE.fullmatch(self.path) is None:
            # RFC 7230 §3.1.1: the request-target has no whitespace or control character
            raise ValueError(f"invalid request target: {self.path!r}")
        return f"GET {self.path} HTTP/1.1\r\n".encode() + self.headers.serialize()


@dataclasses.dataclass
class Response:
    """An HTTP response: 101 to accept the upgrade, anything else to refuse it."""

    status_code: int
    reason_phrase: str
    headers: Headers
    body: bytes = b""

    def serialize(self) -> bytes:
        """The response's bytes; :exc:`ValueError` for a status line that can't be one."""
        if not 100 <= self.status_code <= 999:
            raise ValueError(f"invalid status code: {self.status_code!r}")
        if _SERIALIZED_REASON_RE.fullmatch(self.reason_phrase) is None:
            # RFC 7230 §3.1.2: the reason-phrase has no control character (CR, LF...)
            raise ValueError(f"invalid reason phrase: {self.reason_phrase!r}")
        head = f"HTTP/1.1 {self.status_code} {self.reason_phrase}\r\n".encode()
        return head + self.headers.serialize() + self.body


def _max_head_size(max_line_length: int, max_num_headers: int) -> int:
    """Upper bound of a complete head: start line, headers and CRLFs."""
    return (max_num_headers + 1) * (max_line_length + 2) + 2


def _find_head_end(
    buf: bytearray,
    start: int,
    start_line_too_long: type[SecurityError],
    *,
    max_line_length: int,
    max_num_headers: int,
    max_head_size: int,
) -> int:
    """Index of the CRLFCRLF ending the head, or -1; enforce limits on a partial head.

    The search resumes near ``start``, where a previous call stopped: rescanning the
    whole buffer on every read would make a head that trickles in cost quadratic time.
    """
    lines_limit = _max_head_size(max_line_length, max_num_headers)
    limit = min(lines_limit, max_head_size)
    end = buf.find(b"\r\n\r\n", max(0, start - 3), limit)
    if end >= 0:
        return end
    if len(buf) >= limit:
        if max_head_size < lines_limit:
            raise HeadTooLarge(f"HTTP head larger than {max_head_size} bytes")
        # More than max_num_headers lines of at most max_line_length bytes.
        raise TooManyHeaders("too many HTTP headers")
    line_start = buf.rfind(b"\n") + 1
    if len(buf) - line_start > max_line_length:
        if line_start == 0:
            raise start_line_too_long("HTTP start line too long")
        raise HeaderLineTooLong("HTTP header line too long")
    return -1


def _parse_head(
    buf: bytearray,
    start: int,
    start_line_too_long: type[SecurityError],
    *,
    unfold: bool,
    max_line_length: int,
    max_num_headers: int,
    max_head_size: int,
) -> tuple[bytes, Headers] | None:
    """Consume a complete head from ``buf``; return the start line and headers.

    ``start_line_too_long`` is the exception for an overlong request or status line.
    ``unfold`` replaces obs-fold with a space (for responses); without it, obs-fold is
    an error (for requests).
    """
    end = _find_head_end(
        buf,
        start,
        start_line_too_long,
        max_line_length=max_line_length,
        max_num_headers=max_num_headers,
        max_head_size=max_head_size,
    )
    if end < 0:
        return None
    lines = bytes(buf[:end]).split(b"\r\n")
    del buf[: end + 4]
    if len(lines) - 1 > max_num_headers:
        raise TooManyHeaders("too many HTTP headers")
    if len(lines[0]) > max_line_length:
        raise start_line_too_long("HTTP start line too long")
    for line in lines[1:]:
        if len(line) > max_line_length:
            raise HeaderLineTooLong("HTTP header line too long")
    fields: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):
            if not fields:
                # RFC 7230 §3: whitespace between the start line and the first header
                # must be rejected or consumed (we reject)
                raise InvalidMessage(f"invalid HTTP header line: {line!r}")
            if not unfold:
                # RFC 7230 §3.2.4: a server MUST either reject obs-fold in a request
                # with 400 or replace it with spaces (we reject)
                raise InvalidMessage("line folding (obs-fold) isn't allowed")
            # RFC 7230 §3.2.4: a user agent MUST replace each obs-fold in a response with
            # one or more SP before interpreting the value
            name, value = fields[-1]
            fields[-1] = (name, value.rstrip(b" \t") + b" " + line.lstrip(b" \t"))
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise InvalidMessage(f"invalid HTTP header line: {line!r}")
        if _TOKEN_RE.fullmatch(name) is None:
            # RFC 7230 §3.2.4: no whitespace between field-name and colon
            raise InvalidMessage(f"invalid HTTP header name: {name!r}")
        fields.append((name, value))
    headers = Headers()
    for name, raw_value in fields:
        value = raw_value.strip(b" \t")
        if _VALUE_RE.fullmatch(value) is None:
            raise InvalidMessage(f"invalid HTTP header value: {value!r}")
        # name matched _TOKEN_RE and value _VALUE_RE: check_header() can't fail on them
        headers._add(name.decode("ascii"), value.decode("latin-1"))
    return lines[0], headers


def parse_request(
    buf: bytearray,
    start: int = 0,
    *,
    max_line_length: int = MAX_LINE_LENGTH,
    max_num_headers: int = MAX_NUM_HEADERS,
    max_head_size: int = MAX_HEAD_SIZE,
) -> Request | None:
    """Consume a handshake request from ``buf`` if complete (RFC 6455 §4.2.1).

    ``start`` is how many bytes of ``buf`` a previous call that returned None saw;
    they aren't scanned again. The request's ``path`` is the resource name, also when
    the request-target is in absolute form. A line longer than ``max_line_length``
    bytes, more than ``max_num_headers`` headers, or a head (request line, headers and
    the empty line after them) longer than ``max_head_size`` bytes, raise
    :exc:`SecurityError` subclasses as soon as the bytes that break the limit arrive.
    """
    head = _parse_head(
        buf,
        start,
        RequestLineTooLong,
        unfold=False,
        max_line_length=max_line_length,
        max_num_headers=max_num_headers,
        max_head_size=max_head_size,
    )
    if head is None:
        # Not an HTTP request at all (a client speaking another protocol): say so as
        # soon as its first line is in, rather than wait for a head that won't come.
        end = buf.find(b"\r\n", 0, max_line_length + 2)
        if end >= 0:
            _check_request_line(bytes(buf[:end]))
        return None
    request_line, headers = head
    method, target, version = _check_request_line(request_line)
    match = _VERSION_RE.fullmatch(version)
    assert match is not None  # _check_request_line()
    # RFC 6455 §4.2.1 [R6455-4.2.1-2]: "An HTTP/1.1 or higher GET request"; RFC 7230
    # §2.6: HTTP/1.x with x > 1 is read as HTTP/1.1, the highest minor version we know.
    # Below 1.1 or above 1.x: 505 is our choice of "appropriate error code".
    if match.group(1) != b"1" or match.group(2) == b"0":
        raise InvalidProtocol(version.decode("latin-1"))
    if method != b"GET":
        # RFC 6455 §4.2.1 [R6455-4.2.1-2]: the method is GET; 405 (with Allow: GET,
        # RFC 7231 §6.5.5) is our choice of error code
        raise InvalidMethod(method.decode("latin-1"))
    path = _resource_name(target)
    if path is None:
        # RFC 6455 §4.2.1 [R6455-4.2.1-3]: the Request-URI is a resource name (§3) or an
        # absolute http/https URI containing one; RFC 6455 §3 [R6455-3-2]: no fragment
        raise InvalidMessage(f"invalid request target: {target!r}")
    if "Transfer-Encoding" in headers or any(v != "0" for v in headers.get_all("Content-Length")):
        # RFC 6455 §4.2.1 [R6455-4.2.1-1, R6455-4.2.1-2]: a handshake that doesn't match
        # the description (a GET request and its headers; a GET's body has no meaning,
        # RFC 7231 §4.3.1) gets an error code. Our choice: 400, rather than read and drop
        # the body, whose bytes would otherwise be taken for frames (RFC 7230 §3.3.3:
        # Transfer-Encoding or Content-Length frame a request's body), as websockets does
        raise InvalidMessage("unexpected request body")
    return Request(path, headers)


def _resource_name(target: bytes) -> str | None:
    """The resource name of a request-target in origin or absolute form, None if invalid.

    RFC 7230 §5.3: origin-form is ``/path[?query]``; absolute-form (which RFC 7230
    §5.3.2 says a server MUST accept) is a full http or https URI, whose resource name
    is built as RFC 6455 §3 says: "/" if the path is empty, then the path, then "?" and
    the query if the query isn't empty.
    """
    if _TARGET_RE.fullmatch(target) is None:
        return None
    if target.startswith(b"/"):
        return target.decode("ascii")
    match = _ABSOLUTE_TARGET_RE.fullmatch(target)
    if match is None:
        return None
    path, query = match.group(1) or b"/", match.group(2)
    return (path + b"?" + query if query else path).decode("ascii")


def parse_response_head(
    buf: bytearray,
    start: int = 0,
    *,
    max_line_length: int = MAX_LINE_LENGTH,
    max_num_headers: int = MAX_NUM_HEADERS,
    max_head_size: int = MAX_HEAD_SIZE,
) -> tuple[int, str, Headers] | None:
    """Consume a response's status line and headers from ``buf`` if complete.

    ``start`` and the limits are as for :func:`parse_request`.
    """
    head = _parse_head(
        buf,
        start,
        StatusLineTooLong,
        unfold=True,
        max_line_length=max_line_length,
        max_num_headers=max_num_headers,
        max_head_size=max_head_size,
    )
    if head is None:
        # Not an HTTP response at all (a server speaking another protocol): say so as
        # soon as its first line is in, rather than wait for a head that won't come.
        end = buf.find(b"\r\n", 0, max_line_length + 2)
        if end >= 0 and not buf.startswith(b"HTTP/"):
            _invalid_status_line(bytes(buf[:end]))
        return None
    status_line, headers = head
    match = _STATUS_RE.fullmatch(status_line)
    if match is None:
        _invalid_status_line(status_line)
    status_code = int(match.group(2))
    if match.group(1) == b"0" and status_code < 200:
        # RFC 6455 §4.1 [R6455-4.1-44]: a response that doesn't conform to §4.2.2 fails
        # the connection; RFC 6455 §4.2.2 [R6455-4.2.2-13]: the 101 is "as per RFC 2616",
        # which sends HTTP/1.1 for any message not compatible with HTTP/1.0 (RFC 2616
        # §3.1): HTTP/1.0 has no 1xx status (RFC 7231 §6.2) and no Upgrade (RFC 7230 §6.7)
        raise InvalidProtocol(f"HTTP/1.0 with status {status_code}")
    reason = (match.group(3) or b"").decode("latin-1")
    return status_code, reason, headers


def _check_request_line(line: bytes) -> list[bytes]:
    """A request line's method, target and version; websockets' exception if it isn't
    one (RFC 7230 §3.1.1: method SP request-target SP HTTP-version)."""
    parts = line.split(b" ")
    if len(parts) != 3 or _VERSION_RE.fullmatch(parts[2]) is None:
        cause = ValueError(f"invalid HTTP request line: {line.decode('latin-1')}")
        raise InvalidMessage("did not receive a valid HTTP request") from cause
    return parts


def _invalid_status_line(line: bytes) -> NoReturn:
    """Raise websockets' exception for a status line that isn't HTTP/1.x's."""
    text = line.decode("latin-1")
    if len(line.split(b" ", 2)) == 3 and not line.startswith(b"HTTP/1."):
        cause = ValueError(f"unsupported protocol; expected HTTP/1.1: {text}")
    else:
        cause = ValueError(f"invalid HTTP status line: {text}")
    raise InvalidMessage("did not receive a valid HTTP response") from cause


class _BodyMode(enum.Enum):
    NONE = "none"
    LENGTH = "content-length"
    CHUNKED = "chunked"
    UNTIL_EOF = "until-eof"


class _ChunkState(enum.Enum):
    SIZE = "size"
    DATA = "data"
    DATA_END = "data-end"
    TRAILER = "trailer"


class BodyReader:
    """Read the body of a response incrementally, by its framing (RFC 7230 §3.3.3).

    The framing is chunked transfer coding, a Content-Length, or the rest of the
    connection; 1xx, 204 and 304 responses have none. ``max_size`` bounds memory.
    """

    def __init__(
        self,
        status_code: int,
        headers: Headers,
        max_size: int = MAX_BODY_SIZE,
        max_line_length: int = MAX_LINE_LENGTH,
    ):
        self.max_size = max_size
        self.max_line_length = max_line_length
        self.body = bytearray()
        self.done = False
        self._remaining = 0
        self._chunk_state = _ChunkState.SIZE
        transfer_encoding = headers.get_all("Transfer-Encoding")
        content_length = headers.get_all("Content-Length")
        if 100 <= status_code < 200 or status_code in (204, 304):
            self.mode = _BodyMode.NONE
        elif transfer_encoding:
            codings = [c.strip().lower() for v in transfer_encoding for c in v.split(",")]
            if codings != ["chunked"]:
                raise InvalidMessage(f"unsupported transfer coding: {', '.join(codings)}")
            self.mode = _BodyMode.CHUNKED
        elif content_length:
            values = {v.strip() for v in ",".join(content_length).split(",")}
            if len(values) != 1 or not next(iter(values)).isdigit():
                raise InvalidMessage(f"invalid Content-Length: {', '.join(content_length)}")
            self._remaining = int(next(iter(values)))
            if self._remaining > max_size:
                raise SecurityError(f"body too large: {self._remaining} bytes")
            self.mode = _BodyMode.LENGTH
        else:
            self.mode = _BodyMode.UNTIL_EOF
        if self.mode is _BodyMode.NONE or (self.mode is _BodyMode.LENGTH and not self._remaining):
            self.done = True

    def _take(self, buf: bytearray, size: int) -> None:
        if len(self.body) + size > self.max_size:
            raise SecurityError(f"body larger than {self.max_size} bytes")
        self.body += buf[:size]
        del buf[:size]

    def feed(self, buf: bytearray) -> bool:
        """Consume body bytes from ``buf``; return True once the body is complete."""
        if self.done:
            return True
        if self.mode is _BodyMode.LENGTH:
            size = min(len(buf), self._remaining)
            self._take(buf, size)
            self._remaining -= size
            self.done = self._remaining == 0
        elif self.mode is _BodyMode.UNTIL_EOF:
            self._take(buf, len(buf))
        else:
            self._feed_chunked(buf)
        return self.done

    def _feed_chunked(self, buf: bytearray) -> None:
        while not self.done:
            if self._chunk_state is _ChunkState.SIZE:
                line = self._line(buf)
                if line is None:
                    return
                match = _CHUNK_SIZE_RE.fullmatch(line)
                if match is None:
                    raise InvalidMessage(f"invalid chunk size line: {line!r}")
                self._remaining = int(match.group(1), 16)
                if len(self.body) + self._remaining > self.max_size:
                    raise SecurityError(f"body larger than {self.max_size} bytes")
                self._chunk_state = _ChunkState.DATA if self._remaining else _ChunkState.TRAILER
            elif self._chunk_state is _ChunkState.DATA:
                size = min(len(buf), self._remaining)
                self._take(buf, size)
                self._remaining -= size
                if self._remaining:
                    return
                self._chunk_state = _ChunkState.DATA_END
            elif self._chunk_state is _ChunkState.DATA_END:
                if len(buf) < 2:
                    return
                if buf[:2] != b"\r\n":
                    raise InvalidMessage("chunk data not followed by CRLF")
                del buf[:2]
                self._chunk_state = _ChunkState.SIZE
            else:  # trailer section, ignored, until an empty line
                line = self._line(buf)
                if line is None:
                    return
                if not line:
                    self.done = True

    def _line(self, buf: bytearray) -> bytes | None:
        end = buf.find(b"\r\n", 0, self.max_line_length + 2)
        if end < 0:
            if len(buf) > self.max_line_length:
                raise SecurityError("HTTP line too long")
            return None
        line = bytes(buf[:end])
        del buf[: end + 2]
        return line

    def feed_eof(self) -> None:
        """The connection closed: complete a body read until EOF, or fail a truncated one."""
        if self.done:
            return
        if self.mode is _BodyMode.UNTIL_EOF:
            self.done = True
            return
        raise InvalidMessage("connection closed before the end of the response body")
