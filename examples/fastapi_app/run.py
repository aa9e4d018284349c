"""`make example-fastapi`: the FastAPI app and a worker, side by side; a few requests show what happens.

Starts `python -m tasks worker reports` and `uvicorn webapp:app` on a free port, asks for a report, polls the
job until it is built, then stops both. With `--serve` both keep running until Ctrl-C (try the printed curl
commands, or the API docs at /docs). The backend is whatever `TASKS_URL` says, else a SQLite file of the
example's own, started empty, here in examples/fastapi_app/.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
#: How long the walk-through waits for the server to answer, and for the report to be built.
STARTUP_S, REPORT_S = 30.0, 30.0


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def call(method: str, url: str) -> dict[str, Any]:
    request = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        body: dict[str, Any] = json.load(response)
    print(f"{method} {url.split('/', 3)[3]} -> {response.status} {json.dumps(body)}", flush=True)
    return body


def wait_for_server(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_S
    while True:
        try:
            with urllib.request.urlopen(f"{base}/openapi.json", timeout=1):
                return
        except (urllib.error.URLError, ConnectionError):
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not start") from None
            time.sleep(0.05)


def walk_through(base: str) -> None:
    say("POST /reports: the endpoint dispatches a job and answers at once")
    job = call("POST", f"{base}/reports?day=2026-11-29")
    say("GET /reports/{id} until a worker has built it")
    deadline = time.monotonic() + REPORT_S
    while (report := call("GET", f"{base}/reports/{job['id']}"))["status"] not in ("succeeded", "failed"):
        if time.monotonic() > deadline:
            raise SystemExit(f"the report was not built within {REPORT_S} s")
        time.sleep(0.1)
    say(f"the report: {report['result']}" if report["status"] == "succeeded" else f"failed: {report['error']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="keep the app and the worker running until Ctrl-C")
    serve = parser.parse_args().serve
    os.chdir(HERE)
    for leftover in HERE.glob("tasks.db*"):
        leftover.unlink()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    say("starting: python -m tasks worker reports, and uvicorn webapp:app")
    worker = subprocess.Popen([sys.executable, "-m", "tasks", "worker", "reports", "--concurrency", "1"])
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "webapp:app", "--port", str(port), "--log-level", "warning"]
    )
    try:
        wait_for_server(base, server)
        walk_through(base)
        if serve:
            say(f"serving on {base} (API docs: {base}/docs); Ctrl-C stops")
            print(f"  curl -X POST '{base}/reports?day=2026-12-01'\n  curl {base}/reports/JOB_ID", flush=True)
            server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        say("stopping the server and the worker (SIGTERM: the worker finishes what it runs)")
        for process in (server, worker):
            process.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        code = worker.wait(timeout=60)
        print(f"worker exited with status {code}", flush=True)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
