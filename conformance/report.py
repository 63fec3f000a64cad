"""Summaries of wstest's reports, the CI gate, and the README's summary block.

Everything here is pure data processing on files wstest and the harness already wrote, so it
is testable on synthetic reports without wstest. The harness writes ``run.json`` (which
testees ran, which case ids were expected, how each run ended, wall times); wstest writes
``<testee>/index.json`` and one JSON file per case. The summary joins them; the gate judges
the summary, so a missing or truncated report fails it just like a failing case does.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

BEHAVIORS = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED")
CLOSE_BEHAVIORS = ("OK", "INFORMATIONAL", "WRONG CODE", "FAILED BY CLIENT", "UNCLEAN", "FAILED")
#: Case behaviors the gate accepts; anything else (FAILED, UNIMPLEMENTED, unknown) fails it.
PASSING_BEHAVIORS = frozenset({"OK", "NON-STRICT", "INFORMATIONAL"})
#: Closing behaviors the gate rejects: wstest's own report paints both red.
FAILING_CLOSE_BEHAVIORS = frozenset({"FAILED", "UNCLEAN"})

SECTIONS: dict[str, str] = {
    "1": "Framing",
    "2": "Pings/Pongs",
    "3": "Reserved bits",
    "4": "Opcodes",
    "5": "Fragmentation",
    "6": "UTF-8 handling",
    "7": "Close handling",
    "9": "Limits/performance",
    "10": "Misc",
    "12": "Compression (payloads)",
    "13": "Compression (parameters)",
}

SUMMARY_START = "<!-- conformance-summary:start -->"
SUMMARY_END = "<!-- conformance-summary:end -->"
HANDSHAKE_START = "<!-- handshake-summary:start -->"
HANDSHAKE_END = "<!-- handshake-summary:end -->"

JSON = dict[str, Any]


def case_key(case_id: str) -> tuple[int, ...]:
    """Sort key that orders case ids numerically (``9.10.1`` after ``9.2.1``)."""
    return tuple(int(part) if part.isdigit() else 0 for part in case_id.split("."))


def section_of(case_id: str) -> str:
    """The suite section (first component) a case id belongs to."""
    return case_id.split(".", 1)[0]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _case_detail(outdir: Path, entry: Mapping[str, Any]) -> JSON:
    """The per-case JSON wstest wrote (description, expectation, result), or {}."""
    reportfile = entry.get("reportfile")
    if not isinstance(reportfile, str):
        return {}
    detail = _read_json(outdir / reportfile)
    return detail if isinstance(detail, dict) else {}


def _clean(value: Any, limit: int = 400) -> str:
    """One-line plain text from wstest's HTML-ish descriptions, for Markdown tables."""
    text = " ".join(re.sub(r"<[^>]+>", " ", str(value or "")).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def summarize_testee(
    name: str, run_info: Mapping[str, Any], outdir: Path, expected: Sequence[str]
) -> JSON:
    """Summarise one testee's wstest report against the case ids the run expected."""
    if isinstance(run_info.get("expected_cases"), list):  # the handshake suite: per role
        expected = [str(c) for c in run_info["expected_cases"]]
    index = _read_json(outdir / "index.json")
    cases: Mapping[str, Any] = {}
    if isinstance(index, dict) and isinstance(index.get(name), dict):
        cases = index[name]
    behavior: Counter[str] = Counter()
    behavior_close: Counter[str] = Counter()
    sections: dict[str, dict[str, Counter[str]]] = {}
    failing: list[JSON] = []
    non_strict: list[JSON] = []
    informational: list[JSON] = []
    for case_id in sorted(cases, key=case_key):
        entry = cases[case_id]
        b = str(entry.get("behavior"))
        bc = str(entry.get("behaviorClose"))
        behavior[b] += 1
        behavior_close[bc] += 1
        sec = sections.setdefault(
            section_of(case_id), {"behavior": Counter(), "behaviorClose": Counter()}
        )
        sec["behavior"][b] += 1
        sec["behaviorClose"][bc] += 1
        failed = b not in PASSING_BEHAVIORS or bc in FAILING_CLOSE_BEHAVIORS
        if not failed and b == "OK":
            continue
        detail = _case_detail(outdir, entry)
        item = {
            "id": case_id,
            "behavior": b,
            "behaviorClose": bc,
            "description": _clean(detail.get("description")),
            "expectation": _clean(detail.get("expectation")),
            "result": _clean(detail.get("result")),
            "resultClose": _clean(detail.get("resultClose")),
            "remoteCloseCode": entry.get("remoteCloseCode"),
        }
        if failed:
            failing.append(item)
        elif b == "NON-STRICT":
            non_strict.append(item)
        else:
            informational.append(item)
    missing = sorted(set(expected) - set(cases), key=case_key)
    return {
        "name": name,
        "kind": run_info.get("kind", "?"),
        "status": run_info.get("status", "not-run"),
        "detail": run_info.get("detail", ""),
        "notes": list(run_info.get("notes", [])),
        "wall_time": run_info.get("wall_time"),
        "last_case": run_info.get("last_case"),
        "expected": len(expected),
        "reported": len(cases),
        "missing_cases": missing,
        "behavior": dict(behavior),
        "behaviorClose": dict(behavior_close),
        "sections": {
            key: {"behavior": dict(v["behavior"]), "behaviorClose": dict(v["behaviorClose"])}
            for key, v in sorted(sections.items(), key=lambda kv: case_key(kv[0]))
        },
        "failing": failing,
        "non_strict": non_strict,
        "informational": informational,
    }


def build_summary(reports_dir: Path, testees: Iterable[str] | None = None) -> JSON:
    """Summary of the last run under ``reports_dir``; ``testees`` defaults to those it ran."""
    run = _read_json(reports_dir / "run.json")
    if not isinstance(run, dict):
        run = {}
    run_testees: Mapping[str, Any] = run.get("testees", {}) or {}
    names = list(testees) if testees is not None else list(run_testees)
    expected = [str(c) for c in run.get("expected_cases", [])]
    return {
        "suite": run.get("suite", "autobahn"),
        "wstest": run.get("wstest", ""),
        "started": run.get("started", ""),
        "wall_time": run.get("wall_time"),
        "jobs": run.get("jobs"),
        "cases": run.get("cases", []),
        "exclude_cases": run.get("exclude_cases", []),
        "full_suite": bool(run.get("full_suite", False)),
        "expected_cases": len(expected),
        "testees": {
            name: summarize_testee(name, run_testees.get(name, {}), reports_dir / name, expected)
            for name in names
        },
    }


def gate_problems(
    summary: Mapping[str, Any], required: Iterable[str], *, allow_partial: bool = False
) -> list[str]:
    """Every reason the gate fails; empty means it passes.

    It fails on no data as loudly as on bad data: a required testee that did not run, ran
    no case, or reported fewer cases than expected is a problem, as is a partial case
    selection unless ``allow_partial``.
    """
    problems: list[str] = []
    if not allow_partial and not summary.get("full_suite"):
        problems.append("the last run did not cover the full suite (run without --cases)")
    if not summary.get("expected_cases"):
        problems.append("no expected case list: run `python3 -m conformance run` first")
    testees: Mapping[str, Any] = summary.get("testees", {})
    for name in required:
        t = testees.get(name)
        if t is None or t.get("status") == "not-run":
            problems.append(f"{name}: not run")
            continue
        if t.get("status") != "ok":
            problems.append(f"{name}: {t.get('status')}: {t.get('detail', '')}".rstrip(": "))
        if not t.get("expected"):  # nothing of this suite applies to this testee's role
            continue
        if not t.get("reported") and t.get("status") != "missing":
            problems.append(f"{name}: no report (index.json missing or empty)")
        elif t.get("missing_cases"):
            missing = t["missing_cases"]
            shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
            problems.append(f"{name}: {len(missing)} expected case(s) not reported: {shown}")
        groups: dict[tuple[str, str], list[str]] = {}
        for item in t.get("failing", []):
            groups.setdefault((item["behavior"], item["behaviorClose"]), []).append(item["id"])
        for (behavior, close), ids in groups.items():
            shown = ", ".join(ids[:20]) + (" ..." if len(ids) > 20 else "")
            problems.append(
                f"{name}: {len(ids)} case(s) with behavior {behavior}, close {close}: {shown}"
            )
    return problems


def _counts_row(counter: Mapping[str, int], keys: Sequence[str]) -> list[str]:
    extra = sum(v for k, v in counter.items() if k not in keys)
    return [str(counter.get(k, 0)) for k in keys] + ([f"+{extra} other"] if extra else [])


def _fmt_time(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return lines


def overview_table(summary: Mapping[str, Any]) -> list[str]:
    """One row per testee: status, case counts by behavior, failing closes, wall time."""
    rows = []
    for t in summary.get("testees", {}).values():
        close = t.get("behaviorClose", {})
        bad_close = sum(close.get(k, 0) for k in FAILING_CLOSE_BEHAVIORS)
        rows.append(
            [
                f"`{t['name']}`",
                t["kind"],
                t["status"],
                f"{t['reported']}/{t['expected']}",
                *[str(t["behavior"].get(k, 0)) for k in BEHAVIORS],
                str(bad_close),
                _fmt_time(t.get("wall_time")),
            ]
        )
    header = ["testee", "kind", "status", "cases", *BEHAVIORS, "close FAILED", "wall time"]
    return _table(header, rows)


def _handshake_sections() -> dict[str, str]:
    from .handshake.model import SECTIONS as HANDSHAKE_SECTIONS

    return HANDSHAKE_SECTIONS


def unfinished_lines(summary: Mapping[str, Any]) -> list[str]:
    """One line per testee whose run did not end cleanly: how it ended, where, and why."""
    lines = []
    for t in summary.get("testees", {}).values():
        if t.get("status") == "ok" and not t.get("missing_cases"):
            continue
        where = f", last case {t['last_case']}" if t.get("last_case") else ""
        lines.append(
            f"- `{t['name']}`: {t['status']}{where}; {t['reported']}/{t['expected']} cases "
            f"reported after {_fmt_time(t.get('wall_time'))}"
            + (f" — {t['detail']}" if t.get("detail") else "")
        )
    return lines


def render_markdown(summary: Mapping[str, Any], problems: Sequence[str]) -> str:
    """The full human summary: overview, per-section counts, failing and non-OK cases."""
    handshake = summary.get("suite") == "handshake"
    sections = _handshake_sections() if handshake else SECTIONS
    title = "Handshake suite" if handshake else "Autobahn|Testsuite"
    out = [f"# {title} conformance summary", ""]
    label = "suite" if handshake else "wstest"
    out.append(f"- {label}: {' / '.join(str(summary.get('wstest', '')).splitlines()) or '?'}")
    out.append(f"- run started: {summary.get('started') or '?'}")
    out.append(
        f"- total wall time: {_fmt_time(summary.get('wall_time'))} "
        f"({summary.get('jobs') or '?'} testees at a time)"
    )
    sel = ", ".join(summary.get("cases", [])) or "?"
    excl = ", ".join(summary.get("exclude_cases", []))
    out.append(
        f"- cases: {sel}{' minus ' + excl if excl else ''} "
        f"({summary.get('expected_cases', 0)} per testee)"
    )
    verdict = "PASS" if not problems else f"FAIL ({len(problems)} problem(s))"
    out += [f"- gate: **{verdict}**", "", "## Overview", "", *overview_table(summary), ""]
    unfinished = unfinished_lines(summary)
    if unfinished:
        out += ["## Did not finish", "", *unfinished, ""]
    for t in summary.get("testees", {}).values():
        out += [f"## `{t['name']}` ({t['kind']})", ""]
        out.append(
            f"Status: {t['status']}{' — ' + t['detail'] if t.get('detail') else ''}; "
            f"{t['reported']}/{t['expected']} cases reported; "
            f"wall time {_fmt_time(t.get('wall_time'))}."
        )
        out += [f"- note: {n}" for n in t.get("notes", [])]
        out.append("")
        if t["sections"]:
            rows = []
            for sec, counts in t["sections"].items():
                rows.append(
                    [
                        f"{sec} {sections.get(sec, '')}".strip(),
                        *_counts_row(counts["behavior"], BEHAVIORS)[: len(BEHAVIORS)],
                        ", ".join(f"{k} {v}" for k, v in sorted(counts["behaviorClose"].items())),
                    ]
                )
            out += _table(["section", *BEHAVIORS, "behaviorClose"], rows)
            out.append("")
        if t.get("missing_cases"):
            missing = t["missing_cases"]
            out.append(
                f"Not reported ({len(missing)}): {', '.join(missing[:50])}"
                f"{' ...' if len(missing) > 50 else ''}"
            )
            out.append("")
        for title, key in (
            ("Failing cases", "failing"),
            ("NON-STRICT cases", "non_strict"),
            ("INFORMATIONAL cases", "informational"),
        ):
            items = t.get(key, [])
            if not items:
                continue
            out += [f"### {title} ({len(items)})", ""]
            if handshake:
                rows = [
                    [i["id"], i["behavior"], i["description"], i["expectation"], i["result"]]
                    for i in items
                ]
                out += _table(["case", "behavior", "description", "expected", "observed"], rows)
                out.append("")
                continue
            rows = [
                [
                    i["id"],
                    i["behavior"],
                    f"{i['behaviorClose']} ({i.get('remoteCloseCode')})",
                    i["description"],
                    i["result"] + (f" / close: {i['resultClose']}" if key == "failing" else ""),
                ]
                for i in items
            ]
            out += _table(["case", "behavior", "close (code)", "description", "result"], rows)
            out.append("")
    if problems:
        out += ["## Gate problems", "", *[f"- {p}" for p in problems], ""]
    return "\n".join(out)


def write_summary(reports_dir: Path, summary: Mapping[str, Any], problems: Sequence[str]) -> str:
    """Write summary.json and summary.md beside the reports; return the Markdown."""
    data = {**summary, "gate": {"passed": not problems, "problems": list(problems)}}
    reports_dir.mkdir(parents=True, exist_ok=True)
    (reports_dir / "summary.json").write_text(json.dumps(data, indent=2) + "\n")
    text = render_markdown(summary, problems)
    (reports_dir / "summary.md").write_text(text + "\n")
    return text


def readme_block(summary: Mapping[str, Any], problems: Sequence[str]) -> str:
    """The compact table that goes between the README markers."""
    wstest = " / ".join(str(summary.get("wstest", "")).splitlines()) or "wstest"
    started = str(summary.get("started", ""))[:10] or "?"
    verdict = "passes" if not problems else "fails"
    if summary.get("suite") == "handshake":
        head = (
            f"{wstest}, run {started}: server cases for the servers, client cases for the "
            f"clients; the gate {verdict}. Regenerate with "
            "`python3 -m conformance run --suite handshake && python3 -m conformance readme`."
        )
    else:
        head = (
            f"Autobahn|Testsuite ({wstest}), run {started}: "
            f"{summary.get('expected_cases', 0)} cases per testee; the gate {verdict}. "
            "Regenerate with `python3 -m conformance run && python3 -m conformance readme`."
        )
    lines = [
        head,
        "",
        *overview_table(summary),
    ]
    return "\n".join(lines)


def replace_block(
    text: str, block: str, start_marker: str = SUMMARY_START, end_marker: str = SUMMARY_END
) -> str:
    """Replace what lies between the summary markers, leaving the rest of the text intact.

    Raises ValueError if the markers are missing or out of order: the README belongs to the
    project, so the harness never adds markers or content outside them.
    """
    start = text.find(start_marker)
    end = text.find(end_marker)
    if start < 0 or end < 0 or end < start:
        raise ValueError(f"README needs the markers {start_marker} and {end_marker}, in that order")
    head = text[: start + len(start_marker)]
    return head + "\n" + block.strip("\n") + "\n" + text[end:]
