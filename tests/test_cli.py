"""The interactive client, driven in a subprocess through stdin and stdout.

Each test starts a server of the threading API in-process, runs
``python -m websocket_ref URI`` against it, types lines and reads what it prints.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from websocket_ref import Frame, Opcode
from websocket_ref.cli import describe_frame, format_message, main
from websocket_ref.sync.server import ServerConnection

from .sync.utils import TIMEOUT, raw_server, run_server, uri

ROOT = Path(__file__).resolve().parent.parent


class CLI:
    """A running ``python -m websocket_ref``, with line-oriented access to its output."""

    def __init__(self, *args: str, stdin: int | None = subprocess.PIPE) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "websocket_ref", *args],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            cwd=ROOT,
            env=env,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(daemon=True, target=self._read)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def expect(self, line: str) -> None:
        """Read output lines until ``line``; fail if the output ends first."""
        while True:
            try:
                got = self.lines.get(timeout=TIMEOUT)
            except queue.Empty:  # pragma: no cover
                pytest.fail(f"timed out waiting for {line!r}; got {self.seen}")
            if got is None:
                pytest.fail(f"output ended before {line!r}; got {self.seen}")
            self.seen.append(got)
            if got == line:
                return

    def finish(self) -> tuple[int, list[str], str]:
        """Close stdin, wait for exit; return the status, remaining lines and stderr."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        status = self.process.wait(TIMEOUT)
        self._reader.join(TIMEOUT)
        rest = []
        while (line := self.lines.get_nowait()) is not None:
            rest.append(line)
        assert self.process.stderr is not None
        return status, rest, self.process.stderr.read()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reader.join(TIMEOUT)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def cli_factory() -> Iterator[type[CLI]]:
    started: list[CLI] = []

    class TrackedCLI(CLI):
        def __init__(self, *args: str, **kwargs: int | None) -> None:
            super().__init__(*args, **kwargs)
            started.append(self)

    yield TrackedCLI
    for cli in started:
        cli.kill()


def handler(ws: ServerConnection) -> None:
    """Echo, with commands: send binary, close with a code, report the handshake."""
    for message in ws:
        if message == "binary":
            ws.send(bytes(range(20)))
        elif message == "close":
            ws.close(4000, "bye")
        elif message == "evil close":
            ws.close(4000, "\x1b]0;pwned\x07\x1b[2Jbye\u202e")
        elif message == "headers":
            assert ws.request is not None
            ws.send(f"X-Test={ws.request.headers.get('X-Test')}")
            ws.send(f"extensions={ws.request.headers.get('Sec-WebSocket-Extensions')}")
        elif message == "multi":
            ws.send("line 1\nline 2")
        else:
            ws.send(message)


def test_echo_and_close_on_eof(cli_factory: type[CLI]) -> None:
    with run_server(handler) as server:
        cli = cli_factory(uri(server))
        cli.expect(f"Connected to {uri(server)}.")
        cli.send("hello")
        cli.expect("< hello")
        cli.send("multi")
        cli.expect("< line 1")
        cli.expect("  line 2")
        status, rest, stderr = cli.finish()
    assert status == 0, stderr
    assert rest == ["Connection closed: 1000 (OK)."]


def test_binary_message(cli_factory: type[CLI]) -> None:
    with run_server(handler) as server:
        cli = cli_factory(uri(server))
        cli.send("binary")
        cli.expect("< (binary) 20 bytes: 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f ...")
        assert cli.finish()[0] == 0


@pytest.mark.rfc("R6455-5.5.1-4")
def test_server_closes(cli_factory: type[CLI]) -> None:
    """The client exits when the server closes, though stdin stays open. It shows the
    close code and its meaning, not the peer's reason (RFC 6455 §5.5.1: "clients MUST
    NOT show it to end users")."""
    with run_server(handler) as server:
        cli = cli_factory(uri(server))
        cli.send("close")
        cli.expect("Connection closed: 4000 (private use).")
        status, rest, stderr = cli.finish()
    assert status == 0
    assert not any("bye" in line for line in cli.seen + rest), cli.seen + rest
    assert "bye" not in stderr


@pytest.mark.rfc("R6455-5.5.1-4")
def test_close_reason_shown_escaped_with_trace(cli_factory: type[CLI]) -> None:
    """--trace, a debugging view of the wire, shows the reason; it can't send escape
    sequences to the user's terminal."""
    escaped = "\\x1b]0;pwned\\x07\\x1b[2Jbye\\u202e"
    with run_server(handler) as server:
        cli = cli_factory("--trace", uri(server))
        cli.send("evil close")
        cli.expect(f"Connection closed: 4000 (private use) {escaped}.")
        status, rest, _ = cli.finish()
    assert status == 0
    lines = cli.seen + rest
    assert any(
        line.startswith("# < CLOSE ") and f"code=4000 (private use) {escaped}" in line
        for line in lines
    ), lines
    assert not any("\x1b" in line or "\u202e" in line for line in lines)


def test_handshake_failure_escaped(cli_factory: type[CLI]) -> None:
    """A server's header values quoted in an error message are escaped too."""

    def respond(sock: socket.socket) -> None:
        sock.recv(4096)
        # A C1 control (CSI) as a header value: latin-1 0x9b, read as U+009B.
        sock.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: \x9b2J\r\n\r\n"
        )

    with raw_server(respond) as ws_uri:
        cli = cli_factory("--trace", ws_uri)
        status, rest, stderr = cli.finish()
    assert status == 1
    assert "\x9b" not in stderr
    assert "\\x9b2J" in stderr
    lines = cli.seen + rest
    assert any(line.startswith("# < Sec-WebSocket-Accept: ") for line in lines)
    assert not any("\x9b" in line for line in lines)


def test_ctrl_c(cli_factory: type[CLI]) -> None:
    with run_server(handler) as server:
        cli = cli_factory(uri(server))
        cli.expect(f"Connected to {uri(server)}.")
        cli.send("ready?")
        cli.expect("< ready?")  # the input loop is running
        cli.process.send_signal(signal.SIGINT)
        cli.expect("Connection closed: 1000 (OK).")
        assert cli.process.wait(TIMEOUT) == 0


def test_options(cli_factory: type[CLI]) -> None:
    with run_server(handler, subprotocols=["chat"]) as server:
        cli = cli_factory(
            "--header",
            "X-Test: 42",
            "--subprotocol",
            "chat",
            "--no-compression",
            uri(server),
        )
        cli.expect(f"Connected to {uri(server)} (subprotocol: chat).")
        cli.send("headers")
        cli.expect("< X-Test=42")
        cli.expect("< extensions=None")
        assert cli.finish()[0] == 0


def test_trace(cli_factory: type[CLI]) -> None:
    with run_server(handler) as server:
        cli = cli_factory("--trace", "--no-compression", uri(server))
        cli.expect(f"Connected to {uri(server)}.")
        cli.send("hi")
        cli.expect("< hi")
        status, rest, _ = cli.finish()
    lines = cli.seen + rest
    assert status == 0
    assert "# > GET / HTTP/1.1  [RFC 6455 §4.1 opening handshake: client request]" in lines
    assert any(line.startswith("# < HTTP/1.1 101 Switching Protocols") for line in lines)
    assert (
        "# > TEXT fin=1 rsv=000 mask=1 len=2  [RFC 6455 §5.6 text (UTF-8), "
        "§5.3 masked (client to server), §5.2 7-bit length]"
    ) in lines
    assert (
        "# < TEXT fin=1 rsv=000 mask=0 len=2  [RFC 6455 §5.6 text (UTF-8), "
        "§5.1 unmasked (from server), §5.2 7-bit length]"
    ) in lines
    assert any(
        line.startswith("# > CLOSE fin=1 rsv=000 mask=1 len=2 code=1000 (OK)") for line in lines
    )
    assert any(
        line.startswith("# < CLOSE fin=1 rsv=000 mask=0 len=2 code=1000 (OK)") for line in lines
    )
    assert lines[-1] == "Connection closed: 1000 (OK)."


def test_connection_failure(cli_factory: type[CLI]) -> None:
    cli = cli_factory("ws://127.0.0.1:1/")
    status, rest, stderr = cli.finish()
    assert status == 1
    assert rest == []
    assert stderr.startswith("Failed to connect to ws://127.0.0.1:1/: ")


def test_invalid_uri(cli_factory: type[CLI]) -> None:
    cli = cli_factory("http://example.com/")
    status, _, stderr = cli.finish()
    assert status == 1
    assert "isn't a valid URI" in stderr


def test_invalid_header_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc_info:
        main(["--header", "no colon", "ws://localhost/"])
    assert exc_info.value.code == 2
    assert "expected NAME: VALUE" in capsys.readouterr().err


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_terminal_mode() -> None:
    """On a terminal, messages are printed above the input line with ANSI sequences."""
    leader, follower = os.openpty()
    try:
        with run_server(handler) as server:
            process = subprocess.Popen(
                [sys.executable, "-m", "websocket_ref", uri(server)],
                stdin=follower,
                stdout=follower,
                stderr=follower,
                cwd=ROOT,
                env={**os.environ, "PYTHONIOENCODING": "utf-8", "TERM": "xterm"},
            )
            try:
                output = _read_until(leader, b"Connected to")
                output = _read_until(leader, b"> ", output)  # the first prompt
                os.write(leader, b"hello\r")
                # Ctrl-D must reach readline at its next prompt: between two input() calls
                # the terminal isn't in readline's mode and the key would be lost. The new
                # prompt may be drawn before or after the message is printed above it, or
                # even around it: readline and the receiver thread write to the terminal
                # independently (the message is one write; readline may write ">" and " "
                # apart). Take the message out of what readline wrote, then find the prompt.
                sent = _read_until(leader, b"< hello")
                while b"> " not in sent.replace(b"\r\n", b"\n").replace(SHOWN, b""):
                    sent += _read_some(leader)
                output += sent
                os.write(leader, b"\x04")  # Ctrl-D
                output += _read_until(leader, b"Connection closed: 1000 (OK).")
                assert process.wait(TIMEOUT) == 0
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
    finally:
        os.close(leader)
        os.close(follower)
    assert SHOWN in output.replace(b"\r\n", b"\n")


# Saved cursor, blank line inserted above the input, message, restored cursor.
SHOWN = b"\x1b7\n\x1b[A\x1b[L< hello\x1b8\x1b[B"


def _read_some(fd: int) -> bytes:
    import select

    ready, _, _ = select.select([fd], [], [], TIMEOUT)
    if not ready:  # pragma: no cover
        pytest.fail("timed out waiting for output")
    return os.read(fd, 4096)


def _read_until(fd: int, marker: bytes, data: bytes = b"") -> bytes:
    import select

    while marker not in data:
        ready, _, _ = select.select([fd], [], [], TIMEOUT)
        if not ready:  # pragma: no cover
            pytest.fail(f"timed out waiting for {marker!r}; got {data!r}")
        data += os.read(fd, 4096)
    return data


# Formatting, in-process


def test_format_message() -> None:
    assert format_message("hi") == "< hi"
    assert format_message("a\nb") == "< a\n  b"
    assert format_message(b"") == "< (binary) 0 bytes"
    assert format_message(b"\x01") == "< (binary) 1 byte: 01"
    assert format_message(bytes(17)).endswith(" 00 ...")
    # On a terminal, a peer can't send escape sequences to it.
    assert format_message("\x1b[2Jboom", escape=True) == "< \\x1b[2Jboom"


@pytest.mark.parametrize(
    ("frame", "masked", "expected"),
    [
        (
            Frame(Opcode.BINARY, bytes(200), fin=False),
            True,
            "> BINARY fin=0 rsv=000 mask=1 len=200  [RFC 6455 §5.6 binary, "
            "§5.4 fragment, more follow, §5.3 masked (client to server), "
            "§5.2 16-bit extended length]",
        ),
        (
            Frame(Opcode.CONT, bytes(70000), rsv1=True),
            False,
            "> CONT fin=1 rsv=100 mask=0 len=70000  [RFC 6455 §5.4 continuation, "
            "RFC 7692 §6 compressed, §5.1 unmasked (from server), §5.2 64-bit extended length]",
        ),
        (
            Frame(Opcode.CLOSE, b""),
            False,
            "> CLOSE fin=1 rsv=000 mask=0 len=0 code=1005 (no status received [internal])  "
            "[RFC 6455 §5.5.1 close, §7.1.5 no code: 1005, §5.1 unmasked (from server), "
            "§5.2 7-bit length]",
        ),
        (
            Frame(Opcode.CLOSE, b"\x00"),
            False,
            "> CLOSE fin=1 rsv=000 mask=0 len=1 (invalid close payload: close frame payload "
            "of 1 byte (RFC 6455 §5.5.1))  [RFC 6455 §5.5.1 close, §5.1 unmasked (from server), "
            "§5.2 7-bit length]",
        ),
        (
            Frame(Opcode.PING, b"x"),
            True,
            "> PING fin=1 rsv=000 mask=1 len=1  [RFC 6455 §5.5.2 ping, "
            "§5.3 masked (client to server), §5.2 7-bit length]",
        ),
    ],
)
def test_describe_frame(frame: Frame, masked: bool, expected: str) -> None:
    assert describe_frame(">", frame, masked=masked) == expected


# Piped input and the echo server


def run_client(uri: str, text: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "websocket_ref", *args, uri],
        input=text,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=3 * TIMEOUT,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )


def slow_echo(ws: ServerConnection) -> None:
    """Echo, after a delay: the replies arrive after the client's input ended."""
    for message in ws:
        time.sleep(0.5)
        ws.send(message)


def test_piped_input_waits_for_replies() -> None:
    with run_server(slow_echo) as server:
        server_uri = uri(server)
        result = run_client(server_uri, "one\ntwo\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"Connected to {server_uri}.",
        "< one",
        "< two",
        "Connection closed: 1000 (OK).",
    ]


def test_piped_input_stops_waiting_after_wait_seconds() -> None:
    def silent(ws: ServerConnection) -> None:
        for _ in ws:
            pass

    with run_server(silent) as server:
        result = run_client(uri(server), "anyone?\n", "--wait", "0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "Connection closed: 1000 (OK)."


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_serve_stops_on_sigint_and_sigterm_even_if_started_ignoring_sigint(
    cli_factory: type[CLI], stop: signal.Signals
) -> None:
    # A shell without job control starts background jobs with SIGINT ignored (as a CI
    # runner may start the test run): the server must stop on Ctrl-C all the same.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        server = cli_factory("serve", "127.0.0.1", "0")
    finally:
        signal.signal(signal.SIGINT, previous)
    line = server.lines.get(timeout=TIMEOUT)
    assert line is not None and line.startswith("Listening on ws://127.0.0.1:"), line
    server.process.send_signal(stop)
    status, rest, stderr = server.finish()
    assert status == 0, stderr
    assert rest == ["Stopped."]


def test_serve_echoes_and_traces(cli_factory: type[CLI]) -> None:
    server = cli_factory("serve", "127.0.0.1", "0", "--trace")
    line = server.lines.get(timeout=TIMEOUT)
    assert line is not None and line.startswith("Listening on ws://127.0.0.1:"), line
    server_uri = line.split()[2]
    result = run_client(server_uri, "hi\nthere\n", "--no-compression")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == ["< hi", "< there", "Connection closed: 1000 (OK)."]
    server.process.send_signal(signal.SIGINT)
    status, rest, stderr = server.finish()
    assert status == 0, stderr
    assert rest[-1] == "Stopped."
    traced = [line.split("] ", 1)[1] for line in rest if line.startswith("# [")]
    assert traced[0] == "< GET / HTTP/1.1  [RFC 6455 §4.1 opening handshake: client request]"
    assert (
        "< TEXT fin=1 rsv=000 mask=1 len=2  [RFC 6455 §5.6 text (UTF-8), "
        "§5.3 masked (client to server), §5.2 7-bit length]"
    ) in traced
    assert (
        "> TEXT fin=1 rsv=000 mask=0 len=5  [RFC 6455 §5.6 text (UTF-8), "
        "§5.1 unmasked (from server), §5.2 7-bit length]"
    ) in traced
    assert "= connection is CLOSED" in traced


def test_serve_port_in_use(cli_factory: type[CLI]) -> None:
    with run_server() as server:
        port = str(server.socket.getsockname()[1])
        status, _, stderr = cli_factory("serve", "127.0.0.1", port).finish()
    assert status == 1
    assert stderr.startswith(f"Failed to listen on 127.0.0.1:{port}")
