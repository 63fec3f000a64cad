"""Registry of testees: one small echo program per websocket_ref API and side.

A server testee binds 127.0.0.1 on the port given by ``--port`` (0 by default), prints one
line ``PORT <n>`` on stdout and echoes every message until killed; wstest's fuzzingclient
connects to it. A client testee gets ``--url`` (wstest's fuzzingserver) and ``--agent``,
fetches the case count, runs every case echoing every message, then asks for the reports.

Each testee exits with :data:`EXIT_MISSING` and a ``MISSING: <reason>`` line on stderr when
the API it needs cannot be imported yet, so the harness reports it as missing (and the gate
fails for it) instead of crashing. Messages on stderr starting with ``NOTE:`` are copied
into the summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

TESTEES_DIR = Path(__file__).resolve().parent

#: Exit status of a testee whose API is not importable (yet).
EXIT_MISSING = 3
#: Every testee negotiates permessage-deflate and accepts messages up to 16 MiB (case 9.x).
MAX_SIZE = 16 * 2**20


@dataclass(frozen=True)
class Testee:
    """One program under test; ``kind`` says which wstest mode drives it."""

    name: str
    kind: Literal["server", "client"]
    description: str
    #: Where the script lives: here, or conformance/peers/ for other libraries.
    directory: Path = TESTEES_DIR

    @property
    def script(self) -> Path:
        """The testee's script, run with the harness's own Python 3 interpreter."""
        return self.directory / f"{self.name}.py"

    @property
    def wstest_mode(self) -> str:
        """wstest plays the other side: a fuzzing client for servers, and vice versa."""
        return "fuzzingclient" if self.kind == "server" else "fuzzingserver"


TESTEES: tuple[Testee, ...] = (
    Testee("sansio_server", "server", "Sans-I/O ServerProtocol over blocking sockets"),
    Testee("asyncio_server", "server", "websocket_ref.asyncio.server.serve"),
    Testee("sync_server", "server", "websocket_ref.sync.server.serve"),
    Testee("sansio_client", "client", "Sans-I/O ClientProtocol over blocking sockets"),
    Testee("asyncio_client", "client", "websocket_ref.asyncio.client.connect"),
    Testee("sync_client", "client", "websocket_ref.sync.client.connect"),
)
BY_NAME: dict[str, Testee] = {t.name: t for t in TESTEES}
