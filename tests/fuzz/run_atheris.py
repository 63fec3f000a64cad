"""Coverage-guided fuzzing of the parsers with atheris (libFuzzer for Python).

One command, from the repository root::

    pip install atheris && python -m tests.fuzz.run_atheris frames -max_total_time=600

TARGET is one of ``frames``, ``http_request``, ``http_response``, ``extension_header``
(see targets.py; ``all`` cycles through them). Arguments after it go to libFuzzer: e.g.
``-max_total_time=SECONDS``, ``-runs=N``, ``-timeout=SECONDS`` (an input that takes
longer is reported as a hang), a corpus directory to keep what it finds. A crash — an
exception other than the documented ones, or a broken invariant — stops the campaign and
writes the input to ``crash-*``; replay it with the same command and the file's path.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> None:
    import atheris

    with atheris.instrument_imports():
        import websocket_ref.extensions.permessage_deflate
        import websocket_ref.frames
        import websocket_ref.headers
        import websocket_ref.http11  # noqa: F401

    from .targets import TARGETS

    if len(argv) < 2 or argv[1] not in (*TARGETS, "all"):
        sys.exit(f"usage: python -m tests.fuzz.run_atheris {{{','.join(TARGETS)},all}} [...]")
    name = argv[1]
    if name == "all":
        targets = list(TARGETS.values())

        def test_one_input(data: bytes) -> None:
            if data:
                targets[data[0] % len(targets)](data[1:])

    else:
        test_one_input = TARGETS[name]
    atheris.Setup([argv[0], *argv[2:]], test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
