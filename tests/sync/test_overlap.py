"""Sending and receiving overlap: compressing one message doesn't hold up another's arrival.

The threading API drives the core's receiving side (reader thread) and sending side
(application threads) under separate locks; only the state both share is guarded by
the core's lock, briefly (see "Threads" in :class:`websocket_ref.protocol.Protocol`). So
an extension that takes long to encode (deflate a large message) or decode (inflate one)
doesn't stop the other direction. An extension here blocks on purpose inside encode() or
decode() until the test lets it go: with one lock around the core, the other direction
would wait for it, and these tests would fail at their (generous) timeouts.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from websocket_ref.extensions.base import Extension
from websocket_ref.frames import Frame
from websocket_ref.headers import ExtensionParameter
from websocket_ref.sync.server import ServerConnection

from ..utils import FakeClientFactory, FakeExtension, FakeServerFactory
from .utils import TIMEOUT, client, run_server


class Gate:
    """Holds a thread inside an extension until the test opens it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()
        self.held: list[bool] = []  # for each hold: was it the test that opened the gate

    def hold(self) -> None:
        self.entered.set()
        self.held.append(self.opened.wait(3 * TIMEOUT))


class GatedExtension(FakeExtension):
    """FakeExtension that stops in encode() or decode() on a frame of ``b"slow"``.

    It stands for a compressing extension (permessage-deflate): the threading API
    overlaps the two directions only when one is negotiated.
    """

    compresses_messages = True

    def __init__(self, gate: Gate, where: str, params: Sequence[ExtensionParameter]) -> None:
        super().__init__("x-fake", 0x40, params)
        self.gate = gate
        self.where = where

    def encode(self, frame: Frame) -> Frame:
        if self.where == "encode" and frame.data == b"slow":
            self.gate.hold()
        return super().encode(frame)

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        frame = super().decode(frame, max_size=max_size)
        if self.where == "decode" and frame.data == b"slow":
            self.gate.hold()
        return frame


class GatedClientFactory(FakeClientFactory):
    def __init__(self, gate: Gate, where: str) -> None:
        super().__init__()
        self.gate = gate
        self.where = where

    def process_response_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> Extension:
        super().process_response_params(params, accepted_extensions)
        return GatedExtension(self.gate, self.where, params)


def test_message_arrives_while_another_is_encoded() -> None:
    gate = Gate()
    news = threading.Event()

    def handler(ws: ServerConnection) -> None:
        assert ws.recv() == "go"
        assert news.wait(3 * TIMEOUT)
        ws.send("news")
        assert ws.recv() == b"slow"

    with (
        run_server(handler, extensions=[FakeServerFactory()], compression=None) as server,
        client(server, extensions=[GatedClientFactory(gate, "encode")], compression=None) as ws,
    ):
        ws.send("go")
        sender = threading.Thread(target=ws.send, args=(b"slow",))
        sender.start()
        try:
            assert gate.entered.wait(TIMEOUT)
            news.set()
            # The reader thread takes "news" in while the sender is still encoding.
            assert ws.recv(timeout=TIMEOUT) == "news"
        finally:
            gate.opened.set()
            sender.join(TIMEOUT)
    assert gate.held == [True]


def test_message_goes_out_while_another_is_decoded() -> None:
    gate = Gate()
    got_it = threading.Event()

    def handler(ws: ServerConnection) -> None:
        # Not before the client is connected: a frame that came with the handshake
        # response would be decoded in connect(), before the reader thread exists.
        assert ws.recv() == "start"
        ws.send(b"slow")
        assert ws.recv() == "meanwhile"
        got_it.set()
        ws.send("done")

    with (
        run_server(handler, extensions=[FakeServerFactory()], compression=None) as server,
        client(server, extensions=[GatedClientFactory(gate, "decode")], compression=None) as ws,
    ):
        ws.send("start")
        try:
            assert gate.entered.wait(TIMEOUT)
            # The reader thread is decoding "slow": a message goes out all the same.
            sender = threading.Thread(target=ws.send, args=("meanwhile",))
            sender.start()
            assert got_it.wait(TIMEOUT)
        finally:
            gate.opened.set()
        sender.join(TIMEOUT)
        assert ws.recv(timeout=TIMEOUT) == b"slow"
        assert ws.recv(timeout=TIMEOUT) == "done"
    assert gate.held == [True]
