"""Sphinx extension and command: "Learn RFC 6455 with websocket_ref", generated.

The walkthrough follows RFC 6455 §1-§11 (and RFC 7692 §5-§8), section by section. For
each section it shows

* the rules: every requirement of the registry (``conformance/rfc/registry/``) with its
  words, keyword, role and status (and, for sections without one yet, the code comments
  that cite the section);
* the code that enforces them: each citation comment in ``websocket_ref/`` that names the
  requirement or the section, linked to the line in a highlighted copy of the source;
* the tests that prove them: every test marked ``@pytest.mark.rfc(<id>)``, linked likewise;
* the Autobahn|Testsuite cases that cover them; and
* a transcript of an exchange that exercises the section: a client and a server of the
  Sans-I/O core talking in memory, recorded with the protocol's ``trace=`` hook
  (:mod:`websocket_ref.trace`), every frame and handshake line annotated as
  ``python -m websocket_ref --trace`` prints it.

Nothing here is typed by hand but the short introductions of :data:`INTROS`: the pages are
generated on every docs build (``builder-inited``), into ``docs/learn/`` (git-ignored), so
they can't drift from the registry, the code or the tests. ``python docs/_ext/learn_rfc.py
OUTDIR`` writes the same Markdown outside a build.
"""

from __future__ import annotations

import html
import logging
import sys
import textwrap
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent.parent
ROOT = DOCS.parent
OUT = DOCS / "learn"
SOURCE_PREFIX = "learn/source/"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from conformance.rfc import check, registry, spec, trace  # noqa: E402
from websocket_ref import ClientProtocol, Frame, ServerProtocol, parse_uri  # noqa: E402
from websocket_ref.extensions.permessage_deflate import (  # noqa: E402
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websocket_ref.trace import TraceEvent, TraceHook  # noqa: E402

#: What each top-level section of RFC 6455 is about, and where to look in the code.
INTROS: dict[str, str] = {
    "1": """
        The introduction: why WebSocket exists (a two-way channel without HTTP long-polling
        hacks), the shape of the protocol — an HTTP upgrade handshake, then frames — and the
        design choices behind it. Its few normative statements concern the handshake's
        `Sec-WebSocket-Accept` computation (§1.3), implemented in
        {mod}`websocket_ref.handshake`.""",
    "2": """
        Conformance requirements and the notation of the RFC (ABNF, "MUST" as in RFC 2119,
        case-insensitive matching of ASCII).""",
    "3": """
        WebSocket URIs: `ws://` and `wss://`, default ports 80 and 443, no fragments.
        Parsed by {func}`websocket_ref.uri.parse_uri`.""",
    "4": """
        The opening handshake. The client's request and its checks of the response
        ({class}`~websocket_ref.client.ClientProtocol`), the server's checks of the request
        and its answer ({class}`~websocket_ref.server.ServerProtocol`), and the headers'
        grammars ({mod}`websocket_ref.headers`, {mod}`websocket_ref.http11`).""",
    "5": """
        Data framing: the frame header (§5.2), masking (§5.3), fragmentation (§5.4), control
        frames (§5.5) and data frames (§5.6). The reference parser,
        {func}`~websocket_ref.frames.parse_frame`, reads §5.2 from top to bottom (the
        frame diagram is in its docstring); the protocol uses its fast version,
        {class}`~websocket_ref.frame_parser.FrameParser`, proven equivalent to it by
        hypothesis (`tests/test_frame_parser.py`). The rules that span frames —
        fragmentation, control frames, message sizes — are in
        {class}`~websocket_ref.protocol.Protocol`.""",
    "6": """
        Sending and receiving data: how an endpoint turns a message into frames and back.
        {meth}`~websocket_ref.protocol.Protocol.send_text`,
        {meth}`~websocket_ref.protocol.Protocol.send_binary` and the frames that
        {meth}`~websocket_ref.protocol.Protocol.events_received` returns.""",
    "7": """
        Closing the connection: the closing handshake (§7.1.2-§7.1.4), failing the
        connection (§7.1.7), status codes (§7.4) and their ranges. See
        {meth}`~websocket_ref.protocol.Protocol.send_close`,
        {meth}`~websocket_ref.protocol.Protocol.fail` and {class}`~websocket_ref.frames.Close`.""",
    "8": """
        Error handling: invalid UTF-8 in a text message fails the connection (1007), as
        early as it's seen ({class}`~websocket_ref.utf8.Utf8Validator`).""",
    "9": """
        Extensions: negotiation in `Sec-WebSocket-Extensions`, and the rules extensions
        follow ({mod}`websocket_ref.extensions`). permessage-deflate (RFC 7692) is the one
        extension in use on the web; see the last page.""",
    "10": """
        Security considerations: origin checks (§10.2), masking as a defence of
        intermediaries (§10.3), limits on what a peer can make an endpoint buffer (§10.4),
        authentication (§10.5), TLS (§10.6), and handling invalid data (§10.7).""",
    "11": """
        IANA considerations: the registries of URI schemes, header fields, extension names,
        subprotocol names, opcodes and status codes. Their normative content for an
        implementation is which values are reserved.""",
}

#: The transcripts shown on each page (see :data:`EXCHANGES`).
TRANSCRIPTS: dict[str, list[str]] = {
    "1": ["handshake"],
    "4": ["handshake"],
    "5": ["messages", "fragments", "ping"],
    "6": ["messages"],
    "7": ["close"],
    "8": ["bad-utf8"],
    "9": ["compression"],
    "7692": ["compression"],
}


# Transcripts: a client and a server of the Sans-I/O core, talking in memory


def _recorder(side: str, lines: list[str]) -> TraceHook:
    """A ``trace=`` hook that records one side's events as transcript lines."""

    def record(event: TraceEvent) -> None:
        for line in event.lines():
            lines.append(f"{side:6} {line}")

    return record


@dataclass
class Exchange:
    """A connected client and server, and the transcript of what they did."""

    client: ClientProtocol
    server: ServerProtocol
    lines: list[str]

    def pump(self) -> None:
        """Move bytes both ways until neither side has anything left to send."""
        moved = True
        while moved:
            moved = False
            for sender, receiver in ((self.client, self.server), (self.server, self.client)):
                for data in sender.data_to_send():
                    moved = True
                    if data:
                        receiver.receive_data(data)
                    else:
                        receiver.receive_eof()
            for event in self.server.events_received():
                if type(event).__name__ == "Request":
                    self.server.send_response(self.server.accept(event))  # type: ignore[arg-type]
                    moved = True
            self.client.events_received()


#: The exchanges' own logs (e.g. the server's INFO line when it fails a connection) stay
#: out of the build's output: the transcripts show the same events.
_QUIET = logging.getLogger("websocket_ref.docs.learn")
_QUIET.propagate = False
_QUIET.addHandler(logging.NullHandler())


def connect(*, compression: bool = False) -> Exchange:
    lines: list[str] = []
    client = ClientProtocol(
        parse_uri("ws://example.com/chat"),
        extensions=[ClientPerMessageDeflateFactory()] if compression else None,
        trace=_recorder("client", lines),
        logger=_QUIET,
    )
    server = ServerProtocol(
        extensions=[ServerPerMessageDeflateFactory()] if compression else None,
        trace=_recorder("server", lines),
        logger=_QUIET,
    )
    exchange = Exchange(client, server, lines)
    client.send_request(client.connect(user_agent_header=None))
    exchange.pump()
    return exchange


def _handshake() -> Exchange:
    return connect()


def _messages() -> Exchange:
    exchange = connect()
    exchange.lines.clear()
    exchange.client.send_text(b"Hello")
    exchange.pump()
    exchange.server.send_binary(b"\x00\x01\x02")
    exchange.pump()
    exchange.client.send_binary(b"\x00" * 300)
    exchange.pump()
    return exchange


def _fragments() -> Exchange:
    exchange = connect()
    exchange.lines.clear()
    exchange.client.send_text(b"Three ", fin=False)
    exchange.client.send_continuation(b"fragments, ", fin=False)
    exchange.client.send_ping(b"in between")
    exchange.client.send_continuation(b"one message", fin=True)
    exchange.pump()
    return exchange


def _ping() -> Exchange:
    exchange = connect()
    exchange.lines.clear()
    exchange.server.send_ping(b"1")
    exchange.pump()
    exchange.client.send_pong(b"unsolicited heartbeat")
    exchange.pump()
    return exchange


def _close() -> Exchange:
    exchange = connect()
    exchange.lines.clear()
    exchange.client.send_close(1000, "bye")
    exchange.pump()
    return exchange


def _bad_utf8() -> Exchange:
    exchange = connect()
    exchange.lines.clear()
    # Bypass the client's own check: a peer that sends invalid UTF-8 as text.
    from websocket_ref.frames import Opcode, serialize_frame

    header, payload = serialize_frame(Frame(Opcode.TEXT, b"caf\xc3"), mask=True)
    exchange.lines.append(
        "client > TEXT fin=1 rsv=000 mask=1 len=4  (caf\\xc3: not UTF-8, sent by hand)"
    )
    exchange.server.receive_data(header + payload)
    exchange.pump()
    return exchange


def _compression() -> Exchange:
    exchange = connect(compression=True)
    exchange.client.send_text(("Hello, hello, hello! " * 4).encode())
    exchange.pump()
    exchange.client.send_text(("Hello, hello, hello! " * 4).encode())
    exchange.pump()
    return exchange


EXCHANGES: dict[str, tuple[str, Callable[[], Exchange]]] = {
    "handshake": ("The opening handshake", _handshake),
    "messages": ("A text message, a binary message, a 300-byte message", _messages),
    "fragments": ("A message in three fragments, with a ping between them", _fragments),
    "ping": ("A ping and its pong; an unsolicited pong", _ping),
    "close": ("The closing handshake, started by the client", _close),
    "bad-utf8": ("Invalid UTF-8 in a text message", _bad_utf8),
    "compression": ("permessage-deflate: negotiation, then two compressed messages", _compression),
}


def transcript(name: str) -> list[str]:
    """The annotated lines of one exchange (the Sec-WebSocket-Key/Accept/Date vary)."""
    _title, run = EXCHANGES[name]
    lines = run().lines
    fixed = []
    for line in lines:
        shown = line
        for header in ("Sec-WebSocket-Key: ", "Sec-WebSocket-Accept: ", "Date: "):
            if header in shown:
                shown = shown.split(header)[0] + header + "…"
        fixed.append(shown)
    return fixed


# Pages


def _source_href(path: Path, line: int, depth: int = 0) -> str:
    relative = path.relative_to(ROOT).with_suffix("").as_posix()
    return "../" * depth + f"source/{relative}.html#L-{line}"


def _link(path: Path, line: int, label: str) -> str:
    return f'<a href="{_source_href(path, line)}"><code>{html.escape(label)}</code></a>'


def _dedent(text: str) -> str:
    return textwrap.dedent(text).strip()


def _requirement_block(r: registry.Requirement, t: check.Traceability) -> list[str]:
    out = [
        f"({r.id.lower()})=",
        f"**{r.id}** · {r.keyword} · {r.role} · {r.status}",
        "",
        "> " + spec.normalize(r.quote),
        "",
    ]
    if r.reason:
        out += [f"*Why {r.status}:* {r.reason}", ""]
    if r.choice:
        out += [f"*Where the RFC leaves a choice:* {r.choice}", ""]
    if r.docs:
        out += [f"*Explained in:* {r.docs}", ""]
    citations = t.cited.get(r.id, [])
    if citations:
        links = (_link(c.path, c.line, c.location) for c in citations)
        out.append("Enforced at: " + ", ".join(links))
        out.append("")
    markers = t.tested.get(r.id, [])
    if markers:
        out.append("Proven by: " + ", ".join(_link(m.path, m.line, m.node) for m in markers))
        out.append("")
    if r.autobahn:
        out += ["Autobahn|Testsuite cases: " + ", ".join(f"`{c}`" for c in r.autobahn), ""]
    return out


def _section_citations(t: check.Traceability, rfc: int, number: str) -> list[trace.Citation]:
    return [c for c in t.citations if (rfc, number) in c.sections and not c.ids]


def _transcript_block(name: str) -> list[str]:
    title, _run = EXCHANGES[name]
    return [
        f"### Transcript: {title}",
        "",
        "```text",
        *transcript(name),
        "```",
        "",
    ]


def section_page(t: check.Traceability, rfc: int, top: str) -> str:
    stored = spec.sections(rfc)
    numbers = [n for n in stored if n == top or n.startswith(f"{top}.")]
    if rfc == 7692:
        numbers = sorted(stored, key=registry.section_key)
        title = "RFC 7692: permessage-deflate"
    else:
        title = f"§{top}. {stored[top].title}"
    by_section: dict[str, list[registry.Requirement]] = defaultdict(list)
    for r in t.requirements:
        if r.rfc == rfc:
            by_section[r.section].append(r)
    registered = {s for s in by_section if s.split(".")[0] == top or rfc == 7692}
    numbers = sorted(set(numbers) | registered, key=registry.section_key)
    out = [f"# {title}", ""]
    intro = INTROS.get(top) if rfc == 6455 else None
    if rfc == 7692:
        intro = """
            Compression Extensions for WebSocket: the permessage-deflate extension compresses
            each message with DEFLATE (RFC 1951), negotiated in the opening handshake with
            four parameters (context takeover and window bits, for each direction). See
            {mod}`websocket_ref.extensions.permessage_deflate`."""
    if intro:
        out += [_dedent(intro), ""]
    count = sum(len(by_section[n]) for n in numbers)
    cited = sum(len(_section_citations(t, rfc, n)) for n in numbers)
    out += [
        f"Registered requirements on this page: {count}. Citation comments naming one of "
        f"these sections without a requirement id: {cited}.",
        "",
    ]
    shown = TRANSCRIPTS.get(top if rfc == 6455 else "7692", [])
    if shown:
        out += ["## On the wire", ""]
    for name in shown:
        out += _transcript_block(name)
    for number in numbers:
        heading = stored.get(number)
        label = f"§{number}" + (f" {heading.title}" if heading and heading.title else "")
        out += [f"## {label}", ""]
        requirements = by_section.get(number, [])
        for r in requirements:
            out += _requirement_block(r, t)
        loose = _section_citations(t, rfc, number)
        if loose:
            out.append("Code citing this section:")
            out.append("")
            for c in loose:
                out.append(f"- {_link(c.path, c.line, c.location)} — {html.escape(c.text)}")
            out.append("")
        if not requirements and not loose:
            if number == top:
                out = out[:-2]  # the page's own title says it already
                continue
            out += ["No normative statement registered here, and no code cites it.", ""]
    return "\n".join(out) + "\n"


def _sections_table(t: check.Traceability) -> list[str]:
    """Per page: requirements, how many are implemented, cited in the code, tested."""
    rows = [
        "| page | requirements | implemented | cited in the code | tested |",
        "| --- | --- | --- | --- | --- |",
    ]
    stored = spec.sections(6455)
    pages = [(f"rfc6455-{n}", 6455, str(n)) for n in range(1, 12)] + [("rfc7692", 7692, "")]
    for page, rfc, top in pages:
        rs = [
            r
            for r in t.requirements
            if r.rfc == rfc and (rfc == 7692 or r.section.split(".")[0] == top)
        ]
        implemented = [r for r in rs if r.applicable]
        cited = sum(1 for r in implemented if r.id in t.cited)
        tested = sum(1 for r in implemented if r.id in t.tested)
        title = f"§{top} {stored[top].title}" if rfc == 6455 else "RFC 7692"
        rows.append(
            f"| {{doc}}`{title} <{page}>` | {len(rs)} | {len(implemented)} | {cited} | {tested} |"
        )
    return rows


def index_page(t: check.Traceability) -> str:
    pages = [f"rfc6455-{n}" for n in range(1, 12)] + ["rfc7692", "choices"]
    implemented = sum(1 for r in t.requirements if r.applicable)
    out = [
        "# Learn RFC 6455 with websocket_ref",
        "",
        _dedent("""
            A walkthrough of the WebSocket protocol in the order of its RFC. Each page takes
            one section: the rules it states, quoted word for word; the line of code that
            enforces each rule; the tests that prove it; the Autobahn|Testsuite cases that
            cover it; and transcripts of the protocol at work — a client and a server of the
            Sans-I/O core talking in memory, every frame and handshake line annotated with
            the section behind it, as `python -m websocket_ref --trace` prints them.

            These pages are generated from the requirement registry
            (`conformance/rfc/registry/`), the citation comments in `websocket_ref/` and the
            `@pytest.mark.rfc` markers in `tests/` on every docs build, so they can't drift
            from the code. Read them next to the RFC itself."""),
        "",
        f"Registered: {len(t.requirements)} requirements, {implemented} implemented; "
        f"{len(t.citations)} citation comments in the code; {len(t.markers)} test markers.",
        "",
        *_sections_table(t),
        "",
        "Where the RFC leaves the implementation a choice, and the few rules that don't "
        "apply to a library: {doc}`choices`.",
        "",
        "```{toctree}",
        ":maxdepth: 1",
        ":titlesonly:",
        ":hidden:",
        "",
        *pages,
        "```",
        "",
    ]
    return "\n".join(out)


def choices_page(t: check.Traceability) -> str:
    out = [
        "# Where the RFC leaves a choice",
        "",
        _dedent("""
            Some rules leave the reaction to the implementation ("MAY"), and a few
            requirements target other kinds of clients (browsers) than a library. This page
            lists what websocket_ref chose, from the registry's `choice`, `reason` and
            `docs` fields."""),
        "",
    ]
    chosen = [r for r in t.requirements if r.choice]
    skipped = [r for r in t.requirements if r.status != "implemented"]
    out += ["## Choices", ""]
    if chosen:
        for r in chosen:
            out += [f"- **{r.id}** (§{r.section}, {r.keyword}): {r.choice}"]
    else:
        out += ["None registered yet."]
    out += ["", "## Not applicable, or deliberately not implemented", ""]
    if skipped:
        for r in skipped:
            extra = f" See {r.docs}." if r.docs else ""
            out += [f"- **{r.id}** (§{r.section}, {r.status}): {r.reason}{extra}"]
    else:
        out += ["None registered yet."]
    return "\n".join(out) + "\n"


def pages() -> Iterator[tuple[str, str]]:
    """(file name, Markdown) of every page of the walkthrough."""
    t = check.build()
    yield "index.md", index_page(t)
    for n in range(1, 12):
        yield f"rfc6455-{n}.md", section_page(t, 6455, str(n))
    yield "rfc7692.md", section_page(t, 7692, "")
    yield "choices.md", choices_page(t)


def write(out: Path = OUT) -> list[Path]:
    """Write the pages into ``out``; files whose content didn't change are left alone."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in pages():
        path = out / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


# Highlighted sources with line anchors, for the links


def _linked_sources() -> list[Path]:
    """Every file of the library (the API reference links to them too), and the tests that
    carry requirement markers."""
    t = check.build()
    library = {p for p in (ROOT / "websocket_ref").rglob("*") if p.suffix in (".py", ".c")}
    paths = library | {c.path for c in t.citations} | {m.path for m in t.markers}
    return sorted(paths)


def source_url(path: Path, line: int | None, *, from_dir: str) -> str:
    """The URL of a line of a source page, relative to a page in ``from_dir`` of the docs."""
    depth = len(Path(from_dir).parts)
    target = SOURCE_PREFIX + path.relative_to(ROOT).with_suffix("").as_posix() + ".html"
    return "../" * depth + target + (f"#L-{line}" if line else "")


def source_pages(app: Any) -> Iterator[tuple[str, dict[str, Any], str]]:
    """html-collect-pages: a highlighted copy of every linked file, lines anchored L-<n>."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_for_filename

    if app.builder.format != "html":
        return
    formatter = HtmlFormatter(linenos="inline", lineanchors="L", anchorlinenos=True, wrapcode=True)
    for path in _linked_sources():
        relative = path.relative_to(ROOT).as_posix()
        code = highlight(
            path.read_text(encoding="utf-8"), get_lexer_for_filename(path.name), formatter
        )
        body = f"<h1>{html.escape(relative)}</h1>\n<div class='highlight'>{code}</div>"
        pagename = SOURCE_PREFIX + path.relative_to(ROOT).with_suffix("").as_posix()
        yield pagename, {"title": relative, "body": body}, "page.html"


def builder_inited(app: Any) -> None:
    write()


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", builder_inited)
    app.connect("html-collect-pages", source_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":  # python docs/_ext/learn_rfc.py [OUTDIR]
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    for written in write(target):
        print(written)
