"""A client and a server driven through random conversations (hypothesis stateful testing).

Each step sends a message (text or binary, whole or in fragments, maybe with a ping
between fragments), a ping, or a close from either side, or delivers the next bytes
in flight in one direction, cut at an arbitrary point. At every step, what each side
received is a prefix of what the other sent; at the end, once every byte and EOF is
delivered, both sides are CLOSED, agree on the close codes, and got every message
intact and in order.
"""

from __future__ import annotations

import itertools

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from websocket_ref import (
    ConnectionClosedError,
    ConnectionClosedOK,
    Frame,
    Opcode,
    Protocol,
    Side,
    State,
)

from .utils import connected_pair

SIDES = st.sampled_from([Side.CLIENT, Side.SERVER])
Message = tuple[Opcode, bytes]


class Conversation(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        client, server = connected_pair()
        self.ends: dict[Side, Protocol] = {Side.CLIENT: client, Side.SERVER: server}
        # Per sender: bytes in flight, and whether EOF follows them (then: was it delivered).
        self.pipe: dict[Side, bytearray] = {Side.CLIENT: bytearray(), Side.SERVER: bytearray()}
        self.eof_pending: dict[Side, bool] = {Side.CLIENT: False, Side.SERVER: False}
        self.sent: dict[Side, list[Message]] = {Side.CLIENT: [], Side.SERVER: []}
        self.received: dict[Side, list[Message]] = {Side.CLIENT: [], Side.SERVER: []}
        self.partial: dict[Side, tuple[Opcode, list[bytes]] | None] = {
            Side.CLIENT: None,
            Side.SERVER: None,
        }
        self.pings: dict[Side, list[bytes]] = {Side.CLIENT: [], Side.SERVER: []}
        self.pongs: dict[Side, list[bytes]] = {Side.CLIENT: [], Side.SERVER: []}

    # Moving bytes

    def peer(self, side: Side) -> Side:
        return Side.SERVER if side is Side.CLIENT else Side.CLIENT

    def collect(self, side: Side) -> None:
        """Put what ``side`` wrote in flight."""
        for chunk in self.ends[side].data_to_send():
            assert not self.eof_pending[side], "data written after EOF"
            if chunk == b"":
                self.eof_pending[side] = True
            else:
                self.pipe[side] += chunk

    def deliver_some(self, sender: Side, size: int) -> None:
        receiver = self.peer(sender)
        end = self.ends[receiver]
        pipe = self.pipe[sender]
        if pipe:
            chunk = bytes(pipe[:size])
            del pipe[:size]
            end.receive_data(chunk)
        elif self.eof_pending[sender]:
            self.eof_pending[sender] = False
            end.receive_eof()
        self.handle_events(receiver)
        self.collect(receiver)

    def handle_events(self, side: Side) -> None:
        for event in self.ends[side].events_received():
            assert isinstance(event, Frame)
            if event.opcode in (Opcode.TEXT, Opcode.BINARY):
                assert self.partial[side] is None
                self.partial[side] = (event.opcode, [event.data])
            elif event.opcode is Opcode.CONT:
                partial = self.partial[side]
                assert partial is not None
                partial[1].append(event.data)
            elif event.opcode is Opcode.PONG:
                self.pongs[side].append(event.data)
                continue
            else:
                continue
            if event.fin:
                partial = self.partial[side]
                assert partial is not None
                self.received[side].append((partial[0], b"".join(partial[1])))
                self.partial[side] = None

    # Rules

    @rule(
        side=SIDES,
        data=st.data(),
        binary=st.booleans(),
        fragments=st.integers(1, 4),
        ping_between=st.booleans(),
    )
    def send_message(
        self, side: Side, data: st.DataObject, binary: bool, fragments: int, ping_between: bool
    ) -> None:
        end = self.ends[side]
        if end.state is not State.OPEN:
            return
        if binary:
            payload = data.draw(st.binary(max_size=200))
        else:
            payload = data.draw(st.text(max_size=60)).encode()
        # Cut anywhere, even inside a multi-byte character.
        cuts = sorted(data.draw(st.lists(st.integers(0, len(payload)), max_size=fragments - 1)))
        bounds = [0, *cuts, len(payload)]
        pieces = [payload[a:b] for a, b in itertools.pairwise(bounds)]
        opcode = Opcode.BINARY if binary else Opcode.TEXT
        for i, piece in enumerate(pieces):
            fin = i == len(pieces) - 1
            if i == 0:
                (end.send_binary if binary else end.send_text)(piece, fin=fin)
            else:
                end.send_continuation(piece, fin=fin)
            if ping_between and not fin:
                end.send_ping(b"mid-message")
                self.pings[side].append(b"mid-message")
        self.sent[side].append((opcode, payload))
        self.collect(side)

    @rule(side=SIDES, payload=st.binary(max_size=125))
    def ping(self, side: Side, payload: bytes) -> None:
        end = self.ends[side]
        if end.state is not State.OPEN:
            return
        end.send_ping(payload)
        self.pings[side].append(payload)
        self.collect(side)

    @rule(sender=SIDES, size=st.integers(1, 300))
    def deliver(self, sender: Side, size: int) -> None:
        self.deliver_some(sender, size)

    @rule(
        side=SIDES,
        code=st.sampled_from([None, 1000, 1001, 1011, 3000, 4999]),
        reason=st.text(max_size=20),
    )
    def close(self, side: Side, code: int | None, reason: str) -> None:
        end = self.ends[side]
        if end.state is not State.OPEN:
            return
        end.send_close(code, reason if code is not None else "")
        self.collect(side)

    # Checks

    @invariant()
    def received_a_prefix_of_what_was_sent(self) -> None:
        for side in (Side.CLIENT, Side.SERVER):
            received = self.received[side]
            assert received == self.sent[self.peer(side)][: len(received)]
            # Pongs answer pings in order; a pong may answer the most recent of several
            # pings still unanswered (RFC 6455 §5.5.3): the pongs are a subsequence.
            remaining = iter(self.pings[side])
            assert all(pong in remaining for pong in self.pongs[side])
            assert self.ends[side].failure_exc is None
            assert self.ends[side].handshake_exc is None

    def teardown(self) -> None:
        client, server = self.ends[Side.CLIENT], self.ends[Side.SERVER]
        if client.state is State.OPEN and server.state is State.OPEN:
            client.send_close(1000)
            self.collect(Side.CLIENT)
        for _ in range(1000):
            if not any(self.pipe.values()) and not any(self.eof_pending.values()):
                break
            for sender in (Side.CLIENT, Side.SERVER):
                self.deliver_some(sender, 1000)
        else:  # pragma: no cover
            raise AssertionError("the conversation doesn't end")
        assert client.state is State.CLOSED
        assert server.state is State.CLOSED
        self.received_a_prefix_of_what_was_sent()
        assert self.received[Side.SERVER] == self.sent[Side.CLIENT]
        assert self.received[Side.CLIENT] == self.sent[Side.SERVER]
        assert self.partial[Side.CLIENT] is None and self.partial[Side.SERVER] is None
        # Each side reports the code the other side sent.
        assert client.close_sent is not None and server.close_sent is not None
        assert client.close_code == server.close_sent.code
        assert server.close_code == client.close_sent.code
        for end in (client, server):
            assert end.close_rcvd is not None and end.close_sent is not None
            if end.close_rcvd_then_sent:
                # RFC 6455 §5.5.1: the answer to a close frame echoes its code
                assert end.close_sent.code == end.close_rcvd.code
        ok = {1000, 1001, 1005}
        for end in (client, server):
            expected = ConnectionClosedOK if end.close_code in ok else ConnectionClosedError
            if end.close_sent.code not in ok:  # type: ignore[union-attr]
                expected = ConnectionClosedError
            assert type(end.close_exc) is expected
            assert not end.close_expected()


Conversation.TestCase.settings = settings(
    max_examples=min(settings().max_examples, 50),
    stateful_step_count=30,
)
TestConversation = Conversation.TestCase
