"""The interactive client, ``python -m websocket_ref ws://host:port/``, and an echo server,
``python -m websocket_ref serve [HOST] [PORT]``.

Lines typed on the terminal are sent as text messages; incoming messages are printed as
``< message``. Ctrl-D or Ctrl-C closes the connection with 1000. ``--trace`` shows every
frame and handshake line that crosses the wire, with the section of RFC 6455 that governs
it (the protocol's ``trace=`` hook, :mod:`websocket_ref.trace`): a way to watch the
protocol at work. When stdin isn't a terminal (``echo hi | python -m websocket_ref …``),
the client sends its lines, then waits for as many messages as it sent (at most
``--wait`` seconds) before closing, so the replies are printed.

The server echoes every message back; with ``--trace`` it prints what every connection
sends and receives, each line tagged with the connection. Ctrl-C (SIGINT) or SIGTERM stops
it gracefully: open connections are closed with 1001 (going away).

Two threads share the terminal: the main thread reads lines (it must: only the main
thread gets Ctrl-C, and readline wants it), a receiver thread prints messages. When
stdin and stdout are a terminal, a message arriving while the user types is inserted
above the line being typed, with ANSI escape sequences, so the input isn't garbled.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import TextIO

from .client import check_additional_headers
from .exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from .frames import Close, CloseCode
from .sync.client import ClientConnection, connect
from .sync.server import ServerConnection, serve
from .trace import TraceEvent, TraceHook, describe_frame
from .version import version

__all__ = ["main", "serve_main", "describe_frame", "format_message", "tracer", "Console"]

#: Bytes shown in the hex preview of a binary message.
HEX_PREVIEW = 16

# ANSI (ECMA-48 / VT100) control sequences used to print above the line being typed.
_SAVE_CURSOR = "\x1b7"  # DECSC: remember the cursor position
_RESTORE_CURSOR = "\x1b8"  # DECRC: go back to it
_CURSOR_UP = "\x1b[A"  # CUU
_CURSOR_DOWN = "\x1b[B"  # CUD
_INSERT_LINE = "\x1b[L"  # IL: insert a blank line at the cursor, pushing lines down


class Console:
    """Serialized output to the terminal, which knows whether the user is typing."""

    def __init__(self, stream: TextIO, interactive: bool) -> None:
        self.stream = stream
        self.interactive = interactive
        self._lock = threading.Lock()

    def print(self, text: str) -> None:
        """Print lines of text (not while the user is typing: see :meth:`print_above`)."""
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()

    def print_above(self, text: str) -> None:
        """Print lines of text while the user may be typing on the current line."""
        if not self.interactive:
            self.print(text)
            return
        out: list[str] = []
        for line in text.split("\n"):
            # Save the cursor; a line feed makes sure a line exists below (scrolling if
            # the input line is the last one); back up to the input line, insert a
            # blank line there (pushing the input down), print; restore the cursor and
            # move down to where the input line now is. At the bottom of the screen the
            # restored position already is the input line and moving down does nothing.
            out.append(
                f"{_SAVE_CURSOR}\n{_CURSOR_UP}{_INSERT_LINE}{line}{_RESTORE_CURSOR}{_CURSOR_DOWN}"
            )
        with self._lock:
            self.stream.write("".join(out))
            self.stream.flush()


def _printable(text: str) -> str:
    """Escape control characters (other than newline and tab) that a peer could use to
    drive the terminal."""
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() or char in "\n\t" else repr(char)[1:-1] for char in text
    )


def format_message(message: str | bytes, *, escape: bool = False) -> str:
    """How an incoming message is shown: ``< text`` or ``< (binary) N bytes: hex...``."""
    if isinstance(message, str):
        text = _printable(message) if escape else message
        return "< " + text.replace("\n", "\n  ")
    size = len(message)
    line = f"< (binary) {size} byte{'' if size == 1 else 's'}"
    if size:
        line += ": " + message[:HEX_PREVIEW].hex(" ")
        if size > HEX_PREVIEW:
            line += " ..."
    return line


def format_close(connection: ClientConnection, *, reason: bool = False) -> str:
    """``Connection closed: 1000 (OK).``: the code the peer sent and what it means.

    The peer's close reason is left out unless ``reason`` is true (``--trace``, a
    debugging view of the wire); then control characters in it are escaped.
    """
    code = connection.close_code
    if code is None:  # pragma: no cover - called once the connection is closed
        code = CloseCode.ABNORMAL_CLOSURE
    # RFC 6455 §5.5.1 [R6455-5.5.1-4]: the reason "is not guaranteed to be human readable,
    # clients MUST NOT show it to end users"; --trace shows the wire to a developer. The
    # reason is the peer's text: escape what could drive the terminal.
    text = _printable(connection.close_reason or "") if reason else ""
    return f"Connection closed: {Close(code, text)}."


# --trace


def tracer(console: Console, *, tag_connections: bool = False) -> TraceHook:
    """A ``trace=`` hook that prints each event as ``# …`` lines.

    With ``tag_connections`` (the server, which has several), each line names the
    connection by the first characters of its id. Header values and close reasons come
    from the peer: control characters are escaped.
    """

    def trace(event: TraceEvent) -> None:
        prefix = "# "
        if tag_connections and event.connection_id is not None:
            prefix += f"[{event.connection_id.hex[:8]}] "
        console.print_above("\n".join(prefix + _printable(line) for line in event.lines()))

    return trace


# The interactive loop


class _Input:
    """What the SIGINT handler needs to know about the main thread.

    The receiver thread interrupts the main thread's blocking read with SIGINT when
    the connection closes. The handler raises KeyboardInterrupt only while the main
    thread waits for input; otherwise it just records that the loop must stop.
    """

    def __init__(self, can_interrupt: bool) -> None:
        #: Whether the handler is installed (only the main thread can install one).
        self.can_interrupt = can_interrupt
        self.waiting = False
        self.interrupted = False
        #: Set once the main thread left the input loop.
        self.finished = threading.Event()
        #: Messages sent and received, and a condition to wait for replies with.
        self.sent = 0
        self.received = 0
        self.receiver_done = False
        self.replies = threading.Condition()

    def wait_for_replies(self, timeout: float) -> None:
        """Wait until as many messages arrived as were sent, or the connection closed."""
        with self.replies:
            self.replies.wait_for(lambda: self.received >= self.sent or self.receiver_done, timeout)

    def handler(self, signum: int, frame: FrameType | None) -> None:
        self.interrupted = True
        if self.waiting:
            raise KeyboardInterrupt


def _interrupt_main() -> None:
    """Wake the main thread up from a blocking read."""
    if hasattr(signal, "pthread_kill"):
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
    else:  # pragma: no cover - Windows
        import _thread

        _thread.interrupt_main()


def _receive(connection: ClientConnection, console: Console, state: _Input) -> None:
    """The receiver thread: print messages until the connection closes."""
    try:
        for message in connection:
            console.print_above(format_message(message, escape=console.interactive))
            with state.replies:
                state.received += 1
                state.replies.notify_all()
    except ConnectionClosed:
        pass
    finally:
        with state.replies:
            state.receiver_done = True
            state.replies.notify_all()
        if state.can_interrupt:
            # A signal that arrives just before the main thread enters its blocking read
            # is handled before the read starts and doesn't interrupt it: repeat it until
            # the input loop is over.
            while not state.finished.is_set():
                _interrupt_main()
                state.finished.wait(0.1)


def _parse_header(value: str) -> tuple[str, str]:
    name, sep, header_value = value.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME: VALUE, got {value!r}")
    name, header_value = name.strip(), header_value.strip()
    try:
        # A CR or LF in the value would forge header lines: refused before connecting.
        check_additional_headers([(name, header_value)])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            str(exc).replace("additional_headers", "--header")
        ) from None
    return name, header_value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="websocket_ref",
        description="Interactive WebSocket client: type messages, see replies. "
        "'websocket_ref serve --help': an echo server.",
    )
    parser.add_argument("uri", metavar="ws[s]://host:port/path")
    parser.add_argument(
        "--header",
        action="append",
        type=_parse_header,
        default=[],
        metavar="'NAME: VALUE'",
        help="add a header to the handshake request (repeatable)",
    )
    parser.add_argument(
        "--subprotocol",
        action="append",
        default=[],
        metavar="NAME",
        help="offer a subprotocol (repeatable)",
    )
    parser.add_argument(
        "--no-compression", action="store_true", help="don't offer permessage-deflate"
    )
    parser.add_argument(
        "--trace",
        action="store_true",
        help="print every frame sent and received, with the RFC 6455 rules behind it",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="when stdin isn't a terminal: how long to wait, after the input ends, for "
        "as many messages as were sent (default: 10)",
    )
    parser.add_argument("--version", action="version", version=f"websocket_ref {version}")
    return parser


def build_serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="websocket_ref serve",
        description="WebSocket echo server: every message goes back to its sender.",
    )
    parser.add_argument("host", nargs="?", default="127.0.0.1", help="default: 127.0.0.1")
    parser.add_argument(
        "port", nargs="?", type=int, default=8765, help="default: 8765; 0 picks a free port"
    )
    parser.add_argument(
        "--no-compression", action="store_true", help="don't accept permessage-deflate"
    )
    parser.add_argument(
        "--trace",
        action="store_true",
        help="print every frame sent and received, with the RFC 6455 rules behind it",
    )
    return parser


def _echo(connection: ServerConnection) -> None:
    for message in connection:
        connection.send(message)


def serve_main(argv: Sequence[str]) -> int:
    """Run the echo server until Ctrl-C; return the exit status."""
    args = build_serve_parser().parse_args(argv)
    console = Console(sys.stdout, interactive=False)
    try:
        server = serve(
            _echo,
            args.host,
            args.port,
            compression=None if args.no_compression else "deflate",
            trace=tracer(console, tag_connections=True) if args.trace else None,
        )
    except OSError as exc:
        print(f"Failed to listen on {args.host}:{args.port}: {exc}.", file=sys.stderr)
        return 1
    with server:
        # SIGINT (Ctrl-C) and SIGTERM (kill, container runtimes) both stop the server
        # gracefully. Installed explicitly: a shell starting a background job without job
        # control makes it ignore SIGINT, and Python then has no KeyboardInterrupt.
        previous = {sig: signal.signal(sig, _stop_serving) for sig in _STOP_SIGNALS}
        try:
            with contextlib.suppress(KeyboardInterrupt):
                host, port = server.socket.getsockname()[:2]
                console.print(f"Listening on ws://{host}:{port}/ (Ctrl-C to stop).")
                server.serve_forever()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    console.print("Stopped.")
    return 0


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _stop_serving(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run the interactive client (or, for ``serve …``, the echo server); return the exit
    status."""
    if argv is None:
        argv = sys.argv[1:]
    if isinstance(sys.stdout, io.TextIOWrapper):
        # Messages may hold any character; don't die on a terminal that can't show one.
        sys.stdout.reconfigure(errors="backslashreplace")
    if argv and argv[0] == "serve":
        return serve_main(argv[1:])
    args = build_parser().parse_args(argv)
    console = Console(sys.stdout, interactive=sys.stdin.isatty() and sys.stdout.isatty())

    try:
        connection = connect(
            args.uri,
            additional_headers=args.header,
            subprotocols=args.subprotocol or None,
            compression=None if args.no_compression else "deflate",
            trace=tracer(console) if args.trace else None,
        )
    except (OSError, InvalidURI, InvalidHandshake, ValueError) as exc:
        # The message may quote the server's headers: escape control characters.
        print(f"Failed to connect to {args.uri}: {_printable(str(exc))}.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 1

    if console.interactive:
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401 - gives input() line editing and history

    greeting = f"Connected to {args.uri}"
    if connection.subprotocol is not None:
        greeting += f" (subprotocol: {connection.subprotocol})"
    console.print(greeting + ".")

    in_main_thread = threading.current_thread() is threading.main_thread()
    state = _Input(can_interrupt=in_main_thread)
    previous_handler = signal.signal(signal.SIGINT, state.handler) if in_main_thread else None
    receiver = threading.Thread(
        target=_receive, args=(connection, console, state), name="websocket_ref-cli-receiver"
    )
    receiver.start()
    try:
        _input_loop(connection, console, state)
        if not console.interactive and not state.interrupted:
            # Piped input ended: the replies to the last lines may still be on their way.
            state.wait_for_replies(args.wait)
    except KeyboardInterrupt:  # pragma: no cover - a narrow race with the handler
        pass
    finally:
        state.interrupted = True  # the receiver needn't interrupt us anymore
        state.finished.set()
        if console.interactive:
            console.print("")  # leave the prompt's line
        connection.close()
        receiver.join()
        if in_main_thread:
            signal.signal(signal.SIGINT, previous_handler)
    console.print(format_close(connection, reason=args.trace))
    return 0


def _input_loop(connection: ClientConnection, console: Console, state: _Input) -> None:
    """Send each line typed until EOF, Ctrl-C, or the connection closing."""
    while True:
        try:
            state.waiting = True
            if state.interrupted:
                return
            if console.interactive:
                line = input("> ")
            else:
                line = sys.stdin.readline()
                if not line:
                    return
                line = line.removesuffix("\n").removesuffix("\r")
        except (EOFError, KeyboardInterrupt):
            return
        finally:
            state.waiting = False
        if state.interrupted:
            return
        try:
            connection.send(line)
        except ConnectionClosed:
            return
        with state.replies:
            state.sent += 1
