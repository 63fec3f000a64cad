"""The traceability gate: registry ↔ RFC text, registry ↔ code citations, registry ↔ tests.

:func:`build` joins the three sources into one :class:`Traceability`; :func:`problems`
lists what the gate fails on. Two levels:

* always: a registry entry is malformed or duplicated, a quote isn't word for word in the
  section it names, a citation names a section that doesn't exist or an id that isn't
  registered (or an id of another section than the one it cites), a test marker names an
  unknown id;
* ``strict`` (the registry is complete): also every implemented requirement is cited in
  the code and marked on a test, every citation comment of a section that has registered
  requirements carries an id (or says ``[no keyword]``: it explains a sentence of that
  section without a normative keyword), and every section
  in scope (RFC 6455 §1-11, RFC 7692 §5-8) that has a normative keyword has entries.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from . import registry, spec, trace
from .registry import Requirement


@dataclass
class Traceability:
    """The registry with, for each requirement, where the code cites it and which tests mark it."""

    requirements: tuple[Requirement, ...]
    citations: list[trace.Citation]
    markers: list[trace.Marker]
    cited: dict[str, list[trace.Citation]] = field(default_factory=dict)
    tested: dict[str, list[trace.Marker]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        cited: dict[str, list[trace.Citation]] = defaultdict(list)
        for citation in self.citations:
            for rid in citation.ids:
                cited[rid].append(citation)
        tested: dict[str, list[trace.Marker]] = defaultdict(list)
        for marker in self.markers:
            for rid in marker.ids:
                tested[rid].append(marker)
        self.cited, self.tested = dict(cited), dict(tested)


def build() -> Traceability:
    """Read the registry, the library's citations and the tests' markers."""
    return Traceability(registry.load(), trace.citations(), trace.markers())


#: Written in a citation of a statement that has no normative keyword (so no id), in a
#: section that has registered requirements: ``# RFC 7692 §7.2.1 [no keyword]: ...``.
NO_KEYWORD = "[no keyword]"

_KEYWORD_IN_TEXT = re.compile(r"\b(MUST|REQUIRED|SHALL|SHOULD|RECOMMENDED|MAY|OPTIONAL)\b")


def problems(t: Traceability, *, strict: bool) -> list[str]:
    """Everything the gate fails on, one line each (empty: the gate passes)."""
    found: list[str] = []
    known = {r.id for r in t.requirements}
    registered = {(r.rfc, r.section) for r in t.requirements}
    seen: set[str] = set()
    for r in t.requirements:
        found.extend(f"{r.source} {r.id}: {p}" for p in r.problems)
        if r.id in seen:
            found.append(f"{r.source} {r.id}: duplicate id")
        seen.add(r.id)
        if r.rfc:
            low, high = registry.SCOPE[r.rfc]
            if not low <= registry.section_key(r.section)[0] <= high:
                found.append(f"{r.source} {r.id}: §{r.section} is outside RFC {r.rfc}'s scope")
            problem = spec.quote_problem(r.rfc, r.section, r.quote)
            if problem:
                found.append(f"{r.source} {r.id}: {problem}")

    for c in t.citations:
        for rfc, section in sorted(c.sections):
            if rfc in spec.TEXT_FILES and not spec.section_exists(rfc, section):
                found.append(f"{c.location}: RFC {rfc} has no §{section}")
        for rid in c.ids:
            if rid not in known:
                found.append(f"{c.location}: unknown requirement id {rid}")
                continue
            match = registry.ID_PATTERN.match(rid)
            assert match is not None
            if (int(match.group("rfc")), match.group("section")) not in c.sections:
                found.append(
                    f"{c.location}: {rid} is a requirement of RFC {match.group('rfc')} "
                    f"§{match.group('section')}, but the comment doesn't cite that section"
                )
        if strict and not c.ids and c.sections & registered and NO_KEYWORD not in c.text:
            # A section with registered requirements: the comment must say which one it
            # enforces. (Sections without normative keywords, e.g. RFC 6455 §7.1.5, and
            # RFCs outside the registry, e.g. RFC 7230 or RFC 6585, have no ids to name;
            # nor has a sentence without a keyword in a section that has others, e.g. the
            # steps of RFC 7692 §7.2.1's compression algorithm: the comment says so with
            # NO_KEYWORD.)
            found.append(f"{c.location}: citation without a requirement id: {c.text!r}")

    for m in t.markers:
        for rid in m.ids:
            if rid not in known:
                found.append(f"{m.location}: test marker names unknown requirement id {rid}")

    if strict:
        for r in t.requirements:
            if not r.applicable:
                continue
            if r.id not in t.cited:
                found.append(f"{r.source} {r.id}: implemented, but no code citation names it")
            if r.id not in t.tested:
                found.append(f"{r.source} {r.id}: implemented, but no test is marked with it")
        found.extend(_uncovered_sections(t))
    return found


def _uncovered_sections(t: Traceability) -> list[str]:
    """Sections in scope whose text has a normative keyword but no registry entry."""
    covered = {(r.rfc, r.section) for r in t.requirements}
    missing = []
    for rfc, (low, high) in registry.SCOPE.items():
        for number, section in spec.sections(rfc).items():
            if not low <= registry.section_key(number)[0] <= high:
                continue
            if _KEYWORD_IN_TEXT.search(section.text) and (rfc, number) not in covered:
                missing.append(f"RFC {rfc} §{number} has normative keywords but no entry")
    return missing
