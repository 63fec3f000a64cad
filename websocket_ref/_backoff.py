"""Delays between reconnection attempts: :func:`websocket_ref.client.backoff`.

Imported from here by :mod:`websocket_ref.client`, where it's documented and where
websockets has it. It's apart because ``websocket_ref.client`` may be compiled with
mypyc (see ``setup.py``), and a compiled function has no ``__defaults__``: websockets'
own tests (and users' code) shorten the delays by replacing ``backoff.__defaults__``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Generator

__all__ = [
    "BACKOFF_FACTOR",
    "BACKOFF_INITIAL_DELAY",
    "BACKOFF_MAX_DELAY",
    "BACKOFF_MIN_DELAY",
    "backoff",
]


# Default delays between reconnection attempts, in seconds (see backoff()).
BACKOFF_INITIAL_DELAY = 5.0
BACKOFF_MIN_DELAY = 3.1
BACKOFF_MAX_DELAY = 90.0
BACKOFF_FACTOR = 1.618


def backoff(
    initial_delay: float = BACKOFF_INITIAL_DELAY,
    min_delay: float = BACKOFF_MIN_DELAY,
    max_delay: float = BACKOFF_MAX_DELAY,
    factor: float = BACKOFF_FACTOR,
) -> Generator[float, None, None]:
    """Delays between reconnection attempts, in seconds: random first, then growing.

    RFC 6455 §7.2.3: "The first reconnect attempt SHOULD be delayed by a random amount
    of time" -- here between 0 and ``initial_delay`` (the RFC's example: 0 to 5
    seconds; never more than ``max_delay``), so that clients dropped at once don't come
    back at once -- and "subsequent reconnect attempts SHOULD be delayed by increasingly
    longer amounts of time, using a method such as truncated binary exponential
    backoff": ``min_delay``, multiplied by ``factor`` after each attempt, truncated at
    ``max_delay``. The steps of that schedule that aren't longer than the random first
    delay are skipped, so that the second delay is never shorter than the first (with
    the defaults, a first delay of 4 s is followed by 5.0, 8.1, 13.1... instead of 3.1).
    Defaults: the module's ``BACKOFF_*`` values (as in websockets: 5, 3.1, 90 and
    1.618). Pass your own to ``connect()`` with
    ``reconnect_delays=functools.partial(backoff, initial_delay=1, max_delay=30)``.
    """
    initial, delay, maximum, growth = initial_delay, min_delay, max_delay, factor
    if not (initial >= 0 and 0 < delay <= maximum and growth >= 1):
        raise ValueError(
            "backoff needs initial_delay >= 0, 0 < min_delay <= max_delay, factor >= 1"
        )
    # RFC 6455 §7.2.3 [R6455-7.2.3-2, R6455-7.2.3-3]: the first reconnect attempt
    # SHOULD be delayed by a random amount (0-5 s is the RFC's example)
    first = min(random.random() * initial, maximum)
    yield first
    # RFC 6455 §7.2.3 [R6455-7.2.3-4]: subsequent attempts SHOULD be delayed by
    # increasingly longer amounts -- longer than the random first one too
    if growth > 1 and delay <= first:
        # Skip those steps in one go: stepping through them takes ~log(first/delay) /
        # log(factor) multiplications, which a factor barely above 1 makes endless.
        steps = math.floor(math.log(first / delay) / math.log(growth)) + 1
        delay = min(delay * growth**steps, maximum)
    delay = max(delay, first)  # factor 1 (constant delays, the caller's choice) included
    while delay < maximum:
        yield delay
        delay *= growth
    while True:
        yield maximum
