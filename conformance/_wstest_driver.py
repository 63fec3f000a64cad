# mypy: ignore-errors
# ruff: noqa: UP010, UP031
"""Run wstest so that a slow, stalled or killed run keeps what it did (Python 2.7 only).

The harness starts ``<wstest venv>/bin/python _wstest_driver.py <wstest arguments>`` instead
of ``wstest``. It runs wstest's own entry point unchanged, with three additions to the
factory that collects case results in both modes (``FuzzingFactory``, pinned release):

- after each case it prints ``CASE-DONE <case id> <behavior> <behaviorClose> <agent>`` on
  stdout, the harness's progress and stall signal (wstest itself only says when a case
  *starts*);
- every ``$CONFORMANCE_REPORT_EVERY`` finished cases (default 25; 0 turns it off) it writes
  the reports of every case so far, as wstest's ``/updateReports`` would, so a run killed
  from outside still leaves ``index.json`` and the case files behind;
- when the reactor shuts down for any other reason than the end of the run (the harness's
  SIGTERM, Ctrl-C), it writes the reports of the cases finished since the last write.

The file is Python 2 code written in the subset Python 3 can parse, so the project's
linters read it; it is never imported by the Python 3 harness.
"""

from __future__ import print_function

import os
import sys


def main():
    from autobahntestsuite import fuzzing, wstest
    from twisted.internet import reactor

    every = int(os.environ.get("CONFORMANCE_REPORT_EVERY", "25"))
    state = {"factory": None, "reported": 0}

    def finished(factory):
        return sum(len(cases) for cases in factory.agents.values())

    original_log_case = fuzzing.FuzzingFactory.logCase
    original_create_reports = fuzzing.FuzzingFactory.createReports

    def create_reports(self, *args, **kwargs):
        result = original_create_reports(self, *args, **kwargs)
        state["reported"] = finished(self)
        return result

    def log_case(self, results):
        original_log_case(self, results)
        state["factory"] = self
        print(
            "CASE-DONE %s %s %s %s"
            % (results["id"], results["behavior"], results["behaviorClose"], results["agent"])
        )
        sys.stdout.flush()
        if every > 0 and finished(self) % every == 0:
            self.createReports()

    def write_pending_reports():
        factory = state["factory"]
        if factory is not None and finished(factory) != state["reported"]:
            factory.createReports()
            print("REPORTS-WRITTEN %d" % finished(factory))
            sys.stdout.flush()

    fuzzing.FuzzingFactory.logCase = log_case
    fuzzing.FuzzingFactory.createReports = create_reports
    reactor.addSystemEventTrigger("before", "shutdown", write_pending_reports)
    sys.argv[0] = "wstest"
    return wstest.run()


if __name__ == "__main__":
    sys.exit(main())
