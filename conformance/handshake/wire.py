"""Bytes on the wire for the handshake suite: HTTP heads, frames, deflate, a socket peer.

Deliberately independent of websocket_ref: the suite judges implementations, ours
included, so it builds and parses what it sends and receives itself, with the standard
library only. Everything here is small and literal on purpose: a case should read like the
bytes it puts on the wire.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import socket
import struct
import time
import zlib
from dataclasses import dataclass, field

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
#: Bytes of one HTTP head the suite reads at most before giving up on the peer.
MAX_HEAD = 64 * 1024


def accept_for(key: str) -> str:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2, step 5.4)."""
    digest = hashlib.sha1((key + GUID).encode()).digest()
    return base64.b64encode(digest).decode()


def new_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


@dataclass
class Head:
    """A parsed HTTP request or response head (start line and header fields, in order)."""

    start: str
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def status(self) -> int | None:
        parts = self.start.split(" ", 2)
        if len(parts) >= 2 and parts[0].startswith("HTTP/") and parts[1].isdigit():
            return int(parts[1])
        return None

    def get_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def get(self, name: str) -> str | None:
        values = self.get_all(name)
        return ", ".join(values) if values else None

    def tokens(self, name: str) -> list[str]:
        """Comma-separated tokens of every field with this name, lowercased."""
        return [t.strip().lower() for v in self.get_all(name) for t in v.split(",") if t.strip()]


def parse_head(data: bytes) -> Head:
    text = data.decode("latin-1")
    lines = text.split("\r\n")
    head = Head(lines[0])
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        head.headers.append((name.strip(), value.strip()))
    return head


@dataclass
class Frame:
    opcode: int
    payload: bytes = b""
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False
    masked: bool = False

    def describe(self) -> str:
        names = {0: "Continuation", 1: "Text", 2: "Binary", 8: "Close", 9: "Ping", 10: "Pong"}
        flags = "".join(
            f
            for f, on in (("FIN ", self.fin), ("RSV1 ", self.rsv1), ("masked ", self.masked))
            if on
        )
        extra = ""
        if self.opcode == CLOSE:
            code, reason = close_payload(self.payload)
            extra = f" code {code}" + (f" reason {reason!r}" if reason else "")
        name = names.get(self.opcode, hex(self.opcode))
        return f"{name} ({flags.strip()}, {len(self.payload)} bytes){extra}"


def encode_frame(frame: Frame, *, mask: bool) -> bytes:
    """One frame; ``mask`` as a client must (RFC 6455 §5.3), with a random key."""
    first = (
        (0x80 if frame.fin else 0)
        | (0x40 if frame.rsv1 else 0)
        | (0x20 if frame.rsv2 else 0)
        | (0x10 if frame.rsv3 else 0)
        | frame.opcode
    )
    length = len(frame.payload)
    mask_bit = 0x80 if mask else 0
    if length < 126:
        head = struct.pack("!BB", first, mask_bit | length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        head = struct.pack("!BBQ", first, mask_bit | 127, length)
    if not mask:
        return head + frame.payload
    key = os.urandom(4)
    return head + key + apply_mask(frame.payload, key)


def apply_mask(data: bytes, key: bytes) -> bytes:
    if not data:
        return b""
    n = len(data)
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")


def close_payload(payload: bytes) -> tuple[int | None, str]:
    if len(payload) < 2:
        return None, ""
    code = struct.unpack("!H", payload[:2])[0]
    return code, payload[2:].decode("utf-8", "replace")


def close_frame(code: int | None = 1000, reason: bytes = b"") -> Frame:
    payload = b"" if code is None else struct.pack("!H", code) + reason
    return Frame(CLOSE, payload)


# permessage-deflate (RFC 7692 §7.2.1): compress with a sync flush, drop the 4-octet tail.

TAIL = b"\x00\x00\xff\xff"


def deflate_message(data: bytes, wbits: int = 15, compressor: object | None = None) -> bytes:
    """One message compressed as RFC 7692 §7.2.1 says; a fresh context unless given one."""
    comp = compressor or zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -max(wbits, 9))
    out: bytes = comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH)  # type: ignore[attr-defined]
    assert out.endswith(TAIL)
    return out[:-4]


def inflate_message(data: bytes, decompressor: object | None = None) -> bytes:
    """Inflate one message's payload (RFC 7692 §7.2.2: append the tail first)."""
    dec = decompressor or zlib.decompressobj(-15)
    return dec.decompress(data + TAIL)  # type: ignore[attr-defined,no-any-return]


class PeerClosed(Exception):
    """The peer closed TCP (EOF or reset) before what was expected arrived."""


class Peer:
    """A socket with a read buffer: HTTP heads, frames, and 'did the peer close?'.

    Every wait has a timeout (the peer under test may hang); ``eof`` records that the peer
    closed its side, ``reset`` that it reset the connection.
    """

    def __init__(self, sock: socket.socket, *, client: bool) -> None:
        self.sock = sock
        self.client = client  # masks what it sends (it plays a client)
        self.buffer = b""
        self.eof = False
        self.reset = False

    @classmethod
    def connect(cls, host: str, port: int, timeout: float = 10.0) -> Peer:
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(sock, client=True)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def send(self, data: bytes) -> bool:
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def send_frame(self, frame: Frame) -> bool:
        return self.send(encode_frame(frame, mask=self.client))

    def _fill(self, deadline: float) -> bool:
        """Read more into the buffer; False on timeout or when the peer is gone."""
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return False
        except ConnectionResetError:
            self.eof = self.reset = True
            return False
        except OSError:
            self.eof = True
            return False
        if not data:
            self.eof = True
            return False
        self.buffer += data
        return True

    def read_head(self, timeout: float = 10.0) -> Head | None:
        """The next HTTP head, or None (timeout, close, or more than MAX_HEAD bytes)."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > MAX_HEAD or not self._fill(deadline):
                return None
        raw, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        return parse_head(raw)

    def read_body(self, length: int, timeout: float = 10.0) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self.buffer) < length and self._fill(deadline):
            pass
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return body

    def read_frame(self, timeout: float = 10.0) -> Frame | None:
        """The next frame (unmasked for the caller), or None on timeout or close."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self._parse_frame()
            if frame is not None:
                return frame
            if not self._fill(deadline):
                return None

    def _parse_frame(self) -> Frame | None:
        buf = self.buffer
        if len(buf) < 2:
            return None
        b0, b1 = buf[0], buf[1]
        masked = bool(b1 & 0x80)
        length = b1 & 0x7F
        pos = 2
        if length == 126:
            if len(buf) < 4:
                return None
            length = struct.unpack("!H", buf[2:4])[0]
            pos = 4
        elif length == 127:
            if len(buf) < 10:
                return None
            length = struct.unpack("!Q", buf[2:10])[0]
            pos = 10
        key = b""
        if masked:
            if len(buf) < pos + 4:
                return None
            key = buf[pos : pos + 4]
            pos += 4
        if len(buf) < pos + length:
            return None
        payload = buf[pos : pos + length]
        self.buffer = buf[pos + length :]
        if masked:
            payload = apply_mask(payload, key)
        return Frame(
            opcode=b0 & 0x0F,
            payload=payload,
            fin=bool(b0 & 0x80),
            rsv1=bool(b0 & 0x40),
            rsv2=bool(b0 & 0x20),
            rsv3=bool(b0 & 0x10),
            masked=masked,
        )

    def frames_until_close(
        self, timeout: float = 10.0, *, stop_at_close: bool = False
    ) -> list[Frame]:
        """Every frame until the peer closes TCP (or sends a Close frame, with
        ``stop_at_close``) or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        frames = []
        while (remaining := deadline - time.monotonic()) > 0:
            frame = self.read_frame(remaining)
            if frame is None:
                break
            frames.append(frame)
            if stop_at_close and frame.opcode == CLOSE:
                break
        return frames

    def wait_eof(self, timeout: float = 10.0) -> bool:
        """True if the peer closes TCP within ``timeout`` (data before that is discarded)."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            self.buffer = b""
            if not self._fill(deadline) and not self.eof:
                return False
        return True
