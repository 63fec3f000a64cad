"""Incremental UTF-8 validation (RFC 6455 §8.1) of text arriving in pieces."""

from __future__ import annotations

import pytest
from payloads import json_payload, text_payload

from websocket_ref.utf8 import Utf8Validator

SIZE = 2**20
PIECE = 65536  # what a socket read typically returns


@pytest.mark.parametrize("kind", ["ascii", "mixed"])
def test_validate_in_pieces(benchmark, kind: str) -> None:
    benchmark.group = f"utf-8 1 MiB in {PIECE // 1024} KiB pieces"
    data = json_payload(SIZE) if kind == "ascii" else text_payload(SIZE)
    # Pieces cut at fixed offsets, so characters straddle boundaries.
    pieces = [data[i : i + PIECE] for i in range(0, len(data), PIECE)]

    def validate() -> None:
        validator = Utf8Validator()
        for piece in pieces[:-1]:
            validator.feed(piece)
        validator.feed(pieces[-1], final=True)

    benchmark(validate)


@pytest.mark.parametrize("kind", ["ascii", "mixed"])
def test_validate_small_messages(benchmark, kind: str) -> None:
    benchmark.group = "utf-8 1000 messages of 32 B"
    data = json_payload(32) if kind == "ascii" else text_payload(32)
    validator = Utf8Validator()

    def validate() -> None:
        for _ in range(1000):
            validator.feed(data, final=True)
            validator.reset()

    benchmark(validate)
