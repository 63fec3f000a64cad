"""The RFC traceability gate, run as part of the test suite (see conformance/rfc/).

It fails when a registry entry is malformed or misquotes the RFC, when a citation in
websocket_ref/ names a section or requirement id that doesn't exist, or when a test marker
names an unknown id. With ``STRICT`` (the registry is complete) it also fails when an
implemented requirement has no code citation or no test, or a citation has no id.
"""

from __future__ import annotations

import pytest

from conformance.rfc import check, registry, spec, trace

#: Set once every section in scope is registered, cited and tested.
STRICT = True


@pytest.fixture(scope="module")
def traceability() -> check.Traceability:
    return check.build()


def test_gate(traceability: check.Traceability) -> None:
    problems = check.problems(traceability, strict=STRICT)
    assert not problems, "\n".join(problems)


def test_stored_rfc6455_is_the_shared_copy() -> None:
    shared = spec.ROOT_SHARED / "rfc6455.txt"
    if not shared.exists():
        pytest.skip("no ../shared/spec here")
    assert spec.TEXT_FILES[6455].read_bytes() == shared.read_bytes()


# The checker's own behaviour, on small inputs.


def test_quote_checked_word_for_word_across_line_and_page_breaks() -> None:
    # §5.2's sentence about the Payload length spans a page break in the text file.
    assert (
        spec.quote_problem(6455, "5.5.2", "an endpoint MUST send a Pong frame in response") is None
    )
    assert spec.quote_problem(6455, "4.1", "ASCII case-insensitive match for the value") is None
    assert spec.quote_problem(6455, "5.5.2", "an endpoint MUST send a Pong frame") is None
    assert spec.quote_problem(6455, "5.5.2", "an endpoint SHOULD send a Pong frame") == (
        "quote is not in the RFC text"
    )
    assert spec.quote_problem(6455, "5.5.3", "an endpoint MUST send a Pong frame") == (
        "quote is in §5.5.2, not §5.5.3"
    )
    assert spec.quote_problem(6455, "5.5.9", "x") == "RFC 6455 has no section 5.5.9"


def test_quote_with_an_ellipsis_checks_each_part_in_order() -> None:
    # An algorithm step, quoted with the sentence whose keyword introduces it (§2).
    intro = "the server MUST stop processing the client's handshake"
    step = "A |Host| header field containing the server's authority."
    assert spec.quote_problem(6455, "4.2.1", f"{intro} … {step}") is None
    assert spec.quote_problem(6455, "4.2.1", f"{step} … {intro}") == (
        "quote is not in the RFC text"
    )
    assert spec.quote_problem(6455, "4.2.1", f"{intro} … An HTTP/2 GET request") == (
        "quote is not in the RFC text"
    )
    assert spec.quote_problem(6455, "4.2.1", f"{intro} …") == "empty part around …"


def test_quote_spanning_a_page_break() -> None:
    text = spec.TEXT_FILES[6455].read_text()
    footer = next(line for line in text.splitlines() if line.endswith("[Page 30]"))
    before, after = text.split(footer)
    last = [line for line in before.splitlines() if line.strip()][-1].strip()
    first = next(
        line for line in after.splitlines() if line.strip() and not line.startswith("RFC 6455")
    ).strip()
    number = next(
        n for n, s in spec.sections(6455).items() if spec.normalize(last + " " + first) in s.text
    )
    assert spec.quote_problem(6455, number, last + "\n\n\n" + first) is None


def test_cited_sections() -> None:
    assert trace.cited_sections("RFC 6455 §5.6, §8.1: text; RFC 7692 §7.2.1") == {
        (6455, "5.6"),
        (6455, "8.1"),
        (7692, "7.2.1"),
    }
    assert trace.cited_sections("no citation") == frozenset()


def test_citation_naming_another_section_is_flagged(tmp_path, monkeypatch) -> None:
    rid = "R6455-5.5.2-1"
    requirement = registry.Requirement(
        id=rid,
        rfc=6455,
        section="5.5.2",
        keyword="MUST",
        role="both",
        quote="an endpoint MUST send a Pong frame in response",
        status="implemented",
    )
    path = tmp_path / "mod.py"
    path.write_text(
        f"x = 1  # RFC 6455 §5.5.3 [{rid}]: wrong section\n"
        "y = 2  # RFC 6455 §5.5.9: no such section\n"
        "z = 3  # RFC 6455 §5.5.2 [R6455-5.5.2-99]: unknown id\n"
        "w = 4  # RFC 6455 §5.5.2 without an id\n"
        "v = 5  # RFC 7230 §3.2.4: another RFC, without a registry\n"
        "u = 6  # RFC 6455 §7.1.5 (no requirement registered there), RFC 6585 §4\n"
        "t = 7  # RFC 6455 §5.5.2 [no keyword]: a sentence of the section without one\n"
    )
    monkeypatch.setattr(trace, "ROOT", tmp_path)
    cites = trace.citations(tmp_path)
    t = check.Traceability((requirement,), cites, [])
    found = check.problems(t, strict=False)
    assert len(found) == 3, found
    assert "doesn't cite that section" in found[0]
    assert "has no §5.5.9" in found[1]
    assert "unknown requirement id R6455-5.5.2-99" in found[2]
    strict = check.problems(t, strict=True)
    without_id = [p for p in strict if "citation without a requirement id" in p]
    # Not line 2 (a section that doesn't exist, reported as such), 5 or 6 (no registry),
    # nor line 7 (says it cites a sentence without a keyword).
    assert [p.split(":")[1] for p in without_id] == ["4"], without_id
    assert any("no test is marked" in p for p in strict)


def test_markers_are_read_from_the_syntax_tree(tmp_path, monkeypatch) -> None:
    path = tmp_path / "test_x.py"
    path.write_text(
        "import pytest\n"
        "pytestmark = pytest.mark.rfc('R6455-1.1-1')\n"
        "@pytest.mark.rfc('R6455-5.5.2-1', 'R6455-5.5.3-1')\n"
        "def test_a(): pass\n"
        "class TestB:\n"
        "    @pytest.mark.parametrize(\n"
        "        'x', [pytest.param(1, marks=pytest.mark.rfc('R7692-7.2.1-1'))]\n"
        "    )\n"
        "    def test_c(self, x): pass\n"
    )
    monkeypatch.setattr(trace, "ROOT", tmp_path)
    found = {(m.test, m.ids) for m in trace.markers(tmp_path)}
    assert found == {
        ("module", ("R6455-1.1-1",)),
        ("test_a", ("R6455-5.5.2-1", "R6455-5.5.3-1")),
        ("TestB::test_c", ("R7692-7.2.1-1",)),
    }


def test_registry_entry_problems(tmp_path) -> None:
    (tmp_path / "x.toml").write_text(
        "[[requirement]]\n"
        'id = "R6455-5.5.2-1"\nsection = "5.5.3"\nkeyword = "MUST"\nrole = "peer"\n'
        'quote = "an endpoint SHOULD"\nstatus = "not-implemented"\nautobahn = ["x"]\n'
    )
    (entry,) = registry.load(tmp_path)
    assert set(entry.problems) == {
        "id R6455-5.5.2-1 doesn't name its section 5.5.3",
        "unknown role 'peer'",
        "status not-implemented needs a reason",
        "status not-implemented needs docs: where the docs explain it",
        "keyword MUST is not in the quote",
        "autobahn must be a list of case ids like '5.1' or '5.*': ['x']",
    }
