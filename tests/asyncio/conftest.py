"""Fixtures of the asyncio tests: no test may leave a task running behind it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import trustme


@pytest_asyncio.fixture(autouse=True)
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves tasks (connection handlers, server closers...) pending."""
    yield
    current = asyncio.current_task()
    for _ in range(5):  # let callbacks scheduled by the last close run
        await asyncio.sleep(0)
    leaked = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    for task in leaked:
        task.cancel()
    assert not leaked, f"tasks left pending: {leaked}"


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A certificate authority for TLS tests, made fresh for the test session."""
    return trustme.CA()
