"""The Headers multi-map (case-insensitive, order-preserving, repeated names allowed)."""

from __future__ import annotations

import pytest

from websocket_ref import Headers, MultipleValuesError


def test_case_insensitive_lookup() -> None:
    headers = Headers([("Upgrade", "websocket")])
    assert headers["upgrade"] == "websocket"
    assert headers["UPGRADE"] == "websocket"
    assert "uPgRaDe" in headers
    assert "Connection" not in headers
    assert 42 not in headers


def test_setitem_appends() -> None:
    headers = Headers()
    headers["Set-Cookie"] = "a=1"
    headers["set-cookie"] = "b=2"
    assert headers.get_all("SET-COOKIE") == ["a=1", "b=2"]
    assert list(headers.raw_items()) == [("Set-Cookie", "a=1"), ("set-cookie", "b=2")]
    assert len(headers) == 1


def test_getitem_with_multiple_values() -> None:
    headers = Headers([("X", "1"), ("x", "2")])
    with pytest.raises(MultipleValuesError) as raised:
        headers["X"]
    assert isinstance(raised.value, LookupError)
    assert str(raised.value) == "'X'"


def test_getitem_missing() -> None:
    with pytest.raises(KeyError):
        Headers()["X"]
    assert Headers().get("X") is None
    assert Headers().get_all("X") == []


def test_delitem_removes_every_value() -> None:
    headers = Headers([("A", "1"), ("B", "2"), ("a", "3")])
    del headers["A"]
    assert list(headers.raw_items()) == [("B", "2")]
    assert "a" not in headers
    with pytest.raises(KeyError):
        del headers["A"]


def test_iteration_and_len() -> None:
    headers = Headers([("A", "1"), ("B", "2"), ("a", "3")])
    assert list(headers) == ["a", "b"]
    assert len(headers) == 2


def test_serialize_keeps_order_and_case() -> None:
    headers = Headers([("Host", "example.com"), ("X-A", "1"), ("x-a", "2")])
    assert headers.serialize() == b"Host: example.com\r\nX-A: 1\r\nx-a: 2\r\n\r\n"
    assert str(Headers()) == "\r\n"


@pytest.mark.parametrize(
    "source",
    [
        {"A": "1", "B": "2"},
        [("A", "1"), ("B", "2")],
        Headers([("A", "1"), ("B", "2")]),
    ],
    ids=["dict", "pairs", "headers"],
)
def test_constructor_accepts_headers_like(source: object) -> None:
    headers = Headers(source)  # type: ignore[arg-type]
    assert list(headers.raw_items()) == [("A", "1"), ("B", "2")]


def test_constructor_accepts_keys_and_getitem() -> None:
    class Legacy:
        def keys(self) -> list[str]:
            return ["A"]

        def __getitem__(self, key: str) -> str:
            return "1"

    assert list(Headers(Legacy()).raw_items()) == [("A", "1")]


def test_kwargs() -> None:
    headers = Headers(Server="x")
    headers.update({"A": "1"}, B="2")
    assert list(headers.raw_items()) == [("Server", "x"), ("A", "1"), ("B", "2")]


def test_update_appends_rather_than_replaces() -> None:
    headers = Headers([("A", "1")])
    headers.update([("A", "2")])
    assert headers.get_all("A") == ["1", "2"]


def test_copy_is_independent() -> None:
    headers = Headers([("A", "1")])
    copy = headers.copy()
    copy["A"] = "2"
    copy["B"] = "3"
    assert headers.get_all("A") == ["1"]
    assert "B" not in headers
    assert copy.get_all("A") == ["1", "2"]


def test_equality_is_case_insensitive_on_names() -> None:
    assert Headers([("A", "1")]) == Headers([("a", "1")])
    assert Headers([("A", "1")]) != Headers([("A", "2")])
    assert Headers([("A", "1"), ("A", "2")]) != Headers([("A", "2"), ("A", "1")])
    assert Headers() != {}


def test_unhashable() -> None:
    with pytest.raises(TypeError):
        hash(Headers())


def test_clear() -> None:
    headers = Headers([("A", "1")])
    headers.clear()
    assert len(headers) == 0
    assert list(headers.raw_items()) == []


def test_repr() -> None:
    assert repr(Headers([("A", "1")])) == "Headers([('A', '1')])"
