"""The frame layer (RFC 6455 §5.2, §5.5.1, §7.4): Frame, Close, serialize_frame, FrameParser.

Rules that need the context of a connection (fragmentation, message size, UTF-8
across frames) are tested through the protocol objects in test_protocol.py.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from websocket_ref import (
    Close,
    CloseCode,
    Frame,
    InvalidCloseFrame,
    InvalidFrame,
    InvalidUTF8,
    Opcode,
    PayloadTooBig,
    ProtocolError,
)
from websocket_ref import frames as frames_module
from websocket_ref.frame_parser import FrameParser
from websocket_ref.frames import (
    CTRL_OPCODES,
    DATA_OPCODES,
    explain_close_code,
    is_data_opcode,
    is_valid_close_code,
    serialize_frame,
)

from .utils import MASK, RSV1, RSV2, RSV3, build_frame, close_payload, decode_frames

ROOT = Path(__file__).resolve().parents[1]

# Opcodes

RESERVED_OPCODES = [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF]


def test_opcode_values() -> None:
    # RFC 6455 §5.2 / §11.8
    assert [int(op) for op in Opcode] == [0x0, 0x1, 0x2, 0x8, 0x9, 0xA]
    assert {Opcode.CONT, Opcode.TEXT, Opcode.BINARY} == DATA_OPCODES
    assert {Opcode.CLOSE, Opcode.PING, Opcode.PONG} == CTRL_OPCODES


@pytest.mark.parametrize("opcode", list(Opcode))
def test_is_control(opcode: Opcode) -> None:
    assert Frame(opcode, b"").is_control is (opcode in CTRL_OPCODES)


def test_frame_str() -> None:
    assert str(Frame(Opcode.TEXT, b"hello")) == "TEXT fin [5 bytes]"
    assert str(Frame(Opcode.BINARY, b"x", fin=False, rsv1=True)) == "BINARY rsv1 [1 byte]"
    assert str(Frame(Opcode.CONT, b"", rsv2=True, rsv3=True)) == "CONT fin rsv2 rsv3 [0 bytes]"


def test_frame_init_is_the_generated_one() -> None:
    # Frame writes out its __init__ (so that mypyc compiles it): it must take and set
    # exactly what the one dataclasses would generate from the fields does.
    fields = dataclasses.fields(Frame)
    generated = dataclasses.make_dataclass(
        "Frame",
        [
            (f.name, f.type)
            if f.default is dataclasses.MISSING
            else (f.name, f.type, dataclasses.field(default=f.default))
            for f in fields
        ],
    )
    names = [f.name for f in fields]
    assert names == ["opcode", "data", "fin", "rsv1", "rsv2", "rsv3"]
    calls: list[tuple[tuple[object, ...], dict[str, object]]] = [
        ((Opcode.TEXT, b"a"), {}),
        ((Opcode.BINARY, b"b", False, True, False, True), {}),
        ((Opcode.CONT, b""), {"rsv2": True, "fin": False}),
        ((), {"data": b"d", "opcode": Opcode.PING, "rsv3": True}),
    ]
    for args, kwargs in calls:
        ours, reference = Frame(*args, **kwargs), generated(*args, **kwargs)  # type: ignore[arg-type]
        assert [getattr(ours, n) for n in names] == [getattr(reference, n) for n in names]
    for args, kwargs in [((Opcode.TEXT,), {}), ((), {"bogus": 1, "opcode": 1, "data": b""})]:
        with pytest.raises(TypeError):
            generated(*args, **kwargs)
        with pytest.raises(TypeError):
            Frame(*args, **kwargs)  # type: ignore[arg-type]
    assert Frame(Opcode.TEXT, b"x") == Frame(Opcode.TEXT, b"x", True, False, False, False)
    assert repr(Frame(Opcode.TEXT, b"x")) == (
        "Frame(opcode=<Opcode.TEXT: 1>, data=b'x', fin=True, rsv1=False, rsv2=False, rsv3=False)"
    )


# Serialization: the examples of RFC 6455 §5.7 and the three length encodings.


def join(parts: list[bytes]) -> bytes:
    return b"".join(parts)


@pytest.mark.parametrize(
    ("frame", "wire"),
    [
        # A single-frame unmasked text message
        (Frame(Opcode.TEXT, b"Hello"), "810548656c6c6f"),
        # A fragmented unmasked text message
        (Frame(Opcode.TEXT, b"Hel", fin=False), "010348656c"),
        (Frame(Opcode.CONT, b"lo"), "80026c6f"),
        # Unmasked ping
        (Frame(Opcode.PING, b"Hello"), "890548656c6c6f"),
        (Frame(Opcode.PONG, b""), "8a00"),
        (Frame(Opcode.CLOSE, b"\x03\xe8"), "880203e8"),
        (Frame(Opcode.BINARY, b"", rsv1=True, rsv2=True, rsv3=True), "f200"),
    ],
)
def test_serialize_rfc_examples(frame: Frame, wire: str) -> None:
    assert join(serialize_frame(frame, mask=False)) == bytes.fromhex(wire)


@pytest.mark.parametrize(
    ("size", "header"),
    [
        (0, "8200"),
        (125, "827d"),
        # RFC 6455 §5.7: 256 bytes binary message in a single unmasked frame
        (126, "827e007e"),
        (256, "827e0100"),
        (65535, "827effff"),
        # RFC 6455 §5.7: 64KiB binary message in a single unmasked frame
        (65536, "827f0000000000010000"),
    ],
)
@pytest.mark.rfc("R6455-5.2-5", "R6455-6.1-4")
def test_serialize_length_encodings(size: int, header: str) -> None:
    data = bytes(size)
    head, payload = serialize_frame(Frame(Opcode.BINARY, data), mask=False)
    assert head == bytes.fromhex(header)
    assert payload == data


@pytest.mark.parametrize("mask", [False, True])
def test_serialize_short_header_is_the_reference(mask: bool) -> None:
    # The 7-bit-length header, joined from one-byte pieces (the fast version), is the
    # two big-endian bytes of RFC 6455 §5.2's first 16 bits, for every flag and length.
    for opcode, fin, rsv1, rsv2, rsv3 in itertools.product(Opcode, *[(False, True)] * 4):
        head = fin << 7 | rsv1 << 6 | rsv2 << 5 | rsv3 << 4 | opcode
        for length in range(126):
            frame = Frame(opcode, bytes(length), fin, rsv1, rsv2, rsv3)
            header, _ = serialize_frame(frame, mask=mask)
            assert header[:2] == (head << 8 | mask << 7 | length).to_bytes(2, "big")
            assert len(header) == (6 if mask else 2)


def test_is_data_opcode_is_below_0x8() -> None:
    # The identity tests (the fast version) say what opcode < 0x8 says: a data frame's
    # opcode has its most significant bit at 0 (RFC 6455 §5.6).
    for opcode in Opcode:
        assert is_data_opcode(opcode) == (opcode < 0x8) == (opcode in DATA_OPCODES)


@pytest.mark.rfc("R6455-5.3-1", "R6455-6.1-8")
@pytest.mark.parametrize("size", [0, 5, 125, 126, 65536])
def test_serialize_masked(size: int) -> None:
    data = bytes(i % 251 for i in range(size))
    wire = join(serialize_frame(Frame(Opcode.BINARY, data), mask=True))
    # RFC 6455 §5.2: the MASK bit is set and a 4-byte key precedes the payload
    assert wire[1] & 0x80
    [decoded] = decode_frames(wire)
    assert decoded.masked
    assert decoded.payload == data


@pytest.mark.rfc("R6455-5.3-2", "R6455-10.3-1")
def test_serialize_masked_uses_fresh_keys() -> None:
    # RFC 6455 §5.3: a new, unpredictable masking key for every frame
    keys = set()
    for _ in range(1100):  # more than one batch of the key pool
        head, _ = serialize_frame(Frame(Opcode.TEXT, b"x"), mask=True)
        keys.add(head[2:6])
    assert len(keys) > 1000


class _CountingSource:
    """A stand-in for os.urandom whose 4-byte words are all different: a key seen twice
    was handed out twice."""

    def __init__(self) -> None:
        self.calls: list[bytes] = []
        self._words = itertools.count(1)

    def __call__(self, size: int) -> bytes:
        assert size % 4 == 0
        batch = b"".join(next(self._words).to_bytes(4, "big") for _ in range(size // 4))
        self.calls.append(batch)
        return batch


def masking_key(frame: bytes) -> bytes:
    assert frame[1] & 0x80 and frame[1] & 0x7F < 126
    return frame[2:6]


@pytest.mark.rfc("R6455-5.3-3")
def test_masking_keys_come_from_the_os_csprng(monkeypatch: pytest.MonkeyPatch) -> None:
    source = _CountingSource()
    monkeypatch.setattr(frames_module, "_urandom", source)
    frames_module._masking_keys.reset()
    keys = [
        masking_key(serialize_frame(Frame(Opcode.TEXT, b"x"), mask=True)[0]) for _ in range(2000)
    ]
    # Every key is 4 bytes of what the CSPRNG returned, in order, none reused.
    assert b"".join(keys) == b"".join(source.calls)[: 4 * len(keys)]
    assert len(set(keys)) == len(keys)


@pytest.mark.rfc("R6455-5.3-4", "R6455-10.3-1")
def test_masking_keys_are_never_handed_out_twice_across_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The sync API sends from several threads at once. A key given to two threads would
    # let a peer that saw one frame predict the key of the other.
    source = _CountingSource()
    monkeypatch.setattr(frames_module, "_urandom", source)
    frames_module._masking_keys.reset()
    results: list[list[bytes]] = [[] for _ in range(4)]
    start = threading.Barrier(len(results))

    def take(keys: list[bytes]) -> None:
        start.wait()
        draw = frames_module._masking_keys.next
        for _ in range(50_000):
            keys.append(draw())

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=take, args=(keys,)) for keys in results]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    everything = [key for keys in results for key in keys]
    assert len(everything) == 200_000
    assert len(set(everything)) == len(everything)


FORK_SCRIPT = """
import os, sys
from websocket_ref.frames import Frame, Opcode, serialize_frame

def keys(n):
    return b"".join(serialize_frame(Frame(Opcode.TEXT, b"x"), mask=True)[0][2:6] for _ in range(n))

keys(1)  # the parent has a batch of keys before it forks
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(write, keys(8))
    os._exit(0)
os.waitpid(pid, 0)
child = os.read(read, 32)
parent = keys(8)
print(child.hex(), parent.hex())
"""


@pytest.mark.rfc("R6455-5.3-4")
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_forked_child_doesnt_repeat_the_parents_masking_keys() -> None:
    # A child process created by fork() inherits the parent's memory: without a fresh
    # batch it would send the very keys the parent sends next.
    result = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    )
    child, parent = result.stdout.split()
    assert len(child) == len(parent) == 64
    assert child != parent


# Parsing


def parse_all(data: bytes, *, mask_expected: bool, max_size: int | None = None) -> list[Frame]:
    parser = FrameParser(mask_expected=mask_expected, max_size=max_size)
    buf = bytearray(data)
    frames = []
    while (frame := parser.parse(buf)) is not None:
        frames.append(frame)
    assert not buf
    return frames


@pytest.mark.parametrize(
    ("wire", "frame"),
    [
        ("810548656c6c6f", Frame(Opcode.TEXT, b"Hello")),
        ("010348656c", Frame(Opcode.TEXT, b"Hel", fin=False)),
        ("80026c6f", Frame(Opcode.CONT, b"lo")),
        ("890548656c6c6f", Frame(Opcode.PING, b"Hello")),
    ],
)
def test_parse_rfc_examples_unmasked(wire: str, frame: Frame) -> None:
    assert parse_all(bytes.fromhex(wire), mask_expected=False) == [frame]


@pytest.mark.rfc("R6455-6.2-7")
def test_parse_rfc_examples_masked() -> None:
    # RFC 6455 §5.7: a single-frame masked text message; a masked pong "Hello"
    assert parse_all(bytes.fromhex("818537fa213d7f9f4d5158"), mask_expected=True) == [
        Frame(Opcode.TEXT, b"Hello")
    ]
    assert parse_all(bytes.fromhex("8a8537fa213d7f9f4d5158"), mask_expected=True) == [
        Frame(Opcode.PONG, b"Hello")
    ]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
@pytest.mark.parametrize("masked", [False, True])
def test_parse_length_encodings(size: int, masked: bool) -> None:
    data = bytes(i % 256 for i in range(size))
    wire = build_frame(0x2, data, mask=MASK if masked else None)
    assert parse_all(wire, mask_expected=masked) == [Frame(Opcode.BINARY, data)]


@pytest.mark.rfc("R6455-5.2-5")
@pytest.mark.parametrize("length_size", [2, 8])
def test_parse_accepts_non_minimal_length_encodings(length_size: int) -> None:
    # RFC 6455 §5.2 asks senders for the minimal encoding; receivers need not enforce it.
    wire = build_frame(0x2, b"abc", length_size=length_size)
    assert parse_all(wire, mask_expected=False) == [Frame(Opcode.BINARY, b"abc")]


def test_parse_rsv_bits_when_allowed() -> None:
    parser = FrameParser(mask_expected=False, max_size=None)
    parser.allowed_rsv = RSV1 | RSV2 | RSV3
    buf = bytearray(build_frame(0x1, b"x", rsv=RSV1 | RSV3))
    assert parser.parse(buf) == Frame(Opcode.TEXT, b"x", rsv1=True, rsv3=True)


def test_parse_several_frames_from_one_buffer() -> None:
    wire = build_frame(0x1, b"a", fin=False) + build_frame(0x9, b"p") + build_frame(0x0, b"b")
    assert parse_all(wire, mask_expected=False) == [
        Frame(Opcode.TEXT, b"a", fin=False),
        Frame(Opcode.PING, b"p"),
        Frame(Opcode.CONT, b"b"),
    ]


def test_parse_incomplete_consumes_nothing_until_complete() -> None:
    wire = build_frame(0x2, bytes(300), mask=MASK)
    parser = FrameParser(mask_expected=True, max_size=None)
    buf = bytearray()
    for i, byte in enumerate(wire):
        buf.append(byte)
        frame = parser.parse(buf)
        if i < len(wire) - 1:
            assert frame is None
            assert len(buf) == i + 1
            # The header is known once its 8 bytes (2 + 2 length + 4 mask) arrived.
            assert (parser.header is not None) is (i + 1 >= 8)
        else:
            assert frame == Frame(Opcode.BINARY, bytes(300))
    assert not buf
    assert parser.header is None


def test_parse_leaves_following_bytes() -> None:
    buf = bytearray(build_frame(0x1, b"one") + b"\x81")
    parser = FrameParser(mask_expected=False, max_size=None)
    assert parser.parse(buf) == Frame(Opcode.TEXT, b"one")
    assert buf == b"\x81"
    assert parser.parse(buf) is None


def test_parse_large_frame_in_64k_chunks() -> None:
    # Performance-relevant correctness: a 16 MiB frame, unlimited size, 64 KiB reads.
    size = 16 * 2**20
    payload = bytes(range(256)) * (size // 256)
    wire = build_frame(0x2, b"", length=size) + payload
    parser = FrameParser(mask_expected=False, max_size=None)
    buf = bytearray()
    frames = []
    for start in range(0, len(wire), 65536):
        buf += wire[start : start + 65536]
        frame = parser.parse(buf)
        if frame is not None:
            frames.append(frame)
    assert len(frames) == 1
    assert frames[0].data == payload
    assert not buf


# Per-frame rules, each with the exception class and the close code it fails with.


def parse_error(
    data: bytes, *, mask_expected: bool, max_size: int | None = None, allowed_rsv: int = 0
) -> ProtocolError:
    parser = FrameParser(mask_expected=mask_expected, max_size=max_size)
    parser.allowed_rsv = allowed_rsv
    with pytest.raises(ProtocolError) as raised:
        parser.parse(bytearray(data))
    return raised.value


@pytest.mark.rfc("R6455-5.2-4")
def test_64_bit_length_with_msb_set() -> None:
    wire = build_frame(0x2, b"", length=2**63, length_size=8)
    exc = parse_error(wire, mask_expected=False)
    assert type(exc) is InvalidFrame
    assert exc.close_code == 1002
    assert exc.rule == "RFC 6455 §5.2"


def test_64_bit_length_largest_valid_is_not_an_msb_error() -> None:
    wire = build_frame(0x2, b"", length=2**63 - 1, length_size=8)
    exc = parse_error(wire, mask_expected=False, max_size=2**20)
    assert type(exc) is PayloadTooBig
    assert exc.close_code == 1009


@pytest.mark.parametrize("opcode", RESERVED_OPCODES)
def test_reserved_opcodes(opcode: int) -> None:
    exc = parse_error(build_frame(opcode, b""), mask_expected=False)
    assert type(exc) is InvalidFrame
    assert exc.close_code == 1002
    assert f"0x{opcode:X}" in str(exc)


@pytest.mark.parametrize("rsv", [RSV1, RSV2, RSV3, RSV1 | RSV3])
def test_reserved_bits_without_extension(rsv: int) -> None:
    exc = parse_error(build_frame(0x1, b"x", rsv=rsv), mask_expected=False)
    assert type(exc) is InvalidFrame
    assert exc.close_code == 1002
    assert exc.rule == "RFC 6455 §5.2"


@pytest.mark.rfc("R6455-5.2-2")
def test_reserved_bit_not_claimed_by_extension() -> None:
    exc = parse_error(build_frame(0x1, b"x", rsv=RSV2), mask_expected=False, allowed_rsv=RSV1)
    assert type(exc) is InvalidFrame
    assert "RSV2" in str(exc)


def test_unmasked_frame_to_server() -> None:
    exc = parse_error(build_frame(0x1, b"x"), mask_expected=True)
    assert type(exc) is InvalidFrame
    assert exc.rule == "RFC 6455 §5.1"


def test_masked_frame_to_client() -> None:
    exc = parse_error(build_frame(0x1, b"x", mask=MASK), mask_expected=False)
    assert type(exc) is InvalidFrame
    assert exc.rule == "RFC 6455 §5.1"


@pytest.mark.parametrize("opcode", [0x8, 0x9, 0xA])
def test_fragmented_control_frame(opcode: int) -> None:
    exc = parse_error(build_frame(opcode, b"", fin=False), mask_expected=False)
    assert type(exc) is InvalidFrame
    assert exc.rule == "RFC 6455 §5.5"


@pytest.mark.parametrize("opcode", [0x8, 0x9, 0xA])
@pytest.mark.parametrize("length_size", [1, 2])
def test_control_frame_too_long(opcode: int, length_size: int) -> None:
    if length_size == 1:
        wire = build_frame(opcode, close_payload(1000, b"x" * 124))  # 126 bytes: 7+16 bits
    else:
        wire = build_frame(opcode, b"x" * 126, length_size=2)
    exc = parse_error(wire, mask_expected=False)
    assert type(exc) is InvalidFrame
    assert exc.rule == "RFC 6455 §5.5"


def test_control_frame_of_125_bytes_is_valid() -> None:
    assert parse_all(build_frame(0x9, b"x" * 125), mask_expected=False) == [
        Frame(Opcode.PING, b"x" * 125)
    ]


def test_frame_larger_than_max_size() -> None:
    exc = parse_error(build_frame(0x2, bytes(11)), mask_expected=False, max_size=10)
    assert type(exc) is PayloadTooBig
    assert exc.close_code == 1009
    assert exc.rule == "RFC 6455 §10.4"


def test_frame_of_max_size_is_valid() -> None:
    assert parse_all(build_frame(0x2, bytes(10)), mask_expected=False, max_size=10) == [
        Frame(Opcode.BINARY, bytes(10))
    ]


@pytest.mark.rfc("R6455-10.4-1")
def test_too_big_is_detected_from_header_alone() -> None:
    # Memory stays bounded: the error comes before the payload is buffered.
    exc = parse_error(build_frame(0x2, b"", length=2**40), mask_expected=False, max_size=2**20)
    assert type(exc) is PayloadTooBig


@pytest.mark.parametrize(
    ("first_bytes", "mask_expected", "error"),
    [
        # Each header announces more bytes than the two that arrived.
        (bytes([0x83, 0x7E]), False, "reserved opcode"),
        (bytes([0xC1, 0xFF]), True, "reserved bit"),
        (bytes([0x81, 0xFE]), False, "masked frame from server"),
        (bytes([0x81, 0x7E]), True, "unmasked frame from client"),
        (bytes([0x09, 0xFD]), True, "fragmented control frame"),
        (bytes([0x89, 0x7E]), False, "control frame too long"),
    ],
)
def test_first_two_bytes_are_validated_before_header_completes(
    first_bytes: bytes, mask_expected: bool, error: str
) -> None:
    parser = FrameParser(mask_expected=mask_expected, max_size=None)
    with pytest.raises(InvalidFrame, match=error):
        parser.parse(bytearray(first_bytes))


def test_peek_payload_unmasks_partial_payload_at_any_offset() -> None:
    data = b"The quick brown fox"
    wire = build_frame(0x1, data, mask=MASK)
    parser = FrameParser(mask_expected=True, max_size=None)
    buf = bytearray(wire[:-5])
    assert parser.parse(buf) is None
    assert parser.peek_payload(buf, 0) == data[:-5]
    for start in range(len(data) - 5):
        assert parser.peek_payload(buf, start) == data[start:-5]
    assert parser.peek_payload(buf, len(data) - 5) == b""


# Close frames: payload parsing (RFC 6455 §5.5.1) and close codes (§7.4)


def expected_valid(code: int) -> bool:
    # RFC 6455 §7.4.1/§7.4.2 and the IANA registry: codes an endpoint may send.
    if code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014):
        return True
    return 3000 <= code <= 4999


def test_close_code_table() -> None:
    for code in range(0, 65536):
        assert is_valid_close_code(code) is expected_valid(code), code


@pytest.mark.parametrize("code", [1004, 1005, 1006, 1015])
def test_codes_never_on_the_wire(code: int) -> None:
    # RFC 6455 §7.4.1: 1004 is reserved; 1005, 1006, 1015 MUST NOT be set in a close frame
    with pytest.raises(InvalidCloseFrame) as raised:
        Close.parse(close_payload(code))
    assert raised.value.close_code == 1002
    assert raised.value.rule == "RFC 6455 §7.4"
    with pytest.raises(InvalidCloseFrame):
        Close(code).serialize()


@pytest.mark.parametrize("code", [0, 999, 1016, 2000, 2999, 5000, 65535])
def test_codes_out_of_range(code: int) -> None:
    with pytest.raises(InvalidCloseFrame):
        Close.parse(close_payload(code))


@pytest.mark.parametrize("code", [1000, 1001, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999])
def test_codes_allowed(code: int) -> None:
    assert Close.parse(close_payload(code, "bye")) == Close(code, "bye")
    assert Close(code, "bye").serialize() == close_payload(code, "bye")


def test_close_empty_payload_is_1005() -> None:
    # RFC 6455 §7.1.5: no status code → reported as 1005
    assert Close.parse(b"") == Close(CloseCode.NO_STATUS_RCVD, "")


def test_close_payload_of_one_byte() -> None:
    with pytest.raises(InvalidCloseFrame) as raised:
        Close.parse(b"\x03")
    assert raised.value.close_code == 1002
    assert raised.value.rule == "RFC 6455 §5.5.1"


def test_close_reason_must_be_utf8() -> None:
    with pytest.raises(InvalidUTF8) as raised:
        Close.parse(close_payload(1000, b"\xff"))
    assert raised.value.close_code == 1007


def test_close_reason_utf8() -> None:
    assert Close.parse(close_payload(1000, "κόσμε")) == Close(1000, "κόσμε")


def test_close_serialize_reason_too_long() -> None:
    assert len(Close(1000, "x" * 123).serialize()) == 125
    with pytest.raises(InvalidFrame):
        Close(1000, "x" * 124).serialize()


def test_close_str() -> None:
    assert str(Close(1000, "")) == "1000 (OK)"
    assert str(Close(1001, "bye")) == "1001 (going away) bye"
    assert str(Close(3000)) == "3000 (registered)"
    assert str(Close(4000)) == "4000 (private use)"
    assert explain_close_code(2000) == "unknown"


def test_close_code_enum() -> None:
    assert CloseCode.NORMAL_CLOSURE == 1000
    assert CloseCode.NO_STATUS_RCVD == 1005
    assert CloseCode.ABNORMAL_CLOSURE == 1006
    assert CloseCode.MESSAGE_TOO_BIG == 1009
    assert CloseCode.TLS_HANDSHAKE == 1015
