"""``python3 -m conformance compare``: the suites against other Python implementations.

Each peer server (``conformance/peers/``) is started here and then tested as a server the
harness did not start (``Target.server_url``); each peer client runs as a ``--client-cmd``.
So the comparison also exercises the paths a user's own implementation takes. The table
joins the peers' reports with websocket_ref's last run; ``--readme`` writes it between the
``conformance-comparison`` markers of the README. Not part of CI: it needs the peer
libraries, and it is a second full run of the suite per peer.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from . import ROOT, runner
from .peers import PEERS
from .report import BEHAVIORS, build_summary, gate_problems, replace_block
from .testees import TESTEES, Testee

COMPARE_DIR = ROOT / "reports" / "compare"
#: Where each suite's peer reports go under the compare folder.
TITLES = {
    "autobahn": "Autobahn|Testsuite, every case, compression on, 16 MiB messages",
    "handshake": "Handshake suite (conformance/handshake/): server cases for servers, "
    "client cases for clients",
}
START = "<!-- conformance-comparison:start -->"
END = "<!-- conformance-comparison:end -->"


def library_version(peer: Testee) -> str:
    """``websockets 17.4``: the distribution behind a peer, from its name."""
    dist = peer.name.split("_")[0]
    try:
        return f"{dist} {importlib.metadata.version(dist)}"
    except importlib.metadata.PackageNotFoundError:
        return f"{dist} (not installed)"


@contextmanager
def started_server(peer: Testee) -> Iterator[str]:
    """Start a peer server as any user would start theirs; yield its URL."""
    proc = subprocess.Popen(
        [sys.executable, str(peer.script)],
        cwd=ROOT,
        env=runner._testee_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        port = runner._read_port(proc, runner.STARTUP_TIMEOUT)
        if port is None:
            raise runner.HarnessError(f"{peer.name} did not start (exit {proc.poll()})")
        yield f"ws://127.0.0.1:{port}/"
    finally:
        runner._stop(proc)


def run_peers(
    peers: Sequence[Testee],
    cases: Sequence[str],
    jobs: int,
    options: runner.Options,
    suite: str = "autobahn",
) -> dict[str, Any]:
    """Run a suite against every peer, servers by URL and clients by command."""
    with ExitStack() as stack:
        targets = []
        for peer in peers:
            if peer.kind == "server":
                url = stack.enter_context(started_server(peer))
                targets.append(runner.Target(peer.name, "server", server_url=url))
            else:
                cmd = f"{sys.executable} {peer.script} --url {{url}} --agent {{agent}}"
                targets.append(runner.Target(peer.name, "client", client_cmd=cmd))
        return runner.run(targets, cases=cases, jobs=jobs, options=options, suite=suite)


def _row(name: str, kind: str, library: str, t: Mapping[str, Any] | None) -> list[str]:
    if t is None or t.get("status") == "not-run":
        return [library, kind, f"`{name}`", "not run", *["-"] * len(BEHAVIORS)]
    cases = f"{t['reported']}/{t['expected']}"
    status = cases if t.get("status") == "ok" else f"{cases} ({t['status']})"
    return [library, kind, f"`{name}`", status, *[str(t["behavior"].get(b, 0)) for b in BEHAVIORS]]


def suite_table(suite: str, ours_dir: Path, peers_dir: Path) -> list[str]:
    """Markdown lines: one row per implementation and role, one column per outcome."""
    ours = build_summary(ours_dir, [t.name for t in TESTEES])
    theirs = build_summary(peers_dir, [p.name for p in PEERS])
    version = importlib.metadata.version  # websocket_ref may run from the source tree
    try:
        own = f"websocket_ref {version('websocket-ref')}"
    except importlib.metadata.PackageNotFoundError:
        own = "websocket_ref"
    rows = [_row(t.name, t.kind, own, ours["testees"].get(t.name)) for t in TESTEES]
    rows += [_row(p.name, p.kind, library_version(p), theirs["testees"].get(p.name)) for p in PEERS]
    header = ["library", "role", "program", "cases", *BEHAVIORS]
    lines = [
        f"**{TITLES[suite]}**: websocket_ref from its last run "
        f"({str(ours.get('started', ''))[:10] or '?'}), the others from "
        f"`python3 -m conformance compare` ({str(theirs.get('started', ''))[:10] or '?'}).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *["| " + " | ".join(row) + " |" for row in rows],
    ]
    problems = {p.name: gate_problems(theirs, [p.name]) for p in PEERS}
    notes = [
        f"- `{name}`: {'; '.join(p.removeprefix(f'{name}: ') for p in ps)}"
        for name, ps in problems.items()
        if ps
    ]
    if notes:
        lines += ["", "Where the others fall short of the gate websocket_ref passes:", "", *notes]
    return lines


def comparison_table(ours: dict[str, Path], peers: dict[str, Path]) -> str:
    """Both suites' tables (those with reports), and how to regenerate them."""
    lines: list[str] = []
    for suite in ("autobahn", "handshake"):
        if suite in peers and (peers[suite] / "run.json").exists():
            lines += [*suite_table(suite, ours[suite], peers[suite]), ""]
    lines.append(
        "Regenerate with `python3 -m conformance compare --suite all --readme` (not run in "
        "CI: it needs the peer libraries and a full Autobahn run per peer)."
    )
    return "\n".join(lines)


def write_readme(readme: Path, table: str) -> bool:
    """Replace the comparison block of the README; True if it changed."""
    text = readme.read_text(encoding="utf-8")
    new = replace_block(text, table, START, END)
    if new != text:
        readme.write_text(new, encoding="utf-8")
        return True
    return False
