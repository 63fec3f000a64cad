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
import itertools
import os
import struct
from collections.abc import Callable

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


#: Opcodes of data frames, continuation included.
DATA_OPCODES = frozenset({Opcode.CONT, Opcode.TEXT, Opcode.BINARY})
#: Opcodes of control frames.
CTRL_OPCODES = frozenset({Opcode.CLOSE, Opcode.PING, Opcode.PONG})

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
                # RFC 6455 §7.4.2, §10.7 [R6455-10.7-1]: validate the code. A choice: a code outside
                # the ranges a peer may send (1004-1006, 1015, 1016-2999, 0-999, 5000+) fails
                # the connection with 1002; the RFC names no reaction
                raise InvalidCloseFrame(f"invalid close code {code}", rule="RFC 6455 §7.4")
            try:
                reason = data[2:].decode()
            except UnicodeDecodeError:
                # RFC 6455 §5.5.1 [R6455-5.5.1-3], §8.1 [R6455-8.1-1]: the reason is UTF-8-encoded;
                # invalid UTF-8 fails the connection
                raise InvalidUTF8(
                    "close reason isn't valid UTF-8", rule="RFC 6455 §5.5.1"
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


_pack_short = struct.Struct("!BBH").pack
_pack_long = struct.Struct("!BBQ").pack
_unpack_short = struct.Struct("!H").unpack_from
_unpack_long = struct.Struct("!Q").unpack_from


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


_masking_keys = _MaskingKeys()
if hasattr(os, "register_at_fork"):  # pragma: no branch - not on Windows
    # RFC 6455 §5.3 [R6455-5.3-4]: a key MUST NOT make the next one simple to predict: a
    # forked child doesn't repeat the keys of its parent.
    os.register_at_fork(after_in_child=_masking_keys.reset)


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
        header = bytes((head, mask_bit | length))
    elif length < 0x10000:
        header = _pack_short(head, mask_bit | 126, length)
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


_OPCODES: dict[int, Opcode] = {op.value: op for op in Opcode}


class FrameParser:
    """Cut a byte stream into frames, enforcing the per-frame rules of RFC 6455 §5.

    The parser reads from a ``bytearray`` that the caller appends to and consumes
    frames from its front. Its state is explicit: either no header is parsed yet, or
    :attr:`header` describes the frame whose payload is still arriving.

    Copies: a frame's payload is copied once, when unmasking (or slicing) it out of
    the bytes read. With :meth:`feed`, frames are cut straight out of the bytes just
    read rather than out of the buffer, which then only receives an incomplete frame
    left at their end: no copy into it, and no buffer allocated and freed at every read.
    A large payload (``COLLECT_THRESHOLD`` bytes or more) doesn't wait in the buffer
    either: each piece that arrives is kept as it is, or unmasked once, and the pieces
    are joined once at the end. So the buffer never grows to the size of a payload,
    which would copy it again at every resize.
    """

    __slots__ = (
        "mask_expected",
        "max_size",
        "_allowed_rsv",
        "_header",
        "_first_bytes",
        "_mask_bit",
        "_chunks",
        "_collected",
        "_data",
        "_pos",
    )

    def __init__(self, *, mask_expected: bool, max_size: int | None) -> None:
        #: True on the server side: every frame from a client must be masked.
        self.mask_expected = mask_expected
        #: Largest payload accepted in one frame, or None for no limit.
        self.max_size = max_size
        self._mask_bit = 0x80 if mask_expected else 0
        self._header: FrameHeader | None = None
        # Unmasked pieces of a large payload, and their total size.
        self._chunks: list[bytes] = []
        self._collected = 0
        # Bytes given to feed() and not parsed yet, from offset _pos.
        self._data: bytes | None = None
        self._pos = 0
        self._allowed_rsv = 0
        self._first_bytes = _first_bytes_table(0)

    @property
    def allowed_rsv(self) -> int:
        """Reserved bits that negotiated extensions have claimed."""
        return self._allowed_rsv

    @allowed_rsv.setter
    def allowed_rsv(self, bits: int) -> None:
        self._allowed_rsv = bits
        self._first_bytes = _first_bytes_table(bits)

    @property
    def header(self) -> FrameHeader | None:
        """Header of the frame being received, once its header is complete.

        Setting it to None abandons that frame (e.g. when the connection fails).
        """
        return self._header

    @header.setter
    def header(self, header: FrameHeader | None) -> None:
        self._header = header
        if header is None:
            self._data = None
            if self._chunks:
                self._chunks = []
                self._collected = 0

    @property
    def collecting(self) -> bool:
        """True while a large payload arrives piece by piece (see :meth:`feed`)."""
        return self._collected > 0

    def feed(self, data: bytes) -> None:
        """Take bytes just read, when the buffer given to :meth:`parse` is empty.

        Instead of being appended to the buffer (a copy, into memory that is allocated
        and freed again at every read), ``data`` is parsed where it is: the following
        calls to :meth:`parse` cut frames straight out of it, then copy whatever
        incomplete frame is left at its end into the buffer. Bytes of a large payload
        in progress are kept as they are, or unmasked once.
        """
        header = self._header
        if header is not None and self._collected:
            needed = header.length - self._collected
            if len(data) <= needed:
                self._add_chunk(data)
                return
            self._add_chunk(memoryview(data)[:needed])
            self._data, self._pos = data, needed
        else:
            self._data, self._pos = data, 0

    def _add_chunk(self, piece: bytes | bytearray | memoryview) -> None:
        header = self._header
        assert header is not None
        mask = header.mask
        if mask is None:
            chunk = piece if type(piece) is bytes else bytes(piece)
        else:
            shift = self._collected & 3
            chunk = apply_mask(piece, mask[shift:] + mask[:shift] if shift else mask)
        self._chunks.append(chunk)
        self._collected += len(chunk)

    def parse_header(self, buf: bytearray | memoryview) -> FrameHeader | None:
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
                # RFC 6455 §5.2 [R6455-5.2-4]: the most significant bit of a 64-bit length MUST be 0
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
        self._header = header
        return header

    def _check_first_bytes(self, first: int, second: int, length: int | None) -> Opcode:
        try:
            opcode = _OPCODES[first & 0x0F]
        except KeyError:
            # RFC 6455 §5.2 [R6455-5.2-3]: opcodes 0x3-0x7 and 0xB-0xF are reserved; an
            # unknown opcode fails the connection
            raise InvalidFrame(
                f"reserved opcode 0x{first & 0x0F:X}", rule="RFC 6455 §5.2"
            ) from None
        rsv = first & 0x70 & ~self.allowed_rsv
        if rsv:
            # RFC 6455 §5.2 [R6455-5.2-2]: a reserved bit no negotiated extension defines fails
            names = "/".join(
                n for n, b in (("RSV1", RSV1), ("RSV2", RSV2), ("RSV3", RSV3)) if rsv & b
            )
            raise InvalidFrame(f"reserved bit {names} set", rule="RFC 6455 §5.2")
        masked = bool(second & 0x80)
        if masked != self.mask_expected:
            if self.mask_expected:
                # RFC 6455 §5.1 [R6455-5.1-2, R6455-5.1-3]: a server MUST close the connection on
                # an unmasked frame (with 1002: the MAY taken)
                raise InvalidFrame("unmasked frame from client", rule="RFC 6455 §5.1")
            # RFC 6455 §5.1 [R6455-5.1-5, R6455-5.1-6]: a client MUST close the connection on a
            # masked frame (with 1002: the MAY taken)
            raise InvalidFrame("masked frame from server", rule="RFC 6455 §5.1")
        if opcode >= 0x8:
            if not first & 0x80:
                # RFC 6455 §5.5 [R6455-5.5-1], §5.4 [R6455-5.4-2]: control frames MUST NOT be
                # fragmented
                raise InvalidFrame("fragmented control frame", rule="RFC 6455 §5.5")
            if (second & 0x7F) > 125:
                # RFC 6455 §5.5 [R6455-5.5-1]: control frames have a payload length of 125 bytes
                # or less
                raise InvalidFrame("control frame too long", rule="RFC 6455 §5.5")
        if length is not None and self.max_size is not None and length > self.max_size:
            # RFC 6455 §10.4 [R6455-10.4-1, R6455-10.4-2]: impose a limit on frame sizes,
            # checked before buffering
            raise PayloadTooBig(
                f"frame of {length} bytes exceeds limit of {self.max_size} bytes",
                rule="RFC 6455 §10.4",
            )
        return opcode

    def parse(self, buf: bytearray) -> Frame | None:
        """Consume one complete frame from the front of ``buf``; None if incomplete."""
        header = self._header
        if header is not None:
            return self._parse_payload(header, buf)
        if self._data is not None:
            return self._parse_fed(buf)
        available = len(buf)
        if available < 2:
            return None
        # Fast path: a complete frame with a 7- or 16-bit length whose first two bytes
        # pass every check that _check_first_bytes() makes, here a table lookup and two
        # comparisons. Anything else, every error included, takes the general path.
        second = buf[1]
        # RFC 6455 §5.2 [R6455-5.2-2, R6455-5.2-3], §5.5 [R6455-5.5-1]: defined opcode,
        # no unclaimed RSV bit, unfragmented control frame
        opcode = self._first_bytes[buf[0]]
        # RFC 6455 §5.1 [R6455-5.1-2, R6455-5.1-5]: frames from a client are masked,
        # frames from a server aren't
        if opcode is None or second & 0x80 != self._mask_bit:
            return self._parse_slow(buf)
        length = second & 0x7F
        if length < 126:
            start = 2
        elif length == 126 and opcode < 0x8 and available >= 4:
            length = buf[2] << 8 | buf[3]
            start = 4
        else:
            return self._parse_slow(buf)
        if self._mask_bit:
            start += 4
        end = start + length
        # RFC 6455 §10.4 [R6455-10.4-1]: impose a limit on frame sizes
        if available < end or (self.max_size is not None and length > self.max_size):
            return self._parse_slow(buf)
        key = bytes(buf[start - 4 : start]) if self._mask_bit else None
        if length < 4096:
            # Slicing copies, but a small slice costs less than a memoryview.
            raw = buf[start:end]
            data = bytes(raw) if key is None else apply_mask(raw, key)
        else:
            with memoryview(buf) as view:
                piece = view[start:end]
                data = bytes(piece) if key is None else apply_mask(piece, key)
                piece.release()
        first = buf[0]
        del buf[:end]
        rsv = first & 0x70
        if rsv:
            return Frame(
                opcode,
                data,
                bool(first & 0x80),
                bool(rsv & RSV1),
                bool(rsv & RSV2),
                bool(rsv & RSV3),
            )
        return Frame(opcode, data, bool(first & 0x80))

    def _parse_fed(self, buf: bytearray) -> Frame | None:
        """:meth:`parse` for bytes given to :meth:`feed`: the same checks, the same paths."""
        data, pos = self._data, self._pos
        assert data is not None
        available = len(data) - pos
        if available >= 2:
            # The fast path of parse(), at an offset.
            second = data[pos + 1]
            # RFC 6455 §5.2 [R6455-5.2-2, R6455-5.2-3], §5.5 [R6455-5.5-1]: defined
            # opcode, no unclaimed RSV bit, unfragmented control frame
            opcode = self._first_bytes[data[pos]]
            # RFC 6455 §5.1 [R6455-5.1-2, R6455-5.1-5]: frames from a client are masked,
            # frames from a server aren't
            if opcode is not None and second & 0x80 == self._mask_bit:
                length = second & 0x7F
                start = 0
                if length < 126:
                    start = pos + 2
                elif length == 126 and opcode < 0x8 and available >= 4:
                    length = data[pos + 2] << 8 | data[pos + 3]
                    start = pos + 4
                if start and self._mask_bit:
                    start += 4
                end = start + length
                # RFC 6455 §10.4 [R6455-10.4-1]: impose a limit on frame sizes
                if (
                    start
                    and end <= len(data)
                    and (self.max_size is None or length <= self.max_size)
                ):
                    if self._mask_bit:
                        payload = apply_mask(memoryview(data)[start:end], data[start - 4 : start])
                    else:
                        payload = data[start:end]
                    self._advance(end)
                    first = data[pos]
                    rsv = first & 0x70
                    if rsv:
                        return Frame(
                            opcode,
                            payload,
                            bool(first & 0x80),
                            bool(rsv & RSV1),
                            bool(rsv & RSV2),
                            bool(rsv & RSV3),
                        )
                    return Frame(opcode, payload, bool(first & 0x80))
        view = memoryview(data)[pos:]
        header = self.parse_header(view)
        if header is not None:
            start = pos + header.size
            end = start + header.length
            if header.length >= COLLECT_THRESHOLD and start < len(data):
                # A large payload: collect it piece by piece, starting here.
                stop = min(end, len(data))
                self._add_chunk(view[header.size : stop - pos])
                self._advance(stop)
                if stop < end:
                    return None
                return self._parse_collected(header, buf)
            if end <= len(data):
                raw = view[header.size : end - pos]
                payload = bytes(raw) if header.mask is None else apply_mask(raw, header.mask)
                self._advance(end)
                return self._frame(header, payload)
        # An incomplete frame: its bytes go to the buffer, where the next ones will join.
        buf += view
        self._data = None
        if header is None:
            return None
        return self._parse_payload(header, buf)

    def _advance(self, pos: int) -> None:
        data = self._data
        assert data is not None
        if pos < len(data):
            self._pos = pos
        else:
            self._data = None

    def _parse_slow(self, buf: bytearray) -> Frame | None:
        header = self.parse_header(buf)
        if header is None:
            return None
        return self._parse_payload(header, buf)

    def _parse_payload(self, header: FrameHeader, buf: bytearray) -> Frame | None:
        if self._collected or header.length >= COLLECT_THRESHOLD:
            return self._parse_collected(header, buf)
        end = header.size + header.length
        if len(buf) < end:
            return None
        with memoryview(buf) as view:
            raw = view[header.size : end]
            data = bytes(raw) if header.mask is None else apply_mask(raw, header.mask)
            raw.release()
        del buf[:end]
        return self._frame(header, data)

    def _parse_collected(self, header: FrameHeader, buf: bytearray) -> Frame | None:
        """The general path for a large payload: move what arrived into ``_chunks``."""
        if not self._collected:
            # The header is still at the front of the buffer.
            if len(buf) <= header.size:
                return None
            del buf[: header.size]
        needed = header.length - self._collected
        if buf and needed:
            take = min(needed, len(buf))
            with memoryview(buf) as view:
                piece = view[:take]
                self._add_chunk(piece)
                piece.release()
            del buf[:take]
            needed -= take
        if needed:
            return None
        chunks = self._chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._chunks = []
        self._collected = 0
        return self._frame(header, data)

    def _frame(self, header: FrameHeader, data: bytes) -> Frame:
        self._header = None
        rsv = header.rsv
        return Frame(
            header.opcode, data, header.fin, bool(rsv & RSV1), bool(rsv & RSV2), bool(rsv & RSV3)
        )

    def peek_payload(self, buf: bytearray, start: int) -> bytes:
        """Unmasked bytes of the partial payload from offset ``start`` to what has arrived.

        Lets the caller validate a long text frame while it's still arriving.
        """
        header = self._header
        assert header is not None
        if self._collected or header.length >= COLLECT_THRESHOLD:
            return self._peek_collected(start)
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

    def _peek_collected(self, start: int) -> bytes:
        if start >= self._collected:
            return b""
        # Typically ``start`` is where the previous peek stopped: the last chunk or two.
        pieces: list[bytes] = []
        offset = self._collected
        for chunk in reversed(self._chunks):
            offset -= len(chunk)
            if offset <= start:
                pieces.append(chunk[start - offset :] if offset < start else chunk)
                break
            pieces.append(chunk)
        pieces.reverse()
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)


#: Payload size from which :class:`FrameParser` collects a payload piece by piece.
COLLECT_THRESHOLD = 65536


def _first_bytes_table(allowed_rsv: int) -> tuple[Opcode | None, ...]:
    """For each value of a frame's first byte: its opcode if the byte is acceptable.

    Acceptable: a defined opcode (RFC 6455 §5.2), no reserved bit that no extension
    claimed (§5.2), and FIN set on control frames (§5.5). Other values map to None and
    go through :meth:`FrameParser._check_first_bytes`, which raises the right error.
    Shared by every parser with the same ``allowed_rsv`` (there are 8 possible values).
    """
    table = _FIRST_BYTES_TABLES.get(allowed_rsv)
    if table is None:
        table = _FIRST_BYTES_TABLES[allowed_rsv] = tuple(
            None
            # RFC 6455 §5.2 [R6455-5.2-3]: opcodes 0x3-0x7 and 0xB-0xF are reserved
            if (opcode := _OPCODES.get(first & 0x0F)) is None
            # RFC 6455 §5.2 [R6455-5.2-2]: RSV1-3 MUST be 0 unless an extension defines them
            or first & 0x70 & ~allowed_rsv
            # RFC 6455 §5.5 [R6455-5.5-1]: control frames MUST NOT be fragmented
            or (opcode >= 0x8 and not first & 0x80)
            else opcode
            for first in range(256)
        )
    return table


_FIRST_BYTES_TABLES: dict[int, tuple[Opcode | None, ...]] = {}
