"""Other Python WebSocket implementations, as echo programs, for the comparison table.

Each follows the testee contract (``conformance/testees/__init__.py``): a server prints
``PORT <n>`` and echoes every message; a client takes ``--url`` and ``--agent`` and drives
wstest's fuzzingserver. ``python3 -m conformance compare`` starts each server itself and
tests it *as an external server* (``--server-url``), and runs each client as a
``--client-cmd``: the same paths a user's implementation takes. They need the peer
libraries (``requirements/test.txt``), so they are not part of CI.
"""

from __future__ import annotations

from pathlib import Path

from conformance.testees import Testee

PEERS_DIR = Path(__file__).resolve().parent


def _peer(name: str, kind: str, description: str) -> Testee:
    return Testee(name, kind, description, directory=PEERS_DIR)  # type: ignore[arg-type]


PEERS: tuple[Testee, ...] = (
    _peer("websockets_server", "server", "websockets.asyncio.server.serve"),
    _peer("websockets_client", "client", "websockets.asyncio.client.connect"),
    _peer("aiohttp_server", "server", "aiohttp.web.WebSocketResponse"),
    _peer("aiohttp_client", "client", "aiohttp.ClientSession.ws_connect"),
)
PEERS_BY_NAME: dict[str, Testee] = {p.name: p for p in PEERS}
