"""permessage-deflate (RFC 7692): negotiation, framing, context takeover, window bits, limits.

Negotiation is checked against an independent model of the RFC over every combination of
the client's and the server's settings, and each invalid form of a parameter is checked
on both sides. Framing is checked on the wire: payloads are inflated here with zlib
directly, and frames the library would never send are built by hand.
"""

from __future__ import annotations

import itertools
import random
import tracemalloc
import zlib
from collections.abc import Sequence
from typing import Any

import pytest

from websocket_ref import (
    ClientProtocol,
    DuplicateParameter,
    Frame,
    Headers,
    InvalidFrame,
    InvalidParameterName,
    InvalidParameterValue,
    InvalidUTF8,
    NegotiationError,
    Opcode,
    PayloadTooBig,
    Request,
    ServerProtocol,
    State,
    parse_uri,
)
from websocket_ref.extensions import base
from websocket_ref.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
)
from websocket_ref.handshake import accept_key
from websocket_ref.headers import ExtensionParameter, build_extension, parse_extension

from .utils import (
    RSV1,
    RSV2,
    FakeClientFactory,
    FakeServerFactory,
    client_frame,
    connected_pair,
    decode_frames,
    server_frame,
    written,
)

TAIL = b"\x00\x00\xff\xff"
NAME = "permessage-deflate"


def pair(
    client_factory: ClientPerMessageDeflateFactory | None = None,
    server_factory: ServerPerMessageDeflateFactory | None = None,
    **kwargs: object,
) -> tuple[ClientProtocol, ServerProtocol]:
    """A client and a server that negotiated permessage-deflate in a real handshake."""
    client, server = connected_pair(
        client_kwargs={"extensions": [client_factory or ClientPerMessageDeflateFactory()]} | kwargs,
        server_kwargs={"extensions": [server_factory or ServerPerMessageDeflateFactory()]} | kwargs,
    )
    assert [e.name for e in client.extensions] == [NAME]
    assert [e.name for e in server.extensions] == [NAME]
    return client, server


def deflate_of(ext: base.Extension) -> PerMessageDeflate:
    assert isinstance(ext, PerMessageDeflate)
    return ext


def inflate(payloads: Sequence[bytes], wbits: int = 15) -> list[bytes]:
    """Inflate compressed messages the way RFC 7692 §7.2.2 says, with zlib alone."""
    decoder = zlib.decompressobj(wbits=-wbits)
    return [decoder.decompress(payload + TAIL) for payload in payloads]


def strict_inflate(payloads: Sequence[bytes], wbits: int, step: int = 16) -> list[bytes]:
    """Inflate like :func:`inflate`, refusing any distance beyond the window.

    zlib checks a distance against its window *plus the output of the current call*, so
    one big call accepts references far beyond ``wbits``. A few bytes of output per call
    leave only the window to refer to.
    """
    decoder = zlib.decompressobj(wbits=-wbits)
    messages = []
    for payload in payloads:
        chunks = []
        data = payload + TAIL
        while data:
            chunks.append(decoder.decompress(data, step))
            data = decoder.unconsumed_tail
        messages.append(b"".join(chunks))
    return messages


def params(header: str) -> list[ExtensionParameter]:
    [(name, parameters)] = parse_extension(header)
    assert name == NAME
    return parameters


# Configuration


@pytest.mark.parametrize("bits", [7, 16, 0, -9, True, 9.0, "9"])
def test_factories_refuse_invalid_window_bits(bits: Any) -> None:
    with pytest.raises(ValueError, match="from 8 to 15"):
        ClientPerMessageDeflateFactory(server_max_window_bits=bits)
    if bits is not True:  # True means "offer without a value" for the client's own window
        with pytest.raises(ValueError, match="from 8 to 15"):
            ClientPerMessageDeflateFactory(client_max_window_bits=bits)
    with pytest.raises(ValueError, match="from 8 to 15"):
        ServerPerMessageDeflateFactory(server_max_window_bits=bits)
    with pytest.raises(ValueError, match="from 8 to 15"):
        ServerPerMessageDeflateFactory(client_max_window_bits=bits)
    with pytest.raises(ValueError, match="from 8 to 15"):
        PerMessageDeflate(False, False, bits, 15)
    with pytest.raises(ValueError, match="from 8 to 15"):
        PerMessageDeflate(False, False, 15, bits)


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"wbits": 9}, "must not include wbits"),
        ({"zdict": b"abc"}, "unsupported compress_settings: zdict"),
        ({"level": 42}, None),
        ({"memLevel": 0}, None),
        ({"strategy": 99}, None),
    ],
)
def test_factories_refuse_invalid_compress_settings(
    settings: dict[str, Any], match: str | None
) -> None:
    with pytest.raises(ValueError, match=match):
        ClientPerMessageDeflateFactory(compress_settings=settings)
    with pytest.raises(ValueError, match=match):
        ServerPerMessageDeflateFactory(compress_settings=settings)


def test_require_client_max_window_bits_needs_a_value() -> None:
    with pytest.raises(ValueError, match="needs client_max_window_bits"):
        ServerPerMessageDeflateFactory(require_client_max_window_bits=True)


@pytest.mark.parametrize("level", [0, 1, 9])
def test_compress_settings_reach_the_encoder(level: int) -> None:
    message = bytes(range(256)) * 64
    factory = ClientPerMessageDeflateFactory(compress_settings={"level": level, "memLevel": 9})
    client, _ = pair(factory)
    client.send_binary(message)
    [frame] = written(client).frames
    expected = zlib.compressobj(level, wbits=-15, memLevel=9)
    assert frame.payload == (expected.compress(message) + expected.flush(zlib.Z_SYNC_FLUSH))[:-4]


def test_factory_reprs_show_their_settings() -> None:
    assert "server_max_window_bits=10" in repr(
        ClientPerMessageDeflateFactory(server_max_window_bits=10)
    )
    assert "require_client_max_window_bits=True" in repr(
        ServerPerMessageDeflateFactory(
            client_max_window_bits=9, require_client_max_window_bits=True
        )
    )
    assert "local_max_window_bits=9" in repr(PerMessageDeflate(True, False, 12, 9))


# Defaults and re-exports


def test_enable_client_adds_a_default_offer() -> None:
    fake = FakeClientFactory()
    factories = enable_client_permessage_deflate([fake])
    assert factories[0] is fake
    [default] = [f for f in factories if f.name == NAME]
    assert isinstance(default, ClientPerMessageDeflateFactory)
    assert build_extension([(NAME, default.get_request_params())]) == (
        "permessage-deflate; client_max_window_bits"
    )
    assert default.compress_settings == {"memLevel": 5}
    [alone] = enable_client_permessage_deflate(None)
    assert isinstance(alone, ClientPerMessageDeflateFactory)


def test_enable_keeps_the_users_own_factory() -> None:
    mine_c = ClientPerMessageDeflateFactory(server_max_window_bits=9)
    mine_s = ServerPerMessageDeflateFactory(server_no_context_takeover=True)
    users_c: list[base.ClientExtensionFactory] = [mine_c]
    users_s: list[base.ServerExtensionFactory] = [FakeServerFactory(), mine_s]
    assert enable_client_permessage_deflate(users_c) == [mine_c]
    assert enable_server_permessage_deflate(users_s) == users_s
    assert enable_client_permessage_deflate(users_c) is not users_c  # a new list


def test_default_server_negotiates_small_windows() -> None:
    [factory] = enable_server_permessage_deflate(None)
    assert isinstance(factory, ServerPerMessageDeflateFactory)
    assert factory.compress_settings == {"memLevel": 5}
    client, server = connected_pair(
        client_kwargs={"extensions": enable_client_permessage_deflate(None)},
        server_kwargs={"extensions": [factory]},
    )
    for ext in (deflate_of(client.extensions[0]), deflate_of(server.extensions[0])):
        assert (ext.local_max_window_bits, ext.remote_max_window_bits) == (12, 12)
        assert not ext.local_no_context_takeover and not ext.remote_no_context_takeover


def test_names_are_reexported_lazily() -> None:
    import websocket_ref.extensions as extensions

    assert extensions.PerMessageDeflate is PerMessageDeflate
    assert extensions.ClientPerMessageDeflateFactory is ClientPerMessageDeflateFactory
    assert extensions.ServerPerMessageDeflateFactory is ServerPerMessageDeflateFactory
    assert extensions.enable_client_permessage_deflate is enable_client_permessage_deflate
    assert extensions.enable_server_permessage_deflate is enable_server_permessage_deflate
    with pytest.raises(AttributeError):
        _ = extensions.NoSuchName  # type: ignore[attr-defined]


# Negotiation: the client's offer (RFC 7692 §7.1)


@pytest.mark.rfc(
    "R7692-7.1.1.1-2",
    "R7692-7.1.1.2-2",
    "R7692-7.1.2.1-1",
    "R7692-7.1.2.1-3",
    "R7692-7.1.2.2-3",
    "R7692-7.1.2.2-4",
)
@pytest.mark.parametrize(
    ("kwargs", "header"),
    [
        ({}, "permessage-deflate; client_max_window_bits"),
        ({"client_max_window_bits": None}, "permessage-deflate"),
        ({"client_max_window_bits": 10}, "permessage-deflate; client_max_window_bits=10"),
        (
            {
                "server_no_context_takeover": True,
                "client_no_context_takeover": True,
                "server_max_window_bits": 8,
                "client_max_window_bits": 15,
            },
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=8; client_max_window_bits=15",
        ),
    ],
)
def test_client_offer(kwargs: dict[str, Any], header: str) -> None:
    factory = ClientPerMessageDeflateFactory(**kwargs)
    client = ClientProtocol(parse_uri("ws://example.com/"), extensions=[factory])
    assert client.connect().headers["Sec-WebSocket-Extensions"] == header


# Negotiation: every combination against a model of the RFC


CLIENT_CONFIGS = [
    {
        "server_no_context_takeover": snct,
        "client_no_context_takeover": cnct,
        "server_max_window_bits": smwb,
        "client_max_window_bits": cmwb,
    }
    for snct, cnct, smwb, cmwb in itertools.product(
        [False, True], [False, True], [None, 8, 10, 15], [None, True, 8, 11, 15]
    )
]
SERVER_CONFIGS = [
    {
        "server_no_context_takeover": snct,
        "client_no_context_takeover": cnct,
        "server_max_window_bits": smwb,
        "client_max_window_bits": cmwb,
        "require_client_max_window_bits": require,
    }
    for snct, cnct, smwb, cmwb, require in itertools.product(
        [False, True], [False, True], [None, 9, 12], [None, 8, 12], [False, True]
    )
    if cmwb is not None or not require
]


def expected_agreement(c: dict[str, Any], s: dict[str, Any]) -> tuple[bool, int, bool, int] | None:
    """What RFC 7692 §7.1 makes the two sides agree on, or None if the offer is declined.

    Returns (server→client no context takeover, window bits; client→server ditto).
    """
    if s["require_client_max_window_bits"] and c["client_max_window_bits"] is None:
        return None
    s2c_nct = c["server_no_context_takeover"] or s["server_no_context_takeover"]
    s2c_bits = min(b for b in (c["server_max_window_bits"], s["server_max_window_bits"], 15) if b)
    c2s_nct = c["client_no_context_takeover"] or s["client_no_context_takeover"]
    if c["client_max_window_bits"] is None:
        c2s_bits = 15  # §7.1.2.2: the server can't limit a client that didn't offer it
    else:
        offered = 15 if c["client_max_window_bits"] is True else c["client_max_window_bits"]
        c2s_bits = min(offered, s["client_max_window_bits"] or 15)
    return s2c_nct, s2c_bits, c2s_nct, c2s_bits


def test_negotiation_of_every_combination() -> None:
    rng = random.Random(7692)
    message = rng.randbytes(300) * 4
    for c_config, s_config in itertools.product(CLIENT_CONFIGS, SERVER_CONFIGS):
        client_factory = ClientPerMessageDeflateFactory(**c_config)
        server_factory = ServerPerMessageDeflateFactory(**s_config)
        offer = client_factory.get_request_params()
        expected = expected_agreement(c_config, s_config)
        if expected is None:
            with pytest.raises(NegotiationError):
                server_factory.process_request_params(offer, [])
            continue
        response, server_ext = server_factory.process_request_params(offer, [])
        # The response goes through the header grammar, as on the wire.
        response = params(build_extension([(NAME, response)]))
        client_ext = client_factory.process_response_params(response, [])
        s2c_nct, s2c_bits, c2s_nct, c2s_bits = expected
        context = (c_config, s_config, response)
        assert server_ext.local_no_context_takeover == s2c_nct, context
        assert client_ext.remote_no_context_takeover == s2c_nct, context
        assert server_ext.local_max_window_bits == s2c_bits, context
        assert client_ext.remote_max_window_bits == s2c_bits, context
        assert client_ext.local_no_context_takeover == c2s_nct, context
        assert server_ext.remote_no_context_takeover == c2s_nct, context
        assert client_ext.local_max_window_bits == c2s_bits, context
        assert server_ext.remote_max_window_bits == c2s_bits, context
        # And the agreement works: each side inflates what the other compressed.
        for sender, receiver in ((client_ext, server_ext), (server_ext, client_ext)):
            for _ in range(2):
                frame = sender.encode(Frame(Opcode.BINARY, message))
                assert frame.rsv1
                assert receiver.decode(frame, max_size=None).data == message


# Negotiation: the server's answer to an offer (RFC 7692 §7)


@pytest.mark.rfc(
    "R7692-7.1.1.1-1", "R7692-7.1.1.2-1", "R7692-7.1.2.1-2", "R7692-7.1.2.2-1", "R7692-7.1.2.2-2"
)
@pytest.mark.parametrize(
    ("offer", "kwargs", "response"),
    [
        ("", {}, ""),
        ("server_no_context_takeover", {}, "server_no_context_takeover"),
        ("", {"server_no_context_takeover": True}, "server_no_context_takeover"),
        ("client_no_context_takeover", {}, "client_no_context_takeover"),
        ("", {"client_no_context_takeover": True}, "client_no_context_takeover"),
        ("server_max_window_bits=10", {}, "server_max_window_bits=10"),
        ("server_max_window_bits=10", {"server_max_window_bits": 12}, "server_max_window_bits=10"),
        ("server_max_window_bits=13", {"server_max_window_bits": 12}, "server_max_window_bits=12"),
        ("", {"server_max_window_bits": 12}, "server_max_window_bits=12"),
        ('server_max_window_bits="8"', {}, "server_max_window_bits=8"),
        ("client_max_window_bits", {}, ""),
        ("client_max_window_bits=11", {}, "client_max_window_bits=11"),
        ("client_max_window_bits", {"client_max_window_bits": 9}, "client_max_window_bits=9"),
        ("client_max_window_bits=8", {"client_max_window_bits": 9}, "client_max_window_bits=8"),
        ("", {"client_max_window_bits": 9}, ""),
    ],
)
def test_server_accepts(offer: str, kwargs: dict[str, Any], response: str) -> None:
    factory = ServerPerMessageDeflateFactory(**kwargs)
    offered = params(f"{NAME}; {offer}" if offer else NAME)
    response_params, extension = factory.process_request_params(offered, [])
    assert build_extension([(NAME, response_params)]) == (
        f"{NAME}; {response}" if response else NAME
    )
    assert isinstance(extension, PerMessageDeflate)


INVALID_PARAMETERS: list[tuple[str, type[NegotiationError]]] = [
    # RFC 7692 §7: unknown names
    ("unknown", InvalidParameterName),
    ("server_max_window_size=10", InvalidParameterName),
    ("Server_No_Context_Takeover", InvalidParameterName),
    # RFC 7692 §7: duplicates
    ("server_no_context_takeover; server_no_context_takeover", DuplicateParameter),
    ("client_no_context_takeover; client_no_context_takeover", DuplicateParameter),
    ("server_max_window_bits=10; server_max_window_bits=10", DuplicateParameter),
    ("client_max_window_bits; client_max_window_bits=10", DuplicateParameter),
    # RFC 7692 §7.1.1: a value where none is allowed
    ("server_no_context_takeover=1", InvalidParameterValue),
    ("client_no_context_takeover=true", InvalidParameterValue),
    # RFC 7692 §7.1.2: values outside 8-15, with leading zeroes, or not integers
    ("server_max_window_bits=7", InvalidParameterValue),
    ("server_max_window_bits=16", InvalidParameterValue),
    ("server_max_window_bits=0", InvalidParameterValue),
    ("server_max_window_bits=09", InvalidParameterValue),
    ("server_max_window_bits=010", InvalidParameterValue),
    ("server_max_window_bits=1a", InvalidParameterValue),
    ('server_max_window_bits="-9"', InvalidParameterValue),
    ("client_max_window_bits=7", InvalidParameterValue),
    ("client_max_window_bits=16", InvalidParameterValue),
    ("client_max_window_bits=08", InvalidParameterValue),
    # RFC 7692 §7.1.2.1: server_max_window_bits always has a value
    ("server_max_window_bits", InvalidParameterValue),
]


@pytest.mark.rfc("R7692-7-1", "R7692-7.1.2.1-3", "R7692-7.1.2.2-4")
@pytest.mark.parametrize(("offer", "error"), INVALID_PARAMETERS)
def test_server_declines_invalid_offers(offer: str, error: type[NegotiationError]) -> None:
    factory = ServerPerMessageDeflateFactory()
    with pytest.raises(error):
        factory.process_request_params(params(f"{NAME}; {offer}"), [])


def test_server_declines_a_second_permessage_deflate() -> None:
    factory = ServerPerMessageDeflateFactory()
    _, first = factory.process_request_params([], [])
    with pytest.raises(NegotiationError, match="already negotiated"):
        factory.process_request_params([], [first])


def handshake_request(extensions: str) -> Request:
    headers = Headers()
    headers["Host"] = "example.com"
    headers["Upgrade"] = "websocket"
    headers["Connection"] = "Upgrade"
    headers["Sec-WebSocket-Key"] = "dGhlIHNhbXBsZSBub25jZQ=="
    headers["Sec-WebSocket-Version"] = "13"
    headers["Sec-WebSocket-Extensions"] = extensions
    return Request("/", headers)


@pytest.mark.rfc("R7692-5-1", "R7692-5-2", "R7692-7-1")
@pytest.mark.parametrize(
    ("header", "response"),
    [
        # RFC 7692 §5.1: offers in order of preference; the server takes the first it can
        (
            "permessage-deflate; server_max_window_bits=10, permessage-deflate",
            "permessage-deflate; server_max_window_bits=10",
        ),
        # Invalid offers are declined; a later valid one is accepted.
        ("permessage-deflate; foo, permessage-deflate; server_max_window_bits=9", None),
        ("permessage-deflate; server_max_window_bits=16, permessage-deflate", "permessage-deflate"),
        (
            "permessage-deflate; client_no_context_takeover=x, "
            "permessage-deflate; client_no_context_takeover",
            "permessage-deflate; client_no_context_takeover",
        ),
        # Only one permessage-deflate may be accepted.
        ("permessage-deflate, permessage-deflate", "permessage-deflate"),
        # Every offer invalid: no compression, but the connection opens.
        ("permessage-deflate; a, permessage-deflate; server_max_window_bits", ""),
    ],
)
def test_server_handshake_with_several_offers(header: str, response: str | None) -> None:
    if response is None:
        response = "permessage-deflate; server_max_window_bits=9"
    server = ServerProtocol(extensions=[ServerPerMessageDeflateFactory()])
    answer = server.accept(handshake_request(header))
    assert answer.status_code == 101
    assert answer.headers.get("Sec-WebSocket-Extensions", "") == response
    assert len(server.extensions) == (1 if response else 0)


def test_server_require_client_max_window_bits_declines_offers_without_it() -> None:
    factory = ServerPerMessageDeflateFactory(
        client_max_window_bits=10, require_client_max_window_bits=True
    )
    server = ServerProtocol(extensions=[factory])
    header = "permessage-deflate, permessage-deflate; client_max_window_bits"
    answer = server.accept(handshake_request(header))
    assert answer.headers["Sec-WebSocket-Extensions"] == (
        "permessage-deflate; client_max_window_bits=10"
    )
    assert deflate_of(server.extensions[0]).remote_max_window_bits == 10


# Negotiation: the client's check of the answer (RFC 7692 §7)


def started_client(*factories: base.ClientExtensionFactory) -> ClientProtocol:
    client = ClientProtocol(parse_uri("ws://example.com/"), extensions=list(factories))
    client.send_request(client.connect())
    client.data_to_send()
    return client


def answer(client: ClientProtocol, *extensions: str) -> None:
    headers = Headers()
    headers["Upgrade"] = "websocket"
    headers["Connection"] = "Upgrade"
    headers["Sec-WebSocket-Accept"] = accept_key(client.key)
    for value in extensions:
        headers["Sec-WebSocket-Extensions"] = value
    client.receive_data(b"HTTP/1.1 101 Switching Protocols\r\n" + headers.serialize())


@pytest.mark.rfc("R7692-7-2", "R7692-7.1.2.1-3", "R7692-7.1.2.2-4")
@pytest.mark.parametrize(("response", "error"), INVALID_PARAMETERS)
def test_client_fails_on_invalid_responses(response: str, error: type[NegotiationError]) -> None:
    factory = ClientPerMessageDeflateFactory(client_max_window_bits=True)
    # The factory itself names the problem...
    with pytest.raises(error):
        factory.process_response_params(params(f"{NAME}; {response}"), [])
    # ... and the client fails the connection (RFC 6455 §9.1, RFC 7692 §7).
    client = started_client(factory)
    answer(client, f"{NAME}; {response}")
    assert isinstance(client.handshake_exc, NegotiationError)
    assert client.state is not State.OPEN


@pytest.mark.rfc("R7692-7-2", "R7692-7.1.2.2-2")
@pytest.mark.parametrize(
    ("kwargs", "response", "match"),
    [
        # RFC 7692 §7.1.1.1: asked for server_no_context_takeover, not granted
        ({"server_no_context_takeover": True}, "", "server_no_context_takeover missing"),
        # RFC 7692 §7.1.2.1: asked for server_max_window_bits, not granted or exceeded
        ({"server_max_window_bits": 10}, "", "server_max_window_bits missing"),
        ({"server_max_window_bits": 10}, "server_max_window_bits=11", "exceeds the offer"),
        # RFC 7692 §7.1.2.2: client_max_window_bits answered but not offered, or exceeded
        ({"client_max_window_bits": None}, "client_max_window_bits=10", "wasn't offered"),
        ({"client_max_window_bits": 10}, "client_max_window_bits=11", "exceeds the offer"),
        # RFC 7692 §7.1.2.2: a response's client_max_window_bits has a value
        ({"client_max_window_bits": True}, "client_max_window_bits", "missing value"),
    ],
)
def test_client_fails_on_unacceptable_responses(
    kwargs: dict[str, Any], response: str, match: str
) -> None:
    factory = ClientPerMessageDeflateFactory(**kwargs)
    with pytest.raises(NegotiationError, match=match):
        factory.process_response_params(params(f"{NAME}; {response}" if response else NAME), [])
    client = started_client(factory)
    answer(client, f"{NAME}; {response}" if response else NAME)
    assert isinstance(client.handshake_exc, NegotiationError)


@pytest.mark.rfc("R7692-7.1.1.1-1", "R7692-7.1.1.2-1", "R7692-7.1.2.1-2", "R7692-7.1.2.2-1")
@pytest.mark.parametrize(
    ("kwargs", "response", "agreed"),
    [
        ({}, "", (False, False, 15, 15)),
        # RFC 7692 §7.1.1.1, §7.1.2.1: the server may limit itself unasked
        ({}, "server_no_context_takeover", (True, False, 15, 15)),
        ({}, "server_max_window_bits=9", (False, False, 9, 15)),
        ({"server_max_window_bits": 10}, "server_max_window_bits=8", (False, False, 8, 15)),
        # RFC 7692 §7.1.1.2: the server may forbid context takeover to the client
        ({}, "client_no_context_takeover", (False, True, 15, 15)),
        # ... and the client's own offer of it binds the client anyway
        ({"client_no_context_takeover": True}, "", (False, True, 15, 15)),
        # RFC 7692 §7.1.2.2: the server may set the client's window if offered
        ({}, "client_max_window_bits=8", (False, False, 15, 8)),
        ({"client_max_window_bits": 11}, "", (False, False, 15, 11)),
        ({"client_max_window_bits": 11}, "client_max_window_bits=11", (False, False, 15, 11)),
        ({"client_max_window_bits": 11}, "client_max_window_bits=9", (False, False, 15, 9)),
    ],
)
def test_client_accepts(
    kwargs: dict[str, Any], response: str, agreed: tuple[bool, bool, int, int]
) -> None:
    factory = ClientPerMessageDeflateFactory(**kwargs)
    ext = factory.process_response_params(params(f"{NAME}; {response}" if response else NAME), [])
    assert (
        ext.remote_no_context_takeover,
        ext.local_no_context_takeover,
        ext.remote_max_window_bits,
        ext.local_max_window_bits,
    ) == agreed


@pytest.mark.rfc("R7692-5-1")
def test_client_with_several_offers_matches_the_answer() -> None:
    small = ClientPerMessageDeflateFactory(server_max_window_bits=10)
    fallback = ClientPerMessageDeflateFactory()
    client = started_client(small, fallback)
    # The answer doesn't grant the first offer's server_max_window_bits: the fallback
    # offer accepts it (RFC 7692 §7.1.3: offers with fallbacks).
    answer(client, "permessage-deflate")
    assert client.state is State.OPEN
    assert deflate_of(client.extensions[0]).remote_max_window_bits == 15
    client = started_client(small, fallback)
    answer(client, "permessage-deflate; server_max_window_bits=10")
    assert deflate_of(client.extensions[0]).remote_max_window_bits == 10
    # Accepting permessage-deflate twice is refused: RSV1 can't mean two things.
    client = started_client(small, fallback)
    answer(client, "permessage-deflate; server_max_window_bits=10", "permessage-deflate")
    assert isinstance(client.handshake_exc, NegotiationError)


# Framing on the wire (RFC 7692 §6, §7.2)


@pytest.mark.parametrize("sender", ["client", "server"])
def test_compressed_message_on_the_wire(sender: str) -> None:
    client, server = pair()
    end = client if sender == "client" else server
    message = "Hello, world! " * 50
    end.send_text(message.encode())
    [frame] = written(end).frames
    # RFC 7692 §6.1: RSV1 on the (first) frame of a compressed message
    assert frame.rsv == RSV1 and frame.fin and frame.opcode == Opcode.TEXT
    # RFC 7692 §7.2.1: the 0x00 0x00 0xff 0xff of the final sync flush is removed
    assert not frame.payload.endswith(TAIL)
    assert len(frame.payload) < len(message) // 5
    assert inflate([frame.payload]) == [message.encode()]


@pytest.mark.rfc("R7692-6-1")
def test_fragmented_compressed_message() -> None:
    client, server = pair()
    client.send_text(b"Hello, ", fin=False)
    client.send_continuation(b"compressed ", fin=False)
    client.send_continuation(b"", fin=False)
    client.send_continuation(b"world", fin=True)
    data = written(client).data
    frames = decode_frames(data)
    # RFC 7692 §6: RSV1 on the first frame only
    assert [f.rsv for f in frames] == [RSV1, 0, 0, 0]
    assert [f.opcode for f in frames] == [Opcode.TEXT, Opcode.CONT, Opcode.CONT, Opcode.CONT]
    # RFC 7692 §7.2.1: the fragments are one compressed payload, cut after sync flushes
    whole = b"".join(f.payload for f in frames)
    assert inflate([whole]) == [b"Hello, compressed world"]
    assert all(f.payload.endswith(TAIL) for f in frames[:-1])
    assert not frames[-1].payload.endswith(TAIL)
    server.receive_data(data)
    events = server.events_received()
    # Each fragment inflated on its own, as sent (fewer than SEPARATE_FRAGMENTS arrived).
    assert [(e.opcode, e.data, e.fin, e.rsv1) for e in events if isinstance(e, Frame)] == [
        (Opcode.TEXT, b"Hello, ", False, False),
        (Opcode.CONT, b"compressed ", False, False),
        (Opcode.CONT, b"", False, False),
        (Opcode.CONT, b"world", True, False),
    ]


@pytest.mark.rfc("R7692-6-1")
def test_control_frames_are_never_compressed() -> None:
    client, server = pair()
    client.send_text(b"start ", fin=False)
    client.send_ping(b"ping ping ping ping")
    client.send_pong(b"pong pong pong pong")
    client.send_continuation(b"end", fin=True)
    client.send_close(1000, "bye bye bye bye")
    frames = written(client).frames
    controls = [f for f in frames if f.opcode >= 0x8]
    # RFC 7692 §6: never RSV1 on control frames, payloads as given
    assert [(f.opcode, f.rsv, f.payload) for f in controls] == [
        (Opcode.PING, 0, b"ping ping ping ping"),
        (Opcode.PONG, 0, b"pong pong pong pong"),
        (Opcode.CLOSE, 0, b"\x03\xe8bye bye bye bye"),
    ]
    server.receive_data(b"".join(client_frame_bytes(f) for f in frames))
    assert server.failure_exc is None


def client_frame_bytes(frame: Any) -> bytes:
    return client_frame(frame.opcode, frame.payload, fin=frame.fin, rsv=frame.rsv)


def test_empty_message() -> None:
    client, server = pair()
    client.send_binary(b"")
    [frame] = written(client).frames
    assert frame.rsv == RSV1
    assert inflate([frame.payload]) == [b""]
    server.receive_data(client_frame_bytes(frame))
    [event] = server.events_received()
    assert isinstance(event, Frame) and event.data == b""


# Receiving: the examples of RFC 7692 §7.2.3


def receive(server: ServerProtocol, *frames: bytes) -> list[Frame]:
    """Feed frames one at a time: the core would join small fragments fed together."""
    events = []
    for frame in frames:
        server.receive_data(frame)
        events += server.events_received()
    return [e for e in events if isinstance(e, Frame)]


HELLO = bytes.fromhex("f248cdc9c90700")  # RFC 7692 §7.2.3.1


def test_rfc_example_one_block() -> None:
    _, server = pair()
    [frame] = receive(server, client_frame(Opcode.TEXT, HELLO, rsv=RSV1))
    assert (frame.data, frame.rsv1) == (b"Hello", False)


def test_rfc_example_fragmented() -> None:
    # RFC 7692 §7.2.3.1: the same payload cut in two frames
    _, server = pair()
    frames = receive(
        server,
        client_frame(Opcode.TEXT, HELLO[:3], rsv=RSV1, fin=False),
        client_frame(Opcode.CONT, HELLO[3:]),
    )
    assert b"".join(f.data for f in frames) == b"Hello"


def test_rfc_example_sharing_the_window() -> None:
    # RFC 7692 §7.2.3.2: the second "Hello" refers to the first one
    second = bytes.fromhex("f200110000")
    _, server = pair()
    frames = receive(
        server,
        client_frame(Opcode.TEXT, HELLO, rsv=RSV1),
        client_frame(Opcode.TEXT, second, rsv=RSV1),
    )
    assert [f.data for f in frames] == [b"Hello", b"Hello"]
    # Without context takeover, the reference is invalid: the receiver reset its window.
    _, server = pair(ClientPerMessageDeflateFactory(client_no_context_takeover=True))
    assert deflate_of(server.extensions[0]).remote_no_context_takeover
    frames = receive(
        server,
        client_frame(Opcode.TEXT, HELLO, rsv=RSV1),
        client_frame(Opcode.TEXT, second, rsv=RSV1),
    )
    assert [f.data for f in frames] == [b"Hello"]
    assert_failed(server, InvalidFrame, 1002)


@pytest.fixture(params=["joined", "apart", "sliced", "sliced apart"])
def tail_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both ways the receiver appends the RFC 7692 §7.2.2 tail: joined to a small
    payload (one zlib call), or fed apart (large payloads, not copied); and both again
    with payloads inflated in slices of 3 bytes (as large payloads are)."""
    from websocket_ref.extensions import permessage_deflate

    if request.param.endswith("apart"):
        monkeypatch.setattr(permessage_deflate, "_JOIN_TAIL_LIMIT", -1)
    if request.param.startswith("sliced"):
        monkeypatch.setattr(permessage_deflate, "_INFLATE_SLICE", 3)


@pytest.mark.usefixtures("tail_path")
def test_rfc_example_stored_block() -> None:
    # RFC 7692 §7.2.3.3: a DEFLATE block with no compression
    _, server = pair()
    payload = bytes.fromhex("000500faff48656c6c6f00")
    [frame] = receive(server, client_frame(Opcode.TEXT, payload, rsv=RSV1))
    assert frame.data == b"Hello"


@pytest.mark.usefixtures("tail_path")
@pytest.mark.parametrize("extra", [b"\x00", b""])
def test_rfc_example_final_block(extra: bytes) -> None:
    # RFC 7692 §7.2.3.4: a block with BFINAL set, then the header octet of an empty block
    # (or nothing, if a sender left it out); the next message starts a new stream.
    _, server = pair()
    final = bytes.fromhex("f348cdc9c90700") + extra
    frames = receive(
        server,
        client_frame(Opcode.TEXT, final, rsv=RSV1),
        client_frame(Opcode.TEXT, final[:4], rsv=RSV1, fin=False),
        client_frame(Opcode.CONT, final[4:]),
        client_frame(Opcode.TEXT, HELLO, rsv=RSV1),
    )
    assert [f.data for f in frames] == [b"Hello", b"Hel", b"lo", b"Hello"]
    assert server.failure_exc is None


def final_block(data: bytes, window: bytes = b"") -> bytes:
    """``data`` compressed into DEFLATE blocks ending with BFINAL set (byte-aligned)."""
    if window:
        compressor = zlib.compressobj(wbits=-15, zdict=window)
    else:
        compressor = zlib.compressobj(wbits=-15)
    return compressor.compress(data) + compressor.flush(zlib.Z_FINISH)


def referring_back(data: bytes, window: bytes) -> bytes:
    """``data`` compressed as RFC 7692 §7.2.1 says, with back-references into ``window``."""
    compressor = zlib.compressobj(wbits=-15, zdict=window)
    payload = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert payload.endswith(TAIL)
    payload = payload[:-4]
    with pytest.raises(zlib.error, match="distance too far back"):
        zlib.decompressobj(wbits=-15).decompress(payload + TAIL)  # it does refer back
    return payload


@pytest.mark.rfc("R7692-7.2.1-6", "R7692-7.2.2-4")
@pytest.mark.usefixtures("tail_path")
@pytest.mark.parametrize("extra", [b"\x00", b""])
def test_window_kept_after_a_message_ending_with_bfinal(extra: bytes) -> None:
    # RFC 7692 §7.2.1: a sender MAY use blocks with BFINAL set; §7.2.2: without
    # no_context_takeover, the next message is inflated with the window of the last one
    # -- which a message ending the DEFLATE stream doesn't drop.
    _, server = pair()
    frames = receive(
        server,
        client_frame(Opcode.TEXT, final_block(b"Hello, world") + extra, rsv=RSV1),
        client_frame(Opcode.TEXT, referring_back(b"Hello, world", b"Hello, world"), rsv=RSV1),
    )
    assert [f.data for f in frames] == [b"Hello, world"] * 2
    assert server.failure_exc is None


@pytest.mark.rfc("R7692-7.2.1-5", "R7692-7.2.1-6")
@pytest.mark.usefixtures("tail_path")
@pytest.mark.parametrize("split", [None, 3, "at the block end"])
def test_blocks_after_a_bfinal_block_in_one_message(split: int | str | None) -> None:
    # RFC 7692 §7.2.1: "The next DEFLATE block follows the padded data": more blocks may
    # follow a block with BFINAL set in the same message, and refer back to it.
    first = final_block(b"Hello, world")
    second = referring_back(b"Hello, world", b"Hello, world")
    _, server = pair()
    if split is None:
        frames = receive(server, client_frame(Opcode.BINARY, first + second, rsv=RSV1))
    else:
        cut = len(first) if split == "at the block end" else split
        assert isinstance(cut, int)
        payload = first + second
        frames = receive(
            server,
            client_frame(Opcode.BINARY, payload[:cut], rsv=RSV1, fin=False),
            client_frame(Opcode.CONT, payload[cut:]),
        )
    assert b"".join(f.data for f in frames) == b"Hello, world" * 2
    assert server.failure_exc is None
    # And the window still serves the next message.
    [frame] = receive(
        server,
        client_frame(Opcode.BINARY, referring_back(b", world", b"Hello, world" * 2), rsv=RSV1),
    )
    assert frame.data == b", world"


@pytest.mark.usefixtures("tail_path")
def test_invalid_block_after_a_bfinal_block_fails() -> None:
    _, server = pair()
    # 0x07: BFINAL set and BTYPE 11, a reserved block type (RFC 1951 §3.2.3).
    receive(server, client_frame(Opcode.TEXT, final_block(b"Hello") + b"\x07", rsv=RSV1))
    assert_failed(server, InvalidFrame, 1002)


@pytest.mark.rfc("R7692-7.2.2-2", "R7692-7.2.2-4")
def test_client_keeps_the_window_of_a_server_message_ending_with_bfinal() -> None:
    client, _ = pair()
    frames = receive(
        client,
        server_frame(Opcode.TEXT, final_block(b"Hello, world") + b"\x00", rsv=RSV1),
        server_frame(Opcode.TEXT, referring_back(b"Hello, world", b"Hello, world"), rsv=RSV1),
    )
    assert [f.data for f in frames] == [b"Hello, world"] * 2


@pytest.mark.rfc("R7692-7.2.1-6", "R7692-7.2.2-4")
@pytest.mark.usefixtures("tail_path")
def test_window_after_many_small_messages_then_bfinal() -> None:
    # The decoder keeps the latest output by reference, dropping pieces the window no
    # longer reaches, and copies out one window only now and then: after hundreds of
    # small messages, a message ending with BFINAL, and one that refers back across
    # several earlier messages, still inflate; between messages, at most one and a
    # half windows are kept.
    bits = 9
    window = 1 << bits
    receiver = PerMessageDeflate(False, False, bits, bits)
    sender = zlib.compressobj(wbits=-bits)
    seen = b""
    for index in range(300):
        message = f"message {index:03d} {'x' * (index % 37)}".encode()
        payload = sender.compress(message) + sender.flush(zlib.Z_SYNC_FLUSH)
        frame = receiver.decode(Frame(Opcode.TEXT, payload[:-4], True, True), max_size=None)
        assert frame.data == message
        seen += message
        kept = receiver._history_size
        assert kept == sum(map(len, receiver._history))
        assert min(len(seen), window) <= kept <= window + window // 2
    # The peer ends the DEFLATE stream with a BFINAL block (RFC 7692 §7.2.1)...
    last = b"last message before the end of the stream"
    payload = sender.compress(last) + sender.flush(zlib.Z_FINISH)
    assert receiver.decode(Frame(Opcode.TEXT, payload, True, True)).data == last
    seen += last
    # ... and goes on with a new one that refers back into the window (RFC 7692 §7.2.2).
    follow = referring_back(seen[-window:][:64], seen[-window:])
    frame = receiver.decode(Frame(Opcode.TEXT, follow, True, True))
    assert frame.data == seen[-window:][:64]


def test_rfc_example_two_blocks_and_an_empty_fragment() -> None:
    # RFC 7692 §7.2.3.5, §7.2.3.6: several blocks in one message, and a last fragment
    # that only holds the header octet of an empty stored block.
    compressor = zlib.compressobj(wbits=-15)
    first = compressor.compress(b"Hel") + compressor.flush(zlib.Z_FULL_FLUSH)
    second = compressor.compress(b"lo") + compressor.flush(zlib.Z_SYNC_FLUSH)
    _, server = pair()
    frames = receive(
        server,
        client_frame(Opcode.BINARY, first + second, rsv=RSV1, fin=False),
        client_frame(Opcode.CONT, b"\x00"),
    )
    assert [f.data for f in frames] == [b"Hello", b""]


# Receiving: RFC 7692 §6 rules


def assert_failed(end: ServerProtocol | ClientProtocol, error: type[Exception], code: int) -> None:
    assert isinstance(end.failure_exc, error), end.failure_exc
    assert end.close_sent is not None and end.close_sent.code == code


@pytest.mark.rfc("R7692-6-2")
def test_rsv1_on_a_continuation_frame_fails() -> None:
    _, server = pair()
    receive(
        server,
        client_frame(Opcode.TEXT, HELLO[:3], rsv=RSV1, fin=False),
        client_frame(Opcode.CONT, HELLO[3:], rsv=RSV1),
    )
    assert_failed(server, InvalidFrame, 1002)
    assert "RFC 7692 §6" in str(server.failure_exc)
    # Also within an uncompressed message.
    _, server = pair()
    receive(
        server,
        client_frame(Opcode.TEXT, b"Hel", fin=False),
        client_frame(Opcode.CONT, b"lo", rsv=RSV1),
    )
    assert_failed(server, InvalidFrame, 1002)


@pytest.mark.rfc("R7692-6-2")
@pytest.mark.parametrize("opcode", [Opcode.PING, Opcode.PONG, Opcode.CLOSE])
def test_rsv1_on_a_control_frame_fails(opcode: Opcode) -> None:
    client, _ = pair()
    client.receive_data(server_frame(opcode, b"", rsv=RSV1))
    assert_failed(client, InvalidFrame, 1002)
    assert "RFC 7692 §6" in str(client.failure_exc)


def test_uncompressed_messages_on_a_compressed_connection() -> None:
    # RFC 7692 §6.2: a message with RSV1 clear on its first frame isn't compressed; the
    # window of the compressed messages around it is kept.
    compressor = zlib.compressobj(wbits=-15)

    def compressed(data: bytes) -> bytes:
        return (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]

    _, server = pair()
    frames = receive(
        server,
        client_frame(Opcode.TEXT, compressed(b"compressed once"), rsv=RSV1),
        client_frame(Opcode.BINARY, b"\x00\x00\xff\xff not deflate"),
        client_frame(Opcode.BINARY, b"frag", fin=False),
        client_frame(Opcode.CONT, b"\x00\x00\xff\xff", fin=False),
        client_frame(Opcode.PING, b"ping"),
        client_frame(Opcode.CONT, b"ments"),
        client_frame(Opcode.TEXT, compressed(b"compressed once, twice"), rsv=RSV1),
    )
    data = [(f.opcode, f.data) for f in frames if f.opcode != Opcode.PING]
    assert data == [
        (Opcode.TEXT, b"compressed once"),
        (Opcode.BINARY, b"\x00\x00\xff\xff not deflate"),
        (Opcode.BINARY, b"frag"),
        (Opcode.CONT, b"\x00\x00\xff\xff"),
        (Opcode.CONT, b"ments"),
        (Opcode.TEXT, b"compressed once, twice"),
    ]
    assert server.failure_exc is None


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\xff\xff\xff",  # invalid block type
        bytes.fromhex("000500faff48656c"),  # stored block cut short: the tail is read as data
        bytes.fromhex("000500fbff48656c6c6f"),  # stored block with a wrong NLEN
        bytes.fromhex("f200110000"),  # a reference before the start of the stream
    ],
)
def test_invalid_compressed_data_fails(payload: bytes) -> None:
    _, server = pair()
    receive(server, client_frame(Opcode.BINARY, payload, rsv=RSV1))
    assert_failed(server, InvalidFrame, 1002)
    assert "RFC 7692 §7.2.2" in str(server.failure_exc)


@pytest.mark.usefixtures("tail_path")
def test_appended_tail_counts_against_max_size() -> None:
    # A payload cut inside a stored block of 7 bytes: the 4 octets appended per RFC 7692
    # §7.2.2 end up as data, as zlib reads them; they count in the message's size.
    payload = bytes.fromhex("000700f8ff48656c")
    _, server = pair()
    [frame] = receive(server, client_frame(Opcode.BINARY, payload, rsv=RSV1))
    assert frame.data == b"Hel" + TAIL
    _, server = pair(max_size=5)
    assert receive(server, client_frame(Opcode.BINARY, payload, rsv=RSV1)) == []
    assert_failed(server, PayloadTooBig, 1009)


def test_invalid_utf8_in_compressed_text_fails() -> None:
    _, server = pair()
    compressor = zlib.compressobj(wbits=-15)
    payload = (compressor.compress(b"caf\xc3") + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
    receive(server, client_frame(Opcode.TEXT, payload, rsv=RSV1))
    assert server.close_sent is not None and server.close_sent.code == 1007


# Context takeover (RFC 7692 §7.1.1)


def send_twice(end: ClientProtocol | ServerProtocol, message: bytes) -> list[bytes]:
    end.send_binary(message)
    end.send_binary(message)
    return [f.payload for f in written(end).frames]


@pytest.mark.rfc("R7692-7.2.1-2", "R7692-7.2.1-4")
@pytest.mark.parametrize("side", ["client", "server"])
def test_context_takeover_kept(side: str) -> None:
    # RFC 7692 §7.2.1: without no_context_takeover, each side MAY take over its window:
    # this library does.
    client, server = pair()
    end: ClientProtocol | ServerProtocol = client if side == "client" else server
    message = random.Random(1).randbytes(1000)
    first, second = send_twice(end, message)
    # The second message refers to the first: a few bytes only.
    assert len(first) > 1000 and len(second) < 20
    assert inflate([first, second]) == [message, message]
    with pytest.raises(zlib.error):
        inflate([second])


@pytest.mark.rfc("R7692-7.2.1-1", "R7692-7.2.1-3")
@pytest.mark.parametrize("side", ["client", "server"])
def test_no_context_takeover_resets_the_encoder(side: str) -> None:
    if side == "client":
        client, server = pair(ClientPerMessageDeflateFactory(client_no_context_takeover=True))
        end: ClientProtocol | ServerProtocol = client
    else:
        client, server = pair(ClientPerMessageDeflateFactory(server_no_context_takeover=True))
        end = server
    assert deflate_of(end.extensions[0]).local_no_context_takeover
    message = random.Random(2).randbytes(1000)
    first, second = send_twice(end, message)
    assert first == second  # each message compressed from an empty window
    assert inflate([second]) == [message]


@pytest.mark.rfc("R7692-7.2.2-1", "R7692-7.2.2-3")
@pytest.mark.parametrize("receiver", ["client", "server"])
def test_no_context_takeover_decoder_accepts_independent_messages(receiver: str) -> None:
    # RFC 7692 §7.2.2: with the peer's no_context_takeover agreed, the receiver MAY
    # decompress each message with an empty window: this library drops its inflater.
    factory = ClientPerMessageDeflateFactory(
        server_no_context_takeover=receiver == "client",
        client_no_context_takeover=receiver == "server",
    )
    client, server = pair(factory)
    sender, end = (server, client) if receiver == "client" else (client, server)
    for _ in range(3):
        sender.send_text(b"same text " * 20)
    end.receive_data(written(sender).data)
    assert [e.data for e in end.events_received() if isinstance(e, Frame)] == [
        b"same text " * 20
    ] * 3
    assert deflate_of(end.extensions[0])._decoder is None  # dropped between messages


@pytest.mark.rfc("R7692-7.2.2-5")
def test_server_keeps_its_window_unless_client_no_context_takeover_is_agreed() -> None:
    # RFC 7692 §7.2.2: a client's client_no_context_takeover in its offer is only a hint;
    # the server decompresses with the window unless the agreed parameters contain it.
    # This server echoes the hint, which makes it agreed: then, and only then, it drops
    # its window.
    for offered in (False, True):
        _, server = pair(ClientPerMessageDeflateFactory(client_no_context_takeover=offered))
        assert server.response is not None
        response = server.response.headers["Sec-WebSocket-Extensions"]
        assert ("client_no_context_takeover" in response) is offered
        assert deflate_of(server.extensions[0]).remote_no_context_takeover is offered
        # A message that refers back to the previous one, as a client taking over its
        # window sends it; the server inflates it only if it kept its window.
        compressor = zlib.compressobj(wbits=-15)
        payloads = [
            (compressor.compress(b"same text " * 20) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
            for _ in range(2)
        ]
        assert len(payloads[1]) < 20  # refers back
        if offered:
            continue  # the client agreed not to send that; nothing to check on the wire
        frames = receive(server, *(client_frame(Opcode.TEXT, p, rsv=RSV1) for p in payloads))
        assert [f.data for f in frames] == [b"same text " * 20] * 2
        assert server.failure_exc is None


@pytest.mark.rfc("R7692-5-3", "R7692-5-4")
def test_rsv1_conflict_with_another_extension() -> None:
    # RFC 7692 §5: a server MUST NOT accept a PMCE together with an extension that also
    # uses RSV1; a client that receives such a response MUST fail the connection.
    other = FakeServerFactory("x-rsv1", reserved_bits=RSV1)
    server = ServerProtocol(extensions=[other, ServerPerMessageDeflateFactory()])
    answer_ = server.accept(handshake_request("x-rsv1, permessage-deflate"))
    assert answer_.status_code == 101
    assert answer_.headers["Sec-WebSocket-Extensions"] == "x-rsv1"
    assert [e.name for e in server.extensions] == ["x-rsv1"]
    # In the other order, permessage-deflate is accepted and x-rsv1 declined.
    server = ServerProtocol(extensions=[other, ServerPerMessageDeflateFactory()])
    answer_ = server.accept(handshake_request("permessage-deflate, x-rsv1"))
    assert answer_.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
    assert [e.name for e in server.extensions] == [NAME]
    # A server that accepts both anyway: the client fails the connection.
    client = started_client(
        FakeClientFactory("x-rsv1", reserved_bits=RSV1), ClientPerMessageDeflateFactory()
    )
    answer(client, "x-rsv1, permessage-deflate")
    assert isinstance(client.handshake_exc, NegotiationError)
    assert client.state is not State.OPEN
    assert client.data_to_send()[-1:] == [b""]  # the client closes TCP


@pytest.mark.rfc("R7692-5-5")
def test_client_fails_on_a_pmce_it_didnt_offer() -> None:
    # RFC 7692 §5: "such as accepting a PMCE that the client did not offer"
    for factories in ([], [FakeClientFactory("x-other", reserved_bits=RSV2)]):
        client = started_client(*factories)
        answer(client, "permessage-deflate")
        assert client.handshake_exc is not None
        assert client.state is not State.OPEN
        assert client.extensions == []


# Window bits (RFC 7692 §7.1.2)


def far_repeats(bits: int, count: int = 3) -> bytes:
    """Random data repeated at a distance just beyond a window of ``bits`` bits."""
    return random.Random(bits).randbytes((1 << bits) + 64) * count


@pytest.mark.parametrize("bits", range(9, 16))
def test_encoder_honours_its_window(bits: int) -> None:
    ext = PerMessageDeflate(False, False, 15, bits)
    message = far_repeats(bits) + far_repeats(bits - 1)
    payloads = [ext.encode(Frame(Opcode.BINARY, message)).data for _ in range(2)]
    # An inflater with exactly that window accepts every message (context included).
    assert strict_inflate(payloads, wbits=bits) == [message, message]


def test_smaller_window_inflater_would_notice_a_larger_window() -> None:
    # The check above can fail: the same data compressed with a larger window has
    # references an inflater with a smaller window refuses.
    ext = PerMessageDeflate(False, False, 15, 15)
    message = far_repeats(10)
    payload = ext.encode(Frame(Opcode.BINARY, message)).data
    assert inflate([payload], wbits=10) == [message]  # lenient: one call, see strict_inflate
    with pytest.raises(zlib.error, match="too far back"):
        strict_inflate([payload], wbits=10)


def test_window_of_8_bits() -> None:
    # zlib can't compress with a 256-byte window; a 512-byte one yields distances of at
    # most 250 bytes, which an 8-bit inflater accepts.
    ext = PerMessageDeflate(False, False, 15, 8)
    assert ext.local_max_window_bits == 8
    rng = random.Random(8)
    payloads, messages = [], []
    for size in (100, 251, 255, 256, 257, 300, 511, 600, 5000):
        block = rng.randbytes(size)
        message = block * 3 + block[: size // 2]
        messages.append(message)
        payloads.append(ext.encode(Frame(Opcode.BINARY, message)).data)
    assert strict_inflate(payloads, wbits=8, step=1) == messages
    # The check can fail: a compressor with a larger window refers 300 bytes back.
    compressor = zlib.compressobj(wbits=-10)
    message = rng.randbytes(300) * 3
    payload = (compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
    with pytest.raises(zlib.error, match="too far back"):
        strict_inflate([payload], wbits=8, step=1)


# Limits: decompression is bounded (RFC 6455 §10.4)


@pytest.mark.usefixtures("tail_path")
def test_message_exactly_at_max_size() -> None:
    client, server = pair(max_size=1000)
    client.send_binary(bytes(1000))
    client.send_binary(b"x", fin=False)
    client.send_continuation(bytes(999), fin=True)
    frames = receive(server, written(client).data)
    assert sum(len(f.data) for f in frames) == 2000
    assert server.failure_exc is None


@pytest.mark.parametrize("size", [1000, 2**16, 2**20])
def test_incompressible_message_exactly_at_max_size(size: int) -> None:
    # Compressed, incompressible data is a few bytes longer than the data itself: the
    # frame limit leaves room for it, the message limit still applies to the data.
    client, server = pair(max_size=size)
    data = random.Random(size).randbytes(size)
    client.send_binary(data)
    wire = written(client)
    assert len(wire.frames[0].payload) > size
    frames = receive(server, wire.data)
    assert [f.data for f in frames] == [data]
    assert server.failure_exc is None
    client.send_binary(data + b"!")
    receive(server, written(client).data)
    assert_failed(server, PayloadTooBig, 1009)


def test_frames_far_over_max_size_are_refused_before_inflating() -> None:
    _, server = pair(max_size=1000)
    # A header announcing far more than max_size fails at once, before any payload.
    first_byte = client_frame(0x2, b"", rsv=RSV1)[:1]
    server.receive_data(first_byte + b"\xfe" + (5000).to_bytes(2, "big") + b"MASK")
    assert_failed(server, PayloadTooBig, 1009)


@pytest.mark.usefixtures("tail_path")
def test_message_one_byte_over_max_size() -> None:
    client, server = pair(max_size=1000)
    client.send_binary(bytes(1001))
    receive(server, written(client).data)
    assert_failed(server, PayloadTooBig, 1009)


def test_fragmented_message_over_max_size() -> None:
    client, server = pair(max_size=1000)
    client.send_binary(bytes(600), fin=False)
    client.send_continuation(bytes(401), fin=True)
    frames = receive(server, written(client).data)
    assert [len(f.data) for f in frames] == [600]
    assert_failed(server, PayloadTooBig, 1009)


def test_decode_with_a_zero_budget() -> None:
    sender, receiver = (
        PerMessageDeflate(False, False, 15, 15),
        PerMessageDeflate(False, False, 15, 15),
    )
    assert receiver.decode(sender.encode(Frame(Opcode.BINARY, b"")), max_size=0).data == b""
    with pytest.raises(PayloadTooBig):
        receiver.decode(sender.encode(Frame(Opcode.BINARY, b"x")), max_size=0)


def test_unlimited_max_size() -> None:
    client, server = pair(max_size=None)
    client.send_binary(bytes(3_000_000))
    frames = receive(server, written(client).data)
    assert [len(f.data) for f in frames] == [3_000_000]


def zeros_bomb(size: int, chunk: int = 1 << 20) -> bytes:
    """A DEFLATE payload (RFC 7692 framing) that inflates to ``size`` zero bytes."""
    compressor = zlib.compressobj(9, wbits=-15)
    zeros = bytes(chunk)
    parts = [compressor.compress(zeros) for _ in range(size // chunk)]
    parts.append(compressor.flush(zlib.Z_SYNC_FLUSH)[:-4])
    return b"".join(parts)


BOMB_SIZE = 64 << 20
MAX_SIZE = 1 << 20


@pytest.fixture(scope="module")
def bomb() -> bytes:
    payload = zeros_bomb(BOMB_SIZE)
    assert len(payload) < MAX_SIZE // 4  # the frame itself is well within max_size
    return payload


def peak_memory_while(action: Any) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_decompression_bomb_in_one_frame(bomb: bytes) -> None:
    _, server = pair(max_size=MAX_SIZE)
    frame = client_frame(Opcode.BINARY, bomb, rsv=RSV1)
    peak = peak_memory_while(lambda: server.receive_data(frame))
    assert_failed(server, PayloadTooBig, 1009)
    assert server.events_received() == []
    # About max_size of output, plus the frame and zlib's state: far from 64 MiB.
    assert peak < 4 * MAX_SIZE, peak


def test_decompression_bomb_in_many_fragments(bomb: bytes) -> None:
    # Fragments that fit the message's budget, then one that inflates far beyond what
    # remains of it: that fragment is inflated only up to the remaining budget.
    compressor = zlib.compressobj(9, wbits=-15)
    piece = 100 << 10
    fitting = [compressor.compress(bytes(piece)) + compressor.flush(zlib.Z_SYNC_FLUSH)] * 10
    _, server = pair(max_size=MAX_SIZE)
    frames = [client_frame(Opcode.BINARY, fitting[0], rsv=RSV1, fin=False)]
    frames += [client_frame(Opcode.CONT, p, fin=False) for p in fitting[1:]]
    frames += [client_frame(Opcode.CONT, bomb, fin=False), client_frame(Opcode.CONT, bomb)]
    data = b"".join(frames)
    received = []

    def feed() -> None:
        for i in range(0, len(data), 4096):
            server.receive_data(data[i : i + 4096])
            # The application consumes fragments as they come.
            received.extend(len(e.data) for e in server.events_received() if isinstance(e, Frame))

    peak = peak_memory_while(feed)
    assert received == [piece] * 10
    assert_failed(server, PayloadTooBig, 1009)
    assert peak < 4 * MAX_SIZE, peak


def test_unbounded_decompression_would_use_far_more_memory(bomb: bytes) -> None:
    # The measure above can fail: inflating the same bomb without a limit peaks near
    # the inflated size.
    def unbounded() -> None:
        zlib.decompressobj(wbits=-15).decompress(bomb[: len(bomb) // 8] + TAIL)

    assert peak_memory_while(unbounded) > 4 * MAX_SIZE


# Failing fast on a frame still arriving (RFC 6455 §8.1, §10.4)
#
# With permessage-deflate negotiated, a message sent without compression (RFC 7692 §6.2)
# is checked as its bytes arrive, as on a connection without extensions; a compressed
# one only once inflated.


def test_invalid_utf8_in_uncompressed_text_fails_before_the_frame_ends() -> None:
    _, server = pair()
    frame = client_frame(Opcode.TEXT, b"\xff" + bytes(10_000))
    server.receive_data(frame[:100])
    assert_failed(server, InvalidUTF8, 1007)


def test_compressed_text_is_not_checked_before_it_is_inflated() -> None:
    client, server = pair()
    text = "".join(f"{i}: café, naïve, ☕\n" for i in range(2000)).encode()
    client.send_text(text)
    wire = written(client).data
    # Compressed bytes aren't UTF-8: only the inflated message is checked.
    server.receive_data(wire[: len(wire) // 2])
    assert server.failure_exc is None and server.close_sent is None
    frames = receive(server, wire[len(wire) // 2 :])
    assert [f.data for f in frames] == [text]


def test_uncompressed_message_over_max_size_fails_before_the_frame_ends() -> None:
    _, server = pair(max_size=1000)
    receive(server, client_frame(Opcode.BINARY, bytes(600), fin=False))
    # The continuation frame's header announces 600 more bytes: over the message limit,
    # although the frame alone is within the frame limit.
    server.receive_data(client_frame(Opcode.CONT, bytes(600))[:10])
    assert_failed(server, PayloadTooBig, 1009)


def test_continuation_of_a_compressed_message_is_checked_once_inflated() -> None:
    client, server = pair(max_size=100_000)
    text = "".join(f"{i}: ünïcödé\n" for i in range(3000)).encode()
    client.send_text(text[:10], fin=False)
    client.send_continuation(text[10:], fin=True)
    wire = written(client).data
    server.receive_data(wire[: len(wire) - 50])
    assert server.failure_exc is None and server.close_sent is None
    frames = receive(server, wire[len(wire) - 50 :])
    assert b"".join(f.data for f in frames) == text


def test_rsv1_on_a_continuation_frame_is_reported_as_such_while_arriving() -> None:
    # Not checked as uncompressed data (which would say 1007 here): decode() fails it.
    _, server = pair()
    receive(server, client_frame(Opcode.TEXT, b"ok", fin=False))
    partial = client_frame(Opcode.CONT, b"\xff" + bytes(10_000), rsv=RSV1)[:100]
    server.receive_data(partial)
    assert server.failure_exc is None
    server.receive_data(client_frame(Opcode.CONT, b"\xff" + bytes(10_000), rsv=RSV1)[100:])
    assert_failed(server, InvalidFrame, 1002)
