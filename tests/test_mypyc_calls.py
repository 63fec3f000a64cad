"""Private methods called as ``Class._name(self, ...)`` are overridden nowhere.

websocket_ref/protocol.py and asyncio/connection.py call some private methods that way
on the hot path (a direct native call in the mypyc build, see the note above
``Protocol``). That bypasses overriding, so no subclass in the library may override them.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import websocket_ref
from websocket_ref.asyncio.connection import Connection
from websocket_ref.protocol import Protocol

# The source tree's modules (the tests may run against an installed, compiled copy).
ROOT = Path(__file__).resolve().parents[1] / "websocket_ref"


def subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | subclasses(sub)
    return found


def explicit_calls(cls: type, source: Path) -> set[str]:
    text = source.read_text()
    names = set(re.findall(rf"\b{cls.__name__}\.(_\w+)\(self\b", text))
    if cls is Protocol:  # asyncio/connection.py calls the core's methods that way too
        connection = (ROOT / "asyncio" / "connection.py").read_text()
        names |= set(re.findall(r"\bProtocol\.(\w+)\(protocol\b", connection))
    return names


@pytest.mark.parametrize(
    ("cls", "source"),
    [(Protocol, ROOT / "protocol.py"), (Connection, ROOT / "asyncio" / "connection.py")],
)
def test_explicit_calls_are_never_overridden(cls: type, source: Path) -> None:
    for module in pkgutil.walk_packages(websocket_ref.__path__, "websocket_ref."):
        if module.name.endswith("__main__"):
            continue
        importlib.import_module(module.name)
    names = explicit_calls(cls, source)
    assert names >= ({"_send_frame", "send_text"} if cls is Protocol else {"_send_data"})
    library = [sub for sub in subclasses(cls) if sub.__module__.startswith("websocket_ref")]
    assert library  # ClientProtocol/ServerProtocol, ClientConnection/ServerConnection
    for sub in library:
        overridden = names & set(vars(sub))
        assert not overridden, f"{sub.__qualname__} overrides {overridden}"
