"""Shared fixtures of the micro benchmarks (pytest-benchmark).

Run with ``pytest bench`` (``make bench`` does, then runs the end-to-end comparison).
``bench/`` has no ``__init__.py``: pytest then puts ``bench/`` itself on ``sys.path``,
not the repository root, so ``websocket_ref`` is imported from where it's installed,
with its C accelerator when it was built.
"""

from __future__ import annotations

import json
import random

import pytest

from websocket_ref import masking


def pytest_report_header() -> list[str]:
    state = "C accelerator" if masking.ACCELERATED else "pure Python (no C accelerator)"
    return [f"websocket_ref masking: {state}"]


def json_payload(size: int, seed: int = 0) -> bytes:
    """``size`` bytes of realistic JSON API traffic (ASCII), as compressible as real data."""
    rng = random.Random(seed)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    parts: list[bytes] = []
    total = 0
    while total < size:
        record = json.dumps(
            {
                "id": rng.randrange(10**9),
                "user": f"user_{rng.randrange(10**4)}",
                "price": round(rng.uniform(0, 1000), 2),
                "tags": rng.sample(words, 3),
                "active": rng.random() < 0.5,
            },
            separators=(",", ":"),
        ).encode()
        parts.append(record)
        total += len(record) + 1
    return b"\n".join(parts)[:size].ljust(size, b" ")


def text_payload(size: int) -> bytes:
    """``size`` bytes of UTF-8 text mixing ASCII with 2-, 3- and 4-byte characters."""
    sample = "Grüße aus Köln — 東京からこんにちは 🙂 and plain ASCII words. ".encode()
    data = (sample * (size // len(sample) + 1))[:size]
    # Don't end in the middle of a character.
    return data.decode(errors="ignore").encode()


@pytest.fixture
def mask() -> bytes:
    return b"\x37\xfa\x21\x3d"
