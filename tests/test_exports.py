"""The package's public names: importable from ``websocket_ref`` itself, loaded lazily."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import websocket_ref

ROOT = Path(__file__).resolve().parent.parent


def modules_loaded_by(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    script = f"{code}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return set(result.stdout.split())


def test_import_is_cheap() -> None:
    loaded = modules_loaded_by("import websocket_ref")
    ours = {name for name in loaded if name.split(".")[0] == "websocket_ref"}
    assert ours == {"websocket_ref", "websocket_ref.version"}
    # Nothing heavy or optional comes along with the package.
    for module in ("asyncio", "ssl", "zlib", "threading", "werkzeug", "python_socks"):
        assert module not in loaded, module


def test_first_use_imports_only_what_it_needs() -> None:
    loaded = modules_loaded_by("import websocket_ref; websocket_ref.ConnectionClosed")
    assert "websocket_ref.exceptions" in loaded
    assert "websocket_ref.asyncio" not in loaded
    loaded = modules_loaded_by("from websocket_ref import connect")
    assert "websocket_ref.asyncio.client" in loaded
    assert "websocket_ref.sync" not in loaded


@pytest.mark.parametrize("name", sorted(set(websocket_ref.__all__) - {"__version__"}))
def test_every_public_name_resolves(name: str) -> None:
    value = getattr(websocket_ref, name)
    module = websocket_ref._LAZY[name]
    source = sys.modules[f"websocket_ref{module}"]
    assert getattr(source, name) is value
    assert name in dir(websocket_ref)


def test_all_lists_every_lazy_name() -> None:
    # websocket_ref.uri's names are importable from the package but not in __all__.
    assert set(websocket_ref.__all__) == set(websocket_ref._LAZY) - {"parse_uri", "WebSocketURI"}


# The modules whose exports the package re-exports: websockets' rule (its own
# tests/test_exports.py checks it), so that `from websockets import *` ports unchanged.
REEXPORTED = [
    "asyncio.client",
    "asyncio.router",
    "asyncio.server",
    "client",
    "datastructures",
    "exceptions",
    "frames",
    "http11",
    "protocol",
    "server",
    "typing",
]


def test_package_reexports_each_module_export_once() -> None:
    import importlib

    exports = [
        name
        for module in REEXPORTED
        for name in importlib.import_module(f"websocket_ref.{module}").__all__
        if not name.isupper()  # constants stay in their modules
    ]
    assert len(exports) == len(set(exports))
    assert set(exports) == set(websocket_ref.__all__)


def test_shortcuts_are_the_asyncio_api() -> None:
    from websocket_ref.asyncio.client import connect
    from websocket_ref.asyncio.server import broadcast, serve

    assert websocket_ref.connect is connect
    assert websocket_ref.serve is serve
    assert websocket_ref.broadcast is broadcast


def test_unknown_name() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        websocket_ref.nope  # noqa: B018


def test_websockets_names_are_all_here() -> None:
    # Every name websockets exports at its top level (its legacy API aside) is ours too.
    websockets = pytest.importorskip("websockets")
    legacy = {
        "BasicAuthWebSocketServerProtocol",
        "basic_auth_protocol_factory",
        "WebSocketClientProtocol",
        "AbortHandshake",
        "InvalidStatusCode",
        "RedirectHandshake",
        "WebSocketProtocolError",
        "WebSocketCommonProtocol",
        "WebSocketServer",
        "WebSocketServerProtocol",
    }
    missing = set(websockets.__all__) - legacy - set(websocket_ref.__all__)
    assert not missing, sorted(missing)
