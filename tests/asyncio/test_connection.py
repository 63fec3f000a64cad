"""The connection API shared by both sides, end to end over 127.0.0.1.

recv/send in every form, streaming, pings and pongs, the closing handshake and its
timeout, keepalive, the limits (max_size, max_queue, write_limit) and the exceptions.
"""

from __future__ import annotations

import asyncio
import unittest.mock
import uuid
from collections.abc import AsyncIterator

import pytest

from websocket_ref import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidFrame,
    State,
)
from websocket_ref.asyncio import ServerConnection, connect
from websocket_ref.asyncio.connection import Connection
from websocket_ref.protocol import COALESCE_LIMIT, SERVER, Protocol

from ..utils import RSV2, RawFrame, client_frame, close_payload, server_frame
from .helpers import (
    FAST,
    client_of_raw_server,
    echo,
    port_of,
    raw_client,
    read_frame,
    run_server,
    uri_of,
    wait_for_condition,
)


class Recorder:
    """A server handler that keeps its connection and what happened to it."""

    def __init__(self) -> None:
        self.connection: ServerConnection | None = None
        self.opened = asyncio.Event()
        self.release = asyncio.Event()
        self.received: list[object] = []
        self.exception: BaseException | None = None

    async def hold(self, ws: ServerConnection) -> None:
        """Keep the connection open until released (or closed), recording nothing."""
        self.connection = ws
        self.opened.set()
        await self.release.wait()

    async def collect(self, ws: ServerConnection) -> None:
        """Record every message until the connection closes, and how it closed."""
        self.connection = ws
        self.opened.set()
        try:
            async for message in ws:
                self.received.append(message)
        except ConnectionClosed as exc:
            self.exception = exc

    async def stream(self, ws: ServerConnection) -> None:
        """Record each message as the list of its fragments."""
        self.connection = ws
        self.opened.set()
        try:
            while True:
                self.received.append([f async for f in ws.recv_streaming()])
        except ConnectionClosed as exc:
            self.exception = exc


# recv and send


@pytest.mark.asyncio
async def test_text_and_binary_roundtrip() -> None:
    async with run_server() as server, connect(uri_of(server), **FAST) as ws:
        await ws.send("café ☕")
        assert await ws.recv() == "café ☕"
        await ws.send(b"\x00\x01\xff")
        assert await ws.recv() == b"\x00\x01\xff"
        await ws.send(bytearray(b"ba"))
        assert await ws.recv() == b"ba"
        await ws.send(memoryview(b"mv"))
        assert await ws.recv() == b"mv"
        await ws.send("")
        assert await ws.recv() == ""


@pytest.mark.asyncio
async def test_recv_decode_overrides_message_type() -> None:
    async with run_server() as server, connect(uri_of(server), **FAST) as ws:
        await ws.send("é")
        assert await ws.recv(decode=False) == "é".encode()
        await ws.send("é".encode())
        assert await ws.recv(decode=True) == "é"


@pytest.mark.asyncio
async def test_send_text_flag_overrides_frame_type() -> None:
    async with run_server() as server, connect(uri_of(server), **FAST) as ws:
        await ws.send("é".encode(), text=True)
        assert await ws.recv() == "é"
        await ws.send("é", text=False)
        assert await ws.recv() == "é".encode()


@pytest.mark.asyncio
async def test_send_iterable_as_fragmented_message() -> None:
    recorder = Recorder()
    async with run_server(recorder.stream) as server, connect(uri_of(server), **FAST) as ws:
        await ws.send(["ab", "c", "d"])
        await ws.send([b"\x01", bytearray(b"\x02")])
        await ws.send(iter(["x"]))
        await ws.close()
        await wait_for_condition(lambda: recorder.exception is not None)
    # One frame per chunk, then an empty final frame (tests/test_protocol.py checks the
    # wire); the receiving core may join small fragments that arrive in one read.
    assert [m[0][:0].join(m) for m in recorder.received] == ["abcd", b"\x01\x02", "x"]  # type: ignore[index, attr-defined]


@pytest.mark.asyncio
async def test_send_async_iterable_as_fragmented_message() -> None:
    async def chunks() -> AsyncIterator[str]:
        for chunk in ["hel", "lo"]:
            await asyncio.sleep(0)
            yield chunk

    async with run_server() as server, connect(uri_of(server), **FAST) as ws:
        await ws.send(chunks())
        assert await ws.recv() == "hello"


@pytest.mark.asyncio
async def test_send_empty_iterable_sends_nothing() -> None:
    async with run_server() as server, connect(uri_of(server), **FAST) as ws:
        await ws.send([])
        await ws.send("after")
        assert await ws.recv() == "after"


@pytest.mark.asyncio
async def test_send_waits_for_fragmented_message_in_progress() -> None:
    gate = asyncio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        yield b"part1-"
        await gate.wait()
        yield b"part2"

    async with run_server() as server, connect(uri_of(server), **FAST) as ws:
        fragmented = asyncio.create_task(ws.send(chunks()))
        await asyncio.sleep(0.01)
        single = asyncio.create_task(ws.send(b"single"))
        await asyncio.sleep(0.01)
        assert not single.done()  # RFC 6455 §5.4: messages aren't interleaved
        gate.set()
        await fragmented
        await single
        assert await ws.recv() == b"part1-part2"
        assert await ws.recv() == b"single"


@pytest.mark.asyncio
async def test_send_mixed_fragment_types_fails_connection() -> None:
    recorder = Recorder()
    async with run_server(recorder.collect) as server, connect(uri_of(server), **FAST) as ws:
        with pytest.raises(TypeError):
            await ws.send(["text", b"bytes"])
        await wait_for_condition(lambda: recorder.exception is not None)
        assert isinstance(recorder.exception, ConnectionClosedError)
        assert recorder.exception.rcvd is not None
        assert recorder.exception.rcvd.code == 1011


@pytest.mark.asyncio
async def test_send_unsupported_types() -> None:
    async with run_server() as server, connect(uri_of(server), **FAST) as ws:
        with pytest.raises(TypeError):
            await ws.send(42)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await ws.send({"key": "value"})  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await ws.send([42])  # type: ignore[list-item]
        assert ws.state is State.OPEN  # nothing was sent for a bad first chunk


@pytest.mark.asyncio
async def test_async_for_iterates_messages_until_normal_close() -> None:
    async def handler(ws: ServerConnection) -> None:
        for i in range(3):
            await ws.send(str(i))

    async with run_server(handler) as server, connect(uri_of(server), **FAST) as ws:
        assert [message async for message in ws] == ["0", "1", "2"]
        assert ws.close_code == 1000


@pytest.mark.asyncio
async def test_async_for_raises_on_error_close() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("one")
        await ws.close(4000, "custom")

    async with run_server(handler) as server, connect(uri_of(server), **FAST) as ws:
        received = []
        with pytest.raises(ConnectionClosedError) as info:
            async for message in ws:
                received.append(message)
        assert received == ["one"]
        assert info.value.rcvd is not None
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (4000, "custom")


@pytest.mark.asyncio
async def test_messages_received_before_close_are_still_delivered() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("a")
        await ws.send("b")

    async with run_server(handler) as server, connect(uri_of(server), **FAST) as ws:
        await ws.wait_closed()
        assert await ws.recv() == "a"
        assert await ws.recv() == "b"
        with pytest.raises(ConnectionClosedOK):
            await ws.recv()


@pytest.mark.asyncio
async def test_concurrent_recv_raises_concurrency_error() -> None:
    async with run_server() as server, connect(uri_of(server), **FAST) as ws:
        first = asyncio.create_task(ws.recv())
        await asyncio.sleep(0.01)
        with pytest.raises(ConcurrencyError):
            await ws.recv()
        await ws.send("x")
        assert await first == "x"


@pytest.mark.asyncio
async def test_cancelled_recv_loses_no_message() -> None:
    async with run_server() as server, connect(uri_of(server), **FAST) as ws:
        task = asyncio.create_task(ws.recv())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await ws.send("kept")
        assert await ws.recv() == "kept"


# recv_streaming


@pytest.mark.asyncio
async def test_recv_streaming_yields_fragments_decoding_split_characters() -> None:
    async def handler(ws: ServerConnection) -> None:
        # "é" is C3 A9 in UTF-8: split across two frames.
        await ws.send([b"caf\xc3", b"\xa9!"], text=True)
        await ws.send([b"\x01", b"\x02"])
        await ws.recv()

    async with run_server(handler) as server, connect(uri_of(server), **FAST) as ws:
        # Small fragments that arrive together may come out joined (RFC 6455 §5.4):
        # whichever way, no fragment ends with half a character.
        fragments = [f async for f in ws.recv_streaming()]
        assert "".join(fragments) == "café!" and all(isinstance(f, str) for f in fragments)
        assert b"".join([f async for f in ws.recv_streaming()]) == b"\x01\x02"  # type: ignore[misc]


@pytest.mark.asyncio
async def test_recv_streaming_decode_overrides() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(["é"])
        await ws.send([b"\xc3\xa9"])
        await ws.recv()

    async with run_server(handler) as server, connect(uri_of(server), **FAST) as ws:
        assert b"".join([f async for f in ws.recv_streaming(decode=False)]) == b"\xc3\xa9"  # type: ignore[misc]
        assert "".join([f async for f in ws.recv_streaming(decode=True)]) == "é"  # type: ignore[misc]


@pytest.mark.asyncio
async def test_recv_streaming_yields_fragments_as_they_arrive() -> None:
    gate = asyncio.Event()

    async def chunks() -> AsyncIterator[str]:
        yield "first"
        await gate.wait()
        yield "second"

    recorder = Recorder()
    async with run_server(recorder.hold) as server, connect(uri_of(server), **FAST) as ws:
        await recorder.opened.wait()
        assert recorder.connection is not None
        sender = asyncio.create_task(recorder.connection.send(chunks()))
        stream = ws.recv_streaming()
        assert await stream.__anext__() == "first"  # before the message is complete
        gate.set()
        # "second" and the empty final frame may arrive together, and come out joined.
        assert "".join([f async for f in stream]) == "second"  # type: ignore[misc]
        await sender
        recorder.release.set()


@pytest.mark.asyncio
async def test_abandoned_recv_streaming_discards_rest_of_message() -> None:
    # Fragments of COALESCE_LIMIT bytes or more are never joined by the receiving core.
    one, two, three = (c * COALESCE_LIMIT for c in "123")

    async def handler(ws: ServerConnection) -> None:
        await ws.send([one, two, three])
        await ws.send("next")
        await ws.recv()

    async with run_server(handler) as server, connect(uri_of(server), **FAST) as ws:
        async for fragment in ws.recv_streaming():
            assert fragment == one
            break
        assert await ws.recv() == "next"


@pytest.mark.asyncio
async def test_recv_during_recv_streaming_raises_concurrency_error() -> None:
    one, two = "1" * COALESCE_LIMIT, "2" * COALESCE_LIMIT

    async def handler(ws: ServerConnection) -> None:
        await ws.send([one, two])
        await ws.recv()

    async with run_server(handler) as server, connect(uri_of(server), **FAST) as ws:
        stream = ws.recv_streaming()
        assert await stream.__anext__() == one
        with pytest.raises(ConcurrencyError):
            await ws.recv()
        assert "".join([f async for f in stream]) == two  # type: ignore[misc]


@pytest.mark.asyncio
async def test_recv_streaming_raises_connection_closed() -> None:
    async def handler(ws: ServerConnection) -> None:
        pass

    async with run_server(handler) as server, connect(uri_of(server), **FAST) as ws:
        with pytest.raises(ConnectionClosedOK):
            async for _ in ws.recv_streaming():
                pass


# Pings and pongs


@pytest.mark.asyncio
async def test_ping_resolves_with_latency() -> None:
    async with run_server() as server, connect(uri_of(server), **FAST) as ws:
        assert ws.latency == 0
        pong_waiter = await ws.ping()
        latency = await pong_waiter
        assert latency > 0
        assert ws.latency == latency
        pong_waiter = await ws.ping("text data")
        assert await pong_waiter > 0


@pytest.mark.asyncio
async def test_ping_with_same_data_twice_raises_concurrency_error() -> None:
    async with client_of_raw_server() as (ws, _, _, _):
        await ws.ping(b"same")
        with pytest.raises(ConcurrencyError):
            await ws.ping(b"same")


@pytest.mark.asyncio
@pytest.mark.rfc("R6455-5.5.3-1")
async def test_pong_acknowledges_earlier_pings_too() -> None:
    async with client_of_raw_server() as (ws, reader, writer, _):
        first = await ws.ping(b"1")
        second = await ws.ping(b"2")
        third = await ws.ping(b"3")
        for expected in (b"1", b"2", b"3"):
            frame = await read_frame(reader)
            assert (frame.opcode, frame.payload, frame.masked) == (0x9, expected, True)
        # RFC 6455 §5.5.3: a pong may answer only the latest ping received; answer "2".
        writer.write(server_frame(0xA, b"2"))
        assert await first >= 0
        assert await second >= 0
        assert not third.done()
        writer.write(server_frame(0xA, b"unsolicited"))
        await asyncio.sleep(0.01)
        assert not third.done()
        writer.write(server_frame(0xA, b"3"))
        assert await third >= 0


@pytest.mark.asyncio
async def test_pong_sends_unsolicited_pong() -> None:
    async with client_of_raw_server() as (ws, reader, _, _):
        await ws.pong(b"heartbeat")
        await ws.pong("text")
        assert (await read_frame(reader)).payload == b"heartbeat"
        frame = await read_frame(reader)
        assert (frame.opcode, frame.payload) == (0xA, b"text")


@pytest.mark.asyncio
async def test_incoming_ping_is_answered() -> None:
    async with client_of_raw_server() as (ws, reader, writer, _):
        writer.write(server_frame(0x9, b"are you there"))
        frame = await read_frame(reader)
        assert (frame.opcode, frame.payload) == (0xA, b"are you there")
        writer.write(server_frame(0x1, b"still works"))
        assert await ws.recv() == "still works"


@pytest.mark.asyncio
async def test_pending_ping_raises_connection_closed_when_connection_is_lost() -> None:
    async with client_of_raw_server() as (ws, _, writer, _):
        pong_waiter = await ws.ping()
        writer.transport.abort()
        with pytest.raises(ConnectionClosedError):
            await pong_waiter
        with pytest.raises(ConnectionClosedError):
            await ws.ping()
        with pytest.raises(ConnectionClosedError):
            await ws.pong()


# Closing


@pytest.mark.asyncio
async def test_close_with_code_and_reason() -> None:
    recorder = Recorder()
    async with run_server(recorder.collect) as server:
        ws = await connect(uri_of(server), **FAST)
        assert ws.state is State.OPEN
        assert ws.close_code is None and ws.close_reason is None
        await ws.close(4001, "bye now")
        assert ws.state is State.CLOSED
        # The server echoed the code (RFC 6455 §5.5.1).
        assert ws.close_code == 4001
        await wait_for_condition(lambda: recorder.exception is not None)
        exc = recorder.exception
        assert isinstance(exc, ConnectionClosedError)
        assert exc.rcvd is not None and (exc.rcvd.code, exc.rcvd.reason) == (4001, "bye now")
        assert exc.sent is not None and exc.sent.code == 4001
        assert exc.rcvd_then_sent is True
        await ws.close()  # closing again does nothing


@pytest.mark.asyncio
async def test_normal_close_raises_connection_closed_ok_with_frames() -> None:
    async with run_server() as server:
        ws = await connect(uri_of(server), **FAST)
        await ws.close()
        with pytest.raises(ConnectionClosedOK) as info:
            await ws.recv()
        assert info.value.sent is not None and info.value.sent.code == 1000
        assert info.value.rcvd is not None and info.value.rcvd.code == 1000
        assert info.value.rcvd_then_sent is False
        with pytest.raises(ConnectionClosedOK):
            await ws.send("too late")


@pytest.mark.asyncio
async def test_wait_closed_returns_when_peer_closes() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.close(1001, "going")

    async with run_server(handler) as server, connect(uri_of(server), **FAST) as ws:
        await ws.wait_closed()
        assert ws.state is State.CLOSED
        assert (ws.close_code, ws.close_reason) == (1001, "going")


@pytest.mark.asyncio
async def test_async_with_connection_closes_with_1011_on_exception() -> None:
    recorder = Recorder()
    async with run_server(recorder.collect) as server:
        ws = await connect(uri_of(server), **FAST)
        with pytest.raises(RuntimeError):
            async with ws:
                raise RuntimeError("boom")
        await wait_for_condition(lambda: recorder.exception is not None)
        assert isinstance(recorder.exception, ConnectionClosedError)
        assert recorder.exception.rcvd.code == 1011


@pytest.mark.asyncio
@pytest.mark.rfc("R6455-7.1.1-2")
async def test_close_timeout_when_client_never_answers_close() -> None:
    closed: asyncio.Future[tuple[float, int | None]] = asyncio.get_running_loop().create_future()

    async def handler(ws: ServerConnection) -> None:
        start = asyncio.get_running_loop().time()
        await ws.close()
        closed.set_result((asyncio.get_running_loop().time() - start, ws.close_code))

    async with run_server(handler, close_timeout=0.1) as server:
        async with raw_client(server.sockets[0].getsockname()[1]) as (reader, _, status, _):
            assert status.startswith("HTTP/1.1 101")
            frame = await read_frame(reader)
            assert (frame.opcode, frame.close_code) == (0x8, 1000)
            # Never answer, never close: the server gives up after close_timeout.
            elapsed, code = await asyncio.wait_for(closed, 5)
            assert 0.05 < elapsed < 2
            assert code == 1006  # no close frame received


@pytest.mark.asyncio
async def test_close_timeout_when_server_never_answers_close() -> None:
    async with client_of_raw_server(close_timeout=0.1) as (ws, reader, _, _):
        loop = asyncio.get_running_loop()
        start = loop.time()
        await ws.close()
        assert 0.05 < loop.time() - start < 2
        assert ws.state is State.CLOSED
        frame = await read_frame(reader)
        assert (frame.opcode, frame.close_code) == (0x8, 1000)
        with pytest.raises(ConnectionClosedError) as info:
            await ws.recv()
        assert info.value.rcvd is None and info.value.sent is not None


@pytest.mark.asyncio
async def test_client_waits_for_server_to_close_tcp_first() -> None:
    async with client_of_raw_server(close_timeout=2) as (ws, reader, writer, _):
        closing = asyncio.create_task(ws.close())
        frame = await read_frame(reader)
        assert frame.close_code == 1000
        writer.write(server_frame(0x8, close_payload(1000)))
        await asyncio.sleep(0.02)
        # RFC 6455 §7.1.1: the client waits for the server to close TCP.
        assert not closing.done()
        assert ws.state is State.CLOSING
        writer.close()
        await asyncio.wait_for(closing, 1)
        assert ws.close_code == 1000


@pytest.mark.asyncio
@pytest.mark.rfc("R6455-7.1.1-4", "R6455-5.5.1-11")
async def test_client_closes_tcp_when_the_server_doesnt_after_close_timeout() -> None:
    # The server answers the close frame but keeps the TCP connection open: after
    # close_timeout the client closes it itself (RFC 6455 §7.1.1: "In abnormal cases").
    async with client_of_raw_server(close_timeout=0.2) as (ws, reader, writer, _):
        closing = asyncio.create_task(ws.close())
        frame = await read_frame(reader)
        assert frame.close_code == 1000
        writer.write(server_frame(0x8, close_payload(1000)))
        # The client's end of the stream arrives, though the server never closed.
        assert await asyncio.wait_for(reader.read(), 5) == b""
        await asyncio.wait_for(closing, 5)
        assert ws.state is State.CLOSED
        assert ws.close_code == 1000


@pytest.mark.asyncio
@pytest.mark.rfc("R6455-7.1.1-1")
async def test_server_closes_tcp_cleanly_and_discards_trailing_bytes() -> None:
    recorder = Recorder()
    async with run_server(recorder.collect) as server:
        async with raw_client(port_of(server)) as (reader, writer, status, _):
            assert status.startswith("HTTP/1.1 101")
            # A close frame followed by bytes that aren't even a frame.
            writer.write(client_frame(0x8, close_payload(1000)) + b"\xff\xfe trailing garbage")
            frame = await read_frame(reader)
            assert (frame.opcode, frame.close_code) == (0x8, 1000)
            # The server closes with a FIN (end of stream), not a reset, even though
            # bytes it discarded arrived after the close frame.
            assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()
        connection = recorder.connection
        assert connection is not None
        await asyncio.wait_for(connection.wait_closed(), 5)
        assert recorder.exception is None  # iteration ended normally
        assert connection.close_code == 1000
        assert type(connection.protocol.close_exc) is ConnectionClosedOK
        assert connection.protocol.failure_exc is None  # the garbage was never parsed


@pytest.mark.asyncio
@pytest.mark.rfc("R6455-5.4-1", "R6455-7.4.1-1")
async def test_close_during_a_fragmented_send_fails_with_1011() -> None:
    # A choice, websockets': the message can't be finished, so close() doesn't claim a
    # normal closure; it fails the connection with 1011 (Protocol.close()).
    gate = asyncio.Event()

    async def chunks() -> AsyncIterator[str]:
        yield "cut "
        await gate.wait()
        yield "never sent"

    async with client_of_raw_server(close_timeout=2) as (ws, reader, writer, _):
        sending = asyncio.create_task(ws.send(chunks()))
        frame = await read_frame(reader)
        assert (frame.opcode, frame.fin, frame.payload) == (0x1, False, b"cut ")
        closing = asyncio.create_task(ws.close(1000, "bye"))
        close = await read_frame(reader)
        assert (close.opcode, close.close_code) == (0x8, 1011)
        assert close.payload[2:] == b"close during fragmented message"
        # Failed: the client doesn't wait for the server's close frame, only for its TCP close.
        writer.close()
        await asyncio.wait_for(closing, 5)
        gate.set()
        with pytest.raises(ConnectionClosedError) as raised:
            await asyncio.wait_for(sending, 5)
        assert str(raised.value) == (
            "sent 1011 (internal error) close during fragmented message; no close frame received"
        )
        assert raised.value.__cause__ is None
        assert await asyncio.wait_for(reader.read(), 5) == b""  # no fragment after it


@pytest.mark.asyncio
@pytest.mark.rfc("R6455-6.1-3", "R6455-6.1-9")
async def test_fragmented_send_stops_when_the_connection_closes_midway() -> None:
    # RFC 6455 §6.1: "If at any point the state of the WebSocket connection changes, the
    # endpoint MUST abort the following steps."
    gate = asyncio.Event()

    async def chunks() -> AsyncIterator[str]:
        yield "first "
        await gate.wait()
        yield "second "
        yield "third"

    async with client_of_raw_server(close_timeout=2) as (ws, reader, writer, _):
        sending = asyncio.create_task(ws.send(chunks()))
        frame = await read_frame(reader)  # transmitted over the network
        assert (frame.opcode, frame.fin, frame.payload) == (0x1, False, b"first ")
        writer.write(server_frame(0x8, close_payload(1001, "going away")))
        echo_ = await read_frame(reader)
        assert (echo_.opcode, echo_.close_code) == (0x8, 1001)
        assert ws.state is State.CLOSING
        gate.set()
        writer.close()
        with pytest.raises(ConnectionClosedOK):
            await asyncio.wait_for(sending, 5)
        # Nothing followed the close frame: no more fragments.
        assert await asyncio.wait_for(reader.read(), 5) == b""


@pytest.mark.asyncio
async def test_protocol_error_from_peer_fails_connection() -> None:
    async with client_of_raw_server() as (ws, reader, writer, _):
        writer.write(server_frame(0x3, b""))  # reserved opcode
        with pytest.raises(ConnectionClosedError) as info:
            await ws.recv()
        assert isinstance(info.value.__cause__, InvalidFrame)
        assert info.value.sent is not None and info.value.sent.code == 1002
        frame = await read_frame(reader)
        assert frame.close_code == 1002


@pytest.mark.asyncio
async def test_connection_lost_without_close_frame() -> None:
    async with client_of_raw_server() as (ws, _, writer, _):
        writer.transport.abort()
        with pytest.raises(ConnectionClosedError) as info:
            await ws.recv()
        assert info.value.rcvd is None and info.value.sent is None
        assert ws.close_code == 1006


# Keepalive


@pytest.mark.asyncio
async def test_keepalive_pings_and_measures_latency() -> None:
    recorder = Recorder()
    async with run_server(recorder.hold, ping_interval=0.02, ping_timeout=0.5) as server:
        async with connect(uri_of(server), **FAST) as ws:
            await recorder.opened.wait()
            connection = recorder.connection
            assert connection is not None
            await wait_for_condition(lambda: connection.latency > 0)
            await asyncio.sleep(0.1)  # several intervals: answered pongs keep it open
            assert connection.state is State.OPEN
            assert ws.state is State.OPEN
            recorder.release.set()


@pytest.mark.asyncio
async def test_keepalive_timeout_fails_connection_with_1011() -> None:
    failures: asyncio.Future[ConnectionClosed] = asyncio.get_running_loop().create_future()

    async def handler(ws: ServerConnection) -> None:
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            failures.set_result(exc)

    async with run_server(
        handler, ping_interval=0.02, ping_timeout=0.05, close_timeout=0.1
    ) as server:
        async with raw_client(server.sockets[0].getsockname()[1]) as (reader, _, status, _):
            assert status.startswith("HTTP/1.1 101")
            # Read but never answer: a dead peer.
            frame = await read_frame(reader)
            assert frame.opcode == 0x9
            exc = await asyncio.wait_for(failures, 5)
            assert isinstance(exc, ConnectionClosedError)
            assert exc.sent is not None and exc.sent.code == 1011
            assert exc.sent.reason == "keepalive ping timeout"
            while frame.opcode == 0x9:
                frame = await read_frame(reader)
            assert frame.close_code == 1011


@pytest.mark.asyncio
async def test_client_keepalive_pings_server() -> None:
    async with client_of_raw_server(ping_interval=0.02, ping_timeout=1) as (ws, reader, writer, _):
        frame = await read_frame(reader)
        assert frame.opcode == 0x9 and len(frame.payload) == 4
        writer.write(server_frame(0xA, frame.payload))
        await wait_for_condition(lambda: ws.latency > 0)


# Limits


@pytest.mark.asyncio
async def test_max_size_fails_connection_with_1009() -> None:
    recorder = Recorder()
    async with run_server(recorder.collect, max_size=1000) as server:
        async with connect(uri_of(server), **FAST) as ws:
            await ws.send(b"x" * 1000)  # at the limit: fine
            await ws.send(b"x" * 1001)
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.rcvd is not None and info.value.rcvd.code == 1009
        await wait_for_condition(lambda: recorder.exception is not None)
        assert recorder.received == [b"x" * 1000]


@pytest.mark.asyncio
async def test_max_size_applies_to_fragmented_messages() -> None:
    async with run_server(max_size=None) as server:
        async with connect(uri_of(server), max_size=10, **FAST) as ws:
            await ws.send(["12345", "67890", "1"])
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.sent is not None and info.value.sent.code == 1009


@pytest.mark.asyncio
async def test_max_queue_pauses_reading_and_bounds_memory() -> None:
    """A slow reader: the server's sends block instead of the client's memory growing."""
    size, count, max_queue = 2**18, 160, 4  # 40 MiB: more than the kernel buffers hold
    sent = 0

    async def producer(ws: ServerConnection) -> None:
        nonlocal sent
        for _ in range(count):
            await ws.send(b"\x00" * size)
            sent += 1
        await ws.recv()

    # No compression: the zeros would shrink to nothing and never fill a buffer.
    async with run_server(producer, write_limit=2**16, compression=None) as server:
        async with connect(uri_of(server), max_queue=max_queue, compression=None, **FAST) as ws:
            await wait_for_condition(lambda: not ws.transport.is_reading())
            await wait_for_condition(lambda: sent > 0)
            await asyncio.sleep(0.2)  # give the producer every chance to run ahead
            assert sent < count  # the server's send() is blocked: backpressure reached it
            # A read delivers at most a couple of frames after the pause.
            assert len(ws.recv_messages.frames) <= max_queue + 2
            for _ in range(count):
                assert len(await ws.recv()) == size
            assert ws.transport.is_reading()  # resumed once drained
            await ws.send("done")


@pytest.mark.asyncio
async def test_max_queue_none_never_pauses() -> None:
    async def producer(ws: ServerConnection) -> None:
        for i in range(100):
            await ws.send(str(i))
        await ws.recv()

    async with run_server(producer) as server:
        async with connect(uri_of(server), max_queue=None, **FAST) as ws:
            await wait_for_condition(lambda: len(ws.recv_messages.frames) == 100)
            assert ws.transport.is_reading()
            assert [await ws.recv() for _ in range(100)] == [str(i) for i in range(100)]
            await ws.send("done")


@pytest.mark.asyncio
async def test_closing_while_reading_is_paused_completes_the_handshake() -> None:
    async def producer(ws: ServerConnection) -> None:
        while True:
            await ws.send(b"\x00" * 2**16)

    # No compression: the zeros would shrink to nothing and never fill a buffer.
    async with run_server(producer, compression=None) as server:
        ws = await connect(
            uri_of(server), max_queue=2, compression=None, **{**FAST, "close_timeout": 2}
        )
        await wait_for_condition(lambda: not ws.transport.is_reading())
        await ws.close()
        assert ws.close_code == 1000  # the server's close frame was read, not timed out


@pytest.mark.asyncio
async def test_write_limit_applies_backpressure_to_send() -> None:
    """A slow writer: send() waits for the transport's buffer to drain."""
    recorder = Recorder()
    write_limit, size = 2**16, 2**18
    # No compression: the zeros would shrink to nothing and never fill a buffer.
    async with run_server(recorder.hold, max_queue=1, compression=None) as server:
        async with connect(uri_of(server), write_limit=write_limit, compression=None, **FAST) as ws:
            await recorder.opened.wait()

            async def flood() -> None:
                for _ in range(200):  # 50 MiB: more than the kernel buffers hold
                    await ws.send(b"\x00" * size)

            task = asyncio.create_task(flood())
            await wait_for_condition(lambda: ws._write_paused)
            await asyncio.sleep(0.1)
            assert not task.done()  # blocked in send(), waiting for the buffer to drain
            assert ws.transport.get_write_buffer_size() <= write_limit + size + 14
            # The server starts reading: the flood completes.
            connection = recorder.connection
            assert connection is not None

            async def drain() -> None:
                for _ in range(200):
                    await connection.recv()

            await asyncio.gather(task, drain())
            recorder.release.set()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("write_limit", "limits"),
    [(4096, (4096, None)), ((4096, 2048), (4096, 2048)), ((4096, None), (4096, None))],
)
async def test_write_limit_is_given_to_the_transport_as_is(
    write_limit: int | tuple[int, int | None], limits: tuple[int, int | None]
) -> None:
    """As websockets does: a low-water mark left out is None, the transport's default."""
    connection = Connection(Protocol(SERVER), write_limit=write_limit)
    transport = unittest.mock.Mock()
    connection.connection_made(transport)
    transport.set_write_buffer_limits.assert_called_once_with(*limits)


@pytest.mark.asyncio
async def test_write_limit_low_water_mark_defaults_to_a_quarter() -> None:
    async with run_server() as server, connect(uri_of(server), write_limit=4096, **FAST) as ws:
        assert ws.transport.get_write_buffer_limits() == (1024, 4096)  # (low, high)


# Attributes


@pytest.mark.asyncio
async def test_connection_attributes() -> None:
    recorder = Recorder()
    async with run_server(recorder.hold) as server:
        async with connect(uri_of(server, "/path?q=1"), **FAST) as ws:
            await recorder.opened.wait()
            connection = recorder.connection
            assert connection is not None
            assert isinstance(ws.id, uuid.UUID) and ws.id != connection.id
            assert ws.local_address == connection.remote_address
            assert ws.remote_address == connection.local_address
            assert ws.remote_address[1] == server.sockets[0].getsockname()[1]
            assert ws.request is not None and ws.request.path == "/path?q=1"
            assert connection.request is not None and connection.request.path == "/path?q=1"
            assert ws.response is not None and ws.response.status_code == 101
            assert connection.response is not None and connection.response.status_code == 101
            assert ws.subprotocol is None
            assert ws.logger.isEnabledFor is not None
            assert ws.state is State.OPEN
            recorder.release.set()


@pytest.mark.asyncio
async def test_recv_streaming_cancelled_before_first_fragment_is_safe() -> None:
    async with run_server() as server, connect(uri_of(server), **FAST) as ws:
        stream = ws.recv_streaming()
        task = asyncio.create_task(stream.__anext__())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await ws.send("intact")
        assert await ws.recv() == "intact"  # no ConcurrencyError, nothing skipped


# A bad frame right after good messages: the messages are answered before the failure.


async def _read_until_eof(reader: asyncio.StreamReader) -> list[RawFrame]:
    frames = []
    while True:
        try:
            frames.append(await asyncio.wait_for(read_frame(reader), 5))
        except asyncio.IncompleteReadError:
            return frames


@pytest.mark.asyncio
async def test_server_echoes_messages_before_failing_on_a_bad_frame() -> None:
    async with run_server(echo) as server:
        async with raw_client(port_of(server)) as (reader, writer, status, _):
            assert status.startswith("HTTP/1.1 101")
            # Autobahn case 3.2: a message, a frame with RSV2 set, a ping; in one write.
            writer.write(
                client_frame(0x1, b"Hello")
                + client_frame(0x1, b"bad", rsv=RSV2)
                + client_frame(0x9, b"p")
            )
            frames = await _read_until_eof(reader)
    assert [(f.opcode, f.payload) for f in frames[:1]] == [(0x1, b"Hello")]
    # RFC 6455 §7.1.7: then the close frame; the ping after the bad frame isn't answered.
    assert [f.opcode for f in frames] == [0x1, 0x8]
    assert frames[1].close_code == 1002


@pytest.mark.asyncio
async def test_server_fails_after_close_timeout_when_the_handler_does_not_read() -> None:
    done = asyncio.Event()

    async def idle(ws: ServerConnection) -> None:
        await done.wait()

    async with run_server(idle, close_timeout=0.1) as server:
        async with raw_client(port_of(server)) as (reader, writer, _, _):
            writer.write(client_frame(0x1, b"unread") + client_frame(0x3))
            frames = await _read_until_eof(reader)
        done.set()
    assert [f.opcode for f in frames] == [0x8]
    assert frames[0].close_code == 1002


@pytest.mark.asyncio
async def test_client_answers_messages_before_failing_on_a_bad_frame() -> None:
    async with client_of_raw_server() as (ws, reader, writer, _):
        writer.write(server_frame(0x1, b"one") + server_frame(0x2, b"two") + server_frame(0xF))
        assert await ws.recv() == "one"
        await ws.send("reply one")
        assert await ws.recv() == b"two"
        await ws.send("reply two")
        with pytest.raises(ConnectionClosedError) as raised:
            await ws.recv()
        assert raised.value.sent is not None and raised.value.sent.code == 1002
        frames = [await asyncio.wait_for(read_frame(reader), 5) for _ in range(3)]
    assert [(f.opcode, f.payload) for f in frames[:2]] == [(0x1, b"reply one"), (0x1, b"reply two")]
    assert frames[2].opcode == 0x8 and frames[2].close_code == 1002
