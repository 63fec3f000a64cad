"""Cases of the handshake suite: what each one checks, which requirements it proves, grades.

A case belongs to one role of the implementation under test. ``server`` cases open their
own connections to the server (raw sockets); ``client`` cases get a connection the client
under test opened to the suite's scripted server, with its request already read, and answer
it. Each returns an :class:`Outcome` graded like Autobahn's:

- ``OK``: what the RFC requires (or the better of its choices);
- ``NON-STRICT``: acceptable but not what a SHOULD asks for (e.g. no Close frame before
  closing TCP after bad input, or a close code other than the suggested one);
- ``INFORMATIONAL``: the RFC leaves the behaviour open; the report says what happened;
- ``FAILED``: a MUST is broken.

Every case names the requirement ids of ``conformance/rfc/registry/*.toml`` it exercises.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

OK, NON_STRICT, INFORMATIONAL, FAILED = "OK", "NON-STRICT", "INFORMATIONAL", "FAILED"
Role = Literal["server", "client"]


@dataclass(frozen=True)
class Outcome:
    behavior: str
    observed: str


@dataclass(frozen=True)
class Case:
    id: str
    role: Role
    title: str
    expectation: str
    requirements: tuple[str, ...]
    run: Callable[[Any], Outcome]

    @property
    def section(self) -> str:
        return self.id.split(".", 1)[0]


SECTIONS: dict[str, str] = {
    "1": "Server: valid opening handshakes",
    "2": "Server: invalid opening handshakes",
    "3": "Client: valid server responses",
    "4": "Client: invalid server responses",
    "5": "Server: permessage-deflate negotiation",
    "6": "Client: permessage-deflate negotiation",
    "7": "permessage-deflate streams",
    "8": "Close and ping rules",
}


class Registry:
    """Cases in definition order, numbered within their subsection."""

    def __init__(self) -> None:
        self.cases: list[Case] = []
        self._next: dict[str, int] = {}

    def add(
        self,
        group: str,
        role: Role,
        title: str,
        expectation: str,
        requirements: Sequence[str],
        run: Callable[[Any], Outcome],
    ) -> Case:
        n = self._next.get(group, 0) + 1
        self._next[group] = n
        case = Case(f"{group}.{n}", role, title, expectation, tuple(requirements), run)
        self.cases.append(case)
        return case


REGISTRY = Registry()
