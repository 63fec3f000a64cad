"""The RFC texts the registry quotes, cut into sections, for checking quotes word for word.

RFC 6455 is stored here whole (``rfc6455.txt``, identical to the copy CI reads from
``../shared/spec``). RFC 7692 is stored as the passages the registry quotes
(``rfc7692-quotes.txt``): each passage under a ``§<section>`` line, copied from the RFC's
text and checked against two independent copies of it (sources listed in that file).

Quotes are compared after the same normalisation on both sides: page footers, page
headers and form feeds removed, a line that ends with a hyphen joined to the next without
a space (the RFCs break lines only after the hyphen of a compound such as
``case-insensitive``), every other run of white space collapsed to one space.

A quote may skip words with an ellipsis (``…``): each part is then checked word for word
and the parts must come in order within the section. That is how a step of an algorithm
is quoted with the sentence whose keyword introduces the algorithm (RFC 6455 §2:
"Requirements phrased in the imperative as part of algorithms [...] are to be interpreted
with the meaning of the key word [...] used in introducing the algorithm").
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: CI's read-only copy of the RFC texts, next to the clone, when there is one.
ROOT_SHARED = HERE.parents[2] / "shared" / "spec"

#: Where each RFC's text is stored.
TEXT_FILES: dict[int, Path] = {
    6455: HERE / "rfc6455.txt",
    7692: HERE / "rfc7692-quotes.txt",
}

# "Fette & Melnikov             Standards Track                    [Page 12]"
_FOOTER = re.compile(r"^\S.*\[Page \d+\]\s*$")
# "RFC 6455                 The WebSocket Protocol            December 2011"
_HEADER = re.compile(r"^RFC \d{4} {2,}\S.*\s(19|20)\d\d\s*$")
# "5.5.2.  Ping" at column 0 (RFC 6455); "§7.2.1" marks a passage in the quotes file.
_HEADING = re.compile(r"^(\d+(?:\.\d+)*)\.\s{2}\S")
_QUOTE_HEADING = re.compile(r"^§(\d+(?:\.\d+)*)\s*$")
#: Marks words left out of a quote (see the module doc).
ELLIPSIS = "…"


@dataclass(frozen=True)
class Section:
    """One numbered section: its number, its title, and its own text (without subsections)."""

    number: str
    title: str
    text: str  # normalised
    first_line: int  # 1-based line of the heading in the stored file


def normalize(text: str) -> str:
    """Collapse ``text`` the way quotes and the RFC are compared (see the module doc)."""
    text = re.sub(r"-\n\s*", "-", text)
    return re.sub(r"\s+", " ", text).strip()


def _clean_lines(raw: str) -> list[str]:
    lines = []
    for line in raw.replace("\f", "\n").split("\n"):
        if _FOOTER.match(line) or _HEADER.match(line):
            lines.append("")
        else:
            lines.append(line.rstrip())
    return lines


@functools.cache
def sections(rfc: int) -> dict[str, Section]:
    """The numbered sections of ``rfc`` as stored, by number ("5.5.2")."""
    raw = TEXT_FILES[rfc].read_text(encoding="utf-8")
    lines = _clean_lines(raw)
    if rfc == 7692:  # the quotes file's own comment and contents lines
        lines = ["" if line.startswith(("#", "sections:")) else line for line in lines]
    heading = _QUOTE_HEADING if rfc == 7692 else _HEADING
    found: list[tuple[str, str, int]] = []
    for index, line in enumerate(lines):
        match = heading.match(line)
        if match and (rfc == 7692 or _in_body(lines, index)):
            title = "" if rfc == 7692 else line[match.end() - 1 :].strip()
            found.append((match.group(1), title, index))
    result: dict[str, Section] = {}
    for position, (number, title, index) in enumerate(found):
        end = found[position + 1][2] if position + 1 < len(found) else len(lines)
        body = "\n".join(lines[index + 1 : end])
        if number in result:  # the quotes file may list a section more than once
            previous = result[number]
            body = previous.text + "\n\n" + body
            result[number] = Section(number, previous.title, normalize(body), previous.first_line)
        else:
            result[number] = Section(number, title, normalize(body), index + 1)
    return result


def _in_body(lines: list[str], index: int) -> bool:
    """True for a heading line, False for an entry of the table of contents."""
    return " . . " not in lines[index]


def section_exists(rfc: int, section: str) -> bool:
    """Tell whether ``section`` is a numbered section of ``rfc`` (7692: any section number
    of the RFC, stored passage or not)."""
    if rfc == 7692:
        return section in rfc7692_sections()
    return section in sections(rfc)


def quote_problem(rfc: int, section: str, quote: str) -> str | None:
    """Why ``quote`` isn't word for word in ``section`` of ``rfc``, or None if it is."""
    if rfc not in TEXT_FILES:
        return f"RFC {rfc} is not stored"
    if not section_exists(rfc, section):
        return f"RFC {rfc} has no section {section}"
    stored = sections(rfc).get(section)
    if stored is None:
        return f"no passage of RFC {rfc} §{section} is stored in {TEXT_FILES[rfc].name}"
    parts = [normalize(part) for part in quote.split(ELLIPSIS)]
    if not any(parts):
        return "empty quote"
    if not all(parts):
        return f"empty part around {ELLIPSIS}"
    if _in_order(parts, stored.text):
        return None
    for other in sections(rfc).values():
        if _in_order(parts, other.text):
            return f"quote is in §{other.number}, not §{section}"
    return "quote is not in the RFC text"


def _in_order(parts: list[str], text: str) -> bool:
    """Tell whether each of ``parts`` occurs in ``text``, each after the previous one."""
    position = 0
    for part in parts:
        found = text.find(part, position)
        if found < 0:
            return False
        position = found + len(part)
    return True


@functools.cache
def rfc7692_sections() -> frozenset[str]:
    """Every numbered section of RFC 7692 (its table of contents), stored passage or not.

    Read from the ``sections:`` line of the quotes file, copied from the RFC's contents.
    """
    for line in TEXT_FILES[7692].read_text(encoding="utf-8").splitlines():
        if line.startswith("sections:"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()
