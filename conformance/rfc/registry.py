"""The requirement registry: every normative statement of RFC 6455 §1-11 and RFC 7692 §5-8.

The registry lives in ``registry/*.toml``, one ``[[requirement]]`` table per statement::

    [[requirement]]
    id = "R6455-5.5.2-1"        # R<rfc>-<section>-<n>: stable, never reused
    section = "5.5.2"
    keyword = "MUST"            # the RFC 2119 keyword the statement turns on
    role = "both"               # client | server | sender | receiver | both
    quote = '''Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in
    response, unless it already received a Close frame.'''   # word for word; "…" skips words
    status = "implemented"      # implemented | not-applicable | not-implemented
    reason = ""                 # why, for not-applicable and not-implemented
    docs = ""                   # where the docs explain a not-implemented choice
    choice = ""                 # where the RFC leaves the reaction open: what we chose
    autobahn = ["2.10", "2.11"] # Autobahn|Testsuite case ids (or "5.*") that cover it

Only the ``id``, ``section``, ``keyword``, ``role``, ``quote`` and ``status`` keys are
required. An id's RFC and section are part of it, so a citation that names an id names its
section too, and the checker holds them to each other.
"""

from __future__ import annotations

import functools
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import spec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

REGISTRY_DIR = spec.HERE / "registry"

KEYWORDS = frozenset(
    {
        "MUST",
        "MUST NOT",
        "REQUIRED",
        "SHALL",
        "SHALL NOT",
        "SHOULD",
        "SHOULD NOT",
        "RECOMMENDED",
        "NOT RECOMMENDED",
        "MAY",
        "OPTIONAL",
    }
)
ROLES = frozenset({"client", "server", "sender", "receiver", "both"})
STATUSES = frozenset({"implemented", "not-applicable", "not-implemented"})
#: The sections each RFC's registry covers (issue: RFC 6455 §1-11, RFC 7692 §5-8).
SCOPE: dict[int, tuple[int, int]] = {6455: (1, 11), 7692: (5, 8)}

ID_PATTERN = re.compile(r"^R(?P<rfc>6455|7692)-(?P<section>\d+(?:\.\d+)*)-(?P<n>\d+)$")
_KEYS = frozenset(
    {
        "id",
        "section",
        "keyword",
        "role",
        "quote",
        "status",
        "reason",
        "docs",
        "choice",
        "autobahn",
    }
)


@dataclass(frozen=True)
class Requirement:
    """One normative statement, as registered."""

    id: str
    rfc: int
    section: str
    keyword: str
    role: str
    quote: str
    status: str
    reason: str = ""
    docs: str = ""
    choice: str = ""
    autobahn: tuple[str, ...] = ()
    source: str = ""  # registry file and line, for messages
    problems: tuple[str, ...] = field(default=(), compare=False)

    @property
    def applicable(self) -> bool:
        """Implemented requirements must be cited in the code and tested."""
        return self.status == "implemented"


def _entry_lines(text: str) -> list[int]:
    """Line numbers (1-based) of each ``[[requirement]]`` header, in order."""
    return [n for n, line in enumerate(text.splitlines(), 1) if line.strip() == "[[requirement]]"]


def _parse(path: Path) -> list[Requirement]:
    text = path.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    entries: list[dict[str, Any]] = data.get("requirement", [])
    lines = _entry_lines(text)
    result = []
    for position, entry in enumerate(entries):
        source = f"{path.name}:{lines[position] if position < len(lines) else '?'}"
        problems = []
        unknown = set(entry) - _KEYS
        if unknown:
            problems.append(f"unknown key(s) {', '.join(sorted(unknown))}")
        rid = str(entry.get("id", ""))
        match = ID_PATTERN.match(rid)
        rfc = int(match.group("rfc")) if match else 0
        if not match:
            problems.append(f"malformed id {rid!r} (expected R6455-5.5.2-1)")
        section = str(entry.get("section", ""))
        if match and match.group("section") != section:
            problems.append(f"id {rid} doesn't name its section {section}")
        keyword = str(entry.get("keyword", ""))
        if keyword not in KEYWORDS:
            problems.append(f"unknown keyword {keyword!r}")
        role = str(entry.get("role", ""))
        if role not in ROLES:
            problems.append(f"unknown role {role!r}")
        status = str(entry.get("status", ""))
        if status not in STATUSES:
            problems.append(f"unknown status {status!r}")
        reason = str(entry.get("reason", ""))
        if status in ("not-applicable", "not-implemented") and not reason.strip():
            problems.append(f"status {status} needs a reason")
        docs = str(entry.get("docs", ""))
        if status == "not-implemented" and not docs.strip():
            problems.append("status not-implemented needs docs: where the docs explain it")
        quote = str(entry.get("quote", ""))
        if keyword and keyword not in spec.normalize(quote):
            problems.append(f"keyword {keyword} is not in the quote")
        autobahn = entry.get("autobahn", [])
        if not isinstance(autobahn, list) or not all(
            isinstance(c, str) and re.fullmatch(r"\d+(\.\d+)*(\.\*)?", c) for c in autobahn
        ):
            problems.append(f"autobahn must be a list of case ids like '5.1' or '5.*': {autobahn}")
            autobahn = []
        result.append(
            Requirement(
                id=rid,
                rfc=rfc,
                section=section,
                keyword=keyword,
                role=role,
                quote=quote,
                status=status,
                reason=reason,
                docs=docs,
                choice=str(entry.get("choice", "")),
                autobahn=tuple(autobahn),
                source=source,
                problems=tuple(problems),
            )
        )
    return result


@functools.cache
def load(directory: Path = REGISTRY_DIR) -> tuple[Requirement, ...]:
    """Every registered requirement, in file order (files sorted by name)."""
    result: list[Requirement] = []
    for path in sorted(directory.glob("*.toml")):
        result.extend(_parse(path))
    return tuple(result)


def by_id(directory: Path = REGISTRY_DIR) -> dict[str, Requirement]:
    """The registry keyed by id (a duplicated id keeps its first entry; the checker flags it)."""
    result: dict[str, Requirement] = {}
    for requirement in load(directory):
        result.setdefault(requirement.id, requirement)
    return result


def section_key(section: str) -> tuple[int, ...]:
    """Sort key of a section number: "5.10" after "5.9"."""
    return tuple(int(part) for part in section.split("."))
