"""RFC traceability: the requirement registry, its links to code and tests, report and gate.

``registry/*.toml`` lists every normative statement of RFC 6455 §1-11 and RFC 7692 §5-8,
quoted word for word (checked against ``rfc6455.txt`` and ``rfc7692-quotes.txt``). Code
cites requirements by id in comments (``# RFC 6455 §5.5.2 [R6455-5.5.2-1]: …``), tests
carry ``@pytest.mark.rfc("R6455-5.5.2-1")``. ``python3 -m conformance rfc`` writes the
report to ``reports/rfc/``; the same checks run as a test in the test suite (the gate).
"""
