"""The fuzz targets (targets.py), on every CI run: bounded and deterministic.

Inputs are arbitrary bytes and bytes built to get past the first checks (valid frame
headers, HTTP heads, extension offers), then mutated. The hypothesis profile of CI
(tests/conftest.py) is derandomized with a fixed number of examples; run longer
campaigns with atheris (run_atheris.py).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ..utils import build_frame
from .targets import TARGETS

OPCODES = st.sampled_from([0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xA, 0xF])


@st.composite
def frame_streams(draw: st.DrawFn) -> bytes:
    parts = [draw(st.binary(max_size=1))]  # the first byte picks the cuts
    for _ in range(draw(st.integers(0, 5))):
        payload = draw(st.binary(max_size=300))
        masked = draw(st.booleans())
        parts.append(
            build_frame(
                draw(OPCODES),
                payload,
                fin=draw(st.booleans()),
                rsv=draw(st.sampled_from([0, 0, 0, 0x40, 0x20, 0x10])),
                mask=draw(st.binary(min_size=4, max_size=4)) if masked else None,
                length=draw(st.one_of(st.none(), st.integers(0, 2**64 - 1))),
            )
        )
    data = b"".join(parts)
    if draw(st.booleans()) and data:
        # Flip a byte somewhere.
        index = draw(st.integers(0, len(data) - 1))
        data = data[:index] + bytes([data[index] ^ draw(st.integers(1, 255))]) + data[index + 1 :]
    return data


HEADER_NAMES = st.sampled_from(
    [b"Host", b"Upgrade", b"Connection", b"Content-Length", b"Transfer-Encoding", b"X"]
)
HEADER_VALUES = st.one_of(
    st.sampled_from([b"websocket", b"Upgrade", b"0", b"10", b"chunked", b"x, y"]),
    st.binary(max_size=40),
)


@st.composite
def http_heads(draw: st.DrawFn, response: bool) -> bytes:
    start = (
        draw(
            st.sampled_from([b"HTTP/1.1 101 Switching", b"HTTP/1.1 404 Not Found", b"HTTP/1.0 200"])
        )
        if response
        else draw(
            st.sampled_from([b"GET / HTTP/1.1", b"GET http://h/x HTTP/1.1", b"POST / HTTP/1.1"])
        )
    )
    lines = [start]
    for _ in range(draw(st.integers(0, 8))):
        separator = draw(st.sampled_from([b": ", b":", b" : ", b""]))
        lines.append(draw(HEADER_NAMES) + separator + draw(HEADER_VALUES))
    head = b"\r\n".join(lines) + draw(st.sampled_from([b"\r\n\r\n", b"\r\n", b"\n\n", b""]))
    body = draw(st.binary(max_size=100))
    return draw(st.binary(max_size=1)) + head + body


@given(st.one_of(st.binary(max_size=2000), frame_streams()))
def test_fuzz_frames(data: bytes) -> None:
    TARGETS["frames"](data)


@given(st.one_of(st.binary(max_size=2000), http_heads(response=False)))
def test_fuzz_http_request(data: bytes) -> None:
    TARGETS["http_request"](data)


@given(st.one_of(st.binary(max_size=2000), http_heads(response=True)))
def test_fuzz_http_response(data: bytes) -> None:
    TARGETS["http_response"](data)


EXTENSION_TEXT = st.lists(
    st.sampled_from(
        [
            "permessage-deflate",
            "x-webkit-deflate-frame",
            "; ",
            ";",
            ", ",
            "server_no_context_takeover",
            "client_no_context_takeover",
            "server_max_window_bits",
            "client_max_window_bits",
            "=",
            '"',
            "8",
            "15",
            "16",
            "0x9",
            " ",
            "\t",
        ]
    ),
    max_size=20,
).map("".join)


@given(st.one_of(st.binary(max_size=300), EXTENSION_TEXT.map(str.encode)))
def test_fuzz_extension_header(data: bytes) -> None:
    TARGETS["extension_header"](data)
