"""The summary, the gate and the README block, on synthetic wstest reports (no wstest)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conformance import __main__ as cli
from conformance import report

CASES = ["1.1.1", "2.1", "6.4.1", "7.13.1", "9.1.6", "12.1.1"]
OK_CLOSE = {"behaviorClose": "OK", "remoteCloseCode": 1000}


def write_reports(
    tmp: Path,
    testees: dict[str, dict[str, dict[str, Any]] | None],
    *,
    status: str = "ok",
    full_suite: bool = True,
    expected: list[str] | None = None,
) -> Path:
    """A reports folder as the harness and wstest leave it: run.json, index.json, case JSON."""
    run: dict[str, Any] = {
        "started": "2026-01-01T00:00:00+00:00",
        "wall_time": 42.0,
        "jobs": 2,
        "wstest": "Autobahn 0.10.9\nAutobahnTestSuite 25.10.1",
        "cases": ["*"] if full_suite else ["1.*"],
        "exclude_cases": [],
        "full_suite": full_suite,
        "expected_cases": CASES if expected is None else expected,
        "testees": {},
    }
    for name, cases in testees.items():
        run["testees"][name] = {
            "kind": "server",
            "status": status,
            "detail": "",
            "notes": [],
            "wall_time": 10.0,
        }
        if cases is None:
            continue
        outdir = tmp / name
        outdir.mkdir(parents=True)
        index = {}
        for case_id, entry in cases.items():
            reportfile = f"{name}_case_{case_id.replace('.', '_')}.json"
            index[case_id] = {"duration": 3, "reportfile": reportfile, **OK_CLOSE, **entry}
            detail = {
                "description": f"<p>Description of {case_id}</p>",
                "expectation": f"Expect {case_id}",
                "result": f"Result of {case_id}",
                "resultClose": "Connection was properly closed",
            }
            (outdir / reportfile).write_text(json.dumps(detail))
        (outdir / "index.json").write_text(json.dumps({name: index}))
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "run.json").write_text(json.dumps(run))
    return tmp


def all_ok(**overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    cases = {c: {"behavior": "OK"} for c in CASES}
    for case_id, entry in overrides.items():
        cases[case_id.replace("_", ".")] = entry
    return cases


def problems(tmp: Path, required: list[str], **kwargs: Any) -> list[str]:
    return report.gate_problems(report.build_summary(tmp, required), required, **kwargs)


def test_gate_passes_on_ok_non_strict_and_informational(tmp_path: Path) -> None:
    cases = all_ok(
        **{
            "2_1": {"behavior": "NON-STRICT"},
            "7_13_1": {"behavior": "INFORMATIONAL", "behaviorClose": "INFORMATIONAL"},
            "6_4_1": {"behavior": "OK", "behaviorClose": "WRONG CODE"},
        }
    )
    tmp = write_reports(tmp_path, {"a": cases, "b": all_ok()})
    assert problems(tmp, ["a", "b"]) == []


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"behavior": "FAILED"}, "behavior FAILED"),
        ({"behavior": "UNIMPLEMENTED"}, "behavior UNIMPLEMENTED"),
        ({"behavior": "OK", "behaviorClose": "FAILED"}, "close FAILED"),
        ({"behavior": "OK", "behaviorClose": "UNCLEAN"}, "close UNCLEAN"),
        ({"behavior": "SOMETHING NEW"}, "behavior SOMETHING NEW"),
    ],
)
def test_gate_fails_on_bad_case(tmp_path: Path, entry: dict[str, Any], expected: str) -> None:
    tmp = write_reports(tmp_path, {"a": all_ok(**{"9_1_6": entry})})
    found = problems(tmp, ["a"])
    assert len(found) == 1
    assert "9.1.6" in found[0] and expected in found[0]


def test_gate_fails_on_missing_testee(tmp_path: Path) -> None:
    tmp = write_reports(tmp_path, {"a": all_ok()})
    assert problems(tmp, ["a", "b"]) == ["b: not run"]


def test_gate_fails_on_testee_without_report(tmp_path: Path) -> None:
    tmp = write_reports(tmp_path, {"a": None})
    assert any("no report" in p for p in problems(tmp, ["a"]))


def test_gate_fails_on_missing_api(tmp_path: Path) -> None:
    tmp = write_reports(tmp_path, {"a": None}, status="missing")
    assert any(p.startswith("a: missing") for p in problems(tmp, ["a"]))


def test_gate_fails_on_truncated_report(tmp_path: Path) -> None:
    cases = all_ok()
    del cases["12.1.1"], cases["9.1.6"]
    tmp = write_reports(tmp_path, {"a": cases})
    found = problems(tmp, ["a"])
    assert found == ["a: 2 expected case(s) not reported: 9.1.6, 12.1.1"]


def test_gate_fails_on_crashed_run_even_with_all_ok(tmp_path: Path) -> None:
    tmp = write_reports(tmp_path, {"a": all_ok()}, status="error")
    assert any(p.startswith("a: error") for p in problems(tmp, ["a"]))


def test_gate_fails_on_no_data_at_all(tmp_path: Path) -> None:
    found = problems(tmp_path, ["a"])
    assert "a: not run" in found
    assert any("no expected case list" in p for p in found)


def test_gate_fails_on_partial_suite_unless_allowed(tmp_path: Path) -> None:
    tmp = write_reports(tmp_path, {"a": all_ok()}, full_suite=False)
    assert any("full suite" in p for p in problems(tmp, ["a"]))
    assert problems(tmp, ["a"], allow_partial=True) == []


def test_summary_counts_sections_and_lists_cases(tmp_path: Path) -> None:
    cases = all_ok(
        **{
            "2_1": {"behavior": "NON-STRICT"},
            "7_13_1": {"behavior": "INFORMATIONAL", "behaviorClose": "INFORMATIONAL"},
            "12_1_1": {"behavior": "UNIMPLEMENTED"},
        }
    )
    tmp = write_reports(tmp_path, {"a": cases})
    summary = report.build_summary(tmp)
    t = summary["testees"]["a"]
    assert t["reported"] == t["expected"] == len(CASES)
    assert t["behavior"] == {"OK": 3, "NON-STRICT": 1, "INFORMATIONAL": 1, "UNIMPLEMENTED": 1}
    assert t["behaviorClose"] == {"OK": 5, "INFORMATIONAL": 1}
    assert t["sections"]["12"]["behavior"] == {"UNIMPLEMENTED": 1}
    assert list(t["sections"]) == ["1", "2", "6", "7", "9", "12"]
    assert [i["id"] for i in t["failing"]] == ["12.1.1"]
    assert t["failing"][0]["description"] == "Description of 12.1.1"
    assert t["non_strict"][0]["result"] == "Result of 2.1"
    assert t["informational"][0]["id"] == "7.13.1"

    problems_ = report.gate_problems(summary, ["a"])
    text = report.write_summary(tmp, summary, problems_)
    assert "Description of 12.1.1" in text and "Result of 2.1" in text
    assert "| 12 Compression (payloads) | 0 | 0 | 0 | 1 | 0 | OK 1 |" in text
    data = json.loads((tmp / "summary.json").read_text())
    assert data["gate"]["passed"] is False
    assert (tmp / "summary.md").read_text().startswith("# Autobahn|Testsuite")


def test_case_ids_sort_numerically() -> None:
    ids = ["9.10.1", "9.2.1", "10.1.1", "1.1.1", "12.1.10", "12.1.2"]
    assert sorted(ids, key=report.case_key) == [
        "1.1.1",
        "9.2.1",
        "9.10.1",
        "10.1.1",
        "12.1.2",
        "12.1.10",
    ]


README = """# Project

Intro text.

<!-- conformance-summary:start -->
old table
<!-- conformance-summary:end -->

## After
Text after.
"""


def test_readme_block_replaces_only_between_markers() -> None:
    new = report.replace_block(README, "NEW TABLE\n")
    assert new == README.replace("old table", "NEW TABLE")
    assert report.replace_block(new, "NEW TABLE") == new  # idempotent


def test_readme_block_requires_markers() -> None:
    with pytest.raises(ValueError, match="markers"):
        report.replace_block("# no markers here\n", "table")
    reversed_ = f"{report.SUMMARY_END}\n{report.SUMMARY_START}\n"
    with pytest.raises(ValueError):
        report.replace_block(reversed_, "table")


def test_cli_readme_and_gate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = [t.name for t in cli.TESTEES]
    reports = write_reports(tmp_path / "reports", dict.fromkeys(names, all_ok()))
    monkeypatch.setattr(cli, "REPORTS_DIR", reports)
    readme = tmp_path / "README.md"
    readme.write_text(README)

    assert cli.main(["gate"]) == 0
    assert cli.main(["readme", "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "old table" not in text
    assert text.startswith("# Project\n\nIntro text.\n") and text.endswith("Text after.\n")
    for name in names:
        assert f"| `{name}` |" in text
    assert "the gate passes" in text

    # One testee loses a case: the gate fails, and so does the README verdict.
    index_file = reports / "sync_client" / "index.json"
    index = json.loads(index_file.read_text())
    index["sync_client"]["6.4.1"]["behavior"] = "FAILED"
    index_file.write_text(json.dumps(index))
    assert cli.main(["gate"]) == 1
    assert cli.main(["gate", "--testee", "sansio_server"]) == 0
    assert cli.main(["readme", "--readme", str(readme)]) == 0
    assert "the gate fails" in readme.read_text()


def test_cli_readme_without_markers_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "REPORTS_DIR", tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text("# Project\n")
    assert cli.main(["readme", "--readme", str(readme)]) == 1
    assert readme.read_text() == "# Project\n"
