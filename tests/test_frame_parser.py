"""The fast frame parser is the reference parser, only faster (issue 15: a parser to read).

:func:`websocket_ref.frames.parse_frame` is RFC 6455 §5.2 from top to bottom; the protocol
uses :class:`websocket_ref.frame_parser.FrameParser`. These properties feed both the same
byte streams — arbitrary bytes, and streams of frames valid or broken in every field —
cut into arbitrary reads, and require the same outcome after every read: the same frames,
the same error (type, message and rule) at the same read, the same header for a frame
still arriving (what the protocol checks early), and the same bytes left over.

The fast parser is driven the way :meth:`websocket_ref.protocol.Protocol.receive_data`
drives it: a read (``bytes``) goes to :meth:`~FrameParser.feed`, anything else to the
buffer; then frames are parsed until none is complete.
"""

from __future__ import annotations

import contextlib
import itertools
import random
from collections.abc import Iterator

from hypothesis import given, settings
from hypothesis import strategies as st

from websocket_ref import frame_parser
from websocket_ref.exceptions import ProtocolError
from websocket_ref.frame_parser import COLLECT_THRESHOLD, FrameParser
from websocket_ref.frames import RSV1, RSV2, RSV3, Frame, FrameHeader, parse_frame, parse_header
from websocket_ref.masking import PayloadCollectorPython, apply_mask

# What happened after one read: the frames it completed, then an error if one came.
Step = tuple[list[Frame], tuple[type[ProtocolError], str, str | None] | None, FrameHeader | None]


def reference_steps(
    chunks: list[bytes], *, mask_expected: bool, max_size: int | None, allowed_rsv: int
) -> list[Step]:
    buf = bytearray()
    steps: list[Step] = []
    for chunk in chunks:
        buf += chunk
        frames: list[Frame] = []
        try:
            while parsed := parse_frame(buf, **_options(mask_expected, max_size, allowed_rsv)):
                frame, end = parsed
                frames.append(frame)
                del buf[:end]
            header = parse_header(buf, **_options(mask_expected, max_size, allowed_rsv))
        except ProtocolError as exc:
            steps.append((frames, (type(exc), str(exc), exc.rule), None))
            return steps
        steps.append((frames, None, header))
    return steps


@contextlib.contextmanager
def reference_collector() -> Iterator[None]:
    """Have the parser collect large payloads with the reference collector (the pieces,
    joined), whether or not the C one is in use."""
    saved = frame_parser.PayloadCollector
    frame_parser.PayloadCollector = PayloadCollectorPython
    try:
        yield
    finally:
        frame_parser.PayloadCollector = saved


def test_reference_collector_reaches_the_parser() -> None:
    # What makes the properties below run both collectors (in both builds).
    parser = FrameParser(mask_expected=False, max_size=None)
    header = bytes([0x82, 127]) + (2 * COLLECT_THRESHOLD).to_bytes(8, "big")
    with reference_collector():
        parser.feed(header + bytes(COLLECT_THRESHOLD))
        assert parser.parse(bytearray()) is None
    assert type(parser._collector) is PayloadCollectorPython


def both_collectors(
    chunks: list[bytes | bytearray], *, mask_expected: bool, max_size: int | None, allowed_rsv: int
) -> list[Step]:
    """:func:`fast_steps` with the collector in use, which must equal the reference one."""
    options = _options(mask_expected, max_size, allowed_rsv)
    steps = fast_steps(chunks, **options)  # type: ignore[arg-type]
    with reference_collector():
        assert fast_steps(chunks, **options) == steps  # type: ignore[arg-type]
    return steps


def fast_steps(
    chunks: list[bytes | bytearray], *, mask_expected: bool, max_size: int | None, allowed_rsv: int
) -> list[Step]:
    parser = FrameParser(mask_expected=mask_expected, max_size=max_size)
    parser.allowed_rsv = allowed_rsv
    buf = bytearray()
    steps: list[Step] = []
    for chunk in chunks:
        if type(chunk) is not bytes:  # as Protocol.receive_data() does
            buf += chunk
        else:
            parser.feed(chunk)
        frames: list[Frame] = []
        try:
            while (frame := parser.parse(buf)) is not None:
                frames.append(frame)
        except ProtocolError as exc:
            steps.append((frames, (type(exc), str(exc), exc.rule), None))
            return steps
        steps.append((frames, None, parser.header))
    return steps


def _options(mask_expected: bool, max_size: int | None, allowed_rsv: int) -> dict[str, object]:
    return {"mask_expected": mask_expected, "max_size": max_size, "allowed_rsv": allowed_rsv}


# Streams


@st.composite
def wire_frames(
    draw: st.DrawFn, mask_expected: bool, max_size: int | None = None
) -> tuple[bytes, bytes]:
    """One frame on the wire, valid or not in any field, as its header and payload; its
    length often close to one that matters (length encodings, collection, ``max_size``)."""
    first = draw(
        st.one_of(
            st.sampled_from([0x81, 0x82, 0x01, 0x02, 0x00, 0x80, 0x88, 0x89, 0x8A, 0xC1, 0xC2]),
            st.integers(0, 255),
        )
    )
    masked = draw(st.sampled_from([mask_expected] * 4 + [not mask_expected]))
    near = [125, 126, 4095, 4096, 65535, COLLECT_THRESHOLD, COLLECT_THRESHOLD + 1]
    if max_size is not None:
        near += [max_size, max_size + 1] * 3
    length = draw(st.one_of(st.integers(0, 130), st.sampled_from(near)))
    minimal = 1 if length < 126 else 2 if length < 0x10000 else 8
    length_size = draw(st.sampled_from([minimal, minimal, max(minimal, 2), 8]))
    announced = length
    if length_size == 8 and draw(st.integers(0, 9)) == 0:
        announced |= 1 << 63  # the forbidden most significant bit
    mask_bit = 0x80 if masked else 0
    if length_size == 1:
        head = bytes([first, mask_bit | length])
    elif length_size == 2:
        head = bytes([first, mask_bit | 126]) + length.to_bytes(2, "big")
    else:
        head = bytes([first, mask_bit | 127]) + announced.to_bytes(8, "big")
    payload = random.Random(draw(st.integers(0, 2**16))).randbytes(length)
    if masked:
        key = draw(st.binary(min_size=4, max_size=4))
        return head + key, apply_mask(payload, key)
    return head, payload


def joined(parts: list[tuple[bytes, bytes]]) -> tuple[bytes, list[int]]:
    """Frames as one stream, and the offsets where headers and payloads start and end."""
    data = b""
    bounds = []
    for head, payload in parts:
        bounds += [len(data), len(data) + 1, len(data) + len(head)]
        data += head + payload
    return data, bounds


@st.composite
def streams(draw: st.DrawFn) -> tuple[tuple[bytes, list[int]], bool, int | None, int]:
    mask_expected = draw(st.booleans())
    max_size = draw(st.sampled_from([None, None, 0, 100, 4096, 65535, COLLECT_THRESHOLD + 10]))
    allowed_rsv = draw(st.sampled_from([0, RSV1, RSV1 | RSV2 | RSV3, RSV2]))
    data = draw(
        st.one_of(
            st.binary(max_size=300).map(lambda b: (b, [])),
            st.lists(wire_frames(mask_expected, max_size), max_size=6).map(joined),
        )
    )
    return data, mask_expected, max_size, allowed_rsv


@st.composite
def reads(draw: st.DrawFn, stream: tuple[bytes, list[int]]) -> list[bytes | bytearray]:
    """A stream cut into reads at arbitrary points, often next to where a header or a
    payload starts or ends, sometimes byte by byte; a read is sometimes a bytearray
    (the protocol buffers those rather than parse them in place)."""
    data, bounds = stream
    if len(data) <= 300 and draw(st.integers(0, 5)) == 0:
        cuts = list(range(len(data) + 1))
    else:
        near = [b + d for b in bounds for d in (-1, 0, 1) if 0 <= b + d <= len(data)]
        anywhere = st.integers(0, len(data))
        points = draw(st.lists(st.sampled_from(near) | anywhere if near else anywhere, max_size=10))
        cuts = [0, *sorted(points), len(data)]
    pieces: list[bytes | bytearray] = []
    for a, b in itertools.pairwise(cuts):
        piece = data[a:b]
        pieces.append(bytearray(piece) if draw(st.integers(0, 7)) == 0 else piece)
    return pieces


@settings(max_examples=1000)
@given(st.data(), streams())
def test_fast_parser_is_the_reference_parser(
    data: st.DataObject, stream: tuple[tuple[bytes, list[int]], bool, int | None, int]
) -> None:
    wire, mask_expected, max_size, allowed_rsv = stream
    chunks = data.draw(reads(wire))
    options = _options(mask_expected, max_size, allowed_rsv)
    expected = reference_steps([bytes(c) for c in chunks], **options)  # type: ignore[arg-type]
    assert both_collectors(chunks, **options) == expected  # type: ignore[arg-type]


@given(st.lists(wire_frames(True), max_size=4).map(joined), st.data())
def test_reads_make_no_difference(wire: tuple[bytes, list[int]], data: st.DataObject) -> None:
    # The reference read whole gives the frames of the fast parser read in any pieces.
    options = _options(True, None, RSV1 | RSV2 | RSV3)
    whole = reference_steps([wire[0]], **options)  # type: ignore[arg-type]
    steps = fast_steps(data.draw(reads(wire)), **options)  # type: ignore[arg-type]
    assert [f for s in steps for f in s[0]] == whole[0][0]
    assert (steps[-1][1] if steps else None) == whole[0][1]


def test_cut_next_to_every_boundary_of_large_frames() -> None:
    # Deterministic complement of the properties: large payloads (collected piece by
    # piece) with reads ending next to where each header and payload starts or ends.
    for mask_expected in (False, True):
        key = b"\x01\x02\x03\x04"
        parts = []
        for length in (COLLECT_THRESHOLD - 1, COLLECT_THRESHOLD, COLLECT_THRESHOLD + 5):
            payload = random.Random(length).randbytes(length)
            mask_bit = 0x80 if mask_expected else 0
            size = 126 if length < 0x10000 else 127
            head = bytes([0x82, mask_bit | size]) + length.to_bytes(2 if size == 126 else 8, "big")
            if mask_expected:
                parts.append((head + key, apply_mask(payload, key)))
            else:
                parts.append((head, payload))
        wire, bounds = joined(parts)
        options = _options(mask_expected, None, 0)
        expected = [f for s in reference_steps([wire], **options) for f in s[0]]  # type: ignore[arg-type]
        assert len(expected) == 3
        for a in sorted({b + d for b in bounds for d in (-1, 0, 1)} - {-1}):
            for b in sorted({b + d for b in bounds for d in (0, 1, 2)}):
                if a < b <= len(wire):
                    chunks: list[bytes | bytearray] = [wire[:a], wire[a:b], wire[b:]]
                    steps = both_collectors(chunks, **options)  # type: ignore[arg-type]
                    assert [f for s in steps for f in s[0]] == expected, (a, b)
