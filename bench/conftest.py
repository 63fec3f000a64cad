"""Shared fixtures of the micro benchmarks (pytest-benchmark).

Run with ``pytest bench`` (``make bench`` does, then runs the end-to-end comparison).
``bench/`` has no ``__init__.py``: pytest then puts ``bench/`` itself on ``sys.path``,
not the repository root, so ``websocket_ref`` is imported from where it's installed,
with its C accelerator when it was built.
"""

from __future__ import annotations

import pytest

from websocket_ref import masking


def pytest_report_header() -> list[str]:
    state = "C accelerator" if masking.ACCELERATED else "pure Python (no C accelerator)"
    return [f"websocket_ref masking: {state}"]


@pytest.fixture
def mask() -> bytes:
    return b"\x37\xfa\x21\x3d"
