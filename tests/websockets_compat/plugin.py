"""pytest plugin for the websockets mapping run: module names, stand-ins, classification.

Loaded with ``-p websockets_compat_plugin`` by ``run.py`` in a pytest process that runs
websockets' own test files, unchanged. It does three things:

1. **Maps module names.** Every ``websockets.X`` module is the ``websocket_ref.X`` module
   (the same object in ``sys.modules``, so ``patch("websockets.x.y")`` reaches ours too).
   websockets modules with no counterpart stay unimportable, except two that only
   websockets' test helpers use (see :data:`STAND_IN_MODULES`).
2. **Replaces the test helpers coupled to websockets' implementation** (see
   :data:`HELPER_STAND_INS`): the tests use them to watch the wire and to delay or drop
   what one side writes; the stand-ins do the same through websocket_ref's own means.
3. **Classifies and reports** every test (see ``rules.py``): a JSON file with one record
   per test, written to the path in ``WEBSOCKETS_COMPAT_RESULTS``.

Nothing here is websockets' code: the stand-ins are written for websocket_ref.
"""

from __future__ import annotations

import contextlib
import faulthandler
import importlib
import importlib.abc
import importlib.machinery
import json
import os
import pathlib
import pkgutil
import signal
import sys
import threading
import time
import types
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from rules import INTERNAL_MODULES, classify, classify_item, count_tests, test_key  # type: ignore[import-not-found]

import websocket_ref

# websockets modules that are websocket_ref modules under another name.
RENAMED: dict[str, str] = {}

# websockets modules that only its test helpers import, given stand-ins built from the
# standard library and websocket_ref (they aren't part of what's measured).
STAND_IN_MODULES = ("websockets.version", "websockets.asyncio.compatibility", "websockets.utils")


def _map_modules() -> None:
    """Register every websocket_ref module as the websockets module of the same name."""
    for name in list(sys.modules):
        if name == "websockets" or name.startswith("websockets."):
            del sys.modules[name]
    names = ["websocket_ref"]
    for info in pkgutil.walk_packages(websocket_ref.__path__, "websocket_ref."):
        if info.name.endswith("__main__") or info.name.endswith("_speedups"):
            continue
        names.append(info.name)
    for name in names:
        try:
            module = importlib.import_module(name)
        except ImportError:  # an optional dependency is missing
            continue
        alias = "websockets" + name[len("websocket_ref") :]
        sys.modules[RENAMED.get(alias, alias)] = module
    _map_loggers()
    sys.modules["websockets.version"] = _version_module()
    sys.modules["websockets.asyncio.compatibility"] = _compatibility_module()
    sys.modules["websockets.utils"] = _utils_module()
    sys.meta_path.insert(0, _Unmapped())


def _map_loggers() -> None:
    """Logger names follow module names in both libraries: ``logging.getLogger("websockets")``
    (and ``.client``, ``.server``) is websocket_ref's logger of the same place."""
    import logging

    manager = logging.Logger.manager
    for suffix in ("", ".client", ".server", ".sync.scheduler"):
        logger = logging.getLogger("websocket_ref" + suffix)
        manager.loggerDict["websockets" + suffix] = logger


class _Unmapped(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Keeps the real websockets (installed as an interop peer) out of the run."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname in INTERNAL_MODULES:
            return importlib.machinery.ModuleSpec(fullname, self)
        if fullname == "websockets" or fullname.startswith("websockets."):
            raise ModuleNotFoundError(f"no websocket_ref counterpart for {fullname}")
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = types.ModuleType(spec.name)
        module.__getattr__ = lambda name: Missing(f"{spec.name}.{name}")  # type: ignore[method-assign]
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        pass


def _version_module() -> types.ModuleType:
    from websocket_ref import version

    module = types.ModuleType("websockets.version")
    module.__dict__.update({k: v for k, v in vars(version).items() if not k.startswith("__")})
    # websockets' tests/utils.py picks its time unit from this flag: a release gets the
    # larger unit, which is what a loaded machine needs.
    module.released = True  # type: ignore[attr-defined]
    module.tag = module.commit = version.version  # type: ignore[attr-defined]
    return module


def _utils_module() -> types.ModuleType:
    """websockets.utils: the handshake's key functions and masking, which websockets'
    tests use to compute expected values; websocket_ref has them under other modules.
    Other names fail (see :class:`Missing`)."""
    from websocket_ref.handshake import accept_key, generate_key
    from websocket_ref.masking import apply_mask

    module = types.ModuleType("websockets.utils")
    module.accept_key = accept_key  # type: ignore[attr-defined]
    module.generate_key = generate_key  # type: ignore[attr-defined]
    module.apply_mask = apply_mask  # type: ignore[attr-defined]
    module.__getattr__ = lambda name: Missing(f"websockets.utils.{name}")  # type: ignore[method-assign]
    return module


def _compatibility_module() -> types.ModuleType:
    """websockets.asyncio.compatibility: aliases of the standard library for old Pythons."""
    import asyncio
    import builtins

    module = types.ModuleType("websockets.asyncio.compatibility")
    module.TimeoutError = builtins.TimeoutError  # type: ignore[attr-defined]
    module.aiter = builtins.aiter  # type: ignore[attr-defined]
    module.anext = builtins.anext  # type: ignore[attr-defined]
    module.asyncio_timeout = asyncio.timeout  # type: ignore[attr-defined]
    module.asyncio_timeout_at = asyncio.timeout_at  # type: ignore[attr-defined]
    module.__all__ = ["TimeoutError", "aiter", "anext", "asyncio_timeout", "asyncio_timeout_at"]  # type: ignore[attr-defined]
    return module


# Stand-ins for websockets' test helpers --------------------------------------------------


def _recording_protocol_module() -> types.ModuleType:
    """tests/protocol.py: a Protocol that records the frames it receives.

    websockets' helper overrides an undocumented method its Protocol calls per frame;
    websocket_ref's protocols report each frame received to their ``trace`` hook.
    """
    from websocket_ref.protocol import Protocol

    class RecordingProtocol(Protocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            outer = kwargs.pop("trace", None)
            self.frames_rcvd: list[Any] = []

            def trace(event: Any) -> None:
                if event.direction == "<" and event.frame is not None:
                    self.frames_rcvd.append(event.frame)
                if outer is not None:
                    outer(event)

            super().__init__(*args, trace=trace, **kwargs)

        def get_frames_rcvd(self) -> list[Any]:
            frames, self.frames_rcvd = self.frames_rcvd, []
            return frames

    module = types.ModuleType("tests.protocol")
    module.RecordingProtocol = RecordingProtocol  # type: ignore[attr-defined]
    return module


def _sync_connection_module() -> types.ModuleType:
    """tests/sync/connection.py: a connection whose writes can be delayed or dropped.

    websockets' helper swaps the socket its connection writes to; websocket_ref's sync
    connection writes through a transport object, so the stand-in wraps that.
    """
    from websocket_ref.sync.connection import Connection

    class InterceptingTransport:
        def __init__(self, transport: Any) -> None:
            self.transport = transport
            self.delay_write: float | None = None
            self.delay_eof: float | None = None
            self.drop_write = False
            self.drop_eof = False

        def __getattr__(self, name: str) -> Any:
            return getattr(self.transport, name)

        def write(self, chunks: Any, deadline: Any = None) -> None:
            if self.delay_write is not None:
                time.sleep(self.delay_write)
            if not self.drop_write:
                self.transport.write(chunks, deadline)

        def write_eof(self, deadline: Any = None) -> None:
            if self.delay_eof is not None:
                time.sleep(self.delay_eof)
            if not self.drop_eof:
                self.transport.write_eof(deadline)

    class InterceptingConnection(Connection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.transport = InterceptingTransport(self.transport)  # type: ignore[assignment]

        @contextlib.contextmanager
        def _setting(self, name: str, value: Any, off: Any) -> Iterator[None]:
            setattr(self.transport, name, value)
            try:
                yield
            finally:
                setattr(self.transport, name, off)

        def delay_frames_sent(self, delay: float) -> contextlib.AbstractContextManager[None]:
            return self._setting("delay_write", delay, None)

        def delay_eof_sent(self, delay: float) -> contextlib.AbstractContextManager[None]:
            return self._setting("delay_eof", delay, None)

        def drop_frames_sent(self) -> contextlib.AbstractContextManager[None]:
            return self._setting("drop_write", True, False)

        def drop_eof_sent(self) -> contextlib.AbstractContextManager[None]:
            return self._setting("drop_eof", True, False)

    module = types.ModuleType("tests.sync.connection")
    module.InterceptingConnection = InterceptingConnection  # type: ignore[attr-defined]
    return module


def _patch_sync_server(module: types.ModuleType) -> None:
    """tests/sync/server.py: its get_uri() tells TLS by the listening socket's type
    (websockets wraps it in an SSLSocket); websocket_ref's listening socket stays plain,
    and the server says which TLS context it serves with."""

    def get_uri(server: Any, secure: bool | None = None) -> str:
        if secure is None:
            secure = server.ssl is not None
        host, port = server.socket.getsockname()
        return f"{'wss' if secure else 'ws'}://{host}:{port}"

    module.get_uri = get_uri  # type: ignore[attr-defined]


#: websockets' test helpers patched after they're imported: one function each.
HELPER_PATCHES = {"tests.sync.server": _patch_sync_server}

#: websockets' test helper modules replaced here, and why.
HELPER_STAND_INS = {
    "tests.protocol": _recording_protocol_module,
    "tests.sync.connection": _sync_connection_module,
}


class _StandIns(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname in HELPER_STAND_INS:
            return importlib.machinery.ModuleSpec(fullname, self)
        if fullname in HELPER_PATCHES:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None and spec.loader is not None:
                    spec.loader = _Patching(spec.loader, HELPER_PATCHES[fullname])
                    return spec
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return HELPER_STAND_INS[spec.name]()

    def exec_module(self, module: types.ModuleType) -> None:
        pass


class _Patching(importlib.abc.Loader):
    def __init__(self, loader: Any, patch: Any) -> None:
        self.loader = loader
        self.patch = patch

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.loader.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: types.ModuleType) -> None:
        self.loader.exec_module(module)
        self.patch(module)


# pytest hooks -----------------------------------------------------------------------------

_records: dict[str, dict[str, Any]] = {}
_root = pathlib.Path()


#: "websocket_ref": the mapping run; "websockets": the calibration run, against websockets
#: itself (no mapping, no stand-ins), which tells the tests that don't apply to the
#: release measured.
TARGET = os.environ.get("WEBSOCKETS_COMPAT_TARGET", "websocket_ref")

#: Names websockets' tests import that the target lacks: "module.name" (see _placeholders).
_missing: list[str] = []


class Missing:
    """Stands for a name the target lacks, so that only the tests using it fail.

    While test files are imported, calling it gives another placeholder (module-level
    tables of expected values); once tests run, using it in any way fails.
    """

    collecting = True

    def __init__(self, name: str) -> None:
        self.__name = name

    def __fail(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{self.__name} is missing")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if Missing.collecting:
            return Missing(f"{self.__name}(...)")
        self.__fail()

    def __getattr__(self, attr: str) -> Any:
        if Missing.collecting and not attr.startswith("__"):
            return Missing(f"{self.__name}.{attr}")
        self.__fail()

    def __repr__(self) -> str:
        return f"<missing {self.__name}>"

    __iter__ = __bool__ = __eq__ = __ne__ = __lt__ = __gt__ = __hash__ = __len__ = __fail
    __getitem__ = __contains__ = __str__ = __enter__ = __exit__ = __fail


def _placeholders(root: str) -> None:
    """Give the target's modules a :class:`Missing` for each name the tests import from
    them and they lack: a file then fails only in the tests that use the name."""
    import ast

    from rules import SUITE  # type: ignore[import-not-found]

    tests = pathlib.Path(root, "tests")
    helpers = [p for p in tests.rglob("*.py") if not p.name.startswith("test_")]
    for path in [tests / name for name in SUITE if (tests / name).exists()] + helpers:
        try:
            tree = ast.parse(path.read_text())
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or node.level:
                continue
            if not (node.module == "websockets" or (node.module or "").startswith("websockets.")):
                continue
            try:
                module = importlib.import_module(node.module)
            except ImportError:
                _missing.append(f"{node.module} (module)")
                continue
            for alias in node.names:
                if alias.name != "*" and not hasattr(module, alias.name):
                    setattr(module, alias.name, Missing(f"{node.module}.{alias.name}"))
                    _missing.append(f"{node.module}.{alias.name}")


def pytest_configure(config: pytest.Config) -> None:
    if TARGET == "websocket_ref":
        _map_modules()
        sys.meta_path.insert(0, _StandIns())
    else:
        # The calibration run must import the same files: websockets releases that
        # dropped old Pythons dropped this module too (17.x), and without it whole
        # test files fail to import there, so none of their tests could count as drift.
        try:
            importlib.import_module("websockets.asyncio.compatibility")
        except ImportError:
            sys.modules["websockets.asyncio.compatibility"] = _compatibility_module()
    global _root
    _root = config.rootpath
    _placeholders(str(_root))


class PhaseTimeout(Exception):
    """A test's set-up, call or tear-down ran longer than WEBSOCKETS_COMPAT_TIMEOUT."""


def _alarm(signum: int, frame: Any) -> None:
    raise PhaseTimeout(f"timed out after {os.environ.get('WEBSOCKETS_COMPAT_TIMEOUT')} s")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    return (yield from _timed())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    return (yield from _timed())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    return (yield from _timed())


def _timed() -> Iterator[None]:
    """Each phase of a test gets the whole timeout: a test that hangs and then hangs
    again in its tear-down (waiting for a connection that never closes) still ends.

    A phase that ignores the timeout (a wait that swallows the exception) is ended by a
    watchdog after three timeouts: the test is recorded as hung, the results so far are
    written, and the process exits with :data:`HUNG`; the runner starts pytest again for
    the tests that didn't run.
    """
    seconds = float(os.environ.get("WEBSOCKETS_COMPAT_TIMEOUT", "0"))
    if seconds <= 0:
        return (yield)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds, seconds)  # again until the phase ends
    done = threading.Event()
    watchdog = threading.Thread(target=_watch, args=(done, 3 * seconds), daemon=True)
    watchdog.start()
    try:
        return (yield)
    finally:
        done.set()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


#: Exit status of a pytest process that a hung test ended.
HUNG = 3
_current: list[str] = []


def _watch(done: threading.Event, seconds: float) -> None:
    if done.wait(seconds) or not _current:
        return
    record = _records.get(_current[0])
    if record is not None:
        record["outcome"] = "error"
        record["message"] = f"hung: still running {seconds:.0f} s after its timeouts fired"
    hung_log = os.environ.get("WEBSOCKETS_COMPAT_HUNG_LOG")
    if hung_log:
        with open(hung_log, "a") as file:
            file.write(f"\n{_current[0]}\n")
            file.flush()
            faulthandler.dump_traceback(file, all_threads=True)
    _write_results()
    os._exit(HUNG)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    _current[:] = [item.nodeid]
    try:
        return (yield)
    finally:
        _current.clear()


def pytest_collection_finish(session: pytest.Session) -> None:
    Missing.collecting = False
    for item in session.items:  # what runs, after -k and the tests done already
        kind, reason = classify_item(item)
        _records[item.nodeid] = {
            "nodeid": item.nodeid,
            "kind": kind,
            "reason": reason,
            "outcome": None,
            "message": "",
        }


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """A test file that can't be imported: each of its tests counts as an error."""
    if report.failed and report.nodeid.endswith(".py"):
        key = test_key(report.nodeid)
        kind, reason = classify(key, None, None, None)
        path = _root / report.nodeid
        count = count_tests(str(path)) if path.exists() else 1
        message = _summary(report)  # type: ignore[arg-type]
        for i in range(count):
            nodeid = f"{report.nodeid}::#{i}"
            _records[nodeid] = {
                "nodeid": nodeid,
                "kind": kind,
                "reason": reason,
                "outcome": "error",
                "message": f"collection: {message}",
            }


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    done_file = os.environ.get("WEBSOCKETS_COMPAT_DONE")
    if done_file:
        done = set(pathlib.Path(done_file).read_text().split())
        config.hook.pytest_deselected(items=[i for i in items if i.nodeid in done])
        items[:] = [i for i in items if i.nodeid not in done]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    record = _records.get(report.nodeid)
    if record is None or record["outcome"] not in (None, "passed"):
        return  # the first failing phase tells
    if report.when != "call" and report.outcome == "passed":
        return
    outcome = report.outcome
    if report.when != "call" and report.outcome == "failed":
        outcome = "error"
    record["outcome"] = outcome
    if report.outcome == "skipped" and isinstance(report.longrepr, tuple):
        record["message"] = str(report.longrepr[2])
    elif report.outcome != "passed":
        record["message"] = _summary(report)


def _summary(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message).splitlines()[0][:300] if crash.message else ""
    return str(report.longrepr).strip().splitlines()[-1][:300] if report.longrepr else ""


def pytest_sessionfinish(session: pytest.Session) -> None:
    _write_results()


def _write_results() -> None:
    path = os.environ.get("WEBSOCKETS_COMPAT_RESULTS")
    if path:
        with open(path, "w") as file:
            json.dump({"records": list(_records.values()), "missing": _missing}, file, indent=1)
