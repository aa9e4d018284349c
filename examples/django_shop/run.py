"""`make example-django`: a Django shop whose orders are confirmed by a job sent after the commit.

Migrates a fresh database, starts `python manage.py tasks worker` and `python manage.py runserver` on a free
port, places an order (its confirmation job runs on the worker and updates the row through the ORM) and an
order that rolls back (its job is never sent), then stops both. With `--serve` both keep running until Ctrl-C.
The backend is settings.TASKS (a SQLite file here, in examples/django_shop/) unless `TASKS_URL` says otherwise.
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
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
#: How long the walk-through waits for the server to answer, and for the order to be confirmed.
STARTUP_S, CONFIRMATION_S = 30.0, 30.0


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def manage(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "manage.py", *args])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def call(url: str, form: dict[str, str] | None = None) -> dict[str, Any]:
    data = None if form is None else urllib.parse.urlencode(form).encode()
    try:
        with urllib.request.urlopen(url, data=data, timeout=10) as response:
            status, body = response.status, json.load(response)
    except urllib.error.HTTPError as error:  # 4xx: the answer is JSON all the same
        status, body = error.code, json.load(error)
    method = "POST" if form else "GET"
    print(f"{method} /{url.split('/', 3)[3]} {form or ''} -> {status} {json.dumps(body)}", flush=True)
    return dict(body)


def wait_for_server(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_S
    while True:
        try:
            with urllib.request.urlopen(f"{base}/orders/0", timeout=1):
                return
        except urllib.error.HTTPError:  # the 404 of an order that does not exist: the server answers
            return
        except (urllib.error.URLError, ConnectionError):
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not start") from None
            time.sleep(0.05)


def walk_through(base: str) -> None:
    say("an order: the view dispatches its confirmation with after_commit(send_confirmation).delay(order.pk)")
    order = call(f"{base}/orders", {"email": "ada@example.com"})
    say("the worker runs the job once the transaction committed; the job marks the order confirmed")
    deadline = time.monotonic() + CONFIRMATION_S
    while not call(f"{base}/orders/{order['order']}")["confirmed"]:
        if time.monotonic() > deadline:
            raise SystemExit(f"the order was not confirmed within {CONFIRMATION_S} s")
        time.sleep(0.2)
    say("an order with a bad address: the transaction rolls back, and its confirmation is never sent")
    call(f"{base}/orders", {"email": "not-an-address"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="keep the site and the worker running until Ctrl-C")
    serve = parser.parse_args().serve
    os.chdir(HERE)
    for leftover in [*HERE.glob("tasks.db*"), *HERE.glob("shop.sqlite3*")]:
        leftover.unlink()
    say("python manage.py migrate")
    if subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], check=False).returncode:
        return 1
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    say("starting: python manage.py tasks worker, and python manage.py runserver")
    worker = manage("tasks", "worker", "--concurrency", "1")
    server = manage("runserver", f"127.0.0.1:{port}", "--noreload")
    try:
        wait_for_server(base, server)
        walk_through(base)
        if serve:
            say(f"serving on {base}; Ctrl-C stops")
            print(f"  curl -d email=you@example.com {base}/orders\n  curl {base}/orders/1", flush=True)
            server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        say("the queues, then stopping the server and the worker (SIGTERM: the worker finishes what it runs)")
        subprocess.run([sys.executable, "manage.py", "tasks", "queues", "--log-level", "warning"], check=False)
        for process in (server, worker):
            process.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        code = worker.wait(timeout=60)
        print(f"worker exited with status {code}", flush=True)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
