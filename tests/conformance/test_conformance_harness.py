"""The testee registry and the setup helpers that need neither wstest nor the network."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conformance import _setup
from conformance.testees import TESTEES


def test_registry_scripts_exist_and_cover_every_api_and_side() -> None:
    assert {(t.name.split("_")[0], t.kind) for t in TESTEES} == {
        (api, kind) for api in ("sansio", "asyncio", "sync") for kind in ("server", "client")
    }
    for testee in TESTEES:
        assert testee.script.is_file(), testee.script
        ast.parse(testee.script.read_text())  # valid Python 3 syntax
        assert testee.wstest_mode == (
            "fuzzingclient" if testee.kind == "server" else "fuzzingserver"
        )


def test_pinned_hash_depends_on_the_pins(monkeypatch: object) -> None:
    digest = _setup.pinned_hash()
    assert len(digest) == 64 and digest == _setup.pinned_hash()
    assert any(p.startswith("autobahntestsuite==") for p in _setup.PINNED)


def test_mirror_from_apt_sources() -> None:
    deb822 = (
        "Types: deb\n# http://snapshot.example/archive/debian/2025\n"
        "URIs: http://mirror.example/debian\nSuites: bookworm\n"
    )
    one_line = "deb [arch=amd64] https://mirror.example/debian/ bookworm main\n"
    security = "URIs: http://mirror.example/debian-security\n"
    assert _setup.mirror_from_sources([security, deb822]) == "http://mirror.example/debian"
    assert _setup.mirror_from_sources([one_line]) == "https://mirror.example/debian"
    assert _setup.mirror_from_sources([security, "# nothing\n"]) is None


def test_pypy_pins_differ_only_in_the_accelerators(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _setup.pinned_hash("pypy") != _setup.pinned_hash("cpython")
    changed = set(_setup.PINNED) ^ set(_setup.PINNED_PYPY)
    assert changed == {"autobahn[twisted,accelerate]==0.10.9", "autobahn[twisted]==0.10.9"}
    assert set(_setup.PYPY_FIRST) <= set(_setup.PINNED)
    monkeypatch.setenv("CONFORMANCE_WSTEST_PYTHON", "jython")
    with pytest.raises(_setup.SetupError, match="auto, pypy or cpython"):
        _setup.wanted_interpreter()
    monkeypatch.setenv("CONFORMANCE_WSTEST_PYTHON", "")
    assert _setup.wanted_interpreter() == "auto"


def test_which_install_each_choice_accepts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(_setup, "MARKER", tmp_path / "marker")
    monkeypatch.setattr(_setup, "PYPY_UNAVAILABLE", tmp_path / "pypy-unavailable.txt")
    monkeypatch.setattr(_setup, "wstest_works", lambda: True)
    assert not _setup._installed_ok("auto")
    _setup.MARKER.write_text(_setup.pinned_hash("cpython") + "\n")
    # auto wants PyPy unless an earlier attempt recorded why it is unavailable.
    assert [_setup._installed_ok(c) for c in ("auto", "pypy", "cpython")] == [False, False, True]
    _setup.PYPY_UNAVAILABLE.write_text("no pypy here\n")
    assert _setup._installed_ok("auto")
    _setup.MARKER.write_text(_setup.pinned_hash("pypy") + "\n")
    assert [_setup._installed_ok(c) for c in ("auto", "pypy", "cpython")] == [True, True, False]
