"""Incremental UTF-8 validation (RFC 6455 §5.6, §8.1)."""

from __future__ import annotations

import pytest

from websocket_ref import InvalidUTF8, ProtocolError
from websocket_ref.utf8 import Utf8Validator

VALID = [
    b"",
    b"plain ASCII",
    "κόσμε".encode(),  # 2-byte sequences
    "€ and 日本語".encode(),  # 3-byte sequences
    "🎉 \U0010ffff".encode(),  # 4-byte sequences, up to the last code point
    "\ud7ff\ue000".encode(),  # around the surrogate range
]

INVALID = [
    (b"\x80", "lone continuation byte"),
    (b"\xc0\x80", "overlong NUL"),
    (b"\xc1\xbf", "overlong 2-byte form"),
    (b"\xe0\x80\x80", "overlong 3-byte form"),
    (b"\xf0\x80\x80\x80", "overlong 4-byte form"),
    (b"\xed\xa0\x80", "UTF-16 surrogate U+D800"),
    (b"\xed\xbf\xbf", "UTF-16 surrogate U+DFFF"),
    (b"\xf4\x90\x80\x80", "code point above U+10FFFF"),
    (b"\xf5\x80\x80\x80", "invalid lead byte F5"),
    (b"\xff", "invalid byte FF"),
    (b"\xce", "truncated 2-byte sequence"),
    (b"\xe2\x82", "truncated 3-byte sequence"),
    (b"a\xc3(", "invalid continuation"),
]


def validate(pieces: list[bytes]) -> None:
    validator = Utf8Validator()
    for piece in pieces[:-1]:
        validator.feed(piece)
    validator.feed(pieces[-1] if pieces else b"", final=True)


@pytest.mark.parametrize("data", VALID)
def test_valid_at_once(data: bytes) -> None:
    validate([data])


@pytest.mark.parametrize("data", VALID)
def test_valid_byte_by_byte(data: bytes) -> None:
    validate([data[i : i + 1] for i in range(len(data))] + [b""])


@pytest.mark.parametrize(("data", "why"), INVALID)
def test_invalid_at_once(data: bytes, why: str) -> None:
    with pytest.raises(InvalidUTF8) as raised:
        validate([data])
    assert raised.value.close_code == 1007
    assert raised.value.rule == "RFC 6455 §8.1"


@pytest.mark.parametrize(("data", "why"), INVALID)
def test_invalid_byte_by_byte(data: bytes, why: str) -> None:
    with pytest.raises(InvalidUTF8):
        validate([data[i : i + 1] for i in range(len(data))])


def error(pieces: list[bytes]) -> str:
    with pytest.raises(InvalidUTF8) as raised:
        validate(pieces)
    return str(raised.value)


@pytest.mark.parametrize(("data", "why"), INVALID)
def test_error_message_is_independent_of_splits(data: bytes, why: str) -> None:
    # The close reason carries the message: the same bytes must give the same one,
    # however they arrived (at once, byte by byte, or cut anywhere in two).
    data = b"ok \xc3\xa9 " + data + b" and more"
    whole = error([data])
    assert error([data[i : i + 1] for i in range(len(data))]) == whole
    for cut in range(1, len(data)):
        assert error([data[:cut], data[cut:]]) == whole, cut


def test_invalid_utf8_is_a_protocol_error_with_code_1007() -> None:
    assert issubclass(InvalidUTF8, ProtocolError)
    assert InvalidUTF8.close_code == 1007


@pytest.mark.parametrize(
    ("prefix", "bad"),
    [
        ("κόσμε".encode(), b"\xff"),
        # Autobahn 6.4.x: F4 90 can't start a code point ≤ U+10FFFF.
        ("κόσμε".encode(), b"\xf4\x90"),
        (b"\xce", b"a"),  # an ASCII byte where a continuation byte is expected
        (b"\xed", b"\xa0"),  # a surrogate is known bad at its second byte
        (b"\xe0", b"\x80"),  # an overlong form is known bad at its second byte
    ],
)
def test_fails_at_first_invalid_byte_before_the_end(prefix: bytes, bad: bytes) -> None:
    validator = Utf8Validator()
    validator.feed(prefix)
    with pytest.raises(InvalidUTF8):
        validator.feed(bad)  # not final: the error is known without the rest


def test_error_message_gives_offset() -> None:
    validator = Utf8Validator()
    validator.feed(b"hello ")
    with pytest.raises(InvalidUTF8, match="at byte 8"):
        validator.feed(b"ok\xff")


def test_complete_tracks_character_boundaries() -> None:
    validator = Utf8Validator()
    assert validator.complete
    validator.feed(b"\xe2\x82")
    assert not validator.complete
    validator.feed(b"\xac")
    assert validator.complete


def test_ascii_after_an_incomplete_character_is_checked() -> None:
    # The ASCII fast path must not skip the check when a character is pending.
    validator = Utf8Validator()
    validator.feed(b"\xe2")
    with pytest.raises(InvalidUTF8):
        validator.feed(b"abc")


def test_final_with_incomplete_character_fails() -> None:
    validator = Utf8Validator()
    validator.feed(b"\xf0\x9f\x8e")
    with pytest.raises(InvalidUTF8):
        validator.feed(b"", final=True)


def test_reset_forgets_incomplete_character() -> None:
    validator = Utf8Validator()
    validator.feed(b"\xe2\x82")
    validator.reset()
    assert validator.complete
    validator.feed(b"abc", final=True)


def test_reset_allows_reuse_after_final() -> None:
    validator = Utf8Validator()
    validator.feed("é".encode(), final=True)
    validator.reset()
    validator.feed("日本".encode(), final=True)


def test_accepts_bytearray() -> None:
    validator = Utf8Validator()
    validator.feed(bytearray("é".encode()), final=True)


def test_error_offset_counts_bytes_held_from_earlier_pieces() -> None:
    validator = Utf8Validator()
    validator.feed(b"ab\xe2")
    with pytest.raises(InvalidUTF8, match="at byte 2"):
        validator.feed(b"\x82(")


def test_surrogate_fails_at_its_second_byte() -> None:
    # ED A0..BF can only start a surrogate: the error is known before the third byte
    # (the message names the sequence's first byte, as when all three come at once).
    validator = Utf8Validator()
    validator.feed(b"ok\xed")
    with pytest.raises(InvalidUTF8, match="at byte 2: invalid continuation byte"):
        validator.feed(b"\xbf")


def test_ed_followed_by_low_continuation_is_valid() -> None:
    validator = Utf8Validator()
    validator.feed(b"\xed")
    validator.feed(b"\x9f")
    validator.feed(b"\xbf", final=True)  # U+D7FF, the last code point before surrogates


# The decoder is made lazily, for the first piece that isn't ASCII: the validator
# behaves exactly as one that had a decoder from the start.


def test_ascii_only_stream_builds_no_decoder() -> None:
    validator = Utf8Validator()
    validator.feed(b"hello ")
    validator.feed(b"world", final=True)
    validator.reset()
    assert validator._decoder is None


@pytest.mark.parametrize("data", VALID + [data for data, _ in INVALID])
def test_lazy_decoder_matches_strict_decode_after_ascii_pieces(data: bytes) -> None:
    # ASCII pieces first (no decoder yet), then every split of ``data`` into two pieces:
    # the outcome and the error offset are those of bytes.decode() on the whole stream.
    stream = b"ab" + data
    try:
        stream.decode()
        expected = None
    except UnicodeDecodeError as exc:
        expected = exc.start
    for cut in range(len(data) + 1):
        validator = Utf8Validator()
        validator.feed(b"a")
        validator.feed(b"b")
        try:
            validator.feed(data[:cut])
            validator.feed(data[cut:], final=True)
        except InvalidUTF8 as exc:
            assert expected is not None, (data, cut)
            offset = int(str(exc).split("at byte ")[1].split(":")[0])
            assert offset == expected, (data, cut)
        else:
            assert expected is None, (data, cut)


def test_snapshot_and_restore_without_a_decoder() -> None:
    validator = Utf8Validator()
    validator.feed(b"abc")
    state = validator.snapshot()
    assert state == ((b"", 0), 0, 3)
    with pytest.raises(InvalidUTF8, match="at byte 3"):
        validator.feed(b"\xff")
    validator.restore(state)  # taken back: as if the bad piece never came
    assert validator.complete
    validator.feed("é".encode(), final=True)


def test_restore_a_pending_character_into_a_fresh_validator() -> None:
    validator = Utf8Validator()
    validator.feed(b"\xe2\x82")
    state = validator.snapshot()
    other = Utf8Validator()
    other.restore(state)
    assert not other.complete
    other.feed(b"\xac", final=True)  # completes € as the original would
    other.restore(state)
    with pytest.raises(InvalidUTF8, match="at byte 0"):
        other.feed(b"a")
