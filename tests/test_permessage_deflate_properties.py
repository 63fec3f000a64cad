"""Properties of permessage-deflate (RFC 7692), checked with hypothesis.

* Any sequence of messages, fragmented anyhow, survives compression and decompression
  under every combination of context takeover and window bits; what the sender writes
  inflates with zlib alone, within the agreed window, and without context takeover
  each message inflates on its own.
* Through a client and a server, control frames interleaved with fragments never carry
  RSV1 and never disturb the messages around them.
* The random conversations of :mod:`tests.test_stateful` run with compression on.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule

from websocket_ref import Frame, Opcode, PayloadTooBig, Side, State
from websocket_ref.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websocket_ref.protocol import MAX_PENDING_PONGS

from .test_permessage_deflate import strict_inflate
from .test_stateful import Conversation
from .utils import RSV1, connected_pair, decode_frames

# Every agreement one direction can have: (no context takeover, window bits).
DIRECTIONS = list(itertools.product([False, True], range(8, 16)))

# Messages that compress: repeated pieces, near and far apart, and random bytes.
PIECES = st.binary(min_size=1, max_size=64) | st.sampled_from([b"hello ", b"\x00" * 40, b"ab"])
MESSAGES = st.one_of(
    st.binary(max_size=600),
    st.lists(PIECES, max_size=40).map(b"".join),
    st.tuples(st.binary(min_size=1, max_size=700), st.integers(1, 4)).map(lambda t: t[0] * t[1]),
)


def cut(message: bytes, cuts: Sequence[int]) -> list[bytes]:
    bounds = [0, *sorted(min(c, len(message)) for c in cuts), len(message)]
    return [message[a:b] for a, b in itertools.pairwise(bounds)]


def send(ext: PerMessageDeflate, message: bytes, cuts: Sequence[int]) -> list[Frame]:
    pieces = cut(message, cuts)
    frames = []
    for i, piece in enumerate(pieces):
        opcode = Opcode.BINARY if i == 0 else Opcode.CONT
        frames.append(ext.encode(Frame(opcode, piece, fin=i == len(pieces) - 1)))
    return frames


@pytest.mark.parametrize(("no_context_takeover", "bits"), DIRECTIONS)
@settings(max_examples=min(settings().max_examples, 15))
@given(
    messages=st.lists(st.tuples(MESSAGES, st.lists(st.integers(0, 700), max_size=3)), max_size=6),
    seed=st.integers(0, 2**16),
    position=st.integers(0, 6),
)
def test_round_trip(
    no_context_takeover: bool,
    bits: int,
    messages: list[tuple[bytes, list[int]]],
    seed: int,
    position: int,
) -> None:
    # Random data repeated just beyond the window, then a message that repeats its start:
    # an encoder that used a larger window would refer to them.
    far = random.Random(seed).randbytes((1 << bits) + 200)
    messages[position:position] = [(far * 2, [len(far)]), (far[:300], [])]
    # The sender's local parameters are the receiver's remote ones.
    sender = PerMessageDeflate(False, no_context_takeover, 15, bits)
    receiver = PerMessageDeflate(no_context_takeover, False, bits, 15)
    payloads = []
    for message, cuts in messages:
        frames = send(sender, message, cuts)
        # RFC 7692 §6: RSV1 on the first frame of the message only
        assert [f.rsv1 for f in frames] == [True] + [False] * (len(frames) - 1)
        decoded = [receiver.decode(f, max_size=len(message)) for f in frames]
        assert b"".join(f.data for f in decoded) == message
        assert not any(f.rsv1 for f in decoded)
        payload = b"".join(f.data for f in frames)
        payloads.append(payload)
        if no_context_takeover:
            # RFC 7692 §7.1.1: each message inflates from an empty window
            assert strict_inflate([payload], wbits=bits, step=64) == [message]
    # RFC 7692 §7.1.2: references stay within the agreed window, across messages too
    assert strict_inflate(payloads, wbits=bits, step=64) == [m for m, _ in messages]


@settings(max_examples=min(settings().max_examples, 50))
@given(
    messages=st.lists(st.tuples(MESSAGES, st.lists(st.integers(0, 700), max_size=3)), max_size=6),
    budget=st.integers(0, 2000),
)
def test_decode_respects_the_budget(messages: list[tuple[bytes, list[int]]], budget: int) -> None:
    # The core passes the rest of the message's budget to each frame; the extension
    # never returns more, and refuses exactly the messages that don't fit.
    sender = PerMessageDeflate(False, False, 15, 15)
    receiver = PerMessageDeflate(False, False, 15, 15)
    for message, cuts in messages:
        remaining = budget
        try:
            for frame in send(sender, message, cuts):
                data = receiver.decode(frame, max_size=remaining).data
                assert len(data) <= remaining
                remaining -= len(data)
        except PayloadTooBig:
            assert len(message) > budget
            return  # the connection would be failed
        assert len(message) <= budget


@settings(max_examples=min(settings().max_examples, 100))
@given(
    messages=st.lists(
        st.tuples(MESSAGES | st.binary(min_size=1, max_size=100), st.booleans()),
        min_size=1,
        max_size=4,
    ),
    budget=st.none() | st.integers(0, 2500),
    slice_size=st.integers(1, 40),
)
def test_inflating_in_slices_is_inflating_at_once(
    messages: list[tuple[bytes, bool]], budget: int | None, slice_size: int
) -> None:
    # A large payload is inflated a slice at a time: the same data, or the same error
    # (the budget's, or invalid data's: a message sent as it is with RSV1 set), as at once.
    from websocket_ref.extensions import permessage_deflate

    sender = PerMessageDeflate(False, False, 15, 15)
    at_once = PerMessageDeflate(False, False, 15, 15)
    sliced = PerMessageDeflate(False, False, 15, 15)
    for message, compressed in messages:
        frame = sender.encode(Frame(Opcode.BINARY, message))
        if not compressed:
            frame = Frame(Opcode.BINARY, message, True, True)  # not DEFLATE data, most likely
        outcomes = []
        for receiver, size in ((at_once, 1 << 30), (sliced, slice_size)):
            saved = permessage_deflate._INFLATE_SLICE
            permessage_deflate._INFLATE_SLICE = size
            try:
                outcomes.append(receiver.decode(frame, max_size=budget).data)
            except Exception as exc:  # compared below
                outcomes.append((type(exc), str(exc)))
            finally:
                permessage_deflate._INFLATE_SLICE = saved
        assert outcomes[0] == outcomes[1]
        if not isinstance(outcomes[0], bytes):
            return  # the connection would be failed


CLIENT_CONFIGS = [
    ClientPerMessageDeflateFactory(),
    ClientPerMessageDeflateFactory(
        server_no_context_takeover=True, client_no_context_takeover=True
    ),
    ClientPerMessageDeflateFactory(server_max_window_bits=8, client_max_window_bits=8),
    ClientPerMessageDeflateFactory(server_max_window_bits=9, compress_settings={"level": 1}),
]
SERVER_CONFIGS = [
    ServerPerMessageDeflateFactory(),
    ServerPerMessageDeflateFactory(server_max_window_bits=12, client_max_window_bits=10),
    ServerPerMessageDeflateFactory(client_no_context_takeover=True, compress_settings={"level": 9}),
]


@settings(max_examples=min(settings().max_examples, 50))
@given(
    client_factory=st.sampled_from(CLIENT_CONFIGS),
    server_factory=st.sampled_from(SERVER_CONFIGS),
    messages=st.lists(
        st.tuples(
            MESSAGES,
            st.lists(st.integers(0, 700), max_size=3),
            st.booleans(),  # a ping after each fragment
            st.booleans(),  # binary or text
        ),
        max_size=5,
    ),
    chunk=st.integers(1, 2000),
)
def test_control_frames_between_fragments(
    client_factory: ClientPerMessageDeflateFactory,
    server_factory: ServerPerMessageDeflateFactory,
    messages: list[tuple[bytes, list[int], bool, bool]],
    chunk: int,
) -> None:
    client, server = connected_pair(
        client_kwargs={"extensions": [client_factory], "max_size": None},
        server_kwargs={"extensions": [server_factory], "max_size": None},
    )
    sent = []
    for message, cuts, ping, binary in messages:
        data = message if binary else message.hex().encode()  # text must be UTF-8
        pieces = cut(data, cuts)
        for i, piece in enumerate(pieces):
            fin = i == len(pieces) - 1
            if i == 0:
                (client.send_binary if binary else client.send_text)(piece, fin=fin)
            else:
                client.send_continuation(piece, fin=fin)
            if ping:
                client.send_ping(b"ping %d" % i)
        sent.append(data)
    wire = b"".join(client.data_to_send())
    # What the client wrote: RSV1 on first frames of messages only, never on control frames.
    for frame in decode_frames(wire):
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
            assert frame.rsv == RSV1
        else:
            assert frame.rsv == 0
            if frame.opcode == Opcode.PING:
                assert frame.payload.startswith(b"ping ")
    received: list[bytes] = []
    parts: list[bytes] = []
    for i in range(0, len(wire), chunk):
        server.receive_data(wire[i : i + chunk])
        for event in server.events_received():
            assert isinstance(event, Frame)
            if event.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
                parts.append(event.data)
                if event.fin:
                    received.append(b"".join(parts))
                    parts = []
    assert server.failure_exc is None
    assert received == sent
    # The server answered the pings with uncompressed pongs: one each, up to the limit of
    # unsent pongs, then one for the most recent, since it wrote nothing meanwhile
    # (RFC 6455 §5.5.3).
    pongs = decode_frames(b"".join(server.data_to_send()))
    assert all(f.opcode == Opcode.PONG and f.rsv == 0 for f in pongs)
    pings = [b"ping %d" % i for m, c, ping, _ in messages if ping for i in range(len(cut(m, c)))]
    if len(pings) > MAX_PENDING_PONGS:
        pings = pings[: MAX_PENDING_PONGS - 1] + pings[-1:]
    assert [f.payload for f in pongs] == pings


# The stateful conversation of tests/test_stateful.py, compressed


class CompressedConversation(Conversation):
    """The same random conversations, over a connection that negotiated compression."""

    @initialize(
        client_factory=st.sampled_from(CLIENT_CONFIGS),
        server_factory=st.sampled_from(SERVER_CONFIGS),
    )
    def negotiate(
        self,
        client_factory: ClientPerMessageDeflateFactory,
        server_factory: ServerPerMessageDeflateFactory,
    ) -> None:
        client, server = connected_pair(
            client_kwargs={"extensions": [client_factory]},
            server_kwargs={"extensions": [server_factory]},
        )
        self.ends = {Side.CLIENT: client, Side.SERVER: server}

    @rule(side=st.sampled_from([Side.CLIENT, Side.SERVER]), message=MESSAGES)
    def send_compressible(self, side: Side, message: bytes) -> None:
        end = self.ends[side]
        if end.state is not State.OPEN:
            return
        end.send_binary(message)
        self.sent[side].append((Opcode.BINARY, message))
        self.collect(side)

    @invariant()
    def compression_is_on(self) -> None:
        for end in self.ends.values():
            assert [type(e) for e in end.extensions] == [PerMessageDeflate]


CompressedConversation.TestCase.settings = settings(
    max_examples=min(settings().max_examples, 50),
    stateful_step_count=30,
)
TestCompressedConversation = CompressedConversation.TestCase
