"""The full receive path of the Sans-I/O core: bytes in, messages out.

Bytes arrive in 64 KiB pieces, like socket reads; every message is then taken out as
an event, as the asyncio and threading layers do. The server side unmasks (client
frames are masked); the client side doesn't.
"""

from __future__ import annotations

import pytest
from payloads import json_payload

from websocket_ref.client import ClientProtocol
from websocket_ref.frames import Frame, Opcode, serialize_frame
from websocket_ref.protocol import State
from websocket_ref.server import ServerProtocol
from websocket_ref.uri import parse_uri

READ_SIZE = 65536
# (label, opcode, message size, messages per round)
CASES = {
    "small-text": (Opcode.TEXT, 32, 1000),
    "small-binary": (Opcode.BINARY, 32, 1000),
    "large-text": (Opcode.TEXT, 2**20, 4),
    "large-binary": (Opcode.BINARY, 2**20, 4),
}


@pytest.mark.parametrize("side", ["server", "client"])
@pytest.mark.parametrize("case", CASES.keys())
def test_receive(benchmark, case: str, side: str) -> None:
    opcode, size, count = CASES[case]
    benchmark.group = f"receive {case} ({count} x {size} B)"
    frame = Frame(opcode, json_payload(size))
    # The server receives masked frames from a client, and the other way round.
    wire = b"".join(b"".join(serialize_frame(frame, mask=side == "server")) for _ in range(count))
    pieces = [wire[i : i + READ_SIZE] for i in range(0, len(wire), READ_SIZE)]

    def receive() -> int:
        if side == "server":
            protocol: ServerProtocol | ClientProtocol = ServerProtocol(
                state=State.OPEN, max_size=None
            )
        else:
            protocol = ClientProtocol(parse_uri("ws://localhost/"), state=State.OPEN, max_size=None)
        messages = 0
        for piece in pieces:
            protocol.receive_data(piece)
            messages += len(protocol.events_received())
        return messages

    assert benchmark(receive) == count
