"""Payloads shared by the micro benchmarks and the end-to-end peers.

Realistic data, so that compression does the work it does on real traffic rather than
squeezing zeros. A module of its own, imported as ``payloads`` by ``conftest.py`` and by
``peer.py`` (run as a script): both have ``bench/`` on ``sys.path``.
"""

from __future__ import annotations

import json
import random


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
