"""Install wstest (Autobahn|Testsuite) in a private Python 2.7 virtualenv, idempotently.

wstest only runs on Python 2.7 and its source distribution does not declare its dependencies,
so this module pins the whole set that is known to install and run. Everything lands in
``.cache/conformance/`` (git-ignored); a marker file holding a hash of the pinned set and of
the interpreter makes a second run a no-op as long as ``wstest -a`` still works. It never
prompts: CI has no stdin.

Two interpreters can run wstest. PyPy 2.7 (Debian bullseye's ``pypy``) is preferred: wstest
spends much of the suite in Python-level frame handling, which PyPy's JIT makes cheaper
(measurements in conformance/README.md). CPython 2.7 (pyenv's 2.7.18, else bullseye's
``python2.7``) is the fallback whenever the PyPy path cannot be set up, and can be forced
with ``CONFORMANCE_WSTEST_PYTHON=cpython``. On PyPy, ``cryptography`` (which wstest needs only
because Twisted imports pyOpenSSL) has no wheel and must be compiled against the OpenSSL 1.1
that bullseye's PyPy links, so its headers are unpacked from bullseye's ``libssl-dev`` into
the cache, beside the system's own OpenSSL 3 headers rather than over them.
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

#: What the PyPy build changes: no C accelerators (wsaccel is a CPython extension; PyPy's JIT
#: runs autobahn's pure-Python masking and UTF-8 validation instead).
PINNED_PYPY: tuple[str, ...] = tuple(
    "autobahn[twisted]==0.10.9" if p.startswith("autobahn[") else p for p in PINNED
)
#: Installed before the rest on PyPy: Twisted's setup.py needs them, and without build
#: isolation (which fails on Debian's PyPy) setuptools would fetch their newest releases.
PYPY_FIRST = ("incremental==16.10.1", "six==1.16.0")
INTERPRETERS = ("pypy", "cpython")

VENV3 = CACHE_DIR / "venv3"
OPENSSL11 = CACHE_DIR / "openssl1.1"
#: Why the PyPy path failed last time (then "auto" keeps a CPython install instead of
#: retrying on every run).
PYPY_UNAVAILABLE = CACHE_DIR / "pypy-unavailable.txt"
VENV27 = CACHE_DIR / "venv27"
MARKER = CACHE_DIR / "installed.sha256"
WSTEST = VENV27 / "bin" / "wstest"


class SetupError(RuntimeError):
    """The suite could not be installed; the message says which step failed."""


def pinned_hash(interpreter: str = "cpython") -> str:
    """Hash of everything that defines the installed environment, for the marker file."""
    pins = PINNED_PYPY if interpreter == "pypy" else PINNED
    text = "\n".join((interpreter, PY27_VERSION, VIRTUALENV_REQ, *pins))
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


_APT_UPDATED: list[bool] = []


def apt_install_from_bullseye(*packages: str) -> None:
    """Install Debian bullseye packages beside the system's (bullseye is the last suite
    with Python 2.7 and PyPy 2.7); adds the bullseye source on first use."""
    if os.geteuid() != 0:
        raise SetupError(f"installing {', '.join(packages)} with apt needs root")
    _ensure_bullseye_source()
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(
        ["apt-get", "install", "-y", "--no-install-recommends", "-t", "bullseye", *packages],
        env=env,
    )


def _ensure_bullseye_source() -> None:
    """The bullseye apt source, and fresh package lists (once per process)."""
    if not APT_SOURCES_FILE.exists():
        if os.geteuid() != 0:
            raise SetupError(f"{APT_SOURCES_FILE} is missing and adding it needs root")
        mirror = _debian_mirror()
        _log(f"adding {APT_SOURCES_FILE} (bullseye main from {mirror})")
        APT_SOURCES_FILE.write_text(f"deb {mirror} bullseye main\n")
        _APT_UPDATED.clear()
    if not _APT_UPDATED and os.geteuid() == 0:  # without root, use the lists as they are
        _run(["apt-get", "update"], env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        _APT_UPDATED.append(True)


def install_python27_from_debian() -> Path:
    """Install python2.7 from Debian bullseye, the last suite that ships it, beside the system."""
    apt_install_from_bullseye("python2.7", "python2.7-dev")
    python = Path("/usr/bin/python2.7")
    if not _is_python27(python):
        raise SetupError("apt installed python2.7 but /usr/bin/python2.7 does not run")
    return python


def find_pypy() -> Path | None:
    """Debian's PyPy 2.7, if installed and working."""
    for candidate in (Path("/usr/bin/pypy"),):
        if candidate.exists() and _is_python27(candidate):
            return candidate
    return None


def install_pypy_from_debian() -> Path:
    """Install PyPy 2.7 (and its headers, to compile cryptography) from Debian bullseye."""
    apt_install_from_bullseye("pypy", "pypy-dev")
    pypy = find_pypy()
    if pypy is None:
        raise SetupError("apt installed pypy but /usr/bin/pypy does not run")
    return pypy


def openssl11_headers() -> tuple[Path, Path]:
    """(include dirs as CFLAGS, lib dir) of OpenSSL 1.1 for building cryptography on PyPy.

    bullseye's ``libssl-dev`` is unpacked into the cache (``apt-get download`` and
    ``dpkg -x``, nothing installed), and its ``libssl.so``/``libcrypto.so`` links are
    pointed at the system's ``.so.1.1`` files, which bullseye's ``pypy`` package pulled in.
    """
    marker = OPENSSL11 / "ready"
    if not marker.exists():
        _ensure_bullseye_source()
        shutil.rmtree(OPENSSL11, ignore_errors=True)
        download = OPENSSL11 / "deb"
        download.mkdir(parents=True)
        _run(["apt-get", "download", "libssl-dev/bullseye"], cwd=download)
        debs = sorted(download.glob("libssl-dev_1.1*.deb"))
        if not debs:
            raise SetupError("apt-get download libssl-dev/bullseye fetched no 1.1 package")
        _run(["dpkg-deb", "-x", str(debs[0]), str(OPENSSL11 / "root")])
        for link in (OPENSSL11 / "root" / "usr" / "lib").glob("*/lib*.so"):
            real = Path("/usr/lib") / link.parent.name / (link.name + ".1.1")
            if not real.exists():
                raise SetupError(f"{real} is missing (bullseye's libssl1.1 should provide it)")
            link.unlink()
            link.symlink_to(real)
        marker.write_text("ok\n")
    root = OPENSSL11 / "root" / "usr"
    libs = [p.parent for p in (root / "lib").glob("*/libssl.so")]
    if not libs:
        raise SetupError(f"no libssl.so under {root / 'lib'}")
    return root / "include", libs[0]


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


def wstest_python() -> str:
    """Which Python 2.7 runs wstest (``CPython 2.7.18`` or ``PyPy 7.3.3``), for the report."""
    code = (
        "import platform, sys; v = getattr(sys, 'pypy_version_info', sys.version_info); "
        "print('%s %d.%d.%d' % (platform.python_implementation(), v[0], v[1], v[2]))"
    )
    try:
        proc = subprocess.run(
            [str(VENV27 / "bin" / "python"), "-c", code],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except OSError:
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def wanted_interpreter() -> str:
    """``$CONFORMANCE_WSTEST_PYTHON``: ``auto`` (default: PyPy, else CPython), ``pypy``,
    ``cpython``."""
    choice = os.environ.get("CONFORMANCE_WSTEST_PYTHON", "auto").strip().lower() or "auto"
    if choice not in ("auto", *INTERPRETERS):
        raise SetupError(f"CONFORMANCE_WSTEST_PYTHON={choice}: use auto, pypy or cpython")
    return choice


def _installed_ok(choice: str) -> bool:
    """True if the cached install matches what ``choice`` asks for and runs."""
    if not MARKER.exists():
        return False
    marker = MARKER.read_text().strip()
    accepted = {pinned_hash(i) for i in INTERPRETERS if choice in ("auto", i)}
    if choice == "auto" and not PYPY_UNAVAILABLE.exists():
        accepted = {pinned_hash("pypy")}
    return marker in accepted and wstest_works()


def ensure_wstest(*, force: bool = False) -> Path:
    """Make sure the cached wstest is installed with the pinned set; return its path.

    A no-op when the marker holds the current hash and ``wstest -a`` works; otherwise the
    virtualenvs are rebuilt from scratch so a half-finished install never lingers. With the
    default choice, a PyPy install that fails falls back to CPython 2.7 (the reason is kept
    in ``pypy-unavailable.txt`` so later runs don't retry it; ``--force`` does).
    """
    choice = wanted_interpreter()
    if not force and _installed_ok(choice):
        return WSTEST
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    MARKER.unlink(missing_ok=True)
    PYPY_UNAVAILABLE.unlink(missing_ok=True)

    # A Python 3 venv holding the one virtualenv release that still creates 2.7 environments.
    shutil.rmtree(VENV3, ignore_errors=True)
    _run([sys.executable, "-m", "venv", str(VENV3)])
    _run([str(VENV3 / "bin" / "python"), "-m", "pip", "install", "--quiet", VIRTUALENV_REQ])

    if choice in ("auto", "pypy"):
        try:
            _install_on_pypy()
        except SetupError as exc:
            if choice == "pypy":
                raise
            _log(f"PyPy 2.7 unavailable, falling back to CPython 2.7: {exc}")
            PYPY_UNAVAILABLE.write_text(f"{exc}\n")
        else:
            MARKER.write_text(pinned_hash("pypy") + "\n")
            _log(wstest_version().replace("\n", " | ") + " on " + wstest_python())
            return WSTEST
    _install_on_cpython()
    MARKER.write_text(pinned_hash("cpython") + "\n")
    _log(wstest_version().replace("\n", " | ") + " on " + wstest_python())
    return WSTEST


def _pip27(*args: str, env: dict[str, str] | None = None) -> None:
    # The 2.7 pip cannot read the Python 3 constraints file some machines configure globally.
    base = {**os.environ, "PIP_CONSTRAINT": "", "PIP_NO_INPUT": "1"}
    _run(
        [
            str(VENV27 / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *args,
        ],
        env={**base, **(env or {})},
    )


def _new_venv27(python: Path) -> None:
    shutil.rmtree(VENV27, ignore_errors=True)
    _run([str(VENV3 / "bin" / "virtualenv"), "--quiet", "-p", str(python), str(VENV27)])


def _install_on_cpython() -> None:
    python27 = _choose_python27()
    _log(f"Python 2.7: {python27}")
    _new_venv27(python27)
    _pip27(*PINNED)
    if not wstest_works():
        raise SetupError(f"installed, but `{WSTEST} -a` does not work")


def _install_on_pypy() -> None:
    pypy = find_pypy() or install_pypy_from_debian()
    _log(f"PyPy 2.7: {pypy}")
    include, lib = openssl11_headers()
    _new_venv27(pypy)
    # Debian's PyPy trips pip 20.3's byte-compile check and its build isolation; neither is
    # needed here. No wheel cache: a cryptography wheel built earlier against other OpenSSL
    # headers would be reused (the cache key ignores CFLAGS).
    flags = ["--no-compile", "--no-build-isolation", "--no-cache-dir"]
    _pip27(*flags, *PYPY_FIRST)
    arch_include = [p for p in include.glob("*-linux-gnu") if p.is_dir()]
    cflags = " ".join(f"-I{p}" for p in (*arch_include, include))
    _pip27(*flags, *PINNED_PYPY, env={"CFLAGS": cflags, "LDFLAGS": f"-L{lib}"})
    if not wstest_works():
        proc = subprocess.run(
            [str(WSTEST), "-a"], capture_output=True, text=True, check=False, timeout=120
        )
        raise SetupError(
            f"installed on PyPy, but `{WSTEST} -a` does not work:\n{proc.stderr[-1500:]}"
        )


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
