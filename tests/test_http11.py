"""HTTP/1.1 messages of the opening handshake, parsed with hard limits (RFC 7230, RFC 6455 §4)."""

from __future__ import annotations

import http
from collections.abc import Callable

import pytest

from websocket_ref import (
    HeaderLineTooLong,
    Headers,
    HeadTooLarge,
    InvalidMessage,
    InvalidMethod,
    InvalidProtocol,
    Request,
    RequestLineTooLong,
    Response,
    SecurityError,
    ServerProtocol,
    StatusLineTooLong,
    TooManyHeaders,
    check_header,
)
from websocket_ref.http11 import (
    MAX_BODY_SIZE,
    MAX_HEAD_SIZE,
    MAX_LINE_LENGTH,
    MAX_NUM_HEADERS,
    BodyReader,
    parse_request,
    parse_response_head,
)

REQUEST = (
    b"GET /chat?room=1 HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)


# Requests


def test_parse_request() -> None:
    buf = bytearray(REQUEST + b"\x81\x80")
    request = parse_request(buf)
    assert request is not None
    assert request.path == "/chat?room=1"
    assert request.headers["host"] == "server.example.com"
    assert request.headers["Sec-WebSocket-Version"] == "13"
    assert next(request.headers.raw_items()) == ("Host", "server.example.com")
    # What follows the head (here, the start of a frame) stays in the buffer.
    assert buf == b"\x81\x80"


def test_parse_request_incrementally() -> None:
    buf = bytearray()
    for i, byte in enumerate(REQUEST):
        buf.append(byte)
        request = parse_request(buf)
        if i < len(REQUEST) - 1:
            assert request is None
            assert len(buf) == i + 1  # nothing consumed until the head is complete
    assert request is not None
    assert not buf


def test_request_roundtrip() -> None:
    request = parse_request(bytearray(REQUEST))
    assert request is not None
    assert request.serialize() == REQUEST
    assert parse_request(bytearray(request.serialize())) == request


def test_header_value_whitespace_is_stripped() -> None:
    request = parse_request(bytearray(b"GET / HTTP/1.1\r\nHost: \t a b \t\r\nX-Empty:\r\n\r\n"))
    assert request is not None
    assert request.headers["Host"] == "a b"
    assert request.headers["X-Empty"] == ""


def test_header_value_obs_text_is_latin1() -> None:
    request = parse_request(bytearray(b"GET / HTTP/1.1\r\nX-Name: caf\xe9\r\n\r\n"))
    assert request is not None
    assert request.headers["X-Name"] == "café"


@pytest.mark.parametrize("byte", range(256))
def test_parsed_headers_pass_check_header(byte: int) -> None:
    # The parser adds headers without check_header() (Headers._add): its grammar must be
    # at least as strict. Every byte, in a name and in a value: either the parser refuses
    # the head, or check_header() accepts the header it made.
    char = bytes([byte])
    for name, value in [(b"X-" + char + b"y", b"v"), (b"X-Name", b"a" + char + b"b")]:
        head = b"GET / HTTP/1.1\r\n" + name + b": " + value + b"\r\n\r\n"
        for parse in (parse_request, parse_response_head):
            data = head if parse is parse_request else b"HTTP/1.1 101 OK" + head[14:]
            try:
                parsed = parse(bytearray(data))
            except (InvalidMessage, SecurityError):
                continue
            assert parsed is not None
            headers = parsed.headers if isinstance(parsed, Request) else parsed[2]
            for key, val in headers.raw_items():
                check_header(key, val)


def request_error(data: bytes) -> InvalidMessage | SecurityError:
    with pytest.raises((InvalidMessage, SecurityError)) as raised:
        parse_request(bytearray(data))
    return raised.value


@pytest.mark.parametrize(
    ("line", "status"),
    [
        (b"GET / HTTPS/1.1", http.HTTPStatus.BAD_REQUEST),
        (b"GET /", http.HTTPStatus.BAD_REQUEST),
        (b"GET  / HTTP/1.1", http.HTTPStatus.BAD_REQUEST),
        (b"GET / HTTP/1.1 extra", http.HTTPStatus.BAD_REQUEST),
        (b"GET ws://example.com/ HTTP/1.1", http.HTTPStatus.BAD_REQUEST),
        (b"GET /a#b HTTP/1.1", http.HTTPStatus.BAD_REQUEST),
        (b"GET * HTTP/1.1", http.HTTPStatus.BAD_REQUEST),
        (b"GET /caf\xc3\xa9 HTTP/1.1", http.HTTPStatus.BAD_REQUEST),
        (b"", http.HTTPStatus.BAD_REQUEST),
    ],
)
def test_invalid_request_line(line: bytes, status: http.HTTPStatus) -> None:
    exc = request_error(line + b"\r\nHost: x\r\n\r\n")
    assert type(exc) is InvalidMessage
    # What a server answers it with.
    server = ServerProtocol()
    server.receive_data(line + b"\r\nHost: x\r\n\r\n")
    assert b"".join(server.data_to_send()).startswith(b"HTTP/1.1 %d " % status)


@pytest.mark.parametrize(
    ("line", "exc_type", "value"),
    [
        (b"POST / HTTP/1.1", InvalidMethod, "POST"),
        (b"get / HTTP/1.1", InvalidMethod, "get"),  # methods are case-sensitive
        (b"GET / HTTP/1.0", InvalidProtocol, "HTTP/1.0"),
        (b"GET / HTTP/2.0", InvalidProtocol, "HTTP/2.0"),
    ],
)
def test_invalid_method_or_version(line: bytes, exc_type: type[Exception], value: str) -> None:
    # The names websockets raises: a server answers 405 and 505 (see test_handshake_server).
    exc = request_error(line + b"\r\nHost: x\r\n\r\n")
    assert type(exc) is exc_type
    assert isinstance(exc, InvalidMessage)
    assert value in str(exc)


@pytest.mark.rfc("R6455-4.2.1-1")
@pytest.mark.parametrize(
    "header", [b"Content-Length: 5", b"Transfer-Encoding: chunked", b"Content-Length: 00"]
)
def test_request_with_body(header: bytes) -> None:
    exc = request_error(b"GET / HTTP/1.1\r\n" + header + b"\r\n\r\n")
    assert type(exc) is InvalidMessage
    server = ServerProtocol()
    server.receive_data(b"GET / HTTP/1.1\r\n" + header + b"\r\n\r\n")
    assert b"".join(server.data_to_send()).startswith(b"HTTP/1.1 400 ")


@pytest.mark.rfc("R6455-4.2.1-3")
def test_request_target_in_absolute_form() -> None:
    request = parse_request(bytearray(b"GET http://example.com/a?b HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert request is not None
    assert request.path == "/a?b"


def test_request_with_zero_content_length() -> None:
    assert parse_request(bytearray(b"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")) is not None


def test_request_with_repeated_content_length() -> None:
    # Found by tests/fuzz: a repeated header raised MultipleValuesError out of the parser.
    # Repeated zeros say "no body" (RFC 7230 §3.3.2 lets a recipient take identical
    # values as one); anything else is a body, refused like one.
    zeros = b"GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n"
    assert parse_request(bytearray(zeros)) is not None
    for values in [(b"", b""), (b"0", b"5")]:
        head = b"GET / HTTP/1.1\r\n" + b"".join(b"Content-Length: " + v + b"\r\n" for v in values)
        assert type(request_error(head + b"\r\n")) is InvalidMessage


@pytest.mark.parametrize(
    "line",
    [
        b" folded",  # RFC 7230 §3.2.4: obs-fold
        b"\tfolded",
        b"No colon here",
        b"Space : before colon",
        b": no name",
        b"Bad\x00Name: x",
        b"Name: bad\x00value",
        b"Name: bad\x7fvalue",
        b"Name: bare\rCR",
    ],
)
def test_invalid_header_line(line: bytes) -> None:
    exc = request_error(b"GET / HTTP/1.1\r\nHost: x\r\n" + line + b"\r\n\r\n")
    assert type(exc) is InvalidMessage


def test_obs_fold_message() -> None:
    exc = request_error(b"GET / HTTP/1.1\r\nX-A: a\r\n  b\r\n\r\n")
    assert "obs-fold" in str(exc)


def test_header_count_limit() -> None:
    headers = b"".join(b"X-%d: v\r\n" % i for i in range(MAX_NUM_HEADERS))
    assert parse_request(bytearray(b"GET / HTTP/1.1\r\n" + headers + b"\r\n")) is not None
    exc = request_error(b"GET / HTTP/1.1\r\n" + headers + b"X-Last: v\r\n\r\n")
    assert type(exc) is TooManyHeaders


def test_header_line_length_limit() -> None:
    prefix = b"X-Long: "
    ok = prefix + b"a" * (MAX_LINE_LENGTH - len(prefix))
    assert parse_request(bytearray(b"GET / HTTP/1.1\r\n" + ok + b"\r\n\r\n")) is not None
    exc = request_error(b"GET / HTTP/1.1\r\n" + ok + b"a\r\n\r\n")
    assert type(exc) is HeaderLineTooLong


def test_request_line_length_limit() -> None:
    path = b"/" + b"a" * (MAX_LINE_LENGTH - len(b"GET / HTTP/1.1"))
    line = b"GET " + path + b" HTTP/1.1"
    assert len(line) == MAX_LINE_LENGTH
    assert parse_request(bytearray(line + b"\r\n\r\n")) is not None
    exc = request_error(b"GET " + path + b"a HTTP/1.1\r\n\r\n")
    assert type(exc) is RequestLineTooLong


def test_long_line_detected_before_it_ends() -> None:
    # Memory stays bounded: a line without CRLF fails as soon as it's too long.
    buf = bytearray(b"GET / HTTP/1.1\r\nX: " + b"a" * MAX_LINE_LENGTH)
    with pytest.raises(HeaderLineTooLong):
        parse_request(buf)


def test_long_request_line_detected_before_it_ends() -> None:
    with pytest.raises(RequestLineTooLong):
        parse_request(bytearray(b"GET /" + b"a" * MAX_LINE_LENGTH))


def test_partial_line_within_limit_waits() -> None:
    buf = bytearray(b"GET / HTTP/1.1\r\nX: " + b"a" * (MAX_LINE_LENGTH - 10))
    assert parse_request(buf) is None


def test_head_size_limit() -> None:
    # Many short lines, never an empty one: bounded by the head size limit.
    buf = bytearray(b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 200_000)
    with pytest.raises(HeadTooLarge):
        parse_request(buf)


def test_head_size_limit_is_64_kib_by_default() -> None:
    # Within the line length and header count limits (a head of up to about 1 MiB), but
    # larger than MAX_HEAD_SIZE: a slow client can't make a server hold that much.
    assert MAX_HEAD_SIZE == 65536
    lines = b"".join(b"X-%03d: %s\r\n" % (i, b"a" * 4000) for i in range(100))
    assert len(lines) > MAX_HEAD_SIZE
    with pytest.raises(HeadTooLarge, match="65536"):
        parse_request(bytearray(b"GET / HTTP/1.1\r\n" + lines))  # no end yet
    with pytest.raises(HeadTooLarge):
        parse_response_head(bytearray(b"HTTP/1.1 101 Switching Protocols\r\n" + lines))
    assert parse_request(bytearray(b"GET / HTTP/1.1\r\n" + lines + b"\r\n"), max_head_size=2**20)


@pytest.mark.parametrize("parse", [parse_request, parse_response_head])
def test_head_size_limit_counts_the_whole_head(parse: Callable[..., object]) -> None:
    start = b"GET / HTTP/1.1\r\n" if parse is parse_request else b"HTTP/1.1 403 No\r\n"
    head = start + b"X-A: b\r\n\r\n"
    assert parse(bytearray(head), max_head_size=len(head)) is not None
    with pytest.raises(HeadTooLarge):
        parse(bytearray(head), max_head_size=len(head) - 1)
    # Fed byte by byte, it fails as soon as max_head_size bytes are in without an end.
    buf = bytearray()
    scanned = 0
    for index, byte in enumerate(head):
        buf.append(byte)
        if index + 1 < len(head) - 1:
            assert parse(buf, scanned, max_head_size=len(head) - 1) is None
            scanned = len(buf)
        else:
            with pytest.raises(HeadTooLarge):
                parse(buf, scanned, max_head_size=len(head) - 1)
            break


# Responses


def test_parse_response_head() -> None:
    buf = bytearray(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nrest")
    assert parse_response_head(buf) == (
        101,
        "Switching Protocols",
        Headers([("Upgrade", "websocket")]),
    )
    assert buf == b"rest"


@pytest.mark.parametrize(
    ("line", "status", "reason"),
    [
        (b"HTTP/1.1 101", 101, ""),
        (b"HTTP/1.1 404 ", 404, ""),
        (b"HTTP/1.0 403 Forbidden", 403, "Forbidden"),
        (b"HTTP/1.1 500 Internal Server Error", 500, "Internal Server Error"),
    ],
)
def test_status_lines(line: bytes, status: int, reason: str) -> None:
    head = parse_response_head(bytearray(line + b"\r\n\r\n"))
    assert head is not None
    assert head[:2] == (status, reason)


@pytest.mark.parametrize(
    "line",
    [
        b"HTTP/1.1 1011 Switching",
        b"HTTP/1.1 10 Switching",
        b"HTTP/1.1 600 Nope",
        b"HTTP/2.0 101 Switching",
        b"ICY 200 OK",
        b"HTTP/1.1  101",
        b"garbage",
    ],
)
def test_invalid_status_line(line: bytes) -> None:
    with pytest.raises(InvalidMessage) as raised:
        parse_response_head(bytearray(line + b"\r\n\r\n"))
    assert type(raised.value) is InvalidMessage


def test_response_header_limits() -> None:
    with pytest.raises(HeaderLineTooLong):
        parse_response_head(
            bytearray(b"HTTP/1.1 200 OK\r\nX: " + b"a" * MAX_LINE_LENGTH + b"\r\n\r\n")
        )
    headers = b"".join(b"X-%d: v\r\n" % i for i in range(MAX_NUM_HEADERS + 1))
    with pytest.raises(TooManyHeaders):
        parse_response_head(bytearray(b"HTTP/1.1 200 OK\r\n" + headers + b"\r\n"))
    # The status line, whole or still arriving.
    with pytest.raises(StatusLineTooLong):
        parse_response_head(bytearray(b"HTTP/1.1 200 " + b"O" * MAX_LINE_LENGTH + b"\r\n\r\n"))
    with pytest.raises(StatusLineTooLong):
        parse_response_head(bytearray(b"HTTP/1.1 200 " + b"O" * MAX_LINE_LENGTH))
    # Every one of them is a SecurityError, as in websockets.
    assert issubclass(StatusLineTooLong, SecurityError)


def test_response_serialize() -> None:
    response = Response(404, "Not Found", Headers([("Content-Length", "2")]), b"no")
    assert response.serialize() == b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno"


def test_request_serialize() -> None:
    request = Request("/", Headers([("Host", "a")]))
    assert request.serialize() == b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"


# Bodies of responses that refuse the upgrade (RFC 7230 §3.3.3)


def read_body(
    status: int, headers: list[tuple[str, str]], chunks: list[bytes], eof: bool = False
) -> bytes | None:
    reader = BodyReader(status, Headers(headers))
    buf = bytearray()
    done = reader.done
    for chunk in chunks:
        buf += chunk
        done = reader.feed(buf)
    if eof:
        reader.feed_eof()
        done = reader.done
    return bytes(reader.body) if done else None


def test_content_length_body() -> None:
    reader = BodyReader(403, Headers([("Content-Length", "5")]))
    buf = bytearray(b"hel")
    assert not reader.feed(buf)
    buf += b"lo+extra"
    assert reader.feed(buf)
    assert reader.body == b"hello"
    assert buf == b"+extra"  # bytes past the body aren't consumed


def test_content_length_zero() -> None:
    reader = BodyReader(403, Headers([("Content-Length", "0")]))
    assert reader.done
    assert reader.feed(bytearray(b"x"))
    assert reader.body == b""


def test_repeated_identical_content_length() -> None:
    assert read_body(403, [("Content-Length", "2"), ("Content-Length", "2")], [b"ok"]) == b"ok"
    assert read_body(403, [("Content-Length", "2, 2")], [b"ok"]) == b"ok"


@pytest.mark.parametrize("value", ["abc", "-1", "1, 2", "", "+5", "0x10"])
def test_invalid_content_length(value: str) -> None:
    with pytest.raises(InvalidMessage):
        BodyReader(403, Headers([("Content-Length", value)]))


def test_conflicting_content_lengths() -> None:
    with pytest.raises(InvalidMessage):
        BodyReader(403, Headers([("Content-Length", "1"), ("Content-Length", "2")]))


def test_content_length_too_large() -> None:
    with pytest.raises(SecurityError):
        BodyReader(403, Headers([("Content-Length", str(MAX_BODY_SIZE + 1))]))


def test_chunked_body() -> None:
    wire = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\nafter"
    assert read_body(400, [("Transfer-Encoding", "chunked")], [wire]) == b"hello, world"


def test_chunked_body_byte_by_byte() -> None:
    wire = b"5\r\nhello\r\nA \r\n0123456789\r\n0\r\n\r\n"
    reader = BodyReader(400, Headers([("Transfer-Encoding", "Chunked")]))
    buf = bytearray()
    for i, byte in enumerate(wire):
        buf.append(byte)
        assert reader.feed(buf) is (i == len(wire) - 1)
    assert reader.body == b"hello0123456789"


@pytest.mark.parametrize(
    "wire",
    [
        b"x\r\n",  # not hex
        b"5\r\nhelloXX",  # data not followed by CRLF
        b"-1\r\n",
    ],
)
def test_invalid_chunked_body(wire: bytes) -> None:
    reader = BodyReader(400, Headers([("Transfer-Encoding", "chunked")]))
    with pytest.raises(InvalidMessage):
        reader.feed(bytearray(wire))


def test_chunked_body_too_large() -> None:
    reader = BodyReader(400, Headers([("Transfer-Encoding", "chunked")]), max_size=10)
    with pytest.raises(SecurityError):
        reader.feed(bytearray(b"b\r\n"))


def test_chunk_size_line_too_long() -> None:
    reader = BodyReader(400, Headers([("Transfer-Encoding", "chunked")]))
    with pytest.raises(SecurityError):
        reader.feed(bytearray(b"1;" + b"x" * MAX_LINE_LENGTH))


def test_unsupported_transfer_coding() -> None:
    with pytest.raises(InvalidMessage):
        BodyReader(400, Headers([("Transfer-Encoding", "gzip, chunked")]))


def test_body_until_eof() -> None:
    reader = BodyReader(500, Headers([("Content-Type", "text/plain")]))
    buf = bytearray(b"part 1, ")
    assert not reader.feed(buf)
    buf += b"part 2"
    assert not reader.feed(buf)
    reader.feed_eof()
    assert reader.done
    assert reader.body == b"part 1, part 2"


def test_body_until_eof_too_large() -> None:
    reader = BodyReader(500, Headers(), max_size=4)
    with pytest.raises(SecurityError):
        reader.feed(bytearray(b"12345"))


@pytest.mark.parametrize("status", [100, 199, 204, 304])
def test_statuses_without_body(status: int) -> None:
    reader = BodyReader(status, Headers([("Content-Length", "10")]))
    assert reader.done
    assert reader.body == b""


@pytest.mark.parametrize(
    "headers", [[("Content-Length", "10")], [("Transfer-Encoding", "chunked")]]
)
def test_truncated_body(headers: list[tuple[str, str]]) -> None:
    reader = BodyReader(400, Headers(headers))
    reader.feed(bytearray(b"5\r\nab"))
    with pytest.raises(InvalidMessage):
        reader.feed_eof()


@pytest.mark.parametrize("cut", range(len(REQUEST) - 6, len(REQUEST)))
def test_resumed_search_finds_a_terminator_straddling_reads(cut: int) -> None:
    # Callers pass how much they already scanned; CRLFCRLF may start in those bytes.
    buf = bytearray(REQUEST[:cut])
    assert parse_request(buf) is None
    scanned = len(buf)
    buf += REQUEST[cut:]
    request = parse_request(buf, scanned)
    assert request is not None
    assert request.serialize() == REQUEST


def test_resumed_search_for_response_head() -> None:
    head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
    buf = bytearray(head[:-2])
    assert parse_response_head(buf) is None
    buf += head[-2:]
    assert parse_response_head(buf, len(head) - 2) is not None
