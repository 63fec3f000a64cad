"""The handshake suite: what Autobahn|Testsuite doesn't test, in Python 3, over raw sockets.

Sections (``model.SECTIONS``): server opening handshakes, valid (1) and invalid (2); the
responses a client must accept (3) or fail (4); permessage-deflate negotiation on the
server (5) and the client (6); compressed streams (7) and close and ping rules (8), both
for servers and clients. Every case names the ids of the requirements it exercises
(``conformance/rfc/registry/*.toml``) and grades the implementation like Autobahn does:
OK, NON-STRICT, INFORMATIONAL or FAILED, with what it expected and what it observed.

Server cases connect to a URL; client cases are served by :class:`suite.ScriptedServer`,
which speaks wstest fuzzingserver's URLs, so any client that can drive wstest can drive
this suite too. ``python3 -m conformance run --suite handshake`` runs it; the modules:
``wire`` (bytes), ``model`` (cases, grades), ``common`` (checks on open connections),
``server_cases``, ``client_cases``, ``both_cases`` and ``suite`` (running, reports).
"""
