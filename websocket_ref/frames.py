"""The frame layer of RFC 6455 §5: opcodes, frames, close payloads and the wire format.

:class:`Frame` is a plain value; :func:`serialize_frame` turns one into bytes and
:func:`parse_frame` reads one back: the reference parser, §5.2 from top to bottom (header,
extended length, masking key, payload), enforcing every rule that can be checked on a
frame alone (lengths, masking, reserved opcodes and bits, control frame limits). The
protocol uses :class:`~websocket_ref.frame_parser.FrameParser`, its fast, incremental
version, proven equivalent to it by the tests. Rules that need context (fragmentation,
UTF-8 across frames, message size) live in :mod:`websocket_ref.protocol`.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import os
import struct
from collections.abc import Callable
from typing import Final

from .exceptions import InvalidCloseFrame, InvalidFrame, InvalidUTF8, PayloadTooBig
from .masking import apply_mask as _apply_mask

# Final names are constants in the mypyc build, read without a lookup in the module's dict.
apply_mask: Final = _apply_mask

__all__ = [
    "Opcode",
    "DATA_OPCODES",
    "CTRL_OPCODES",
    "CloseCode",
    "Frame",
    "Close",
    "FrameHeader",
    "parse_header",
    "parse_frame",
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


#: Opcodes of data frames, continuation included.
DATA_OPCODES = frozenset({Opcode.CONT, Opcode.TEXT, Opcode.BINARY})
#: Opcodes of control frames.
CTRL_OPCODES = frozenset({Opcode.CLOSE, Opcode.PING, Opcode.PONG})


def is_data_opcode(opcode: Opcode) -> bool:
    """True for CONT, TEXT and BINARY: data frames, whose opcode has its most significant
    bit at 0 (RFC 6455 §5.6; the reserved 0x3-0x7 never get here, the parser refuses them).

    Identity tests rather than ``<``: in the mypyc build they are pointer comparisons,
    where ``<`` on an :class:`Opcode` (an IntEnum: a Python object there, not a native
    int) is a generic Python comparison, ~100 instructions per frame.
    """
    return opcode is Opcode.TEXT or opcode is Opcode.BINARY or opcode is Opcode.CONT


# Bit masks of the reserved bits in the first byte of a frame (RFC 6455 §5.2 [R6455-5.2-1]).
#: Bit mask of RSV1 in a frame's first byte (permessage-deflate's "compressed" bit).
RSV1 = 0x40
#: Bit mask of RSV2 in a frame's first byte.
RSV2 = 0x20
#: Bit mask of RSV3 in a frame's first byte.
RSV3 = 0x10


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

# RFC 6455 §7.4.1 [R6455-7.4.1-1], §7.4.2: codes an endpoint may put in a Close frame. 1004 is
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


# init=False: the __init__ below is the one dataclasses would generate, written out so
# that mypyc compiles it (a generated __init__ runs as interpreted Python even in the
# compiled build: about 2,000 instructions per frame, two frames per echoed message).
@dataclasses.dataclass(slots=True, init=False)
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

    def __init__(  # noqa: PLR0917 - the positional signature dataclasses generates
        self,
        opcode: Opcode,
        data: bytes,
        fin: bool = True,
        rsv1: bool = False,
        rsv2: bool = False,
        rsv3: bool = False,
    ) -> None:
        self.opcode = opcode
        self.data = data
        self.fin = fin
        self.rsv1 = rsv1
        self.rsv2 = rsv2
        self.rsv3 = rsv3

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
                # RFC 6455 §7.4.2, §10.7 [R6455-10.7-1]: validate the code. A choice: a code outside
                # the ranges a peer may send (1004-1006, 1015, 1016-2999, 0-999, 5000+) fails
                # the connection with 1002; the RFC names no reaction
                raise InvalidCloseFrame(f"invalid close code {code}", rule="RFC 6455 §7.4")
            try:
                reason = data[2:].decode()
            except UnicodeDecodeError as exc:
                # RFC 6455 §5.5.1 [R6455-5.5.1-3], §8.1 [R6455-8.1-1]: the reason is UTF-8-encoded;
                # invalid UTF-8 fails the connection
                raise InvalidUTF8(
                    "close reason isn't valid UTF-8",
                    rule="RFC 6455 §5.5.1",
                    data=exc.object,
                    start=exc.start,
                    end=exc.end,
                    reason=exc.reason,
                ) from None
            return cls(code, reason)
        if len(data) == 0:
            # RFC 6455 §7.1.5: a Close frame without a code is reported as 1005
            return cls(CloseCode.NO_STATUS_RCVD, "")
        # RFC 6455 §5.5.1 [R6455-5.5.1-2]: a body, if any, starts with a 2-byte status code
        raise InvalidCloseFrame("close frame payload of 1 byte", rule="RFC 6455 §5.5.1")

    def serialize(self) -> bytes:
        """Return the payload of a Close frame carrying this code and reason."""
        if not is_valid_close_code(self.code):
            # RFC 6455 §7.4.1 [R6455-7.4.1-3, R6455-7.4.1-4, R6455-7.4.1-6]: 1005, 1006 and 1015
            # MUST NOT be set in a Close frame (nor the codes §7.4.2 leaves unassigned)
            raise InvalidCloseFrame(f"invalid close code {self.code}", rule="RFC 6455 §7.4")
        payload = self.code.to_bytes(2, "big") + self.reason.encode()
        if len(payload) > 125:
            # RFC 6455 §5.5 [R6455-5.5-1]: control frame payloads are at most 125 bytes
            raise InvalidFrame("close reason too long", rule="RFC 6455 §5.5")
        return payload


_pack_long = struct.Struct("!BBQ").pack


#: Where masking keys come from: the operating system's CSPRNG (tests replace it).
_urandom = os.urandom


class _MaskingKeys:
    """Masking keys from the OS's CSPRNG, fetched in batches to spare system calls.

    One ``os.urandom`` call per frame would dominate small-frame sending, so keys are
    cut from a batch of random bytes. Cutting must never hand the same key out twice,
    which would make the next key predictable to whoever saw the first:

    * across threads (the sync API sends from several): each key's index comes from an
      :func:`itertools.count`, which hands out each number once, atomically; a batch
      and its counter are replaced together, as one tuple;
    * across processes: a child created by ``fork()`` inherits the parent's batch, and
      both would send the same keys; :func:`os.register_at_fork` gives the child a
      fresh batch.
    """

    __slots__ = ("_batch",)

    _BATCH = 4096  # bytes: 1024 keys

    def __init__(self) -> None:
        self._batch: tuple[bytes, Callable[[], int]] = (b"", itertools.count().__next__)

    def reset(self) -> None:
        """Drop the current batch: the next key comes from a new one."""
        self._batch = (b"", itertools.count().__next__)

    def next(self) -> bytes:
        pool, counter = self._batch
        pos = counter() * 4
        if pos < len(pool):
            return pool[pos : pos + 4]
        # RFC 6455 §5.3 [R6455-5.3-3]: the masking key MUST be derived from a strong source of
        # entropy: the OS's CSPRNG. A thread that gets here at the same time as another makes
        # a batch of its own and takes its first key; neither key is handed out again.
        pool = _urandom(self._BATCH)
        self._batch = (pool, itertools.count(1).__next__)
        return pool[:4]


_masking_keys: Final = _MaskingKeys()
if hasattr(os, "register_at_fork"):  # pragma: no branch - not on Windows
    # RFC 6455 §5.3 [R6455-5.3-4]: a key MUST NOT make the next one simple to predict: a
    # forked child doesn't repeat the keys of its parent.
    os.register_at_fork(after_in_child=_masking_keys.reset)


#: ``bytes((i,))`` for each byte value ``i``.
_BYTES: Final = tuple(bytes((i,)) for i in range(256))


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
    # RFC 6455 §5.2 [R6455-5.2-5, R6455-5.2-4]: the payload length in 7, 7+16 or 7+64
    # bits, the minimal number of bytes; a 64-bit length is below 2**63
    if length < 126:
        # Two one-byte bytes joined: native in the mypyc build (int.to_bytes() there boxes
        # the int and converts it generically, ~3x the instructions).
        header = _BYTES[head] + _BYTES[mask_bit | length]
    elif length < 0x10000:
        header = (head << 24 | (mask_bit | 126) << 16 | length).to_bytes(4, "big")
    else:
        header = _pack_long(head, mask_bit | 127, length)
    if mask:
        # RFC 6455 §5.3 [R6455-5.3-1, R6455-5.3-2], §10.3 [R6455-10.3-1]: a fresh masking key
        # for every frame a client sends
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

    def frame(self, payload: bytes) -> Frame:
        """The frame this header starts, with its (unmasked) payload."""
        rsv = self.rsv
        return Frame(
            self.opcode, payload, self.fin, bool(rsv & RSV1), bool(rsv & RSV2), bool(rsv & RSV3)
        )


_OPCODES: dict[int, Opcode] = {op.value: op for op in Opcode}


# The reference parser: the frame format read from top to bottom. FrameParser (frame_parser.py)
# is the fast version the protocol uses, proven equivalent to this by tests/test_frame_parser.py.


def parse_header(
    data: bytes | bytearray | memoryview,
    *,
    mask_expected: bool,
    max_size: int | None = None,
    allowed_rsv: int = 0,
) -> FrameHeader | None:
    """Parse and check the frame header at the front of ``data``; None until it's complete.

    The wire format of RFC 6455 §5.2::

          0                   1                   2                   3
          0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
         +-+-+-+-+-------+-+-------------+-------------------------------+
         |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
         |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
         |N|V|V|V|       |S|             |   (if payload len==126/127)   |
         | |1|2|3|       |K|             |                               |
         +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
         |     Extended payload length continued, if payload len == 127  |
         + - - - - - - - - - - - - - - - +-------------------------------+
         |                               |Masking-key, if MASK set to 1  |
         +-------------------------------+-------------------------------+
         | Masking-key (continued)       |          Payload Data         |
         +-------------------------------- - - - - - - - - - - - - - - - +
         :                     Payload Data continued ...                :
         +---------------------------------------------------------------+

    Each rule is checked as soon as the bytes it concerns have arrived, so a bad frame
    fails the connection before the rest of it is read. ``mask_expected`` is True on the
    server side; ``allowed_rsv`` holds the reserved bits negotiated extensions claimed;
    ``max_size`` bounds the payload length (None: no limit).
    """
    if len(data) < 2:
        return None
    first, second = data[0], data[1]
    opcode = _OPCODES.get(first & 0x0F)
    if opcode is None:
        # RFC 6455 §5.2 [R6455-5.2-3]: opcodes 0x3-0x7 and 0xB-0xF are reserved; an
        # unknown opcode fails the connection
        raise InvalidFrame(f"reserved opcode 0x{first & 0x0F:X}", rule="RFC 6455 §5.2")
    rsv = first & 0x70
    if rsv & ~allowed_rsv:
        # RFC 6455 §5.2 [R6455-5.2-2]: a reserved bit no negotiated extension defines fails
        bits = rsv & ~allowed_rsv
        names = "/".join(n for n, b in (("RSV1", RSV1), ("RSV2", RSV2), ("RSV3", RSV3)) if bits & b)
        raise InvalidFrame(f"reserved bit {names} set", rule="RFC 6455 §5.2")
    masked = bool(second & 0x80)
    if masked and not mask_expected:
        # RFC 6455 §5.1 [R6455-5.1-5, R6455-5.1-6]: a client MUST close the connection on a
        # masked frame (with 1002: the MAY taken)
        raise InvalidFrame("masked frame from server", rule="RFC 6455 §5.1")
    if mask_expected and not masked:
        # RFC 6455 §5.1 [R6455-5.1-2, R6455-5.1-3]: a server MUST close the connection on an
        # unmasked frame (with 1002: the MAY taken)
        raise InvalidFrame("unmasked frame from client", rule="RFC 6455 §5.1")
    length = second & 0x7F
    if opcode >= 0x8 and not first & 0x80:
        # RFC 6455 §5.5 [R6455-5.5-1], §5.4 [R6455-5.4-2]: control frames MUST NOT be fragmented
        raise InvalidFrame("fragmented control frame", rule="RFC 6455 §5.5")
    if opcode >= 0x8 and length > 125:
        # RFC 6455 §5.5 [R6455-5.5-1]: control frames have a payload length of 125 bytes or less
        raise InvalidFrame("control frame too long", rule="RFC 6455 §5.5")
    size = 2
    if length == 126:  # a 16-bit length follows
        if len(data) < 4:
            return None
        length, size = int.from_bytes(data[2:4], "big"), 4
    elif length == 127:  # a 64-bit length follows
        if len(data) < 10:
            return None
        length, size = int.from_bytes(data[2:10], "big"), 10
        if length >> 63:
            # RFC 6455 §5.2 [R6455-5.2-4]: the most significant bit of a 64-bit length MUST be 0
            raise InvalidFrame("64-bit payload length with MSB set", rule="RFC 6455 §5.2")
    # RFC 6455 §5.2 [R6455-5.2-5]: a choice: a non-minimal length encoding is accepted
    if max_size is not None and length > max_size:
        # RFC 6455 §10.4 [R6455-10.4-1, R6455-10.4-2]: impose a limit on frame sizes,
        # checked before buffering
        raise PayloadTooBig(
            length,
            max_size,
            message=f"frame of {length} bytes exceeds limit of {max_size} bytes",
            rule="RFC 6455 §10.4",
        )
    mask = None
    if masked:
        if len(data) < size + 4:
            return None
        mask, size = bytes(data[size : size + 4]), size + 4
    return FrameHeader(opcode, bool(first & 0x80), rsv, length, mask, size)


def parse_frame(
    data: bytes | bytearray | memoryview,
    *,
    mask_expected: bool,
    max_size: int | None = None,
    allowed_rsv: int = 0,
) -> tuple[Frame, int] | None:
    """Parse the frame at the front of ``data``: the frame and its size on the wire, or
    None until it's complete. Arguments as for :func:`parse_header`."""
    header = parse_header(
        data, mask_expected=mask_expected, max_size=max_size, allowed_rsv=allowed_rsv
    )
    if header is None:
        return None
    end = header.size + header.length
    if len(data) < end:
        return None
    payload = bytes(data[header.size : end])
    if header.mask is not None:
        # RFC 6455 §6.2 [R6455-6.2-7]: a server removes the masking (§5.3): payload octet i
        # XOR masking-key octet i MOD 4
        payload = apply_mask(payload, header.mask)
    return header.frame(payload), end
