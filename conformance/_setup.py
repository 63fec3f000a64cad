"""Install wstest (Autobahn|Testsuite) in a private Python 2.7 virtualenv, idempotently.

wstest only runs on Python 2.7 and its source distribution does not declare its dependencies,
so this module pins the whole set that is known to install and run. Everything lands in
``.cache/conformance/`` (git-ignored); a marker file holding a hash of the pinned set makes a
second run a no-op as long as ``wstest -a`` still works. It never prompts: CI has no stdin.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from . import CACHE_DIR

#: Dependencies of wstest that install (about 30 s) and run together. Changing this list
#: changes the marker hash, which rebuilds the virtualenv on the next run.
PINNED: tuple[str, ...] = (
    "txaio==2.1.0",
    "incremental==16.10.1",
    "pyOpenSSL==19.1.0",
    "cryptography==3.3.2",
    "Twisted==19.10.0",
    "zope.interface==4.6.0",
    "jinja2==2.11.3",
    "markupsafe==1.1.1",
    "Werkzeug==1.0.1",
    "klein==17.10.0",
    "service_identity==18.1.0",
    "unittest2==1.1.0",
    "six==1.16.0",
    "autobahn[twisted,accelerate]==0.10.9",
    "autobahntestsuite==25.10.1",
)
#: The last virtualenv release line that can still create Python 2.7 environments.
VIRTUALENV_REQ = "virtualenv<20.22"
PY27_VERSION = "2.7.18"
APT_SOURCES_FILE = Path("/etc/apt/sources.list.d/conformance-bullseye.list")

VENV3 = CACHE_DIR / "venv3"
VENV27 = CACHE_DIR / "venv27"
MARKER = CACHE_DIR / "installed.sha256"
WSTEST = VENV27 / "bin" / "wstest"


class SetupError(RuntimeError):
    """The suite could not be installed; the message says which step failed."""


def pinned_hash() -> str:
    """Hash of everything that defines the installed environment, for the marker file."""
    text = "\n".join((PY27_VERSION, VIRTUALENV_REQ, *PINNED))
    return hashlib.sha256(text.encode()).hexdigest()


def _log(message: str) -> None:
    print(f"[conformance setup] {message}", file=sys.stderr, flush=True)


def _run(cmd: list[str], **kwargs: object) -> None:
    """Run a step, echoing it, and raise SetupError with its output if it fails."""
    _log("$ " + " ".join(cmd))
    proc = subprocess.run(  # noqa: PLW1510 - the return code is checked below
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,  # type: ignore[call-overload]
    )
    if proc.returncode != 0:
        raise SetupError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-4000:]}")


def _is_python27(path: str | Path) -> bool:
    """True if ``path`` runs and is CPython 2.7 (a pyenv shim may exist but not resolve)."""
    try:
        proc = subprocess.run(
            [str(path), "-c", "import sys, zlib, ssl; print('%d.%d' % sys.version_info[:2])"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and proc.stdout.strip() == "2.7"


def _pyenv_root() -> Path | None:
    if os.environ.get("PYENV_ROOT"):
        return Path(os.environ["PYENV_ROOT"])
    pyenv = shutil.which("pyenv")
    if pyenv:
        proc = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
        if proc.returncode == 0 and proc.stdout.strip():
            return Path(proc.stdout.strip())
    default = Path.home() / ".pyenv"
    return default if default.is_dir() else None


def find_python27() -> Path | None:
    """Find a working Python 2.7: pyenv's 2.7.18 first, then Debian's /usr/bin/python2.7."""
    candidates: list[Path] = []
    root = _pyenv_root()
    if root is not None:
        candidates.append(root / "versions" / PY27_VERSION / "bin" / "python")
    candidates.append(Path("/usr/bin/python2.7"))
    for candidate in candidates:
        if candidate.exists() and _is_python27(candidate):
            return candidate
    return None


def mirror_from_sources(texts: Iterable[str]) -> str | None:
    """First Debian archive URI in apt source files (one-line or deb822 format), if any."""
    for text in texts:
        for line in text.splitlines():
            if line.lstrip().startswith("#"):
                continue
            match = re.search(r"(https?://\S+?/debian)/?(?=\s|$)", line)
            if match:
                return match.group(1)
    return None


def _debian_mirror() -> str:
    """The Debian archive URI this machine's apt already uses, so no host is hard-coded."""
    paths = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    texts = [
        p.read_text(errors="replace")
        for p in paths
        if p.is_file() and p.suffix in {".list", ".sources"} and p != APT_SOURCES_FILE
    ]
    mirror = mirror_from_sources(texts)
    if mirror is None:
        raise SetupError("no Debian archive found in /etc/apt sources to fetch python2.7 from")
    return mirror


def install_python27_from_debian() -> Path:
    """Install python2.7 from Debian bullseye, the last suite that ships it, beside the system."""
    if os.geteuid() != 0:
        raise SetupError("python2.7 is missing and installing it with apt needs root")
    if not APT_SOURCES_FILE.exists():
        mirror = _debian_mirror()
        _log(f"adding {APT_SOURCES_FILE} (bullseye main from {mirror})")
        APT_SOURCES_FILE.write_text(f"deb {mirror} bullseye main\n")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "update"], env=env)
    _run(
        [
            "apt-get",
            "install",
            "-y",
            "--no-install-recommends",
            "-t",
            "bullseye",
            "python2.7",
            "python2.7-dev",
        ],
        env=env,
    )
    python = Path("/usr/bin/python2.7")
    if not _is_python27(python):
        raise SetupError("apt installed python2.7 but /usr/bin/python2.7 does not run")
    return python


def _choose_python27() -> Path:
    """$CONFORMANCE_PYTHON27 (a path, or ``debian`` to force apt), else find, else apt."""
    override = os.environ.get("CONFORMANCE_PYTHON27", "")
    if override == "debian":
        return install_python27_from_debian()
    if override:
        if not _is_python27(override):
            raise SetupError(f"CONFORMANCE_PYTHON27={override} is not a working Python 2.7")
        return Path(override)
    return find_python27() or install_python27_from_debian()


def wstest_works() -> bool:
    """True if the cached wstest starts and reports its version."""
    return WSTEST.exists() and "AutobahnTestSuite" in wstest_version()


def wstest_version() -> str:
    """wstest's own version banner (``wstest -a``), for the report."""
    proc = subprocess.run(
        [str(WSTEST), "-a"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return (proc.stdout + proc.stderr).strip() if proc.returncode == 0 else ""


def ensure_wstest(*, force: bool = False) -> Path:
    """Make sure the cached wstest is installed with the pinned set; return its path.

    A no-op when the marker holds the current hash and ``wstest -a`` works; otherwise the
    virtualenvs are rebuilt from scratch so a half-finished install never lingers.
    """
    digest = pinned_hash()
    if not force and MARKER.exists() and MARKER.read_text().strip() == digest and wstest_works():
        return WSTEST
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    MARKER.unlink(missing_ok=True)

    python27 = _choose_python27()
    _log(f"Python 2.7: {python27}")

    # A Python 3 venv holding the one virtualenv release that still creates 2.7 environments.
    shutil.rmtree(VENV3, ignore_errors=True)
    _run([sys.executable, "-m", "venv", str(VENV3)])
    _run([str(VENV3 / "bin" / "python"), "-m", "pip", "install", "--quiet", VIRTUALENV_REQ])

    shutil.rmtree(VENV27, ignore_errors=True)
    _run([str(VENV3 / "bin" / "virtualenv"), "--quiet", "-p", str(python27), str(VENV27)])
    # The 2.7 pip cannot read the Python 3 constraints file some machines configure globally.
    env = {**os.environ, "PIP_CONSTRAINT": "", "PIP_NO_INPUT": "1"}
    _run(
        [
            str(VENV27 / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *PINNED,
        ],
        env=env,
    )

    if not wstest_works():
        raise SetupError(f"installed, but `{WSTEST} -a` does not work")
    MARKER.write_text(digest + "\n")
    _log(wstest_version().replace("\n", " | "))
    return WSTEST


def main() -> int:
    """Entry point of ``python3 -m conformance setup``."""
    try:
        path = ensure_wstest(force="--force" in sys.argv[1:])
    except SetupError as exc:
        _log(f"FAILED: {exc}")
        return 1
    print(wstest_version())
    print(f"wstest: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
