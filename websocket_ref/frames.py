"""The frame layer of RFC 6455 §5: opcodes, frames, close payloads and the wire format.

:class:`Frame` is a plain value; :func:`serialize_frame` turns one into bytes and
:class:`FrameParser` cuts a byte stream back into frames. The parser enforces every rule
that can be checked on a frame alone (lengths, masking, reserved opcodes and bits,
control frame limits); rules that need context (fragmentation, UTF-8 across frames,
message size) live in :mod:`websocket_ref.protocol`.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import struct

from .exceptions import InvalidCloseFrame, InvalidFrame, InvalidUTF8, PayloadTooBig
from .masking import apply_mask

__all__ = [
    "Opcode",
    "DATA_OPCODES",
    "CTRL_OPCODES",
    "CloseCode",
    "Frame",
    "Close",
    "FrameHeader",
    "FrameParser",
    "serialize_frame",
    "is_valid_close_code",
    "RSV1",
    "RSV2",
    "RSV3",
]


class Opcode(enum.IntEnum):
    """Frame opcodes (RFC 6455 §5.2, §11.8)."""

    CONT = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


DATA_OPCODES = frozenset({Opcode.CONT, Opcode.TEXT, Opcode.BINARY})
CTRL_OPCODES = frozenset({Opcode.CLOSE, Opcode.PING, Opcode.PONG})

# Bit masks of the reserved bits in the first byte of a frame (RFC 6455 §5.2).
RSV1, RSV2, RSV3 = 0x40, 0x20, 0x10


class CloseCode(enum.IntEnum):
    """Close codes (RFC 6455 §7.4.1 and the IANA registry of §11.7)."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


CLOSE_CODE_EXPLANATIONS: dict[int, str] = {
    1000: "OK",
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported data",
    1005: "no status received [internal]",
    1006: "connection closed abnormally [internal]",
    1007: "invalid frame payload data",
    1008: "policy violation",
    1009: "message too big",
    1010: "mandatory extension",
    1011: "internal error",
    1012: "service restart",
    1013: "try again later",
    1014: "bad gateway",
    1015: "TLS handshake failure [internal]",
}

# RFC 6455 §7.4.1, §7.4.2: codes an endpoint may put in a Close frame. 1004 is
# reserved, 1005/1006/1015 are for reporting only, 1016-2999 are reserved for future
# RFCs, 3000-4999 are for libraries, frameworks and applications.
_WIRE_CLOSE_CODES = frozenset(
    {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}
)


def is_valid_close_code(code: int) -> bool:
    """Tell whether ``code`` may appear in a Close frame on the wire."""
    return code in _WIRE_CLOSE_CODES or 3000 <= code <= 4999


def explain_close_code(code: int) -> str:
    """A short human description of a close code, for messages and the CLI."""
    if code in CLOSE_CODE_EXPLANATIONS:
        return CLOSE_CODE_EXPLANATIONS[code]
    if 3000 <= code < 4000:
        return "registered"
    if 4000 <= code < 5000:
        return "private use"
    return "unknown"


@dataclasses.dataclass(slots=True)
class Frame:
    """One WebSocket frame, unmasked (RFC 6455 §5.2).

    ``data`` is the application data (after extensions decoded it, when received).
    """

    opcode: Opcode
    data: bytes
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False

    def __str__(self) -> str:
        length = len(self.data)
        flags = "".join(
            name
            for name, bit in (
                ("fin ", self.fin),
                ("rsv1 ", self.rsv1),
                ("rsv2 ", self.rsv2),
                ("rsv3 ", self.rsv3),
            )
            if bit
        )
        return f"{self.opcode.name} {flags}[{length} byte{'s' if length != 1 else ''}]"

    @property
    def is_control(self) -> bool:
        """True for CLOSE, PING and PONG frames (opcodes with the high bit set)."""
        return self.opcode >= 0x8


@dataclasses.dataclass(frozen=True, slots=True)
class Close:
    """The payload of a Close frame: a status code and a UTF-8 reason (RFC 6455 §5.5.1)."""

    code: int
    reason: str = ""

    def __str__(self) -> str:
        text = f"{self.code} ({explain_close_code(self.code)})"
        if self.reason:
            text += f" {self.reason}"
        return text

    @classmethod
    def parse(cls, data: bytes) -> Close:
        """Parse and validate the payload of a received Close frame."""
        if len(data) >= 2:
            code = int.from_bytes(data[:2], "big")
            if not is_valid_close_code(code):
                # RFC 6455 §7.4: a close code outside the allowed ranges is a protocol error
                raise InvalidCloseFrame(f"invalid close code {code}", rule="RFC 6455 §7.4")
            try:
                reason = data[2:].decode()
            except UnicodeDecodeError:
                # RFC 6455 §5.5.1: the close reason MUST be valid UTF-8
                raise InvalidUTF8(
                    "close reason isn't valid UTF-8", rule="RFC 6455 §5.5.1"
                ) from None
            return cls(code, reason)
        if len(data) == 0:
            # RFC 6455 §7.1.5: a Close frame without a code is reported as 1005
            return cls(CloseCode.NO_STATUS_RCVD, "")
        # RFC 6455 §5.5.1: a close payload, if any, starts with a 2-byte code
        raise InvalidCloseFrame("close frame payload of 1 byte", rule="RFC 6455 §5.5.1")

    def serialize(self) -> bytes:
        """Return the payload of a Close frame carrying this code and reason."""
        if not is_valid_close_code(self.code):
            # RFC 6455 §7.4.1: 1005, 1006 and 1015 MUST NOT be sent in a Close frame
            raise InvalidCloseFrame(f"invalid close code {self.code}", rule="RFC 6455 §7.4")
        payload = self.code.to_bytes(2, "big") + self.reason.encode()
        if len(payload) > 125:
            # RFC 6455 §5.5: control frame payloads are at most 125 bytes
            raise InvalidFrame("close reason too long", rule="RFC 6455 §5.5")
        return payload


_pack_short = struct.Struct("!BBH").pack
_pack_long = struct.Struct("!BBQ").pack
_unpack_short = struct.Struct("!H").unpack_from
_unpack_long = struct.Struct("!Q").unpack_from


class _MaskingKeys:
    """Masking keys from the OS's CSPRNG, fetched in batches to spare system calls.

    RFC 6455 §5.3: the masking key MUST be unpredictable, from a strong source of
    entropy; one ``os.urandom`` call per frame would dominate small-frame sending.
    """

    __slots__ = ("_pool", "_pos")

    _BATCH = 4096

    def __init__(self) -> None:
        self._pool = b""
        self._pos = 0

    def next(self) -> bytes:
        pos = self._pos
        if pos >= len(self._pool):
            self._pool = os.urandom(self._BATCH)
            pos = 0
        self._pos = pos + 4
        return self._pool[pos : pos + 4]


_masking_keys = _MaskingKeys()


def serialize_frame(frame: Frame, *, mask: bool) -> list[bytes]:
    """Encode a frame for the wire as a header and a payload (RFC 6455 §5.2).

    Returning the two parts separately lets large payloads reach the socket without
    being copied into one buffer with their header; callers that want a single
    ``bytes`` join them.
    """
    head = (
        (0x80 if frame.fin else 0)
        | (RSV1 if frame.rsv1 else 0)
        | (RSV2 if frame.rsv2 else 0)
        | (RSV3 if frame.rsv3 else 0)
        | frame.opcode
    )
    mask_bit = 0x80 if mask else 0
    length = len(frame.data)
    # RFC 6455 §5.2: payload length in 7 bits, 7+16 bits or 7+64 bits
    if length < 126:
        header = bytes((head, mask_bit | length))
    elif length < 0x10000:
        header = _pack_short(head, mask_bit | 126, length)
    else:
        header = _pack_long(head, mask_bit | 127, length)
    if mask:
        # RFC 6455 §5.3: a fresh masking key for every frame a client sends
        key = _masking_keys.next()
        return [header + key, apply_mask(frame.data, key)]
    return [header, frame.data]


@dataclasses.dataclass(slots=True)
class FrameHeader:
    """The fixed part of a frame once parsed: everything but the payload."""

    opcode: Opcode
    fin: bool
    rsv: int  # the three reserved bits, as in the first byte (RSV1 | RSV2 | RSV3)
    length: int  # payload length
    mask: bytes | None  # masking key, if masked
    size: int  # header size in bytes: where the payload starts


_OPCODES: dict[int, Opcode] = {op.value: op for op in Opcode}


class FrameParser:
    """Cut a byte stream into frames, enforcing the per-frame rules of RFC 6455 §5.

    The parser reads from a ``bytearray`` that the caller appends to and consumes
    frames from its front. Its state is explicit: either no header is parsed yet, or
    :attr:`header` describes the frame whose payload is still arriving. Payloads are
    copied once, when unmasking (or slicing) them out of the buffer.
    """

    __slots__ = ("mask_expected", "max_size", "allowed_rsv", "header")

    def __init__(self, *, mask_expected: bool, max_size: int | None) -> None:
        #: True on the server side: every frame from a client must be masked.
        self.mask_expected = mask_expected
        #: Largest payload accepted in one frame, or None for no limit.
        self.max_size = max_size
        #: Reserved bits that negotiated extensions have claimed.
        self.allowed_rsv = 0
        #: Header of the frame being received, once its header is complete.
        self.header: FrameHeader | None = None

    def parse_header(self, buf: bytearray) -> FrameHeader | None:
        """Parse the header at the front of ``buf`` if complete; validate it."""
        available = len(buf)
        if available < 2:
            return None
        first, second = buf[0], buf[1]
        length = second & 0x7F
        masked = bool(second & 0x80)
        size = 2
        if length == 126:
            size = 4
        elif length == 127:
            size = 10
        if masked:
            size += 4
        if available < size:
            # Validate what can be validated early: fail fast on the first two bytes.
            self._check_first_bytes(first, second, None)
            return None
        if length == 126:
            (length,) = _unpack_short(buf, 2)
        elif length == 127:
            (length,) = _unpack_long(buf, 2)
            if length >> 63:
                # RFC 6455 §5.2: the most significant bit of a 64-bit length MUST be 0
                raise InvalidFrame("64-bit payload length with MSB set", rule="RFC 6455 §5.2")
        opcode = self._check_first_bytes(first, second, length)
        header = FrameHeader(
            opcode=opcode,
            fin=bool(first & 0x80),
            rsv=first & 0x70,
            length=length,
            mask=bytes(buf[size - 4 : size]) if masked else None,
            size=size,
        )
        self.header = header
        return header

    def _check_first_bytes(self, first: int, second: int, length: int | None) -> Opcode:
        try:
            opcode = _OPCODES[first & 0x0F]
        except KeyError:
            # RFC 6455 §5.2: opcodes 0x3-0x7 and 0xB-0xF are reserved; receiving one fails
            raise InvalidFrame(
                f"reserved opcode 0x{first & 0x0F:X}", rule="RFC 6455 §5.2"
            ) from None
        rsv = first & 0x70 & ~self.allowed_rsv
        if rsv:
            # RFC 6455 §5.2: RSV1-3 MUST be 0 unless an extension defines them
            names = "/".join(
                n for n, b in (("RSV1", RSV1), ("RSV2", RSV2), ("RSV3", RSV3)) if rsv & b
            )
            raise InvalidFrame(f"reserved bit {names} set", rule="RFC 6455 §5.2")
        masked = bool(second & 0x80)
        if masked != self.mask_expected:
            if self.mask_expected:
                # RFC 6455 §5.1: a server MUST close the connection on an unmasked frame
                raise InvalidFrame("unmasked frame from client", rule="RFC 6455 §5.1")
            # RFC 6455 §5.1: a client MUST close the connection on a masked frame
            raise InvalidFrame("masked frame from server", rule="RFC 6455 §5.1")
        if opcode >= 0x8:
            if not first & 0x80:
                # RFC 6455 §5.5: control frames MUST NOT be fragmented
                raise InvalidFrame("fragmented control frame", rule="RFC 6455 §5.5")
            if (second & 0x7F) > 125:
                # RFC 6455 §5.5: control frames have a payload length of 125 bytes or less
                raise InvalidFrame("control frame too long", rule="RFC 6455 §5.5")
        if length is not None and self.max_size is not None and length > self.max_size:
            # RFC 6455 §10.4: impose a limit on frame sizes, checked before buffering
            raise PayloadTooBig(
                f"frame of {length} bytes exceeds limit of {self.max_size} bytes",
                rule="RFC 6455 §10.4",
            )
        return opcode

    def parse(self, buf: bytearray) -> Frame | None:
        """Consume one complete frame from the front of ``buf``; None if incomplete."""
        header = self.header
        if header is None:
            header = self.parse_header(buf)
            if header is None:
                return None
        end = header.size + header.length
        if len(buf) < end:
            return None
        with memoryview(buf) as view:
            raw = view[header.size : end]
            data = bytes(raw) if header.mask is None else apply_mask(raw, header.mask)
            raw.release()
        del buf[:end]
        self.header = None
        return Frame(
            header.opcode,
            data,
            header.fin,
            bool(header.rsv & RSV1),
            bool(header.rsv & RSV2),
            bool(header.rsv & RSV3),
        )

    def peek_payload(self, buf: bytearray, start: int) -> bytes:
        """Unmasked bytes of the partial payload from offset ``start`` to what has arrived.

        Lets the caller validate a long text frame while it's still arriving.
        """
        header = self.header
        assert header is not None
        stop = min(len(buf) - header.size, header.length)
        if stop <= start:
            return b""
        with memoryview(buf) as view:
            raw = view[header.size + start : header.size + stop]
            if header.mask is None:
                data = bytes(raw)
            else:
                shift = start & 3
                data = apply_mask(raw, header.mask[shift:] + header.mask[:shift])
            raw.release()
        return data
