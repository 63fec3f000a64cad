"""Live progress of a conformance run: what each testee is doing, and when it will be done.

wstest's log (with the driver's ``CASE-DONE`` lines, see ``_wstest_driver.py``) is the one
source that works for every testee, ours or a user's, server or client: the harness follows
the log file as it grows and feeds each line to :class:`CaseProgress`. The estimate weighs
the remaining cases by how long each group of cases took on a reference run, scaled by how
fast this machine has been so far: the suite is very uneven (sections 12 and 13 are 99% of
its time), so counting cases alone would promise the end far too early.

Pure logic: no processes, no clocks of its own (times are passed in), so it is tested on
synthetic logs.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_STARTED = re.compile(r"^Running test case ID (\S+) for agent (\S+)")
_DONE = re.compile(r"^CASE-DONE (\S+) (\S+) (\S+)")

#: Seconds one case of each group took on the reference run (sansio_server alone, idle
#: 2-core machine, CPython 2.7 wstest; see conformance/README.md). Groups not listed take
#: about :data:`DEFAULT_CASE_SECONDS`. Only the ratios matter: the estimate rescales them.
GROUP_SECONDS: dict[str, float] = {
    "5": 0.10,
    "9.1": 0.06,
    "9.2": 0.07,
    "9.3": 0.08,
    "9.4": 0.08,
    "9.5": 0.12,
    "9.6": 0.12,
    "9.7": 0.10,
    "9.8": 0.10,
    "12.1": 1.15,
    "12.2": 3.71,
    "12.3": 3.64,
    "12.4": 1.63,
    "12.5": 4.63,
    "13.1": 1.26,
    "13.2": 1.75,
    "13.3": 1.70,
    "13.4": 1.76,
    "13.5": 1.79,
    "13.6": 1.41,
    "13.7": 1.45,
}
#: Seconds for a case of a group not in :data:`GROUP_SECONDS` (connection set-up included).
DEFAULT_CASE_SECONDS = 0.03


def case_weight(case_id: str) -> float:
    """Expected seconds of one case on the reference machine."""
    parts = case_id.split(".")
    for prefix in (".".join(parts[:2]), parts[0]):
        if prefix in GROUP_SECONDS:
            return GROUP_SECONDS[prefix]
    return DEFAULT_CASE_SECONDS


def suite_weight(case_ids: Iterable[str]) -> float:
    """Expected seconds of these cases on the reference machine (for balancing testees)."""
    return sum(case_weight(c) for c in case_ids)


def fmt_duration(seconds: float | None) -> str:
    """``1h02m``, ``4m05s`` or ``12s``; ``?`` when unknown."""
    if seconds is None:
        return "?"
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


@dataclass
class CaseProgress:
    """What one testee's run has done so far, from wstest's log lines."""

    name: str
    expected: Sequence[str]
    started_at: float
    current: str | None = None
    done: list[str] = field(default_factory=list)
    behaviors: Counter[str] = field(default_factory=Counter)
    last_progress_at: float = 0.0
    finished_at: float | None = None
    status: str = "starting"

    def __post_init__(self) -> None:
        self.last_progress_at = self.started_at
        self._done_set: set[str] = set()

    def feed(self, line: str, now: float) -> None:
        """Take one line of wstest's output."""
        if match := _STARTED.match(line):
            self.current = match.group(1)
            self.status = "running"
            self.last_progress_at = now
        elif match := _DONE.match(line):
            case_id, behavior, close = match.groups()
            if case_id not in self._done_set:
                self._done_set.add(case_id)
                self.done.append(case_id)
                failed = behavior not in {"OK", "NON-STRICT", "INFORMATIONAL"} or close in {
                    "FAILED",
                    "UNCLEAN",
                }
                self.behaviors["FAILED" if failed else behavior] += 1
            if self.current == case_id:
                self.current = None
            self.last_progress_at = now

    def feed_all(self, lines: Iterable[str], now: float) -> None:
        for line in lines:
            self.feed(line, now)

    def idle_for(self, now: float) -> float:
        """Seconds since a case last started or finished (the stall clock)."""
        return now - self.last_progress_at

    def elapsed(self, now: float) -> float:
        return (self.finished_at or now) - self.started_at

    def remaining(self, now: float) -> float | None:
        """Seconds left: reference weights of the cases left, scaled by the speed so far.

        None until at least a little weight is done, so the first minutes don't promise
        an end that the compression sections will break.
        """
        done_weight = sum(case_weight(c) for c in self.done)
        left = [c for c in self.expected if c not in self._done_set]
        left_weight = sum(case_weight(c) for c in left)
        if not left:
            return 0.0
        if done_weight < 1.0:
            return None
        return self.elapsed(now) * left_weight / done_weight

    def line(self, now: float) -> str:
        """One status line for the terminal."""
        total = len(self.expected)
        count = len(self.done)
        pct = f"{100 * count // total}%" if total else "-"
        parts = [f"{self.name}: {count}/{total} ({pct})"]
        if self.status not in {"running", "starting"}:
            parts.append(self.status)
        elif self.current:
            parts.append(f"case {self.current}")
        parts.append(f"{fmt_duration(self.elapsed(now))} elapsed")
        if self.finished_at is None and count < total:
            parts.append(f"~{fmt_duration(self.remaining(now))} left")
        bad = self.behaviors.get("FAILED", 0)
        if bad:
            parts.append(f"{bad} FAILED")
        return ", ".join(parts)


class LogFollower:
    """Complete lines appended to a file since the last call (a file being written)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def new_lines(self) -> list[str]:
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                data = f.read()
        except OSError:
            return []
        self._offset += len(data)
        data = self._partial + data
        *complete, self._partial = data.split(b"\n")
        return [line.decode(errors="replace").rstrip("\r") for line in complete]
