"""The trace hook: the protocol reports what crosses the wire, for every API."""

from __future__ import annotations

import logging

import pytest

from websocket_ref import (
    ClientProtocol,
    Frame,
    Headers,
    Opcode,
    Request,
    Response,
    ServerProtocol,
)
from websocket_ref.asyncio.client import connect as asyncio_connect
from websocket_ref.asyncio.server import serve as asyncio_serve
from websocket_ref.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websocket_ref.frames import serialize_frame
from websocket_ref.prepared import prepare
from websocket_ref.trace import TraceEvent, describe_head
from websocket_ref.uri import parse_uri

from .sync.utils import client as sync_client
from .sync.utils import run_server as run_sync_server


def pump(client: ClientProtocol, server: ServerProtocol) -> None:
    """Move bytes both ways until neither side has anything to send; accept handshakes."""
    moved = True
    while moved:
        moved = False
        for sender, receiver in ((client, server), (server, client)):
            for data in sender.data_to_send():
                moved = True
                if data:
                    receiver.receive_data(data)
                else:
                    receiver.receive_eof()
        for event in server.events_received():
            if isinstance(event, Request):
                server.send_response(server.accept(event))
                moved = True
        client.events_received()


def connected(
    compression: bool = False,
) -> tuple[ClientProtocol, ServerProtocol, list[TraceEvent], list[TraceEvent]]:
    client_events: list[TraceEvent] = []
    server_events: list[TraceEvent] = []
    client = ClientProtocol(
        parse_uri("ws://example.com/chat"),
        extensions=[ClientPerMessageDeflateFactory()] if compression else None,
        trace=client_events.append,
    )
    server = ServerProtocol(
        extensions=[ServerPerMessageDeflateFactory()] if compression else None,
        trace=server_events.append,
    )
    client.send_request(client.connect())
    pump(client, server)
    return client, server, client_events, server_events


def test_handshake_events() -> None:
    client, server, client_events, server_events = connected()
    assert [(e.direction, type(e.head).__name__) for e in client_events if e.head] == [
        (">", "Request"),
        ("<", "Response"),
    ]
    assert [(e.direction, type(e.head).__name__) for e in server_events if e.head] == [
        ("<", "Request"),
        (">", "Response"),
    ]
    assert client_events[0].head is client.request
    assert server_events[0].head is server.request
    # The state change to OPEN, on both sides.
    assert client_events[-1].direction == "=" and client_events[-1].message == "connection is OPEN"
    assert server_events[-1].direction == "=" and server_events[-1].message == "connection is OPEN"
    assert {e.side for e in client_events} == {"client"}
    assert {e.side for e in server_events} == {"server"}
    assert {e.connection_id for e in client_events} == {client.id}


def test_frame_events_as_on_the_wire() -> None:
    client, server, client_events, server_events = connected()
    client_events.clear()
    server_events.clear()
    client.send_text(b"Hello")
    pump(client, server)
    [sent] = client_events
    [received, *_] = server_events
    assert sent.direction == ">" and sent.masked  # RFC 6455 §5.3: a client masks
    assert received.direction == "<" and received.masked
    assert sent.frame == received.frame == Frame(Opcode.TEXT, b"Hello")
    assert str(sent) == (
        "> TEXT fin=1 rsv=000 mask=1 len=5  [RFC 6455 §5.6 text (UTF-8), "
        "§5.3 masked (client to server), §5.2 7-bit length]"
    )
    server_events.clear()
    client_events.clear()
    server.send_ping(b"1")
    pump(client, server)
    # The server's ping isn't masked; the client answers with a pong on its own.
    assert [(e.direction, e.frame.opcode.name, e.masked) for e in server_events if e.frame] == [
        (">", "PING", False),
        ("<", "PONG", True),
    ]
    assert [(e.direction, e.frame.opcode.name, e.masked) for e in client_events if e.frame] == [
        ("<", "PING", False),
        (">", "PONG", True),
    ]


def test_compressed_frames_are_traced_compressed() -> None:
    client, server, client_events, _ = connected(compression=True)
    client_events.clear()
    client.send_text(b"hello " * 100)
    pump(client, server)
    [sent] = client_events
    assert sent.frame is not None and sent.frame.rsv1
    assert len(sent.frame.data) < 600  # the compressed payload, as sent
    assert "RFC 7692 §6 compressed" in str(sent)


def test_prepared_message() -> None:
    message = prepare("hi")
    _, first, _, first_events = connected()
    _, second, _, second_events = connected()
    first_events.clear()
    second_events.clear()
    first.send_prepared(message)  # frames it, and keeps the bytes
    second.send_prepared(message)  # reuses them
    [framed] = first_events
    [reused] = second_events
    assert not framed.prepared and framed.frame == Frame(Opcode.TEXT, b"hi")
    assert reused.prepared and reused.frame == Frame(Opcode.TEXT, b"hi")
    assert str(reused).endswith("(prepared)")


def test_failure_and_closing_events() -> None:
    _client, server, _, server_events = connected()
    server_events.clear()
    header, payload = serialize_frame(Frame(Opcode.TEXT, b"caf\xc3"), mask=True)
    server.receive_data(header + payload)
    lines = [line for event in server_events for line in event.lines()]
    assert lines[0].startswith("< TEXT fin=1")
    assert any(line.startswith("! failing connection:") for line in lines)
    assert any(line.startswith("> CLOSE") and "code=1007" in line for line in lines)
    assert "= connection is CLOSING" in lines


def test_refused_handshake_is_traced() -> None:
    events: list[TraceEvent] = []
    server = ServerProtocol(trace=events.append)
    server.receive_data(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
    [request] = server.events_received()
    assert isinstance(request, Request)
    server.send_response(server.accept(request))
    response = events[-1].head
    assert isinstance(response, Response) and response.status_code == 426
    assert events[-1].lines()[0].endswith("[RFC 6455 §4.2.2 server refuses the upgrade]")
    assert events[-1].lines()[-1].startswith("> [body]")


def test_describe_head_of_a_request() -> None:
    lines = describe_head("<", Request("/chat", Headers({"Host": "h"})))
    assert lines == [
        "< GET /chat HTTP/1.1  [RFC 6455 §4.1 opening handshake: client request]",
        "< Host: h",
    ]


def test_no_hook_no_observation(caplog: pytest.LogCaptureFixture) -> None:
    """Without a hook and without debug logging, the hot paths skip observing entirely."""
    logging.getLogger("websocket_ref.client").setLevel(logging.INFO)
    client = ClientProtocol(parse_uri("ws://example.com/"))
    assert client.trace is None
    assert client.debug is False
    with_hook = ClientProtocol(parse_uri("ws://example.com/"), trace=lambda event: None)
    assert with_hook.debug is True


def test_debug_logging_keeps_its_format(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.trace.logging")
    logger.setLevel(logging.DEBUG)
    client = ClientProtocol(parse_uri("ws://example.com/"), logger=logger)
    caplog.clear()  # the protocol logged its initial state ("= connection is CONNECTING")
    with caplog.at_level(logging.DEBUG, logger="test.trace.logging"):
        client.send_request(client.connect())
    assert caplog.records[0].getMessage() == "> GET / HTTP/1.1"


# The I/O layers pass trace= to the protocols they create


def frame_lines(events: list[TraceEvent]) -> list[str]:
    return [f"{e.direction} {e.frame.opcode.name}" for e in events if e.frame is not None]


def test_sync_client_and_server() -> None:
    server_events: list[TraceEvent] = []
    client_events: list[TraceEvent] = []
    with run_sync_server(trace=server_events.append, compression=None) as server:
        with sync_client(server, trace=client_events.append, compression=None) as ws:
            ws.send("hi")
            assert ws.recv(timeout=10) == "hi"
    assert frame_lines(client_events) == ["> TEXT", "< TEXT", "> CLOSE", "< CLOSE"]
    assert frame_lines(server_events) == ["< TEXT", "> TEXT", "< CLOSE", "> CLOSE"]
    assert server_events[0].head is not None and server_events[0].side == "server"


@pytest.mark.asyncio
async def test_asyncio_client_and_server() -> None:
    server_events: list[TraceEvent] = []
    client_events: list[TraceEvent] = []

    async def echo(ws: object) -> None:
        async for message in ws:  # type: ignore[attr-defined]
            await ws.send(message)  # type: ignore[attr-defined]

    async with asyncio_serve(
        echo, "127.0.0.1", 0, trace=server_events.append, compression=None, ping_interval=None
    ) as server:
        port = server.sockets[0].getsockname()[1]
        async with asyncio_connect(
            f"ws://127.0.0.1:{port}/",
            trace=client_events.append,
            compression=None,
            ping_interval=None,
        ) as ws:
            await ws.send("hi")
            assert await ws.recv() == "hi"
        await ws.wait_closed()
    assert frame_lines(client_events) == ["> TEXT", "< TEXT", "> CLOSE", "< CLOSE"]
    assert frame_lines(server_events)[:2] == ["< TEXT", "> TEXT"]
    assert client_events[0].head is not None and client_events[0].side == "client"


def test_fragments_are_traced_as_on_the_wire() -> None:
    """The core may join small fragments into one event; the trace shows every frame."""
    client, server, _, server_events = connected()
    server_events.clear()
    client.send_text(b"a", fin=False)
    for _ in range(8):
        client.send_continuation(b"b", fin=False)
    client.send_continuation(b"c", fin=True)
    for data in client.data_to_send():
        server.receive_data(data)
    traced = [e.frame for e in server_events if e.frame is not None]
    assert [(f.opcode.name, f.data, f.fin) for f in traced] == [
        ("TEXT", b"a", False),
        *[("CONT", b"b", False)] * 8,
        ("CONT", b"c", True),
    ]
    delivered = server.events_received()
    assert b"".join(f.data for f in delivered if isinstance(f, Frame)) == b"abbbbbbbbc"
