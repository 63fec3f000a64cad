"""The permessage-deflate extension (RFC 7692): messages compressed with DEFLATE.

Three pieces, as for every extension of :mod:`websocket_ref.extensions.base`:

* :class:`ClientPerMessageDeflateFactory` builds the client's offer and checks the
  server's answer;
* :class:`ServerPerMessageDeflateFactory` reads a client's offer and accepts it (with the
  response parameters) or declines it;
* :class:`PerMessageDeflate` compresses outgoing messages and decompresses incoming
  ones on one connection.

Vocabulary: each side has a *local* direction (what it sends, compressed by its own
encoder) and a *remote* one (what it receives, inflated by its decoder). On the client
the ``client_*`` parameters are local and the ``server_*`` ones remote; on the server
it's the reverse. Each direction has two agreed parameters: whether the LZ77 window is
reset between messages (*no context takeover*) and the largest window size in bits.

Decompression is bounded: the decoder never produces more than the message budget the
core passes (the remaining ``max_size``), so a small frame that would inflate to
gigabytes fails the connection with 1009 after using about ``max_size`` plus one window
of memory.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import zlib
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from ..exceptions import (
    DuplicateParameter,
    InvalidFrame,
    InvalidParameterName,
    InvalidParameterValue,
    NegotiationError,
    PayloadTooBig,
)
from ..frames import RSV1, Frame, Opcode
from ..headers import ExtensionName, ExtensionParameter
from ..masking import PayloadCollector
from .base import ClientExtensionFactory, Extension, ServerExtensionFactory

__all__ = [
    "PerMessageDeflate",
    "ClientPerMessageDeflateFactory",
    "ServerPerMessageDeflateFactory",
    "enable_client_permessage_deflate",
    "enable_server_permessage_deflate",
]

NAME: ExtensionName = "permessage-deflate"

# A sender strips these 4 octets, which end every sync flush, from each compressed
# message (RFC 7692 §7.2.1 [no keyword]: step 3 of the compression algorithm); the
# receiver appends them back before inflating (RFC 7692 §7.2.2 [no keyword]: step 1).
_EMPTY_BLOCK_TAIL = b"\x00\x00\xff\xff"
# Looked up once: on Python 3.11, reading an enum member from its class costs more than
# the rest of a per-frame check.
_CONT = Opcode.CONT
_Z_SYNC_FLUSH = zlib.Z_SYNC_FLUSH
# Payloads up to this size are joined with that tail and inflated in one call.
_JOIN_TAIL_LIMIT = 4096
# Payloads larger than this are inflated a slice at a time into a PayloadCollector
# (see _inflate).
_INFLATE_SLICE = 32768
# RFC 7692 §7.1.2.1 [R7692-7.1.2.1-3], §7.1.2.2 [R7692-7.1.2.2-4]: a window size is a
# decimal integer from 8 to 15 without leading zeroes.
_WINDOW_BITS_RE = re.compile(r"[89]|1[0-5]")

# The zlib options a user may set for the encoder. ``wbits`` is negotiated, not chosen;
# ``zdict`` would need the peer to know the dictionary, which RFC 7692 has no way to say.
_COMPRESS_SETTINGS = frozenset({"level", "memLevel", "strategy"})


def _zlib_window_bits(max_window_bits: int) -> int:
    """The ``wbits`` of a raw DEFLATE compressor that honours ``max_window_bits``.

    zlib's deflate can't use a 256-byte window: ``deflateInit2`` rejects a raw stream
    with ``windowBits`` 8 (zlib >= 1.2.9: ``ValueError: Invalid initialization option``
    in Python) and older versions silently used 9 instead. Using 9 is nevertheless
    correct for a peer that agreed to 8: zlib never emits a match farther than
    ``w_size - MIN_LOOKAHEAD`` = 512 - 262 = 250 bytes back, which is within the 256
    bytes of an 8-bit inflater. (zlib's manual says a request for 8 results in 9;
    Node.js's zlib binding maps 8 to 9 for raw streams for the reason above; tests check
    the distances against the zlib in use.) The alternative, refusing 8, would decline
    offers that a peer is entitled to make. Decoders aren't affected: inflating with a
    window of 8 bits is supported.
    """
    return -max(max_window_bits, 9)


class PerMessageDeflate(Extension):
    """Compress and decompress the messages of one connection (RFC 7692 §7).

    Every message sent is compressed; a message received is inflated only if RSV1 is
    set on its first frame (RFC 7692 §6: the bit "indicates whether a message is
    compressed or not", so a peer may send any message uncompressed).
    ``compress_settings`` are keyword arguments for :func:`zlib.compressobj` other than
    ``wbits``: ``level``, ``memLevel`` and ``strategy``.
    """

    name = NAME
    # RFC 7692 §6 [no keyword]: the "Per-Message Compressed" bit is RSV1
    reserved_bits = RSV1
    # RFC 7692 §6 [no keyword]: RSV1 "indicates whether a message is compressed or not",
    # so an endpoint may leave one uncompressed: send(..., compress=False) skips this
    # extension.
    compresses_messages = True

    def __init__(
        self,
        remote_no_context_takeover: bool,
        local_no_context_takeover: bool,
        remote_max_window_bits: int,
        local_max_window_bits: int,
        *,
        compress_settings: Mapping[str, Any] | None = None,
    ) -> None:
        _check_window_bits("remote_max_window_bits", remote_max_window_bits)
        _check_window_bits("local_max_window_bits", local_max_window_bits)
        self.remote_no_context_takeover = remote_no_context_takeover
        self.local_no_context_takeover = local_no_context_takeover
        self.remote_max_window_bits = remote_max_window_bits
        self.local_max_window_bits = local_max_window_bits
        # Factories validate the values; checking names here is enough.
        self.compress_settings = _check_compress_settings(compress_settings, try_zlib=False)
        self._stateless_key: tuple[object, ...] | None = None
        if local_no_context_takeover:
            settings = tuple(sorted(self.compress_settings.items()))
            self._stateless_key = (NAME, _zlib_window_bits(local_max_window_bits), settings)

        # Created lazily, and dropped after each message without context takeover, so
        # that an idle connection holds no zlib state it won't reuse.
        self._decoder: Any = None  # zlib.Decompress (not exported under that name)
        self._encoder: Any = None  # zlib.Compress
        # The latest output of the decoder, at least one window of it when there is that
        # much (references to the frames' data, compacted at the end of each message):
        # what a new inflater needs as its window when the peer ends a DEFLATE stream
        # with a BFINAL block and goes on (see _inflate()).
        self._history: list[bytes] = []
        self._history_size = 0
        # Past this many bytes kept at the end of a message, _compact_history() runs.
        self._window_size = window = 1 << remote_max_window_bits
        self._history_limit = window + (window >> 1)
        # Whether the message being received (sent) in fragments is compressed.
        self._decoding = False
        self._encoding = False

    def __repr__(self) -> str:
        return (
            f"PerMessageDeflate(remote_no_context_takeover={self.remote_no_context_takeover}, "
            f"local_no_context_takeover={self.local_no_context_takeover}, "
            f"remote_max_window_bits={self.remote_max_window_bits}, "
            f"local_max_window_bits={self.local_max_window_bits})"
        )

    # Receiving

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        """Inflate a frame of a compressed message, producing at most ``max_size`` bytes."""
        opcode = frame.opcode
        if opcode >= 0x8:
            if frame.rsv1:
                # RFC 7692 §6 [R7692-6-2]: RSV1 MUST NOT be set on control frames; receiving one
                # fails
                raise InvalidFrame("compressed control frame", rule="RFC 7692 §6")
            return frame
        if opcode is _CONT:
            if frame.rsv1:
                # RFC 7692 §6 [R7692-6-2]: RSV1 MUST NOT be set on non-first fragments of a message
                raise InvalidFrame("RSV1 set on a continuation frame", rule="RFC 7692 §6")
            if not self._decoding:
                return frame
        else:
            if not frame.rsv1:
                # RFC 7692 §6 [no keyword]: the bit "indicates whether a message is
                # compressed or not": RSV1 clear on the first frame, not compressed
                self._decoding = False
                return frame
            self._decoding = True
            if self._decoder is None:
                self._decoder = zlib.decompressobj(wbits=-self.remote_max_window_bits)

        data = self._inflate(frame.data, frame.fin, max_size)
        if frame.fin:
            self._decoding = False
            if self.remote_no_context_takeover:
                # RFC 7692 §7.2.2 [R7692-7.2.2-1, R7692-7.2.2-3]: with no_context_takeover
                # the peer starts each message with an empty window; so may we: drop it.
                self._decoder = None
                self._history, self._history_size = [], 0
            elif self._history_size > self._history_limit or len(self._history) > 64:
                # RFC 7692 §7.2.2 [R7692-7.2.2-2, R7692-7.2.2-4]: otherwise the next
                # message is inflated with the window of this one. Keep about one window
                # of output, not whole messages, for an idle connection: at most one
                # and a half windows in 64 pieces between messages (the bound
                # _compact_history() restores, checked here without a call).
                self._compact_history()
        return Frame(opcode, data, frame.fin, False, frame.rsv2, frame.rsv3)

    def decodes_unchanged(self, opcode: Opcode, rsv: int) -> bool:
        # RFC 7692 §6 [no keyword]: a message is compressed iff RSV1 is set on its first
        # frame.
        # A continuation frame with RSV1 is an error that decode() reports (1002).
        if opcode is _CONT:
            return not rsv and not self._decoding
        return not rsv & RSV1

    def _inflate(self, data: bytes, fin: bool, max_size: int | None) -> bytes:
        """Inflate one frame's payload within ``max_size`` bytes of output.

        A large payload is inflated a slice at a time, as if each slice were a frame of
        its own (the DEFLATE stream doesn't care where its input is cut), into a
        :data:`~websocket_ref.masking.PayloadCollector`. Inflating it at once has zlib
        produce the output in blocks of growing size, then copy them into the result:
        over twice the output allocated and freed per message, enough for glibc to give
        the memory back to the OS and fault it in again at every message (see
        :mod:`websocket_ref.masking`). A slice's output is freed before the next one's.
        """
        if len(data) <= _INFLATE_SLICE:
            return self._inflate_slice(data, fin, max_size, 0)
        collector = PayloadCollector(sys.maxsize if max_size is None else max_size + 1)
        with memoryview(data) as view:
            for start in range(0, len(data), _INFLATE_SLICE):
                end = start + _INFLATE_SLICE
                piece: bytes | memoryview = view[start:end]
                if end >= len(data) and len(piece) <= _JOIN_TAIL_LIMIT:
                    piece = bytes(piece)  # joined with the empty block's tail
                output = self._inflate_slice(
                    piece, fin and end >= len(data), max_size, collector.size
                )
                collector.append(output, None)
        return collector.finish()

    def _inflate_slice(
        self, data: bytes | memoryview, fin: bool, max_size: int | None, before: int
    ) -> bytes:
        """Inflate the next slice of a frame's payload, ``before`` bytes of output after
        its start, within ``max_size`` bytes of output for the frame."""
        # RFC 6455 §10.4 [R6455-10.4-1]: limit the size of a message after reassembly --
        # here after decompression too. zlib stops producing output at max_length (0 means
        # no limit), so the output stays within the budget plus one byte however much the
        # input would inflate; the byte past the budget tells "too big" from "exactly full".
        budget = 0 if max_size is None else max_size + 1 - before if max_size > 0 else 1
        # RFC 7692 §7.2.2 [no keyword]: append 0x00 0x00 0xff 0xff to the payload of the
        # message (step 1 of the decompression algorithm): to a small one at once (copying
        # a few bytes costs less than a second zlib call), fed apart after a large one, so
        # that it isn't copied.
        tail = fin and len(data) > _JOIN_TAIL_LIMIT
        if fin and not tail:
            assert type(data) is bytes  # _inflate() gives a short last slice as bytes
            data += _EMPTY_BLOCK_TAIL
        decoder = self._decoder
        try:
            output: bytes = decoder.decompress(data, budget)
            if not (tail or decoder.eof) and (not budget or len(output) < budget):
                # The common case: one call inflated the whole payload, within the
                # budget (so within max_size), and the DEFLATE stream goes on.
                # _remember(output), written out for output smaller than a window:
                if output:
                    history = self._history
                    if len(output) < self._window_size and len(history) < 128:
                        history.append(output)
                        self._history_size += len(output)
                    else:
                        self._remember(output)
                return output
            pieces: list[bytes] = []
            produced = 0
            while True:
                restarted = False  # a new inflater, after a BFINAL block, has had no input
                if output:
                    pieces.append(output)
                    produced += len(output)
                    self._remember(output)
                if budget and produced >= budget:
                    break
                if decoder.eof:
                    # RFC 7692 §7.2.1 [R7692-7.2.1-5, R7692-7.2.1-6]: a sender MAY end
                    # blocks with BFINAL set; "the next DEFLATE block follows the padded
                    # data". zlib stops at the end of such a block: go on with a new
                    # inflater that starts from the same window, which isn't dropped:
                    # RFC 7692 §7.2.2 [R7692-7.2.2-2, R7692-7.2.2-4].
                    data = decoder.unused_data
                    decoder = self._decoder = zlib.decompressobj(
                        wbits=-self.remote_max_window_bits, zdict=self._window()
                    )
                    if fin and data == _EMPTY_BLOCK_TAIL:
                        # The message ended with that block and without the header
                        # octet of an empty block (RFC 7692 §7.2.3.4): nothing follows.
                        break
                    if data:
                        output = decoder.decompress(data, budget and budget - produced)
                        continue
                    restarted = True
                if tail and not restarted:
                    data, tail = _EMPTY_BLOCK_TAIL, False
                    output = decoder.decompress(data, budget and budget - produced)
                    continue
                break
        except zlib.error as exc:
            # RFC 7692 §7.2.2 [no keyword]: "Decompress the resulting data using DEFLATE"
            # (step 2): data that isn't valid DEFLATE fails the connection (a choice:
            # RFC 6455 §10.7 [R6455-10.7-1, R6455-10.7-3], 1002)
            raise InvalidFrame(f"invalid compressed data: {exc}", rule="RFC 7692 §7.2.2") from None
        if max_size is not None and before + produced > max_size:
            raise PayloadTooBig(
                None,
                max_size,
                message=f"message of more than {max_size} bytes once decompressed",
                rule="RFC 6455 §10.4",
            )
        if len(pieces) == 1:
            return pieces[0]
        return b"".join(pieces)

    def _remember(self, output: bytes) -> None:
        """Keep ``output`` as the latest part of the window (a reference, no copy)."""
        if len(output) >= 1 << self.remote_max_window_bits:
            self._history = [output]
            self._history_size = len(output)
        else:
            self._history.append(output)
            self._history_size += len(output)
            if len(self._history) > 128:  # a message in many small frames
                self._compact_history()

    def _compact_history(self) -> None:
        """Bound the kept output: what the next message may refer to, and not much more.

        Pieces that the window no longer reaches are dropped (no copy). Copying the
        last window out (a join and a slice) happens only when the kept pieces are many
        or hold more than one and a half windows: doing it at every message cost two
        copies of a window per message once a window's worth of small messages had
        arrived (about 1 µs per 32 B message with 4 KiB windows).
        """
        history = self._history
        if not history:
            return
        window = 1 << self.remote_max_window_bits
        size = self._history_size
        # Never the last piece: the window reaches into it (size - its length is < window).
        drop = 0
        while size - len(history[drop]) >= window:
            size -= len(history[drop])
            drop += 1
        if drop:
            del history[:drop]
            self._history_size = size
        if size > window + (window >> 1) or len(history) > 64:
            tail = self._window()
            self._history, self._history_size = [tail], len(tail)

    def _window(self) -> bytes:
        """The last window of output: the dictionary of an inflater that continues."""
        window = 1 << self.remote_max_window_bits
        joined = b"".join(self._history)
        return joined[-window:] if len(joined) > window else joined

    # Sending

    def stateless_key(self) -> Hashable | None:
        """Equal for connections that compress the next message into the same bytes.

        RFC 7692 §7.1.1.1, §7.1.1.2: without context takeover, every message starts
        with an empty window, so its compressed form depends only on the window size
        and the zlib settings. With context takeover, it depends on the messages
        before it on this connection: no key.
        """
        if self._encoding:
            return None
        return self._stateless_key

    def encode(self, frame: Frame) -> Frame:
        """Compress a frame of a data message; control frames go through as they are."""
        opcode = frame.opcode
        if opcode >= 0x8:
            # RFC 7692 §6 [R7692-6-1]: control frames are never compressed; RSV1 stays clear
            return frame
        if opcode is _CONT:
            if not self._encoding:
                return frame
            rsv1 = False  # RFC 7692 §6 [R7692-6-1]: RSV1 only on the first frame
        else:
            self._encoding = True
            # RFC 7692 §6 [R7692-6-1]: RSV1 on the first frame of a compressed message only
            rsv1 = True
            if self._encoder is None:
                self._encoder = zlib.compressobj(
                    wbits=_zlib_window_bits(self.local_max_window_bits),
                    **self.compress_settings,
                )
        encoder = self._encoder
        head = encoder.compress(frame.data)
        # RFC 7692 §7.2.1 [R7692-7.2.1-6]: each frame ends on a sync flush (BFINAL 0) so the
        # peer can inflate it whole: a fragmented message is compressed once and split at
        # flush points.
        tail = encoder.flush(_Z_SYNC_FLUSH)
        if frame.fin:
            # RFC 7692 §7.2.1 [no keyword]: remove the 0x00 0x00 0xff 0xff that ends the
            # message (step 3 of the compression algorithm)
            tail = tail[:-4]
            self._encoding = False
            # RFC 7692 §7.2.1 [R7692-7.2.1-1, R7692-7.2.1-3]: without context takeover, the
            # next message starts with an empty window;
            # RFC 7692 §7.2.1 [R7692-7.2.1-2, R7692-7.2.1-4]: otherwise our choice is to take
            # the window over (the encoder is kept): better compression
            if self.local_no_context_takeover:
                self._encoder = None
        data = head + tail if head else tail
        return Frame(opcode, data, frame.fin, rsv1, frame.rsv2, frame.rsv3)


# Negotiation


def _check_window_bits(name: str, value: object) -> None:
    """Refuse a window size a factory or an extension can't be configured with."""
    if isinstance(value, bool) or not isinstance(value, int) or not 8 <= value <= 15:
        raise ValueError(f"{name} must be an integer from 8 to 15, got {value!r}")


def _check_compress_settings(
    settings: Mapping[str, Any] | None, *, try_zlib: bool = True
) -> dict[str, Any]:
    """Validate ``compress_settings`` now rather than on the first message sent.

    ``try_zlib`` builds an encoder once to have zlib check the values: worth it for a
    factory, configured once, not for each connection.
    """
    if settings is None:
        return {}
    unknown = set(settings) - _COMPRESS_SETTINGS
    if "wbits" in unknown:
        raise ValueError(
            "compress_settings must not include wbits: the window size is negotiated, "
            "set server_max_window_bits or client_max_window_bits instead"
        )
    if unknown:
        raise ValueError(f"unsupported compress_settings: {', '.join(sorted(unknown))}")
    settings = dict(settings)
    if try_zlib:
        zlib.compressobj(**settings)  # raises ValueError for an invalid level or memLevel
    return settings


@dataclasses.dataclass(frozen=True)
class _Params:
    """The parameters of one offer or one response, validated (RFC 7692 §7.1)."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None
    # True: present without a value (only possible in an offer).
    client_max_window_bits: int | bool | None = None


def _parse_params(params: Sequence[ExtensionParameter], *, is_offer: bool) -> _Params:
    """Validate the parameters of an offer or a response.

    Raise :class:`DuplicateParameter`, :class:`InvalidParameterName` or
    :class:`InvalidParameterValue`: RFC 7692 §7 makes the server decline such an offer
    and the client fail the connection on such a response.
    """
    seen: set[str] = set()
    for name, _ in params:
        if name in seen:
            # RFC 7692 §7 [R7692-7-1, R7692-7-2]: several parameters with the same name
            raise DuplicateParameter(name)
        seen.add(name)
    values: dict[str, Any] = {}
    for name, value in params:
        if name in ("server_no_context_takeover", "client_no_context_takeover"):
            if value is not None:
                # RFC 7692 §7.1.1.1, §7.1.1.2 [no keyword]: the no_context_takeover
                # parameters have no value; RFC 7692 §7 [R7692-7-1, R7692-7-2]: an invalid
                # value
                raise InvalidParameterValue(name, value)
            values[name] = True
        elif name == "server_max_window_bits" or (
            name == "client_max_window_bits" and (value is not None or not is_offer)
        ):
            if value is None or _WINDOW_BITS_RE.fullmatch(value) is None:
                # RFC 7692 §7.1.2.1 [R7692-7.1.2.1-3], §7.1.2.2 [R7692-7.1.2.2-4]: a window
                # size is an integer from 8 to 15 without leading zeroes; only
                # client_max_window_bits in an offer may come without a value
                raise InvalidParameterValue(name, value)
            values[name] = int(value)
        elif name == "client_max_window_bits":
            # RFC 7692 §7.1.2.2 [no keyword]: in an offer, it may have no value
            values[name] = True
        else:
            # RFC 7692 §7 [R7692-7-1, R7692-7-2]: a parameter this extension doesn't define
            # RFC 6455 §9.1 [R6455-9.1-5]: parameters MUST be defined for the extension
            raise InvalidParameterName(name)
    return _Params(**values)


def _check_not_negotiated(accepted_extensions: Sequence[Extension]) -> None:
    if any(extension.name == NAME for extension in accepted_extensions):
        # RFC 7692 §5 [R7692-5-3, R7692-5-4]: no other extension may use RSV1; a second
        # permessage-deflate can't be in use on the same connection
        raise NegotiationError("permessage-deflate is already negotiated")


class ClientPerMessageDeflateFactory(ClientExtensionFactory):
    """A client's offer of permessage-deflate (RFC 7692 §7.1).

    * ``server_no_context_takeover``: ask the server to reset its window after each
      message (saves our decoder's memory between messages, costs compression).
    * ``client_no_context_takeover``: tell the server we reset our window after each
      message, which lets it drop its decoder's state between messages.
    * ``server_max_window_bits``: ask the server to use at most this window (8-15).
    * ``client_max_window_bits``: ``True`` lets the server choose our window size,
      an integer also caps it (8-15), ``None`` doesn't mention it.
    * ``compress_settings``: ``level``, ``memLevel`` and ``strategy`` for our encoder.

    Several factories may be passed to ``connect()``: each makes one offer, in order of
    preference, and the server's answer is matched against them in that order.
    """

    name = NAME

    def __init__(
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | bool | None = True,
        compress_settings: Mapping[str, Any] | None = None,
    ) -> None:
        if server_max_window_bits is not None:
            _check_window_bits("server_max_window_bits", server_max_window_bits)
        if client_max_window_bits is not None and client_max_window_bits is not True:
            _check_window_bits("client_max_window_bits", client_max_window_bits)
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compress_settings = _check_compress_settings(compress_settings)

    def __repr__(self) -> str:
        return (
            f"ClientPerMessageDeflateFactory("
            f"server_no_context_takeover={self.server_no_context_takeover}, "
            f"client_no_context_takeover={self.client_no_context_takeover}, "
            f"server_max_window_bits={self.server_max_window_bits}, "
            f"client_max_window_bits={self.client_max_window_bits}, "
            f"compress_settings={self.compress_settings})"
        )

    def get_request_params(self) -> list[ExtensionParameter]:
        params: list[ExtensionParameter] = []
        if self.server_no_context_takeover:
            # RFC 7692 §7.1.1.1 [R7692-7.1.1.1-2]: a client MAY include it in an offer
            params.append(("server_no_context_takeover", None))
        if self.client_no_context_takeover:
            # RFC 7692 §7.1.1.2 [R7692-7.1.1.2-2]: a client MAY include it in an offer
            params.append(("client_no_context_takeover", None))
        if self.server_max_window_bits is not None:
            # RFC 7692 §7.1.2.1 [R7692-7.1.2.1-1]: a client MAY include it in an offer;
            # RFC 7692 §7.1.2.1 [R7692-7.1.2.1-3]: 8-15 in decimal, no leading zeroes
            params.append(("server_max_window_bits", str(self.server_max_window_bits)))
        # RFC 7692 §7.1.2.2 [R7692-7.1.2.2-3]: a client MAY include client_max_window_bits
        # in an offer; RFC 7692 §7.1.2.2 [R7692-7.1.2.2-4]: a value, if any, as above
        if self.client_max_window_bits is True:
            params.append(("client_max_window_bits", None))
        elif self.client_max_window_bits is not None:
            params.append(("client_max_window_bits", str(self.client_max_window_bits)))
        return params

    def process_response_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> PerMessageDeflate:
        """Accept the server's answer, or raise NegotiationError (the client then fails)."""
        _check_not_negotiated(accepted_extensions)
        # RFC 7692 §7 [R7692-7-2]: the client MUST fail the connection on a response with an unknown
        # parameter, an invalid value or a duplicate parameter
        response = _parse_params(params, is_offer=False)

        # RFC 7692 §7 [R7692-7-2]: ... or on a response whose configuration the client doesn't
        # support, i.e. one that doesn't accept what this offer asked for.
        if self.server_no_context_takeover and not response.server_no_context_takeover:
            # RFC 7692 §7.1.1.1 [no keyword]: a server accepts this parameter by including it
            raise NegotiationError("server_no_context_takeover missing from the response")
        # RFC 7692 §7.1.1.1 [R7692-7.1.1.1-1]: the server may include it unasked.

        server_max_window_bits = response.server_max_window_bits
        if self.server_max_window_bits is not None:
            if server_max_window_bits is None:
                # RFC 7692 §7.1.2.1 [no keyword]: a server accepts this parameter by
                # including it
                raise NegotiationError("server_max_window_bits missing from the response")
            if server_max_window_bits > self.server_max_window_bits:
                # RFC 7692 §7.1.2.1 [no keyword]: with the same or a smaller value than the
                # offer
                raise NegotiationError(
                    f"server_max_window_bits={server_max_window_bits} exceeds the offer"
                )
        # RFC 7692 §7.1.2.1 [R7692-7.1.2.1-2]: unasked, the server may limit its window.

        client_max_window_bits = response.client_max_window_bits
        assert client_max_window_bits is not True  # a response's has a value
        if client_max_window_bits is not None:
            if self.client_max_window_bits is None:
                # RFC 7692 §7.1.2.2 [R7692-7.1.2.2-2]: MUST NOT be in a response to an offer without
                # it
                raise NegotiationError("client_max_window_bits wasn't offered")
            if (
                self.client_max_window_bits is not True
                and client_max_window_bits > self.client_max_window_bits
            ):
                # RFC 7692 §7.1.2.2 [no keyword]: equal to or smaller than the value offered
                raise NegotiationError(
                    f"client_max_window_bits={client_max_window_bits} exceeds the offer"
                )
        elif self.client_max_window_bits is not True:
            # RFC 7692 §7.1.2.2 [no keyword]: a value in the offer is a hint that we won't
            # use a larger window, even if the response doesn't mention it
            client_max_window_bits = self.client_max_window_bits

        return PerMessageDeflate(
            remote_no_context_takeover=response.server_no_context_takeover,
            # RFC 7692 §7.1.1.2 [R7692-7.1.1.2-1]: a server that includes
            # client_no_context_takeover forbids context takeover; our own offer of it
            # binds us too (RFC 7692 §7.1.1.2 [R7692-7.1.1.2-2]: "a hint").
            local_no_context_takeover=(
                response.client_no_context_takeover or self.client_no_context_takeover
            ),
            remote_max_window_bits=server_max_window_bits or 15,
            local_max_window_bits=client_max_window_bits or 15,
            compress_settings=self.compress_settings,
        )


class ServerPerMessageDeflateFactory(ServerExtensionFactory):
    """A server's policy for accepting offers of permessage-deflate (RFC 7692 §7.1).

    * ``server_no_context_takeover``: reset our window after each message, and say so.
    * ``client_no_context_takeover``: require the client to reset its window after each
      message, which lets us drop our decoder's state between messages.
    * ``server_max_window_bits``: use at most this window (8-15) for what we send.
    * ``client_max_window_bits``: ask the client to use at most this window (8-15);
      possible only if the client's offer has ``client_max_window_bits``. With
      ``require_client_max_window_bits``, an offer without it is declined; otherwise it
      is accepted and the client may use a 15-bit window.
    * ``compress_settings``: ``level``, ``memLevel`` and ``strategy`` for our encoder.

    The server also honours what the client asks for: no context takeover or a smaller
    window on its side. A client's hint that it won't use context takeover is echoed in
    the response, which makes it binding and lets us drop our decoder between messages
    (RFC 7692 §7.1.1.2).
    """

    name = NAME

    def __init__(  # noqa: PLR0917 (websockets takes these positionally)
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | None = None,
        compress_settings: Mapping[str, Any] | None = None,
        require_client_max_window_bits: bool = False,
    ) -> None:
        if server_max_window_bits is not None:
            _check_window_bits("server_max_window_bits", server_max_window_bits)
        if client_max_window_bits is not None:
            _check_window_bits("client_max_window_bits", client_max_window_bits)
        elif require_client_max_window_bits:
            raise ValueError("require_client_max_window_bits needs client_max_window_bits")
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compress_settings = _check_compress_settings(compress_settings)
        self.require_client_max_window_bits = require_client_max_window_bits

    def __repr__(self) -> str:
        return (
            f"ServerPerMessageDeflateFactory("
            f"server_no_context_takeover={self.server_no_context_takeover}, "
            f"client_no_context_takeover={self.client_no_context_takeover}, "
            f"server_max_window_bits={self.server_max_window_bits}, "
            f"client_max_window_bits={self.client_max_window_bits}, "
            f"compress_settings={self.compress_settings}, "
            f"require_client_max_window_bits={self.require_client_max_window_bits})"
        )

    def process_request_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> tuple[list[ExtensionParameter], PerMessageDeflate]:
        """Accept an offer with response parameters, or raise NegotiationError to decline."""
        _check_not_negotiated(accepted_extensions)
        # RFC 7692 §7 [R7692-7-1]: the server MUST decline an offer with an unknown parameter, an
        # invalid value or a duplicate parameter
        offer = _parse_params(params, is_offer=True)
        response: list[ExtensionParameter] = []

        # RFC 7692 §7.1.1.1 [R7692-7.1.1.1-1]: accepting server_no_context_takeover means
        # including it; the server may also include it unasked.
        server_no_context_takeover = (
            offer.server_no_context_takeover or self.server_no_context_takeover
        )
        if server_no_context_takeover:
            response.append(("server_no_context_takeover", None))

        # RFC 7692 §7.1.1.2 [R7692-7.1.1.2-1]: the server may require
        # client_no_context_takeover, and our choice is to echo a client's offer of it, so
        # that neither side keeps the window: RFC 7692 §7.2.2 [R7692-7.2.2-5]: the server
        # then never has to decompress with a window the client's hint said it won't use
        client_no_context_takeover = (
            offer.client_no_context_takeover or self.client_no_context_takeover
        )
        if client_no_context_takeover:
            response.append(("client_no_context_takeover", None))

        # RFC 7692 §7.1.2.1 [R7692-7.1.2.1-2]: answer server_max_window_bits with the same
        # or a smaller value; the server may include it even if the offer didn't.
        limits = [offer.server_max_window_bits, self.server_max_window_bits]
        server_max_window_bits = min((b for b in limits if b is not None), default=None)
        if server_max_window_bits is not None:
            response.append(("server_max_window_bits", str(server_max_window_bits)))

        # RFC 7692 §7.1.2.2 [R7692-7.1.2.2-1, R7692-7.1.2.2-2]: client_max_window_bits may
        # be in the response only if it's in the offer, with a value no larger than the
        # offer's.
        offered = offer.client_max_window_bits
        client_max_window_bits: int | None
        if offered is None:
            if self.require_client_max_window_bits:
                raise NegotiationError("the offer can't limit client_max_window_bits")
            client_max_window_bits = None
        else:
            client_max_window_bits = self.client_max_window_bits or 15
            if offered is not True:
                client_max_window_bits = min(client_max_window_bits, offered)
            if self.client_max_window_bits is not None or offered is not True:
                response.append(("client_max_window_bits", str(client_max_window_bits)))
            else:
                client_max_window_bits = None  # the client may use any window

        extension = PerMessageDeflate(
            remote_no_context_takeover=client_no_context_takeover,
            local_no_context_takeover=server_no_context_takeover,
            remote_max_window_bits=client_max_window_bits or 15,
            local_max_window_bits=server_max_window_bits or 15,
            compress_settings=self.compress_settings,
        )
        return response, extension


def enable_client_permessage_deflate(
    extensions: Sequence[ClientExtensionFactory] | None,
) -> list[ClientExtensionFactory]:
    """Add a default permessage-deflate offer unless ``extensions`` has one already.

    The default offers ``client_max_window_bits`` (without a value), so that servers
    which hold many connections can shrink our window and their decoders, and compresses
    with ``memLevel=5``: 16 KiB instead of 128 KiB for the encoder's hash chains and
    symbol buffer, for a slightly lower ratio. The compression level is zlib's default
    (6), a good ratio at a moderate cost.
    """
    factories = list(extensions or [])
    if not any(factory.name == NAME for factory in factories):
        factories.append(
            ClientPerMessageDeflateFactory(
                client_max_window_bits=True, compress_settings={"memLevel": 5}
            )
        )
    return factories


def enable_server_permessage_deflate(
    extensions: Sequence[ServerExtensionFactory] | None,
) -> list[ServerExtensionFactory]:
    """Add a default permessage-deflate policy unless ``extensions`` has one already.

    A server keeps an encoder and a decoder per connection, so the default trades a
    little compression for memory: 12-bit windows (4 KiB) both ways (when the client's
    offer allows limiting its window) and ``memLevel=5``: under 64 KiB of zlib state per
    connection instead of about 300 KiB with zlib's defaults. Most messages are small
    enough that a 4 KiB window compresses them nearly as well as 32 KiB. The
    compression level is zlib's default (6).
    """
    factories = list(extensions or [])
    if not any(factory.name == NAME for factory in factories):
        factories.append(
            ServerPerMessageDeflateFactory(
                server_max_window_bits=12,
                client_max_window_bits=12,
                compress_settings={"memLevel": 5},
            )
        )
    return factories
