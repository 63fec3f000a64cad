"""A stand-in for wstest behind the driver, for harness tests that must not need wstest.

It speaks the driver's protocol: reads ``-s spec.json``, prints ``Running test case ID`` and
``CASE-DONE`` lines, writes ``index.json`` (every ``$CONFORMANCE_REPORT_EVERY`` cases, at the
end, and on SIGTERM), and exits when done. ``$FAKE_WSTEST`` steers it:

- ``ok``: every case OK, quickly;
- ``stall:N``: N cases, then it hangs inside the next one (a stalled testee);
- ``fail:ID``: case ID is FAILED;
- ``slow:SECONDS``: each case takes that long.

In fuzzingserver mode it listens on the spec's port (accepting and closing connections, so
the harness sees it listening), runs the cases as soon as it starts, and answers nothing.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any


def main() -> None:
    args = sys.argv[1:]
    spec_path = Path(args[args.index("-s") + 1])
    mode = args[args.index("-m") + 1]
    spec = json.loads(spec_path.read_text())
    outdir = Path(spec["outdir"])
    cases: list[str] = spec["cases"]
    agent = spec["servers"][0]["agent"] if mode == "fuzzingclient" else Path(outdir).name
    behaviour = os.environ.get("FAKE_WSTEST", "ok")
    every = int(os.environ.get("CONFORMANCE_REPORT_EVERY", "25"))
    done: dict[str, Any] = {}

    def write_reports() -> None:
        index = {}
        for case_id, behavior in done.items():
            reportfile = f"{agent}_case_{case_id.replace('.', '_')}.json"
            (outdir / reportfile).write_text(json.dumps({"description": case_id}))
            index[case_id] = {
                "behavior": behavior,
                "behaviorClose": "OK",
                "duration": 1,
                "remoteCloseCode": 1000,
                "reportfile": reportfile,
            }
        (outdir / "index.json").write_text(json.dumps({agent: index}))

    def on_term(signum: int, frame: Any) -> None:
        write_reports()
        print(f"REPORTS-WRITTEN {len(done)}", flush=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    if mode == "fuzzingserver":
        port = urllib.parse.urlsplit(spec["url"]).port
        server = socket.create_server(("127.0.0.1", port))

        def accept() -> None:
            while True:
                conn, _ = server.accept()
                with conn:
                    conn.recv(65536)  # a request (or EOF), then close, as after updateReports

        threading.Thread(target=accept, daemon=True).start()

    stall_after = int(behaviour.split(":")[1]) if behaviour.startswith("stall:") else None
    failing = behaviour.split(":")[1] if behaviour.startswith("fail:") else None
    delay = float(behaviour.split(":")[1]) if behaviour.startswith("slow:") else 0.0
    for n, case_id in enumerate(cases):
        print(f"Running test case ID {case_id} for agent {agent} from peer tcp4:127.0.0.1:1")
        sys.stdout.flush()
        if stall_after is not None and n >= stall_after:
            while True:
                time.sleep(1)
        time.sleep(delay)
        done[case_id] = "FAILED" if case_id == failing else "OK"
        print(f"CASE-DONE {case_id} {done[case_id]} OK {agent}", flush=True)
        if every and len(done) % every == 0:
            write_reports()
    write_reports()
    if mode == "fuzzingserver":
        while True:  # like wstest's fuzzingserver: runs until stopped
            time.sleep(1)


if __name__ == "__main__":
    main()
