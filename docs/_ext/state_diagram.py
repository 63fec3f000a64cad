"""Generate the docs' state diagram and table from the connection's transition table.

``python docs/_ext/state_diagram.py`` writes ``docs/topics/states.md`` (the table) and
``docs/topics/states.svg`` (the diagram) from :data:`websocket_ref.states.TRANSITIONS`;
``python docs/_ext/state_diagram.py --check`` exits 1 if they aren't current (a test in
``tests/test_docs.py`` runs the same check, so CI fails when the table changed and the
docs didn't). The SVG is laid out by hand — four states in a row — so that no graph
layout tool is needed.
"""

from __future__ import annotations

import html
import sys
from collections import defaultdict
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent
ROOT = DOCS.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from websocket_ref.states import TRANSITIONS, State  # noqa: E402

MARKDOWN = DOCS / "topics" / "states.md"
SVG = DOCS / "topics" / "states.svg"

BOX_W, BOX_H, SPACING, LEFT, TOP = 130, 44, 260, 90, 110
LINE = 15  # height of a line of label text


def _x(state: State) -> int:
    return LEFT + SPACING * int(state)


def _edges() -> dict[tuple[State, State], list[str]]:
    edges: dict[tuple[State, State], list[str]] = defaultdict(list)
    for (state, change), transition in TRANSITIONS.items():
        label = change.value
        if transition.side != "both":
            label += f" ({transition.side})"
        edges[state, transition.state].append(label)
    return edges


def _text(x: float, y: float, text: str, *, bold: bool = False, anchor: str = "middle") -> str:
    weight = ' font-weight="bold"' if bold else ""
    return (
        f'<text x="{x:.0f}" y="{y:.0f}" text-anchor="{anchor}"{weight}>{html.escape(text)}</text>'
    )


def svg() -> str:
    """The diagram: states left to right, forward edges, arcs to CLOSED, loops on top."""
    edges = _edges()
    mid = TOP + BOX_H / 2
    width = LEFT * 2 + SPACING * 3 + BOX_W
    height = TOP + BOX_H + 125
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z"/></marker></defs>',
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    for state in State:
        x = _x(state)
        out.append(
            f'<rect x="{x}" y="{TOP}" width="{BOX_W}" height="{BOX_H}" rx="8" '
            'fill="#eef3fb" stroke="#345"/>'
        )
        out.append(_text(x + BOX_W / 2, mid + 4, state.name, bold=True))
    below = 0
    for (source, target), labels in sorted(edges.items()):
        x1, x2 = _x(source), _x(target)
        if source is target:  # a loop over the box, its changes stacked above it
            left, right = x1 + BOX_W * 0.3, x1 + BOX_W * 0.7
            out.append(
                f'<path d="M {left:.0f} {TOP} C {left:.0f} {TOP - 34} {right:.0f} {TOP - 34} '
                f'{right:.0f} {TOP}" fill="none" stroke="#345" marker-end="url(#arrow)"/>'
            )
            for n, label in enumerate(reversed(labels)):
                out.append(_text(x1 + BOX_W / 2, TOP - 34 - 6 - n * LINE, label))
        elif int(target) - int(source) == 1:  # to the next state: a straight arrow
            out.append(
                f'<line x1="{x1 + BOX_W}" y1="{mid:.0f}" x2="{x2}" y2="{mid:.0f}" '
                'stroke="#345" marker-end="url(#arrow)"/>'
            )
            centre = (x1 + BOX_W + x2) / 2
            for n, label in enumerate(reversed(labels)):
                out.append(_text(centre, mid - 6 - n * LINE, label))
        else:  # further right (to CLOSED): an arc under the boxes
            below += 1
            depth = 30 + 40 * (int(target) - int(source) - 1)
            start, end = x1 + BOX_W / 2, x2 + BOX_W / 2 - 10 * below
            bottom = TOP + BOX_H
            out.append(
                f'<path d="M {start:.0f} {bottom} C {start:.0f} {bottom + depth} '
                f'{end:.0f} {bottom + depth} {end:.0f} {bottom}" fill="none" stroke="#345" '
                'marker-end="url(#arrow)"/>'
            )
            for n, label in enumerate(labels):
                y = bottom + depth * 0.75 + 16 + n * LINE
                out.append(_text((start + end) / 2, y, label))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def markdown() -> str:
    """The page: what the diagram shows, the diagram, and the table row by row."""
    rows = [
        "| state | change | new state | reading | side | what happens |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for (state, change), t in TRANSITIONS.items():
        reading = t.reading.name if t.reading is not None else "(unchanged)"
        rows.append(
            f"| {state.name} | {change.value} | {t.state.name} | {reading} | {t.side} "
            f"| {t.actions} |"
        )
    return "\n".join(
        [
            "# The connection's states",
            "",
            "<!-- Generated by `python docs/_ext/state_diagram.py` from",
            "     websocket_ref/states.py; tests/test_docs.py checks it is current. -->",
            "",
            "A connection's public state ({class}`~websocket_ref.states.State`) goes from",
            "CONNECTING to OPEN to CLOSING to CLOSED, as RFC 6455 §4-§7 describe it. Next to",
            "it, the reading state ({class}`~websocket_ref.states.Reading`) says what the",
            "next incoming bytes are. Both change only through the table of",
            "{mod}`websocket_ref.states`, which the protocol applies: this page and its",
            "diagram are generated from it. Reading never leaves EOF, and leaves DISCARD",
            "only for EOF.",
            "",
            "![The states of a connection and the changes that move between them](states.svg)",
            "",
            *rows,
            "",
        ]
    )


def outputs() -> dict[Path, str]:
    return {MARKDOWN: markdown(), SVG: svg()}


def stale() -> list[Path]:
    """The generated files whose content differs from what the table gives."""
    return [
        path
        for path, text in outputs().items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]


def main(argv: list[str]) -> int:
    if "--check" in argv:
        for path in stale():
            print(f"{path.relative_to(ROOT)} is stale: run python docs/_ext/state_diagram.py")
        return 1 if stale() else 0
    for path, text in outputs().items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
