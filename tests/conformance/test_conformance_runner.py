"""The harness's watch loop, progress, stall handling and external targets, on a fake wstest.

Nothing here needs wstest or Python 2.7: ``fake_wstest.py`` prints what the driver prints
and writes what wstest writes, steered by ``$FAKE_WSTEST``.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import pytest

from conformance import __main__ as cli
from conformance import report, runner
from conformance.progress import CaseProgress, LogFollower, case_weight, fmt_duration
from conformance.testees import BY_NAME

FAKE = Path(__file__).with_name("fake_wstest.py")
CASES = ["1.1.1", "1.1.2", "2.1", "6.4.1", "12.1.1", "13.1.1"]
SLEEPER = f"{sys.executable} -c 'import time; time.sleep(60)'"


# Progress from log lines


def test_progress_counts_finished_cases_and_tracks_the_current_one() -> None:
    p = CaseProgress("x", CASES, started_at=100.0)
    assert p.status == "starting" and p.idle_for(110.0) == 10.0
    p.feed("Running test case ID 1.1.1 for agent x from peer tcp4:127.0.0.1:1", 101.0)
    assert p.current == "1.1.1" and p.status == "running" and p.idle_for(111.0) == 10.0
    p.feed("CASE-DONE 1.1.1 OK OK x", 102.0)
    p.feed("CASE-DONE 1.1.1 OK OK x", 102.0)  # counted once
    p.feed("Running test case ID 1.1.2 for agent x from peer tcp4:127.0.0.1:1", 103.0)
    p.feed("CASE-DONE 1.1.2 FAILED OK x", 104.0)
    p.feed("CASE-DONE 2.1 OK UNCLEAN x", 105.0)
    p.feed("CASE-DONE 6.4.1 NON-STRICT OK x", 106.0)
    p.feed("some other wstest chatter", 200.0)  # not progress: the stall clock goes on
    assert p.done == ["1.1.1", "1.1.2", "2.1", "6.4.1"]
    assert p.behaviors == {"OK": 1, "FAILED": 2, "NON-STRICT": 1}
    assert p.current is None and p.last_progress_at == 106.0
    line = p.line(106.0)
    assert line.startswith("x: 4/6 (66%)") and "2 FAILED" in line and "6s elapsed" in line


def test_estimate_weighs_the_compression_sections() -> None:
    p = CaseProgress("x", CASES, started_at=0.0)
    for case_id in CASES[:4]:
        p.feed(f"CASE-DONE {case_id} OK OK x", 1.0)
    # Four cheap cases done: too little weight to extrapolate from.
    assert p.remaining(10.0) is None and "~? left" in p.line(10.0)
    p.feed("CASE-DONE 12.1.1 OK OK x", 2.0)
    done_weight = sum(case_weight(c) for c in CASES[:5])
    assert p.remaining(20.0) == pytest.approx(20.0 * case_weight("13.1.1") / done_weight)
    p.feed("CASE-DONE 13.1.1 OK OK x", 3.0)
    assert p.remaining(30.0) == 0.0
    assert case_weight("12.5.3") > 100 * case_weight("6.4.1")


def test_fmt_duration() -> None:
    assert [fmt_duration(s) for s in (None, 0, 59.6, 61, 3600 + 125)] == [
        "?",
        "0s",
        "1m00s",
        "1m01s",
        "1h02m",
    ]


def test_log_follower_returns_only_complete_new_lines(tmp_path: Path) -> None:
    log = tmp_path / "log"
    follower = LogFollower(log)
    assert follower.new_lines() == []  # no file yet
    log.write_bytes(b"one\r\ntw")
    assert follower.new_lines() == ["one"]
    with log.open("ab") as f:
        f.write(b"o\nthree\n")
    assert follower.new_lines() == ["two", "three"]
    assert follower.new_lines() == []


# Client commands and scheduling


def test_client_command_templates() -> None:
    once = runner.client_commands("my-client --base {url} --name '{agent} x'", "ws://h:1/", "a", 3)
    assert once == [["my-client", "--base", "ws://h:1", "--name", "a x"]]
    per_case = runner.client_commands("echo-client {case_url}", "ws://h:1", "a", 2)
    assert per_case == [
        ["echo-client", "ws://h:1/runCase?case=1&agent=a"],
        ["echo-client", "ws://h:1/runCase?case=2&agent=a"],
    ]
    with pytest.raises(runner.HarnessError, match="url"):
        runner.client_commands("my-client", "ws://h:1", "a", 1)


def test_longest_expected_run_starts_first() -> None:
    targets = [runner.Target.of(BY_NAME[n]) for n in ("sansio_server", "sync_client")]
    assert [t.name for t in runner.order_longest_first(targets, CASES, {})] == [
        "sync_client",
        "sansio_server",
    ]
    previous = {"sansio_server": {"status": "ok", "wall_time": 10**6}}
    assert runner.order_longest_first(targets, CASES, previous)[0].name == "sansio_server"


# Whole runs on the fake wstest


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Run the fake wstest instead of the real one; return the reports folder."""
    monkeypatch.setattr(runner, "wstest_command", lambda: [sys.executable, str(FAKE)])
    monkeypatch.setattr(runner.setup, "ensure_wstest", lambda: None)
    monkeypatch.setattr(runner.setup, "wstest_version", lambda: "fake wstest")
    monkeypatch.setattr(runner.setup, "wstest_python", lambda: "fake")
    monkeypatch.setattr(runner, "resolve_cases", lambda cases, exclude: list(CASES))
    return tmp_path / "reports"


def options(reports: Path, **kwargs: float) -> runner.Options:
    return runner.Options(reports_dir=reports, progress_interval=0, **kwargs)  # type: ignore[arg-type]


def server_target(tmp_path: Path) -> runner.Target:
    """A server to test that the harness did not start (it only has to accept TCP)."""
    import socket

    server = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=server.accept, daemon=True).start()
    return runner.Target("ext", "server", server_url=f"ws://127.0.0.1:{server.getsockname()[1]}/")


def test_clean_run_reports_every_case(
    fake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_WSTEST", "ok")
    data = runner.run([server_target(tmp_path)], options=options(fake))
    info = data["testees"]["ext"]
    assert info["status"] == "ok" and info["cases_done"] == len(CASES)
    assert info["wstest_exit"] == 0
    summary = report.build_summary(fake)
    assert summary["testees"]["ext"]["reported"] == len(CASES)
    assert report.gate_problems(summary, ["ext"]) == []


def test_stalled_run_is_stopped_and_keeps_the_cases_it_finished(
    fake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_WSTEST", "stall:3")
    data = runner.run(
        [server_target(tmp_path)], options=options(fake, stall_timeout=1.0, report_every=0)
    )
    info = data["testees"]["ext"]
    assert info["status"] == "stalled"
    assert "in case 6.4.1" in info["detail"] and "--stall-timeout" in info["detail"]
    assert info["cases_done"] == 3 and info["last_case"] == "6.4.1"
    # Reports were written on SIGTERM even though report_every=0.
    summary = report.build_summary(fake)
    t = summary["testees"]["ext"]
    assert t["reported"] == 3 and t["missing_cases"] == ["6.4.1", "12.1.1", "13.1.1"]
    problems = report.gate_problems(summary, ["ext"])
    assert any("stalled" in p for p in problems)
    assert any("3 expected case(s) not reported" in p for p in problems)
    text = report.render_markdown(summary, problems)
    assert "Did not finish" in text and "stalled" in text


def test_overall_timeout_still_applies_when_given(
    fake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_WSTEST", "slow:0.4")
    data = runner.run([server_target(tmp_path)], options=options(fake, timeout=1.0))
    info = data["testees"]["ext"]
    assert info["status"] == "timeout" and 0 < info["cases_done"] < len(CASES)


def test_client_command_run_and_its_reports(
    fake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_WSTEST", "fail:2.1")
    marker = tmp_path / "ran"
    script = "import sys; open(sys.argv[2], 'a').write(sys.argv[1])"
    cmd = f'{sys.executable} -c "{script}" {{url}} {marker}'
    target = runner.Target("cli", "client", client_cmd=cmd)
    data = runner.run([target], options=options(fake))
    assert data["testees"]["cli"]["status"] == "ok"
    assert marker.read_text().startswith("ws://127.0.0.1:")
    summary = report.build_summary(fake)
    assert [i["id"] for i in summary["testees"]["cli"]["failing"]] == ["2.1"]


def test_client_that_hangs_is_a_stall(
    fake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_WSTEST", "stall:2")
    target = runner.Target("cli", "client", client_cmd=SLEEPER + " {url}")
    data = runner.run([target], options=options(fake, stall_timeout=1.0))
    info = data["testees"]["cli"]
    assert info["status"] == "stalled" and info["cases_done"] == 2


def test_interrupt_stops_runs_and_records_why(
    fake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_WSTEST", "stall:1")
    ticks = iter(range(10**6))

    def interrupt_soon() -> None:
        if next(ticks) == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner.run([server_target(tmp_path)], options=options(fake), on_tick=interrupt_soon)
    info = json.loads((fake / "run.json").read_text())["testees"]["ext"]
    assert info["status"] == "interrupted" and info["cases_done"] == 1


def test_cli_external_targets_need_an_agent(
    fake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit, match="agent"):
        cli.main(["run", "--server-url", "ws://127.0.0.1:9/"])
    with pytest.raises(SystemExit, match="not both"):
        cli.main(["run", "--server-url", "ws://x/", "--client-cmd", "c {url}", "--agent", "a"])
    with pytest.raises(SystemExit, match="ws://"):
        cli.main(["run", "--server-url", "http://x/", "--agent", "a"])
    monkeypatch.setenv("FAKE_WSTEST", "ok")
    url = server_target(tmp_path).server_url
    out = tmp_path / "out"
    assert cli.main(["run", "--server-url", str(url), "--agent", "ext", "--out", str(out)]) == 0
    assert cli.main(["gate", "--out", str(out)]) == 0
    assert (out / "summary.md").is_file() and (out / "ext" / "index.json").is_file()


# The real wstest, when `python3 -m conformance setup` has installed it


@pytest.mark.skipif(
    not runner.setup.wstest_works(), reason="wstest not installed (python3 -m conformance setup)"
)
def test_real_wstest_through_the_driver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The driver's CASE-DONE lines and periodic reports, with wstest and a real testee."""
    monkeypatch.setattr(runner.setup, "ensure_wstest", lambda: None)  # never (re)install here
    reports = tmp_path / "reports"
    targets = [runner.Target.of(BY_NAME["sansio_server"]), runner.Target.of(BY_NAME["sync_client"])]
    cases = ["1.1.1", "1.1.2", "2.1"]
    data = runner.run(targets, cases=cases, jobs=2, options=options(reports, report_every=1))
    for target in targets:
        info = data["testees"][target.name]
        assert info["status"] == "ok", info
        assert info["cases_done"] == len(cases)
        log = (reports / target.name / "wstest.log").read_text()
        assert [
            line.split()[1] for line in log.splitlines() if line.startswith("CASE-DONE")
        ] == cases
    summary = report.build_summary(reports)
    assert report.gate_problems(summary, [t.name for t in targets], allow_partial=True) == []


def test_comparison_table_joins_ours_and_the_peers(tmp_path: Path) -> None:
    from test_conformance_report import all_ok, write_reports

    from conformance import compare
    from conformance.peers import PEERS

    ours = write_reports(tmp_path / "ours", {t.name: all_ok() for t in BY_NAME.values()})
    peers = {p.name: all_ok() for p in PEERS}
    peers["aiohttp_client"] = all_ok(**{"6_4_1": {"behavior": "FAILED"}})
    theirs = write_reports(tmp_path / "theirs", peers)
    table = compare.comparison_table({"autobahn": ours}, {"autobahn": theirs})
    assert "| `sansio_server` | 6/6 | 6 | 0 | 0 | 0 | 0 |" in table
    assert "| `aiohttp_client` | 6/6 | 5 | 0 | 0 | 0 | 1 |" in table
    assert "- `aiohttp_client`: 1 case(s) with behavior FAILED" in table
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{compare.START}\nold\n{compare.END}\nafter\n")
    assert compare.write_readme(readme, table) is True
    assert compare.write_readme(readme, table) is False
    assert "old" not in readme.read_text() and readme.read_text().endswith("after\n")
    for peer in PEERS:
        assert peer.script.is_file()
