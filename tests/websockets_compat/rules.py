"""Which of websockets' tests depend on websockets' internals: the rules of the mapping run.

A test is **public** unless one of the rules below says it depends on websockets'
internals. Public tests are the ones measured: passed / public is the result. A public
test that fails because websocket_ref deliberately behaves otherwise (the RFC, or a
choice documented in docs/porting.md) is a **documented difference**: listed apart,
still counted as not passing.

Rules, applied in this order (the first that matches gives the reason):

F. **File rules** (:data:`FILES`): the whole file tests something websocket_ref doesn't
   claim to mirror: websockets' legacy and trio APIs, its CLI, deprecated module aliases,
   and undocumented helper modules (``websockets.imports``, ``.streams``, ``.utils``,
   ``.sync.utils``). These files aren't run; their tests are counted as internal.
P. **Patching**: the test (or its class's set-up, or a helper method of its class or a
   helper function of its module that it calls) uses ``unittest.mock.patch`` on
   anything but ``os.environ``: it replaces a function websockets calls internally
   (``secrets.token_bytes`` for masking keys, ``websockets.client.generate_key``,
   ``Protocol.events_received``...), so it tests that websockets' code is built that way.
U. **Private names**: the test (or its helpers, as in rule P) reads or writes an
   attribute whose name starts with one underscore (not a dunder) -- also as a keyword
   argument, e.g. ``dataclasses.replace(response, _exception=None)`` --, or uses a
   name imported from websockets that starts with one, or a name from one of
   websockets' undocumented helper modules (:data:`INTERNAL_MODULES`: its stream
   reader, its lazy importer). The tests' uses of ``websockets.utils``
   (``accept_key()`` to compute an expected header) get websocket_ref's functions of
   the same names (plugin.py).
M. **Manual rules** (:data:`INTERNAL`): read from the test, with the reason next to it
   (undocumented methods of websockets' classes, exact debug-log text, the structure of
   websockets' parsers...). Each is one line here, to be checked by anyone.

Documented differences are in :data:`DIFFERENCES`, each with the section of
docs/porting.md that explains it.

websockets' test helpers that are coupled to its implementation are replaced by
stand-ins (plugin.py): tests that use them are not internal for that.
"""

from __future__ import annotations

import ast
import fnmatch
import inspect
import sys
import textwrap
from typing import Any

#: File rules: glob on the path under tests/ → reason. These files aren't run.
FILES: dict[str, str] = {
    "legacy/*": "websockets.legacy: the legacy API has no counterpart (docs/porting.md)",
    "trio/*": "websockets.trio: the trio API has no counterpart (docs/porting.md)",
    "test_cli.py": "websockets' CLI (interactive client); websocket_ref has its own CLI",
    "test_auth.py": "deprecated alias websockets.auth → websockets.legacy.auth",
    "test_http.py": "deprecated alias module websockets.http",
    "test_connection.py": "deprecated alias module websockets.connection",
    "test_imports.py": "websockets.imports.lazy_import: an undocumented helper",
    "test_streams.py": "websockets.streams.StreamReader: an undocumented parser helper",
    "test_utils.py": "websockets.utils: undocumented helpers (accept_key, apply_mask)",
    "sync/test_utils.py": "websockets.sync.utils.Deadline: an undocumented helper",
    "maxi_cov.py": "websockets' coverage tooling",
}

#: websockets' undocumented helper modules: a test using one of their names is internal
#: (rule U). In the mapping run they import as placeholders whose names all fail.
INTERNAL_MODULES = ("websockets.streams", "websockets.imports", "websockets.speedups")

#: The files of the measured suite, in the order of the report.
SUITE = [
    "asyncio/test_client.py",
    "asyncio/test_server.py",
    "asyncio/test_connection.py",
    "asyncio/test_messages.py",
    "asyncio/test_router.py",
    "sync/test_client.py",
    "sync/test_server.py",
    "sync/test_connection.py",
    "sync/test_messages.py",
    "sync/test_router.py",
    "test_protocol.py",
    "test_client.py",
    "test_server.py",
    "test_frames.py",
    "test_headers.py",
    "test_http11.py",
    "test_datastructures.py",
    "test_uri.py",
    "test_exceptions.py",
    "test_exports.py",
    "extensions/test_base.py",
    "extensions/test_permessage_deflate.py",
]

#: Manual rules: glob on "file::Class::test" → reason.
INTERNAL: dict[str, str] = {
    "asyncio/test_messages.py::*": (
        "websockets.asyncio.messages.Assembler: the connection's message queue, not in "
        "websockets' API reference (its constructor, put(), get() are implementation)"
    ),
    "sync/test_messages.py::*": (
        "websockets.sync.messages.Assembler: the connection's message queue, not in "
        "websockets' API reference"
    ),
    "asyncio/test_connection.py::*::test_disable_keepalive": (
        "reads connection.keepalive_task, an undocumented attribute"
    ),
    "asyncio/test_connection.py::*::test_keepalive_terminates_*": (
        "reads connection.keepalive_task, an undocumented attribute"
    ),
    "sync/test_connection.py::*::test_disable_keepalive": (
        "reads connection.keepalive_thread, an undocumented attribute"
    ),
    "sync/test_connection.py::*::test_keepalive_terminates_*": (
        "reads connection.keepalive_thread, an undocumented attribute (websocket_ref's "
        "sync keepalive runs on a shared timer thread)"
    ),
    "*/test_connection.py::*::test_max_queue*": (
        "reads connection.recv_messages, the undocumented message queue, and its fields"
    ),
    "test_protocol.py::EOFTests::*_inside_frame": (
        "reads Protocol.parser_exc, an undocumented attribute, and its message"
    ),
    "test_protocol.py::EOFTests::*_between_frames": (
        "reads Protocol.parser_exc, an undocumented attribute"
    ),
}

#: Documented differences: glob on "file::Class::test" → (docs/porting.md section, why).
_UTF8 = (
    "A text message must be valid UTF-8 when it's sent",
    "the test's peer sends invalid UTF-8 as text, which websocket_ref refuses to send",
)
_BROKEN_101 = (
    "A process_response hook can't break a 101 response",
    "the server doesn't send the 101 a hook broke; the client sees EOF",
)
_VERSION = ("A missing or unknown Sec-WebSocket-Version gets 426", "426, not 400")
_SUBPROTOCOL = (
    "A server with subprotocols accepts a client that offers none of them",
    "accepted without a subprotocol, not 400",
)
_MISUSE = (
    "Misusing the Sans-I/O API raises InvalidState or ValueError",
    "the test expects ProtocolError for a misuse of the API",
)
_TLS_SOCKET = (
    "The sync API's connection.socket is the TCP socket",
    "the test calls ssl.SSLSocket methods on connection.socket",
)
_SEND_WAITS = (
    "Sync send() from another thread waits for a fragmented message being sent",
    "the second send() waits instead of raising ConcurrencyError",
)
_CONTROL_AFTER_CLOSE = (
    "Pings and pongs go out only while the connection is OPEN",
    "the test sends a ping or pong after sending a Close frame",
)
_SUBPROTOCOL_ORDER = (
    "The server picks the client's preferred subprotocol",
    "the test expects the first of the server's list",
)
_BACKOFF = (
    "Reconnect delays never get shorter",
    "the test expects 3.1 s after the random first delay, even one of 3.1 to 5 s",
)
DIFFERENCES: dict[str, tuple[str, str]] = {
    "test_client.py::BackoffTests::test_backoff": _BACKOFF,
    "sync/test_connection.py::*::test_send_during_send": _SEND_WAITS,
    "test_server.py::HandshakeTests::test_*_version": _VERSION,
    "test_server.py::HandshakeTests::test_no_subprotocol_requested": _SUBPROTOCOL,
    "test_server.py::HandshakeTests::test_unsupported_subprotocol": _SUBPROTOCOL,
    "test_server.py::HandshakeTests::test_multiple_subprotocols": _SUBPROTOCOL_ORDER,
    "test_protocol.py::*::test_*_sends_unexpected_*": _MISUSE,
    "test_protocol.py::CloseTests::test_*_sends_close_with_reason_only": _MISUSE,
    "test_protocol.py::ContinuationTests::test_*_sends_continuation_after_sending_close": _MISUSE,
    "test_protocol.py::P?ngTests::test_*_sends_p?ng_after_sending_close": _CONTROL_AFTER_CLOSE,
    "sync/test_client.py::SecureClientTests::test_set_server_hostname_*": _TLS_SOCKET,
    "sync/test_client.py::SecureClientTests::test_connection": _TLS_SOCKET,
    "sync/test_client.py::UnixClientTests::test_secure_connection": _TLS_SOCKET,
    "sync/test_client.py::UnixClientTests::test_set_server_hostname": _TLS_SOCKET,
    "sync/test_server.py::SecureServerTests::test_connection": _TLS_SOCKET,
    "sync/test_server.py::SecureUnixServerTests::test_connection": _TLS_SOCKET,
    "*/test_connection.py::*::test_recv_non_utf8_text": _UTF8,
    "*/test_connection.py::*::test_recv_streaming_non_utf8_text": _UTF8,
    "*/test_client.py::ClientTests::test_handshake_fails": _BROKEN_101,
}

PATCH_ALLOWED = {"os.environ"}


def file_rule(path: str) -> str | None:
    """The reason a file under tests/ isn't run, or None if it is."""
    for pattern, reason in FILES.items():
        if fnmatch.fnmatch(path, pattern):
            return reason
    return None


def _match(table: dict[str, Any], key: str) -> Any:
    for pattern, value in table.items():
        if fnmatch.fnmatchcase(key, pattern):
            return value
    return None


def _node(source: Any) -> ast.AST | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(source)))
    except (OSError, TypeError, SyntaxError):
        return None


def _patch_target(call: ast.Call) -> str | None:
    """``patch("x")`` → "x", ``patch.object(a.b, "c")`` → "a.b.c", else None."""
    func = call.func
    name = ast.unparse(func)
    if name not in ("patch", "mock.patch", "unittest.mock.patch", "patch.object", "patch.dict"):
        return None
    if not call.args:
        return name
    first = call.args[0]
    target = first.value if isinstance(first, ast.Constant) else ast.unparse(first)
    if name.endswith("object") and len(call.args) > 1 and isinstance(call.args[1], ast.Constant):
        target = f"{target}.{call.args[1].value}"
    return str(target)


def _static_reason(tree: ast.AST, private_imports: set[str]) -> str | None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            target = _patch_target(node)
            if target is not None and target not in PATCH_ALLOWED:
                return f"rule P: patches {target}"
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            return f"rule U: uses private attribute {node.attr}"
        if isinstance(node, ast.Name) and node.id in private_imports:
            return f"rule U: uses private or undocumented {node.id}"
        name = node.arg or "" if isinstance(node, ast.keyword) else ""
        if name.startswith("_") and not name.startswith("__"):
            return f"rule U: sets private field {name}"
    return None


def _private_imports(module: Any) -> set[str]:
    tree = _node(module)
    names: set[str] = set()
    if tree is None:
        return names
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("websockets"):
            for alias in node.names:
                internal = node.module in INTERNAL_MODULES
                if internal or (alias.name.startswith("_") and not alias.name.startswith("__")):
                    names.add(alias.asname or alias.name)
    return names


def _methods_used(cls: type, func: Any) -> list[Any]:
    """The test, its class's set-up, and the class's helper methods it calls (closure)."""
    setups = ("setUp", "asyncSetUp", "setUpClass")
    todo = [func] + [getattr(cls, name) for name in setups if hasattr(cls, name)]
    seen: list[Any] = []
    while todo:
        current = todo.pop()
        current = getattr(current, "__func__", current)
        if current in seen or not callable(current):
            continue
        if getattr(current, "__module__", "").startswith(("unittest", "contextlib")):
            continue
        seen.append(current)
        tree = _node(current)
        if tree is None:
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
                and not node.attr.startswith("test")
            ):
                helper = inspect.getattr_static(cls, node.attr, None)
                helper = getattr(helper, "__func__", helper)
                if inspect.isfunction(helper) and helper.__module__ == cls.__module__:
                    todo.append(helper)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                # A helper function of the test's module (a context manager too).
                module = sys.modules.get(cls.__module__)
                helper = getattr(module, node.func.id, None)
                if inspect.isfunction(helper) and helper.__module__ == cls.__module__:
                    todo.append(inspect.unwrap(helper))
    return seen


def test_key(nodeid: str) -> str:
    """``tests/asyncio/test_client.py::Class::test`` → ``asyncio/test_client.py::Class::test``."""
    return nodeid.split("tests/", 1)[1] if nodeid.startswith("tests/") else nodeid


def classify(key: str, cls: type | None, func: Any, module: Any) -> tuple[str, str]:
    """("internal" | "difference" | "public", reason) for one test."""
    reason = file_rule(key.split("::", 1)[0])
    if reason is not None:
        return "internal", f"rule F: {reason}"
    if cls is not None and func is not None:
        # The class's decorators are its set-up too: @patch("websockets.client.generate_key")
        tree = _node(cls)
        if isinstance(tree, ast.Module) and isinstance(tree.body[0], ast.ClassDef):
            for decorator in tree.body[0].decorator_list:
                call = decorator if isinstance(decorator, ast.Call) else None
                target = _patch_target(call) if call is not None else None
                if target is not None and target not in PATCH_ALLOWED:
                    return "internal", f"rule P: patches {target} (class decorator)"
        private = _private_imports(module)
        for method in _methods_used(cls, func):
            tree = _node(method)
            found = _static_reason(tree, private) if tree is not None else None
            if found is not None:
                where = (
                    "" if method is getattr(func, "__func__", func) else f" (in {method.__name__})"
                )
                return "internal", found + where
    manual = _match(INTERNAL, key)
    if manual is not None:
        return "internal", f"rule M: {manual}"
    difference = _match(DIFFERENCES, key)
    if difference is not None:
        section, why = difference
        return "difference", f"docs/porting.md, {section}: {why}"
    return "public", ""


def classify_item(item: Any) -> tuple[str, str]:
    cls = getattr(item, "cls", None)
    func = getattr(item, "function", None) or getattr(item, "obj", None)
    return classify(test_key(item.nodeid), cls, func, getattr(item, "module", None))


def count_tests(path: str) -> int:
    """Tests in a file that isn't run (test methods of TestCase classes, test functions)."""
    with open(path) as file:
        tree = ast.parse(file.read())
    return sum(
        1
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    )
