"""Links from the registry into the code and the tests, found by reading the source.

* **Citations** are comments in ``websocket_ref/`` of the form
  ``# RFC 6455 §5.5.2 [R6455-5.5.2-1]: what the rule says``: every ``RFC <n>`` in a comment
  is followed by the sections it cites (``§5.6, §8.1``), and the bracketed ids name the
  requirements enforced right there. A citation may sit anywhere in a comment, also
  mid-sentence. C sources (``/* … */`` and ``// …``) count too.
* **Test markers** are ``pytest.mark.rfc("R6455-5.5.2-1", …)`` anywhere in ``tests/``: as a
  decorator, in ``pytestmark``, or in ``pytest.param(…, marks=…)``. They are read from the
  syntax tree, so collecting them needs neither pytest nor the test dependencies.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .. import ROOT

LIBRARY_DIR = ROOT / "websocket_ref"
TESTS_DIR = ROOT / "tests"

_RFC = re.compile(r"RFC\s?(\d{4})")
_SECTION = re.compile(r"§\s?(\d+(?:\.\d+)*)")
ID_IN_TEXT = re.compile(r"\bR(?:6455|7692)-\d+(?:\.\d+)*-\d+\b")


@dataclass(frozen=True)
class Citation:
    """One comment line that cites the RFC."""

    path: Path
    line: int
    text: str  # the comment, without the comment marker
    sections: frozenset[tuple[int, str]]  # (rfc, section) pairs it names
    ids: tuple[str, ...]  # requirement ids it names

    @property
    def location(self) -> str:
        return f"{self.path.relative_to(ROOT).as_posix()}:{self.line}"


@dataclass(frozen=True)
class Marker:
    """One ``pytest.mark.rfc(...)`` in the tests."""

    path: Path
    line: int
    test: str  # the test function or class it marks ("module" for pytestmark)
    ids: tuple[str, ...]

    @property
    def location(self) -> str:
        return f"{self.path.relative_to(ROOT).as_posix()}:{self.line}"

    @property
    def node(self) -> str:
        """The pytest node id prefix of the marked test(s)."""
        return f"{self.path.relative_to(ROOT).as_posix()}::{self.test}"


def cited_sections(text: str) -> frozenset[tuple[int, str]]:
    """The (rfc, section) pairs a comment names: "RFC 6455 §5.6, §8.1" gives two."""
    pairs: set[tuple[int, str]] = set()
    matches = list(_RFC.finditer(text))
    for position, match in enumerate(matches):
        end = matches[position + 1].start() if position + 1 < len(matches) else len(text)
        for section in _SECTION.finditer(text, match.end(), end):
            pairs.add((int(match.group(1)), section.group(1)))
    return frozenset(pairs)


def _python_comments(source: str) -> Iterator[tuple[int, str]]:
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                yield token.start[0], token.string.lstrip("#").strip()
    except (tokenize.TokenError, SyntaxError):  # pragma: no cover - broken source
        return


def _c_comments(source: str) -> Iterator[tuple[int, str]]:
    for match in re.finditer(r"/\*.*?\*/|//[^\n]*", source, re.S):
        first = source.count("\n", 0, match.start()) + 1
        for offset, line in enumerate(match.group().splitlines()):
            yield first + offset, line.strip("/* \t")


def citations(directory: Path = LIBRARY_DIR) -> list[Citation]:
    """Every comment line in the library that names an RFC section or a requirement id."""
    found = []
    for path in sorted(directory.rglob("*")):
        if path.suffix == ".py":
            comments = _python_comments(path.read_text(encoding="utf-8"))
        elif path.suffix in (".c", ".h", ".pyx"):
            comments = _c_comments(path.read_text(encoding="utf-8"))
        else:
            continue
        for line, text in comments:
            sections = cited_sections(text)
            ids = tuple(ID_IN_TEXT.findall(text))
            if sections or ids:
                found.append(Citation(path, line, text, sections, ids))
    return found


def _rfc_mark_ids(node: ast.AST) -> tuple[str, ...] | None:
    """The ids of ``pytest.mark.rfc("…", …)`` / ``mark.rfc(…)``, or None for other nodes."""
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    if not (
        isinstance(func, ast.Attribute)
        and func.attr == "rfc"
        and isinstance(func.value, ast.Attribute)
        and func.value.attr == "mark"
    ):
        return None
    ids = []
    for arg in node.args:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            ids.append(arg.value)
        else:
            ids.append(f"<not a string literal at line {arg.lineno}>")
    return tuple(ids)


def _markers_in(path: Path) -> list[Marker]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Marker] = []
    seen: set[int] = set()

    def visit(node: ast.AST, owner: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = node.name if owner == "module" else f"{owner}::{node.name}"
            for decorator in node.decorator_list:
                for sub in ast.walk(decorator):
                    ids = _rfc_mark_ids(sub)
                    if ids is not None and id(sub) not in seen:
                        seen.add(id(sub))
                        found.append(Marker(path, sub.lineno, name, ids))
            for child in node.body:
                visit(child, name)
            return
        ids = _rfc_mark_ids(node)
        if ids is not None and id(node) not in seen:
            seen.add(id(node))
            found.append(Marker(path, node.lineno, owner, ids))
        for child in ast.iter_child_nodes(node):
            visit(child, owner)

    visit(tree, "module")
    return found


def markers(directory: Path = TESTS_DIR) -> list[Marker]:
    """Every ``pytest.mark.rfc`` in the test suite."""
    found = []
    for path in sorted(directory.rglob("*.py")):
        found.extend(_markers_in(path))
    return found
