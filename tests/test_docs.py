"""The documentation's code samples run, as their readers would run them.

Every program of ``docs/examples/`` runs here as a subprocess on 127.0.0.1 and a free
port, and real clients (the library's own, or the example clients) check that it does
what its page says. The scaling guide's example runs two processes against a real
``redis-server`` started by the test. Samples written inline in the pages are doctests,
run by the docs build (``make docs``); :func:`test_python_in_pages_is_tested` makes sure
no page has Python that neither runs.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import websocket_ref
from websocket_ref import InvalidStatus
from websocket_ref.sync.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
TIMEOUT = 20  # a bound for hangs, not a timing goal

#: Example files and the tests that run them (test_every_example_is_tested checks it).
TESTED: dict[str, str] = {}


def covers(*names: str):  # type: ignore[no-untyped-def]
    def register(test):  # type: ignore[no-untyped-def]
        for name in names:
            TESTED[name] = test.__name__
        return test

    return register


def _env() -> dict[str, str]:
    """The environment of an example: it imports the websocket_ref these tests import."""
    package_root = str(Path(websocket_ref.__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PYTHONPATH": package_root + (os.pathsep + path if path else ""),
        "PYTHONUNBUFFERED": "1",
        "PYTHONIOENCODING": "utf-8",
    }


class Example:
    """An example program running in a subprocess; its stdout is read line by line."""

    def __init__(self, name: str, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(EXAMPLES / name), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=_env(),
            cwd=ROOT,
        )
        self.output: list[str] = []

    def wait_for(self, pattern: str) -> re.Match[str]:
        """Read lines until one matches ``pattern`` (the example fails the test if it ends)."""
        assert self.process.stdout is not None
        timer = threading.Timer(TIMEOUT, self.process.kill)  # a hang ends the process
        timer.start()
        try:
            for line in self.process.stdout:
                self.output.append(line)
                match = re.search(pattern, line)
                if match:
                    return match
        finally:
            timer.cancel()
        raise AssertionError(f"{pattern!r} not printed; output:\n{''.join(self.output)}")

    def uri(self) -> str:
        return self.wait_for(r"Listening on (wss?://\S+)").group(1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:  # pragma: no cover
            self.process.kill()
            self.process.wait()
        assert self.process.stdout is not None
        self.process.stdout.close()


@contextlib.contextmanager
def example(name: str, *args: str) -> Iterator[Example]:
    running = Example(name, *args)
    try:
        yield running
    finally:
        running.stop()


def run_client(name: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        env=_env(),
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


# Tutorials


@covers("asyncio_echo_server.py", "asyncio_hello_client.py")
def test_asyncio_tutorial() -> None:
    with example("asyncio_echo_server.py", "0") as server:
        uri = server.uri()
        assert run_client("asyncio_hello_client.py", uri) == "< Hello, world!\n"
        with connect(uri) as websocket:
            websocket.send(b"\x00\xff")
            assert websocket.recv(timeout=TIMEOUT) == b"\x00\xff"


@covers("sync_echo_server.py", "sync_hello_client.py")
def test_sync_tutorial() -> None:
    with example("sync_echo_server.py", "0") as server:
        uri = server.uri()
        assert run_client("sync_hello_client.py", uri) == "< Hello, world!\n"
        assert run_client("asyncio_hello_client.py", uri) == "< Hello, world!\n"


# How-to guides


def recv(websocket: ClientConnection) -> str | bytes:
    return websocket.recv(timeout=TIMEOUT)


@covers("chat_room.py")
def test_broadcast_chat_room() -> None:
    with example("chat_room.py", "0") as server:
        uri = server.uri()
        with connect(uri) as alice:
            assert recv(alice) == "1 in the room"
            with connect(uri) as bob:
                assert recv(alice) == "2 in the room"
                assert recv(bob) == "2 in the room"
                alice.send("Hi Bob")
                assert recv(alice) == "Hi Bob"
                assert recv(bob) == "Hi Bob"
            assert recv(alice) == "1 in the room"


@covers("tls_echo_server.py", "tls_client.py")
def test_tls(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = (tmp_path / n for n in ("cert.pem", "key.pem", "ca.pem"))
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    with example("tls_echo_server.py", str(cert_file), str(key_file), "0") as server:
        uri = server.uri()
        assert uri.startswith("wss://")
        assert run_client("tls_client.py", uri, str(ca_file)) == "< Hello over TLS\n"


@covers("auth_server.py")
def test_authentication() -> None:
    with example("auth_server.py", "0") as server:
        uri = server.uri()
        host = uri.removeprefix("ws://")
        with pytest.raises(InvalidStatus) as refused:
            connect(f"{uri}basic")
        assert refused.value.response.status_code == 401
        assert "WWW-Authenticate" in refused.value.response.headers
        with pytest.raises(InvalidStatus) as refused:
            connect(f"ws://alice:wrong@{host}basic")
        assert refused.value.response.status_code == 401
        with connect(f"ws://alice:correct%20horse@{host}basic") as websocket:
            assert recv(websocket) == "Hello alice!"
        with connect(f"{uri}token?token=3f1e0c9a") as websocket:
            assert recv(websocket) == "Hello alice!"
        with pytest.raises(InvalidStatus) as refused:
            connect(f"{uri}token?token=guess")
        assert refused.value.response.status_code == 401
        with pytest.raises(InvalidStatus) as refused:
            connect(f"{uri}elsewhere")
        assert refused.value.response.status_code == 404


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A real redis-server on 127.0.0.1 and a free port, stopped at the end."""
    pytest.importorskip("redis")
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server isn't installed (make test installs Debian's package as root)")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        timer = threading.Timer(TIMEOUT, process.kill)
        timer.start()
        try:
            for line in process.stdout:
                if "Ready to accept connections" in line:
                    break
            else:
                raise AssertionError("redis-server didn't start")
        finally:
            timer.cancel()
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:  # pragma: no cover
            process.kill()
            process.wait()
        assert process.stdout is not None
        process.stdout.close()


@covers("redis_chat.py")
def test_scaling_with_redis(redis_url: str) -> None:
    with (
        example("redis_chat.py", "0", redis_url) as one,
        example("redis_chat.py", "0", redis_url) as two,
    ):
        uris = []
        for server in (one, two):
            uris.append(server.uri())
            server.wait_for("Subscribed")
        with connect(uris[0]) as alice, connect(uris[1]) as bob:
            alice.send("Hello from process one")
            assert recv(bob) == "Hello from process one"
            assert recv(alice) == "Hello from process one"
            bob.send("Hello from process two")
            assert recv(alice) == "Hello from process two"
            assert recv(bob) == "Hello from process two"


@pytest.fixture
def two_echo_servers() -> Iterator[list[str]]:
    """Two processes of the sync echo example, as nginx's upstream servers."""
    with example("sync_echo_server.py", "0") as one, example("sync_echo_server.py", "0") as two:
        yield [one.uri(), two.uri()]


def _wait_for_port(port: int) -> None:
    for _ in range(200):  # a bound on attempts, not a timing goal
        with socket.socket() as sock:
            sock.settimeout(TIMEOUT)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        threading.Event().wait(0.05)
    raise AssertionError(f"nothing listens on port {port}")


@covers("nginx.conf")
def test_nginx(tmp_path: Path, two_echo_servers: list[str]) -> None:
    """The guide's nginx configuration, on a real nginx: TLS in front, two servers behind."""
    trustme = pytest.importorskip("trustme")
    binary = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if binary is None:
        pytest.skip("nginx isn't installed (make test installs Debian's nginx-light as root)")
    ca = trustme.CA()
    cert = ca.issue_cert("example.com")
    chain, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(chain))
    cert.private_key_pem.write_to_path(str(key))
    port = _free_port()
    upstream_ports = [uri.rsplit(":", 1)[1].rstrip("/") for uri in two_echo_servers]
    site = (EXAMPLES / "nginx.conf").read_text(encoding="utf-8")
    for old, new in [
        ("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;"),
        ("/etc/ssl/example.com/fullchain.pem", str(chain)),
        ("/etc/ssl/example.com/privkey.pem", str(key)),
        ("server 127.0.0.1:8001;", f"server 127.0.0.1:{upstream_ports[0]};"),
        ("server 127.0.0.1:8002;", f"server 127.0.0.1:{upstream_ports[1]};"),
    ]:
        assert old in site, old
        site = site.replace(old, new)
    (tmp_path / "site.conf").write_text(site, encoding="utf-8")
    temp = "".join(
        f"    {name}_temp_path {tmp_path / name};\n"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "nginx.conf").write_text(
        "daemon off;\nworker_processes 1;\n"
        f"pid {tmp_path / 'nginx.pid'};\nerror_log {tmp_path / 'error.log'};\n"
        "events {}\n"
        f"http {{\n    access_log off;\n{temp}    include {tmp_path / 'site.conf'};\n}}\n",
        encoding="utf-8",
    )
    nginx = subprocess.Popen(
        [binary, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for_port(port)
        context = ssl.create_default_context(cafile=None)
        ca.configure_trust(context)
        uri = f"wss://127.0.0.1:{port}/ws/chat"
        for _ in range(2):  # least_conn: each connection may go to either server
            with connect(uri, ssl=context, server_hostname="example.com") as websocket:
                websocket.send("through nginx")
                assert recv(websocket) == "through nginx"
        # Outside the WebSocket location, nginx answers by itself.
        with pytest.raises(InvalidStatus) as refused:
            connect(f"wss://127.0.0.1:{port}/elsewhere", ssl=context, server_hostname="example.com")
        assert refused.value.response.headers["Server"].startswith("nginx")
    finally:
        nginx.terminate()
        try:
            nginx.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:  # pragma: no cover
            nginx.kill()
            nginx.wait()
        assert nginx.stdout is not None
        nginx.stdout.close()


# The API reference (the docs build checks it fully; this catches the common case early)


def test_every_public_module_is_in_the_reference() -> None:
    """Each public module has an automodule directive in docs/reference/ (the docs build,
    ``make docs``, then checks every name; this test runs without Sphinx)."""
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import api_coverage
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    reference = "\n".join(p.read_text(encoding="utf-8") for p in (DOCS / "reference").iterdir())
    documented = set(re.findall(r"^\.\. automodule:: (\S+)$", reference, re.MULTILINE))
    missing = [m for m in api_coverage.public_modules() if m not in documented]
    assert not missing, f"add these modules to docs/reference/*.rst: {missing}"


# Generated pages are current


def test_state_diagram_is_current() -> None:
    """docs/topics/states.{md,svg} are what docs/_ext/state_diagram.py makes of the table."""
    result = subprocess.run(
        [sys.executable, str(DOCS / "_ext" / "state_diagram.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        env=_env(),
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# Every sample runs


def test_every_example_is_tested() -> None:
    examples = {path.name for path in EXAMPLES.iterdir() if path.is_file()}
    assert examples == set(TESTED), "examples without a test, or tests of missing examples"


def _pages() -> list[Path]:
    return [
        path
        for path in sorted(DOCS.rglob("*"))
        if path.suffix in (".md", ".rst") and "_build" not in path.parts
    ]


def test_every_example_is_shown() -> None:
    text = "\n".join(page.read_text(encoding="utf-8") for page in _pages())
    for name in TESTED:
        assert f"examples/{name}" in text, f"{name} isn't included in any page"


#: Python code in a page: a fenced block or a code-block directive with Python in it.
_PYTHON_BLOCK = re.compile(
    r"^(```|:::)\s*(python|py|\{code-block\}\s+python|\{code\}\s+python)\s*$"
    r"|^\.\. (code-block|code|sourcecode)::\s+python",
    re.MULTILINE,
)


def test_python_in_pages_is_tested() -> None:
    """Python in the pages is a doctest (run by the docs build) or an included example."""
    for page in _pages():
        text = page.read_text(encoding="utf-8")
        match = _PYTHON_BLOCK.search(text)
        assert match is None, (
            f"{page.relative_to(ROOT)}: untested Python block {match.group()!r}: write it as "
            "a doctest ({doctest} / >>>) or include a tested file of docs/examples"
        )
