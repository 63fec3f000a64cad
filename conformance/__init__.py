"""Autobahn|Testsuite conformance harness for websocket_ref.

The harness installs the suite (Python 2.7 only) in a private cache, runs it against every
testee (an echo server or client built on one of websocket_ref's APIs), summarises wstest's
reports, and gates CI on them. It is stdlib-only Python 3 so it runs before anything else is
installed.
"""

from __future__ import annotations

from pathlib import Path

#: Repository root: testees import websocket_ref from here, caches and reports live here.
ROOT = Path(__file__).resolve().parent.parent
#: Private, git-ignored home of the Python 2.7 virtualenv that runs wstest.
CACHE_DIR = ROOT / ".cache" / "conformance"
#: Git-ignored home of wstest's HTML reports and the project summary.
REPORTS_DIR = ROOT / "reports" / "conformance"
