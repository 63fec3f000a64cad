"""``python3 -m conformance``: setup, run, summary, gate, readme, list, rfc.

The commands are split so CI can run the suite once and gate on its files, and a developer
can re-read or re-gate a report without running the suite again.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from . import REPORTS_DIR, ROOT, runner
from .report import build_summary, gate_problems, readme_block, replace_block, write_summary
from .testees import BY_NAME, TESTEES, Testee


def _split(values: Sequence[str] | None) -> list[str]:
    """Accept ``--cases 1.* 2.*`` as well as ``--cases 1.*,2.*``."""
    return [v for value in values or () for v in value.split(",") if v]


def _testees(names: Sequence[str] | None) -> list[Testee]:
    names = _split(names)
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise SystemExit(f"unknown testee(s): {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
    return [BY_NAME[n] for n in names] if names else list(TESTEES)


def cmd_setup(args: argparse.Namespace) -> int:
    from . import _setup

    sys.argv[1:] = ["--force"] if args.force else []
    return _setup.main()


def _targets(args: argparse.Namespace) -> list[runner.Target]:
    """Our testees (``--testee``, default all), or one external server or client."""
    external = [x for x in (args.server_url, args.client_cmd) if x]
    if len(external) > 1:
        raise SystemExit("give --server-url or --client-cmd, not both")
    if external:
        if args.testee:
            raise SystemExit(
                "--testee runs our own testees; drop it with --server-url/--client-cmd"
            )
        if not args.agent:
            raise SystemExit("--agent NAME is required with --server-url or --client-cmd")
        if args.server_url:
            if not args.server_url.startswith(("ws://", "wss://")):
                raise SystemExit("--server-url must be a ws:// or wss:// URL")
            return [runner.Target(args.agent, "server", server_url=args.server_url)]
        return [runner.Target(args.agent, "client", client_cmd=args.client_cmd)]
    return [runner.Target.of(t) for t in _testees(args.testee)]


def _suite_dirs(args: argparse.Namespace) -> dict[str, Path]:
    """Report folder per suite: the defaults, or --out (one suite) / --out/<suite> (all)."""
    suites = list(runner.SUITES) if args.suite == "all" else [args.suite]
    if args.out is None:
        return {s: runner.SUITE_REPORTS[s] for s in suites}
    out = Path(args.out)
    return {s: out / s for s in suites} if len(suites) > 1 else {suites[0]: out}


def cmd_run(args: argparse.Namespace) -> int:
    from . import _setup

    targets = _targets(args)
    names = [t.name for t in targets]
    status = 0
    for suite, reports in _suite_dirs(args).items():
        options = runner.Options(
            stall_timeout=args.stall_timeout,
            timeout=args.timeout,
            report_every=args.report_every,
            progress_interval=args.progress_interval,
            reports_dir=reports,
        )
        interrupted = False
        try:
            runner.run(
                targets,
                cases=_split(args.cases) or ["*"],
                exclude=_split(args.exclude_cases),
                jobs=args.jobs,
                options=options,
                suite=suite,
            )
        except (_setup.SetupError, runner.HarnessError) as exc:
            print(f"conformance run failed: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            interrupted = True
        cmd_summary(argparse.Namespace(testee=None, quiet=False, out=str(reports)))
        if interrupted:
            return 130
        if args.gate:
            gate = argparse.Namespace(
                testee=names, allow_partial=bool(args.cases), out=str(reports)
            )
            status = max(status, cmd_gate(gate))
    return status


def cmd_summary(args: argparse.Namespace) -> int:
    reports = Path(args.out)
    summary = build_summary(reports, _split(args.testee) or None)
    problems = gate_problems(summary, summary["testees"], allow_partial=True)
    text = write_summary(reports, summary, problems)
    if not getattr(args, "quiet", False):
        print(text)
    print(f"\nwrote {reports / 'summary.md'} and summary.json", file=sys.stderr)
    return 0


def cmd_gate(args: argparse.Namespace) -> int:
    suite = getattr(args, "suite", None)
    reports = runner.SUITE_REPORTS[suite] if suite else Path(args.out)
    # Default: every target the run recorded, and in our own reports every testee of ours.
    named: list[str] | None = _split(args.testee) or None
    if named is None and reports in runner.SUITE_REPORTS.values():
        named = [t.name for t in TESTEES]
    summary = build_summary(reports, named)
    required = list(summary["testees"]) if named is None else named
    problems = gate_problems(summary, required, allow_partial=args.allow_partial)
    for problem in problems:
        print(f"GATE: {problem}")
    verdict = "FAILED" if problems else "passed"
    print(
        f"conformance gate {verdict}: {len(required)} testee(s), "
        f"{summary['expected_cases']} cases each, {len(problems)} problem(s)"
    )
    return 1 if problems else 0


def cmd_readme(args: argparse.Namespace) -> int:
    from .report import HANDSHAKE_END, HANDSHAKE_START

    path = Path(args.readme)
    names = [t.name for t in TESTEES]
    try:
        text = path.read_text(encoding="utf-8")
        summary = build_summary(REPORTS_DIR, names)
        new = replace_block(text, readme_block(summary, gate_problems(summary, names)))
        handshake = runner.SUITE_REPORTS["handshake"]
        if HANDSHAKE_START in new and (handshake / "run.json").exists():
            summary = build_summary(handshake, names)
            block = readme_block(summary, gate_problems(summary, names))
            new = replace_block(new, block, HANDSHAKE_START, HANDSHAKE_END)
    except (OSError, ValueError) as exc:
        print(f"conformance readme: {exc}", file=sys.stderr)
        return 1
    if new != text:
        path.write_text(new, encoding="utf-8")
        print(f"updated the conformance summary in {path}")
    else:
        print(f"{path} is up to date")
    return 0


def cmd_rfc(args: argparse.Namespace) -> int:
    """The RFC traceability report (reports/rfc/) and its gate; see conformance.rfc."""
    from .report import replace_block
    from .rfc import check
    from .rfc import report as rfc_report

    traceability = check.build()
    problems = check.problems(traceability, strict=args.strict)
    summary = rfc_report.write(traceability, problems, args.strict, Path(args.out))
    print(rfc_report.totals_table(summary))
    for problem in problems:
        print(f"RFC GATE: {problem}")
    print(f"\nwrote {Path(args.out) / 'index.md'}, index.html and summary.json", file=sys.stderr)
    if args.readme:
        path = Path(args.readme_path)
        text = path.read_text(encoding="utf-8")
        new = replace_block(
            text,
            rfc_report.readme_block(summary),
            rfc_report.README_START,
            rfc_report.README_END,
        )
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"updated the RFC totals in {path}")
    return 1 if (args.check and problems) else 0


def cmd_compare(args: argparse.Namespace) -> int:
    from . import _setup, compare
    from .peers import PEERS, PEERS_BY_NAME

    names = _split(args.peer)
    unknown = [n for n in names if n not in PEERS_BY_NAME]
    if unknown:
        raise SystemExit(
            f"unknown peer(s): {', '.join(unknown)}; known: {', '.join(PEERS_BY_NAME)}"
        )
    peers = [PEERS_BY_NAME[n] for n in names] if names else list(PEERS)
    out = Path(args.out)
    suites = list(runner.SUITES) if args.suite == "all" else [args.suite]
    peer_dirs = {s: out / s for s in runner.SUITES}
    if not args.table_only:
        for suite in suites:
            options = runner.Options(
                stall_timeout=args.stall_timeout,
                progress_interval=args.progress_interval,
                reports_dir=peer_dirs[suite],
            )
            try:
                compare.run_peers(peers, _split(args.cases) or ["*"], args.jobs, options, suite)
            except (_setup.SetupError, runner.HarnessError) as exc:
                print(f"conformance compare failed: {exc}", file=sys.stderr)
                return 2
            summary = argparse.Namespace(testee=None, quiet=True, out=str(peer_dirs[suite]))
            cmd_summary(summary)
    table = compare.comparison_table(runner.SUITE_REPORTS, peer_dirs)
    print(table)
    if args.readme:
        try:
            changed = compare.write_readme(Path(args.readme_path), table)
        except (OSError, ValueError) as exc:
            print(f"conformance compare: {exc}", file=sys.stderr)
            return 1
        print(f"{'updated' if changed else 'unchanged'}: {args.readme_path}", file=sys.stderr)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    for t in TESTEES:
        print(f"{t.name:16} {t.kind:6} {t.description}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m conformance", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("setup", help="install wstest in .cache/conformance (idempotent)")
    p.add_argument("--force", action="store_true", help="rebuild even if the marker matches")
    p.set_defaults(func=cmd_setup)

    p = sub.add_parser(
        "run",
        help="set up, run wstest against testees (or a server/client of yours), write reports",
        description="Run the Autobahn|Testsuite. Without --server-url/--client-cmd: against "
        "websocket_ref's own testees. Progress is printed as cases finish; a run is stopped "
        "only when no case finishes for --stall-timeout seconds.",
    )
    p.add_argument("--testee", nargs="+", metavar="NAME", help="default: every testee")
    p.add_argument(
        "--server-url",
        metavar="URL",
        help="test a running server you started (ws://HOST:PORT/PATH); needs --agent",
    )
    p.add_argument(
        "--client-cmd",
        metavar="CMD",
        help="test a client given as a command: with {url} it runs once and drives wstest's "
        "fuzzingserver itself (getCaseCount, runCase?case=N&agent=..., updateReports); with "
        "{case_url} it runs once per case and only has to echo until closed; needs --agent",
    )
    p.add_argument("--agent", metavar="NAME", help="name of the external server/client in reports")
    p.add_argument("--cases", nargs="+", metavar="PATTERN", help="wstest case patterns: 1.*")
    p.add_argument("--exclude-cases", nargs="+", metavar="PATTERN")
    p.add_argument(
        "--suite",
        choices=("autobahn", "handshake", "all"),
        default="autobahn",
        help="Autobahn|Testsuite (wstest), the handshake suite (conformance/handshake/), or both",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="reports folder (default reports/conformance, reports/handshake; "
        "with --suite all, DIR/autobahn and DIR/handshake)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=int(os.environ.get("CONFORMANCE_JOBS", "3")),
        help="testees run at once (default 3, or $CONFORMANCE_JOBS)",
    )
    p.add_argument(
        "--stall-timeout",
        type=float,
        default=runner.DEFAULT_STALL_TIMEOUT,
        metavar="SECONDS",
        help="stop a testee's run when no case started or finished for this long "
        f"(default {runner.DEFAULT_STALL_TIMEOUT:.0f})",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="also stop a testee's run after this long in all (default 0: no limit)",
    )
    p.add_argument(
        "--report-every",
        type=int,
        default=runner.DEFAULT_REPORT_EVERY,
        metavar="N",
        help="wstest writes its reports every N finished cases "
        f"(default {runner.DEFAULT_REPORT_EVERY}; 0: only at the end or when stopped)",
    )
    p.add_argument(
        "--progress-interval",
        type=float,
        default=10.0 if sys.stderr.isatty() else 30.0,
        metavar="SECONDS",
        help="seconds between progress lines (default 10 on a terminal, else 30; 0: none)",
    )
    p.add_argument("--gate", action="store_true", help="exit 1 if the results have problems")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("summary", help="(re)write summary.md/json from the last reports")
    p.add_argument("--testee", nargs="+", metavar="NAME")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--out", default=str(REPORTS_DIR), metavar="DIR", help="reports folder")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("gate", help="exit 1 unless every testee passed every case")
    p.add_argument("--testee", nargs="+", metavar="NAME", help="default: every testee")
    p.add_argument("--allow-partial", action="store_true", help="accept a run limited with --cases")
    p.add_argument("--out", default=str(REPORTS_DIR), metavar="DIR", help="reports folder")
    p.add_argument(
        "--suite",
        choices=("autobahn", "handshake"),
        help="gate the default reports of this suite (instead of --out)",
    )
    p.set_defaults(func=cmd_gate)

    p = sub.add_parser("readme", help="regenerate the summary block in README.md")
    p.add_argument("--readme", default=str(ROOT / "README.md"))
    p.set_defaults(func=cmd_readme)

    p = sub.add_parser("rfc", help="write the RFC traceability report (reports/rfc/)")
    p.add_argument("--out", default=str(ROOT / "reports" / "rfc"), help="report folder")
    p.add_argument("--strict", action="store_true", help="also require citations and tests")
    p.add_argument("--check", action="store_true", help="exit 1 if the gate finds problems")
    p.add_argument("--readme", action="store_true", help="regenerate the README totals block")
    p.add_argument("--readme-path", default=str(ROOT / "README.md"), help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_rfc)

    p = sub.add_parser(
        "compare",
        help="run the suite against websockets and aiohttp (conformance/peers), print the table",
    )
    p.add_argument("--peer", nargs="+", metavar="NAME", help="default: every peer")
    p.add_argument("--suite", choices=("autobahn", "handshake", "all"), default="all")
    p.add_argument("--cases", nargs="+", metavar="PATTERN", help="wstest case patterns: 1.*")
    p.add_argument("--jobs", type=int, default=int(os.environ.get("CONFORMANCE_JOBS", "3")))
    p.add_argument("--out", default=str(ROOT / "reports" / "compare"), metavar="DIR")
    p.add_argument("--stall-timeout", type=float, default=runner.DEFAULT_STALL_TIMEOUT)
    p.add_argument("--progress-interval", type=float, default=30.0)
    p.add_argument("--table-only", action="store_true", help="only rebuild the table")
    p.add_argument("--readme", action="store_true", help="write the table into the README")
    p.add_argument("--readme-path", default=str(ROOT / "README.md"), help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("list", help="list the testees")
    p.set_defaults(func=cmd_list)

    args = parser.parse_args(argv)
    # SIGTERM (a CI timeout, `timeout`, kill) stops a run like Ctrl-C: processes stopped,
    # reports written, run.json saying what was interrupted.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return int(args.func(args))
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
