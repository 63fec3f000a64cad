"""The core driven by two threads: one receiving, one sending (see "Threads" in Protocol).

Encoding (compressing) a data frame runs outside :attr:`Protocol.lock`; the frame is
queued under it only if the connection is still OPEN. These tests hold a sending thread
inside an extension's encode() while the receiving side changes the state.
"""

from __future__ import annotations

import threading

import pytest

from websocket_ref.exceptions import InvalidState
from websocket_ref.frames import Frame, Opcode
from websocket_ref.protocol import State

from .utils import FakeExtension, client_frame, close_payload, decode_frames, open_server

TIMEOUT = 10.0


class GatedExtension(FakeExtension):
    """Stops in encode() on a data frame until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__("x-fake", 0x40)
        self.entered = threading.Event()
        self.opened = threading.Event()

    def encode(self, frame: Frame) -> Frame:
        if frame.opcode < 0x8:
            self.entered.set()
            assert self.opened.wait(TIMEOUT)
        return super().encode(frame)


def send_in_thread(target: object, *args: object) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target(*args)  # type: ignore[operator]
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


@pytest.mark.rfc("R6455-5.5.1-5")
def test_data_frame_encoded_while_a_close_frame_arrives_isnt_sent() -> None:
    server = open_server()
    extension = GatedExtension()
    server.extensions = [extension]
    thread, errors = send_in_thread(server.send_binary, b"late")
    assert extension.entered.wait(TIMEOUT)
    # Meanwhile the receiving side gets the client's close frame and answers it.
    server.receive_data(client_frame(Opcode.CLOSE, close_payload(1000)))
    assert server.state is State.CLOSING
    extension.opened.set()
    thread.join(TIMEOUT)
    assert [type(e) for e in errors] == [InvalidState]
    # Only the close frame and the end of the stream: no data frame after the close frame.
    writes = server.data_to_send()
    assert writes[-1] == b""
    assert [f.opcode for f in decode_frames(b"".join(writes))] == [Opcode.CLOSE]


def test_receiving_side_runs_while_a_frame_is_encoded() -> None:
    server = open_server()
    extension = GatedExtension()
    server.extensions = [extension]
    thread, errors = send_in_thread(server.send_binary, b"data")
    try:
        assert extension.entered.wait(TIMEOUT)
        # Pings are answered and messages parsed while the sending side is encoding.
        server.receive_data(client_frame(Opcode.PING, b"p") + client_frame(Opcode.TEXT, b"hi"))
        events = server.events_received()
        assert [(e.opcode, e.data) for e in events if isinstance(e, Frame)] == [
            (Opcode.PING, b"p"),
            (Opcode.TEXT, b"hi"),
        ]
    finally:
        extension.opened.set()
        thread.join(TIMEOUT)
    assert not errors
    # The pong went out first; the data frame follows it.
    opcodes = [f.opcode for f in decode_frames(b"".join(server.data_to_send()))]
    assert opcodes == [Opcode.PONG, Opcode.BINARY]


def test_shared_state_is_guarded_by_the_lock() -> None:
    server = open_server()
    holder_has_it, release = threading.Event(), threading.Event()

    def hold() -> None:
        with server.lock:
            holder_has_it.set()
            assert release.wait(TIMEOUT)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holder_has_it.wait(TIMEOUT)
    try:
        sender, errors = send_in_thread(server.send_binary, b"data")
        sender.join(0.1)
        assert sender.is_alive()  # waits for the lock to queue the frame
        assert not server.has_data_to_send
    finally:
        release.set()
        holder.join(TIMEOUT)
    sender.join(TIMEOUT)
    assert not errors
    assert server.has_data_to_send


def test_a_single_threaded_core_doesnt_take_the_lock() -> None:
    # What the asyncio API declares: the core's methods don't wait for the lock.
    server = open_server()
    server._single_threaded()
    # Held by a thread that is gone: whoever waited for it would wait forever.
    holder = threading.Thread(target=server.lock.acquire)
    holder.start()
    holder.join(TIMEOUT)
    sender, errors = send_in_thread(server.send_binary, b"data")
    sender.join(TIMEOUT)
    assert not sender.is_alive()
    assert not errors
    assert server.data_to_send()
