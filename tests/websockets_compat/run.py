"""Run websockets' own test suite against websocket_ref through a module-name mapping.

    python tests/websockets_compat/run.py [--tests-dir DIR | --archive PATH_OR_URL]
                                         [--version 17.4] [--files GLOB ...] [-k EXPR]

Gets websockets' tests (see :func:`find_tests`), runs the files listed in
``rules.SUITE`` with pytest in a virtualenv of its own (``.cache/websockets-compat/``)
where every ``websockets`` module is the ``websocket_ref`` module of the same name
(plugin.py), classifies each test (rules.py) and prints, per file, how many passed and
failed among the tests of websockets' public API, the tests that depend on websockets'
internals, and the public-API pass rate. Nothing of websockets' code is kept in this
repository: it's downloaded into the cache. See README.md here for the rules.
"""

from __future__ import annotations

import argparse
import email.parser
import fnmatch
import io
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import venv
from typing import Any

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CACHE = ROOT / ".cache" / "websockets-compat"
sys.path.insert(0, str(HERE))

import rules  # noqa: E402

#: What the run's virtualenv gets besides pytest: the optional dependencies websockets'
#: tests use (werkzeug for routing, python-socks and mitmproxy for proxies; trustme is
#: websocket_ref's own, unused here). Without mitmproxy, websockets skips its proxy tests.
REQUIREMENTS = [
    "pytest==9.2.0",
    "werkzeug==3.1.9",
    "python-socks[asyncio]==3.2.1",
]
PROXY_REQUIREMENTS = [
    'mitmproxy==11.0.2; python_version < "3.12"',
    'mitmproxy==12.3.1; python_version >= "3.12"',
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def find_tests(args: argparse.Namespace) -> pathlib.Path:
    """The directory holding websockets' ``tests/`` package, downloading it if needed.

    In order: ``--tests-dir`` (a checkout of websockets' repository at the release);
    ``--archive`` (a source archive that has ``tests/``: the repository's tarball of the
    release tag, or a Linux distribution's source tarball of websockets); the release's
    sdist from PyPI if it has ``tests/`` (17.x prunes them); the release tag's archive at
    the source repository named in the sdist's metadata.
    """
    if args.tests_dir:
        path = pathlib.Path(args.tests_dir).resolve()
        if not (path / "tests" / "__init__.py").exists():
            sys.exit(f"{path} has no tests/ package")
        return path
    if args.archive:
        return extract(args.archive, CACHE / "tests-archive")
    target = CACHE / f"websockets-{args.version}"
    if (target / "tests" / "__init__.py").exists():
        return target
    sdist_dir = CACHE / "sdist"
    sdist_dir.mkdir(parents=True, exist_ok=True)
    log(f"pip download websockets=={args.version} (sdist)")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            f"websockets=={args.version}",
            "--no-binary",
            ":all:",
            "--no-deps",
            "-d",
            str(sdist_dir),
        ],
        check=True,
    )
    sdist = sdist_dir / f"websockets-{args.version}.tar.gz"
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
        if any("/tests/__init__.py" in name for name in names):
            return extract(str(sdist), target)
        info = archive.extractfile(f"websockets-{args.version}/PKG-INFO")
        metadata = email.parser.Parser().parsestr(info.read().decode() if info else "")
    urls = [value.split(",", 1)[1].strip() for value in metadata.get_all("Project-URL", [])]
    repository = next((url for url in urls if url.count("/") == 4), None)
    if repository is None:
        sys.exit("the sdist has no tests/ and no repository URL: pass --tests-dir or --archive")
    url = f"{repository.rstrip('/')}/archive/refs/tags/{args.version}.tar.gz"
    log(f"the sdist has no tests/; downloading {url}")
    try:
        return extract(url, target)
    except OSError as exc:
        sys.exit(
            f"can't download {url} ({exc}).\nPass a checkout of websockets at "
            f"{args.version} with --tests-dir, or a source archive with --archive."
        )


def extract(source: str, target: pathlib.Path) -> pathlib.Path:
    """Extract the ``tests/`` tree of a source archive (path or URL) into ``target``."""
    if "://" in source:
        with urllib.request.urlopen(source, timeout=60) as response:
            data = io.BytesIO(response.read())
    else:
        data = io.BytesIO(pathlib.Path(source).read_bytes())
    with tarfile.open(fileobj=data) as archive:
        members = [m for m in archive.getmembers() if "/tests/" in f"/{m.name}"]
        if not members:
            sys.exit(f"{source} has no tests/ directory")
        prefix = members[0].name.split("tests/", 1)[0]
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for member in members:
            member.name = member.name[len(prefix) :]
            archive.extract(member, target, filter="data")
    return target


def environment(args: argparse.Namespace) -> pathlib.Path:
    """The run's virtualenv (created once): its Python."""
    env_dir = CACHE / f"venv-{sys.version_info.major}.{sys.version_info.minor}"
    python = env_dir / "bin" / "python"
    stamp = env_dir / "requirements.txt"
    requirements = [*REQUIREMENTS, f"websockets=={args.version}"]
    wanted = "\n".join(requirements + ([] if args.no_proxy_tests else PROXY_REQUIREMENTS))
    if stamp.exists() and stamp.read_text() == wanted:
        return python
    log(f"creating {env_dir}")
    venv.create(env_dir, with_pip=True, clear=True)
    subprocess.run([python, "-m", "pip", "install", "-q", *requirements], check=True)
    if not args.no_proxy_tests:
        command = [python, "-m", "pip", "install", "-q", *PROXY_REQUIREMENTS]
        result = subprocess.run(command, check=False)
        if result.returncode:
            log("mitmproxy didn't install: websockets' proxy tests will be skipped")
    stamp.write_text(wanted)
    return python


def pytest_run(
    args: argparse.Namespace, root: pathlib.Path, target: str, tests: list[str]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Run ``tests`` (paths or node ids under ``root``) against ``target``: the records."""
    python = environment(args)
    with tempfile.TemporaryDirectory() as tmp:
        # Only websocket_ref (this checkout) and the plugin go on the path: this
        # repository's own tests/ package mustn't shadow websockets' tests/.
        shim = pathlib.Path(tmp)
        (shim / "websocket_ref").symlink_to(ROOT / "websocket_ref")
        results = shim / "results.json"
        ini = shim / "pytest.ini"
        ini.write_text("[pytest]\n")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(shim), str(HERE)])
        env["WEBSOCKETS_COMPAT_RESULTS"] = str(results)
        env["WEBSOCKETS_COMPAT_TARGET"] = target
        env["WEBSOCKETS_COMPAT_TIMEOUT"] = str(args.test_timeout)
        hung_log = CACHE / f"hung-{target}.log"
        hung_log.unlink(missing_ok=True)
        env["WEBSOCKETS_COMPAT_HUNG_LOG"] = str(hung_log)
        env["WEBSOCKETS_TESTS_TIMEOUT_FACTOR"] = str(args.timeout_factor)
        for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "socks_proxy"):
            env.pop(name, None)
            env.pop(name.upper(), None)
        command = [
            str(python),
            "-m",
            "pytest",
            "-c",
            str(ini),
            "--rootdir",
            str(root),
            "-p",
            "plugin",
            "-p",
            "no:cacheprovider",
            "-v",
            "--no-header",
            "--tb=no",
            "--continue-on-collection-errors",
            *(["-k", args.k] if args.k else []),
            *tests,
        ]
        log(f"against {target}: pytest {len(tests)} files or tests")
        records: dict[str, dict[str, Any]] = {}
        missing: list[str] = []
        done = shim / "done.txt"
        with open(CACHE / f"pytest-{target}.log", "w") as output:
            while True:
                done.write_text("\n".join(n for n, r in records.items() if r["outcome"]))
                env["WEBSOCKETS_COMPAT_DONE"] = str(done)
                # pytest's exit status is the tests' outcome, read from the results.
                status = subprocess.run(
                    command, cwd=root, env=env, stdout=output, stderr=subprocess.STDOUT, check=False
                ).returncode
                if not results.exists():
                    sys.exit(f"pytest didn't write results; see {output.name}")
                data = json.loads(results.read_text())
                results.unlink()
                records.update((r["nodeid"], r) for r in data["records"])
                missing = data["missing"]
                if status != 3:  # plugin.HUNG: a hung test ended the process; go on
                    break
                log("a test hung; running the rest")
        data = {"records": list(records.values()), "missing": missing}
    return data["records"], data["missing"]


def run(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[str]]:
    root = find_tests(args)
    files = [f for f in rules.SUITE if any(fnmatch.fnmatch(f, g) for g in args.files)]
    files = [f"tests/{f}" for f in files if (root / "tests" / f).exists()]
    records, missing = pytest_run(args, root, "websocket_ref", files)
    # Calibration: the same tests against websockets itself. A test that fails there
    # (twice) doesn't test the release measured: tests/ of another release, or a test
    # that needs something this machine lacks.
    drift: dict[str, str] = {}
    if not args.no_calibration:
        calibration, _ = pytest_run(args, root, "websockets", files)
        failing = [r for r in calibration if r["outcome"] in ("failed", "error")]
        again = sorted({str(r["nodeid"]).split("::#")[0] for r in failing})
        if again:
            retried, _ = pytest_run(args, root, "websockets", again)
            still = {r["nodeid"]: r for r in retried if r["outcome"] in ("failed", "error")}
            drift = {n: str(r["message"]) for n, r in still.items()}
    for record in records:
        if record["nodeid"] in drift and record["kind"] != "internal":
            record["kind"] = "drift"
            record["reason"] = (
                f"fails against websockets {args.version} too: {drift[record['nodeid']]}"
            )
    for path in sorted((root / "tests").rglob("*.py")):
        relative = path.relative_to(root / "tests").as_posix()
        reason = rules.file_rule(relative)
        if reason is not None and relative.rpartition("/")[2].startswith(("test_", "maxi")):
            for i in range(rules.count_tests(str(path))):
                records.append(
                    {
                        "nodeid": f"tests/{relative}::#{i}",
                        "kind": "internal",
                        "reason": f"rule F: {reason}",
                        "outcome": "not run",
                        "message": "",
                    }
                )
    return records, missing


COLUMNS = ("passed", "failed", "diff", "skip", "drift", "int", "int ok")


def report(records: list[dict[str, Any]], missing: list[str], verbose: bool) -> float:
    """Print the table; return the public-API pass rate."""
    rows: dict[str, dict[str, int]] = {}
    for record in records:
        key = rules.test_key(str(record["nodeid"])).split("::", 1)[0]
        row = rows.setdefault(key, dict.fromkeys(COLUMNS, 0))
        outcome, kind = record["outcome"], record["kind"]
        if kind == "internal":
            row["int"] += 1
            row["int ok"] += outcome == "passed"
        elif kind == "drift":
            row["drift"] += 1
        elif outcome == "skipped":
            row["skip"] += 1
        elif kind == "difference":
            row["diff"] += 1
        elif outcome == "passed":
            row["passed"] += 1
        else:
            row["failed"] += 1
    header = (
        f"{'file':40} {'passed':>6} {'failed':>6} {'diff':>5} {'skip':>5} {'drift':>5} "
        f"{'internal (passing)':>19}"
    )
    print(header)
    print("-" * len(header))
    total = dict.fromkeys(COLUMNS, 0)

    def order(key: str) -> tuple[bool, int, str]:
        return key not in rules.SUITE, rules.SUITE.index(key) if key in rules.SUITE else 0, key

    for key in sorted(rows, key=order):
        row = rows[key]
        for name in total:
            total[name] += row[name]
        internal = (
            f"{row['int']} ({row['int ok']})" if key in rules.SUITE else f"{row['int']} (not run)"
        )
        print(
            f"{key:40} {row['passed']:6} {row['failed']:6} {row['diff']:5} {row['skip']:5} "
            f"{row['drift']:5} {internal:>19}"
        )
    print("-" * len(header))
    print(
        f"{'total':40} {total['passed']:6} {total['failed']:6} {total['diff']:5} {total['skip']:5} "
        f"{total['drift']:5} {total['int']:>19}"
    )
    public = total["passed"] + total["failed"] + total["diff"]
    rate = 100 * total["passed"] / public if public else 0.0
    print(
        f"\npublic-API tests run: {public}; passed: {total['passed']} ({rate:.1f}%); failed: "
        f"{total['failed']}; documented differences: {total['diff']}\n"
        f"not counted: skipped {total['skip']}, not applicable to the release (drift) "
        f"{total['drift']}, internal {total['int']}"
    )
    if missing:
        print("names the tests import that websocket_ref lacks: " + ", ".join(sorted(set(missing))))
    if verbose:
        for record in records:
            if record["kind"] in ("public", "difference") and record["outcome"] not in (
                "passed",
                "skipped",
            ):
                kind, outcome = str(record["kind"]).upper(), str(record["outcome"])
                print(f"{kind:10} {outcome:7} {rules.test_key(str(record['nodeid']))}")
                print(f"           {record['message'] or record['reason']}")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", default="17.4", help="websockets release (default: 17.4)")
    parser.add_argument("--tests-dir", help="a checkout of websockets at the release")
    parser.add_argument("--archive", help="a source archive (path or URL) that has tests/")
    parser.add_argument("--files", nargs="*", default=["*"], help="globs on rules.SUITE")
    parser.add_argument("-k", help="pytest -k expression")
    parser.add_argument("--no-proxy-tests", action="store_true", help="don't install mitmproxy")
    parser.add_argument(
        "--timeout-factor", type=float, default=100, help="websockets' time unit, in ms"
    )
    parser.add_argument("--test-timeout", type=int, default=30, help="seconds per phase of a test")
    parser.add_argument(
        "--no-calibration", action="store_true", help="skip the run against websockets"
    )
    parser.add_argument("--json", help="also write every test's record to this file")
    parser.add_argument("-v", "--verbose", action="store_true", help="list public tests that fail")
    args = parser.parse_args()
    records, missing = run(args)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(records, indent=1))
    report(records, missing, args.verbose)


if __name__ == "__main__":
    main()
