"""The fast frame parser: :func:`~websocket_ref.frames.parse_frame`, incremental and quick.

:func:`~websocket_ref.frames.parse_frame` is the reference: RFC 6455 §5.2 from top to
bottom, every per-frame rule in one place. :class:`FrameParser` is what the protocol
uses: it gives the same frames and the same errors for any byte stream, however it's
cut into reads (``tests/test_frame_parser.py`` proves it with hypothesis), and adds
speed, not rules:

* **Short frames** (a 7- or 16-bit length, complete in the bytes at hand) are
  recognized from their first byte with one table lookup; the table is computed by the
  reference parser itself (``_first_bytes_table``). Anything else — a longer or
  incomplete frame, and every error — goes to :func:`~websocket_ref.frames.parse_header`.
* **No receive buffer in the way**: frames are cut straight out of the bytes a read
  returned (:meth:`FrameParser.feed`); only an incomplete frame at their end is copied
  to the buffer. Copying every read into the buffer first cost a copy, and a buffer
  allocated and freed at every read.
* **Large payloads** (:data:`COLLECT_THRESHOLD` bytes or more) never wait in the
  buffer, which would copy them again at every resize: each piece that arrives goes to
  a :data:`~websocket_ref.masking.PayloadCollector`, unmasked once, which puts the
  payload together (the reference keeps the pieces and joins them at the end; the C
  version copies them into the payload as they arrive, which frees half as much
  memory per message).
"""

from __future__ import annotations

from typing import Final

from .exceptions import InvalidFrame
from .frames import RSV1, RSV2, RSV3, Frame, FrameHeader, Opcode, parse_header
from .masking import Collector, PayloadCollector
from .masking import apply_mask as _apply_mask

# Final names are constants in the mypyc build, read without a lookup in the module's dict.
apply_mask: Final = _apply_mask

__all__ = ["FrameParser", "COLLECT_THRESHOLD"]

#: Payload size from which :class:`FrameParser` collects a payload piece by piece.
COLLECT_THRESHOLD = 65536

# Below this payload size, slicing a payload out of the bytes read costs less than a
# memoryview of it.
_VIEW_THRESHOLD: Final = 4096


class FrameParser:
    """Cut a byte stream into frames, as :func:`~websocket_ref.frames.parse_frame` would.

    The parser reads from a ``bytearray`` that the caller appends to and consumes
    frames from its front, or from bytes just read (:meth:`feed`). Its state: either no
    header is parsed yet, or :attr:`header` describes the frame whose payload is still
    arriving (kept in the buffer, or, for a large payload, in pieces).
    """

    __slots__ = (
        "mask_expected",
        "max_size",
        "_allowed_rsv",
        "_header",
        "_first_bytes",
        "_mask_bit",
        "_collector",
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
        # The large payload being collected, and its size so far.
        self._collector: Collector | None = None
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
            if self._collector is not None:
                self._collector = None
                self._collected = 0

    @property
    def collecting(self) -> bool:
        """True while a large payload arrives piece by piece (see :meth:`feed`)."""
        return self._collected > 0

    def feed(self, data: bytes) -> None:
        """Take bytes just read, once the frames given before are parsed.

        Instead of being appended to the buffer (a copy, into memory that is allocated
        and freed again at every read), ``data`` is parsed where it is: the following
        calls to :meth:`parse` complete the frame whose start waits in the buffer, if
        any, with just the bytes it lacks, cut the next frames straight out of ``data``,
        then copy whatever incomplete frame is left at its end into the buffer. Bytes of
        a large payload in progress are kept as they are, or unmasked once.
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

    def parse(self, buf: bytearray) -> Frame | None:
        """Consume one complete frame from the front of ``buf``, then of the bytes given to
        :meth:`feed` (which come after it); None until one is complete."""
        if buf and self._data is not None:
            self._top_up(buf)
        header = self._header
        if header is not None:
            return self._parse_payload(header, buf)
        if buf:
            # The start of a frame that was incomplete, or bytes given to the buffer.
            header = self._parse_header(buf)
            if header is None:
                return None
            if self._data is not None:
                self._top_up(buf)
            return self._parse_payload(header, buf)
        data = self._data
        if data is None:
            return None
        return self._cut(data, self._pos, buf)

    def _top_up(self, buf: bytearray) -> None:
        """Move from the bytes given to :meth:`feed` to ``buf`` what completes the header,
        or the frame, whose start waits there: only that frame is parsed from ``buf``
        (copied, and deleted from its front); the frames after it are cut out of the
        bytes where they are."""
        data = self._data
        assert data is not None
        while True:
            header = self._header
            if header is not None:
                needed = header.size + header.length - len(buf)
            elif len(buf) >= 2:
                needed = _header_size(buf[1]) - len(buf)
            else:
                needed = 2 - len(buf)
            if needed <= 0:
                return
            pos = self._pos
            if pos + needed >= len(data):
                buf += memoryview(data)[pos:]
                self._data = None
                return
            buf += memoryview(data)[pos : pos + needed]
            self._pos = pos + needed
            if header is not None or len(buf) > 2:
                return

    def _cut(self, data: bytes, pos: int, buf: bytearray) -> Frame | None:
        """Cut the frame at offset ``pos`` out of ``data`` (bytes given to :meth:`feed`).

        ``data`` is typed ``bytes``: in the mypyc build, reading its bytes and slicing it
        are native operations, with no Python integer or slice objects.
        """
        available = len(data) - pos
        if available < 2:
            return self._parse_fed(data, pos, buf)
        # The fast path: a complete frame with a 7- or 16-bit length, whose first byte
        # the reference accepts (the table), masked as expected and within max_size.
        # Anything else, every error included, takes the general path below.
        first = data[pos]
        opcode = self._first_bytes[first]
        second = data[pos + 1]
        mask_bit = self._mask_bit
        if opcode is not None and second & 0x80 == mask_bit:
            length = second & 0x7F
            start = 0
            if length < 126:
                start = pos + 2
            elif length == 126 and not first & 0x08 and available >= 4:
                # A 16-bit length; a control frame (opcode 0x8-0xF) can't have one.
                length = data[pos + 2] << 8 | data[pos + 3]
                start = pos + 4
            if start and mask_bit:
                start += 4
            end = start + length
            max_size = self.max_size
            if start and end - pos <= available and (max_size is None or length <= max_size):
                if length >= _VIEW_THRESHOLD:
                    with memoryview(data) as view:
                        piece = view[start:end]
                        payload = (
                            apply_mask(piece, data[start - 4 : start]) if mask_bit else bytes(piece)
                        )
                        piece.release()
                elif mask_bit:
                    payload = apply_mask(data[start:end], data[start - 4 : start])
                else:
                    payload = data[start:end]
                if end < len(data):
                    self._pos = end
                else:
                    self._data = None
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
        return self._parse_fed(data, pos, buf)

    def _parse_header(self, data: bytearray | memoryview) -> FrameHeader | None:
        """The reference's header parser; the header becomes the frame in progress."""
        header = parse_header(
            data,
            mask_expected=self.mask_expected,
            max_size=self.max_size,
            allowed_rsv=self._allowed_rsv,
        )
        self._header = header
        return header

    def _parse_fed(self, data: bytes, pos: int, buf: bytearray) -> Frame | None:
        """The general path for bytes given to :meth:`feed`, from offset ``pos``."""
        view = memoryview(data)[pos:]
        header = self._parse_header(view)
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

    def _add_chunk(self, piece: bytes | bytearray | memoryview) -> None:
        header = self._header
        assert header is not None
        collector = self._collector
        if collector is None:
            collector = self._collector = PayloadCollector(header.length)
        collector.append(piece, header.mask)
        self._collected = collector.size

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
        collector = self._collector
        assert collector is not None
        data = collector.finish()
        self._collector = None
        self._collected = 0
        return self._frame(header, data)

    def _frame(self, header: FrameHeader, data: bytes) -> Frame:
        self._header = None
        return header.frame(data)

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
        collector = self._collector
        if collector is None or start >= self._collected:
            return b""
        return collector.peek(start)


def _header_size(second: int) -> int:
    """Size of a frame header, from its second byte: the MASK bit and the 7-bit length
    (126: a 16-bit length follows, 127: a 64-bit one)."""
    length = second & 0x7F
    size = 2 if length < 126 else 4 if length == 126 else 10
    return size + 4 if second & 0x80 else size


def _first_bytes_table(allowed_rsv: int) -> tuple[Opcode | None, ...]:
    """For each value of a frame's first byte: its opcode if the reference accepts it.

    The table is the reference parser's own verdict on every first byte (opcode,
    reserved bits, FIN on control frames) in an empty frame whose second byte is
    acceptable; a first byte it refuses maps to None, and its frame takes the general
    path, which raises the reference's error. Shared by every parser with the same
    ``allowed_rsv`` (there are 8 possible values).
    """
    table = _FIRST_BYTES_TABLES.get(allowed_rsv)
    if table is None:
        entries: list[Opcode | None] = []
        for first in range(256):
            try:
                header = parse_header(
                    bytes((first, 0x80, 0, 0, 0, 0)), mask_expected=True, allowed_rsv=allowed_rsv
                )
            except InvalidFrame:
                entries.append(None)
            else:
                assert header is not None
                entries.append(header.opcode)
        table = _FIRST_BYTES_TABLES[allowed_rsv] = tuple(entries)
    return table


_FIRST_BYTES_TABLES: dict[int, tuple[Opcode | None, ...]] = {}
