"""Incremental UTF-8 validation for text messages (RFC 6455 §5.6, §8.1).

A text message may be split across frames, and a frame may arrive in pieces; a
multi-byte character can straddle any of those boundaries. The validator is fed
pieces in order and raises :class:`~websocket_ref.exceptions.InvalidUTF8` as soon as
the bytes seen so far can't be the start of valid UTF-8, which lets an endpoint fail
the connection at the first invalid byte rather than at the end of the message.

The work is done by CPython's UTF-8 decoder (strict, incremental), which rejects
overlong forms, surrogates and code points above U+10FFFF as soon as the offending
byte is seen. ASCII pieces, the common case, skip the decoder entirely; the decoder
is only made for the first piece that isn't ASCII, so a connection whose text is all
ASCII (or that sends no text at all) never builds one.
"""

from __future__ import annotations

import codecs

from .exceptions import InvalidUTF8

__all__ = ["Utf8Validator"]

_Decoder = codecs.getincrementaldecoder("utf-8")


class Utf8Validator:
    """Validate a stream of bytes as UTF-8, piece by piece."""

    __slots__ = ("_decoder", "_pending", "_offset")

    def __init__(self) -> None:
        # Made by _get_decoder() for the first piece that isn't ASCII: building one costs
        # more than validating a short ASCII message.
        self._decoder: codecs.IncrementalDecoder | None = None
        # How many first bytes of an incomplete character the decoder holds.
        self._pending = 0
        # Number of bytes validated so far, for error messages.
        self._offset = 0

    def feed(self, data: bytes | bytearray, final: bool = False) -> None:
        """Validate the next piece; with ``final``, the stream must end here."""
        if not self._pending and data.isascii():
            self._offset += len(data)
            return
        decoder = self._get_decoder()
        try:
            decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            # exc.start counts from the bytes the decoder held back from earlier pieces.
            raise InvalidUTF8(
                f"invalid UTF-8 at byte {self._offset - self._pending + exc.start}: {exc.reason}",
                rule="RFC 6455 §8.1",
                data=exc.object[exc.start : exc.end],
                end=exc.end - exc.start,
                reason=exc.reason,
            ) from None
        self._offset += len(data)
        pending = decoder.getstate()[0]
        self._pending = len(pending)
        if self._pending >= 2 and pending[0] == 0xED and pending[1] >= 0xA0:
            # RFC 6455 §8.1 [R6455-8.1-1]: fail (a choice) at the first invalid byte. CPython's
            # decoder waits for the
            # third byte of ED A0-BF xx, which can only be a UTF-16 surrogate (U+D800-DFFF).
            # The message is the one the decoder gives when the three bytes come at once
            # (the sequence's first byte, "invalid continuation byte"): the same bytes make
            # the same close reason, however they were split.
            raise InvalidUTF8(
                f"invalid UTF-8 at byte {self._offset - self._pending}: invalid continuation byte",
                rule="RFC 6455 §8.1",
                data=bytes(pending[:1]),
                end=1,
                reason="invalid continuation byte",
            )

    def _get_decoder(self) -> codecs.IncrementalDecoder:
        decoder = self._decoder
        if decoder is None:
            decoder = self._decoder = _Decoder("strict")
        return decoder

    def snapshot(self) -> tuple[tuple[bytes, int], int, int]:
        """The validator's state, to :meth:`restore` if a piece must be taken back."""
        decoder = self._decoder
        # No decoder yet: the state of a fresh one (nothing held back).
        decoder_state = (b"", 0) if decoder is None else decoder.getstate()
        return decoder_state, self._pending, self._offset

    def restore(self, state: tuple[tuple[bytes, int], int, int]) -> None:
        """Return to a state from :meth:`snapshot`."""
        decoder_state, self._pending, self._offset = state
        if self._decoder is not None or decoder_state != (b"", 0):
            self._get_decoder().setstate(decoder_state)

    def reset(self) -> None:
        """Start validating a new, independent stream."""
        if self._pending:
            self._get_decoder().reset()
            self._pending = 0
        self._offset = 0

    @property
    def complete(self) -> bool:
        """True if the bytes fed so far end on a character boundary."""
        return not self._pending
