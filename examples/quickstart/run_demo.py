"""`make demo`: dispatch a few jobs, run a worker, and show what happened (no server needed).

The backend is whatever `TASKS_URL` says, else the embedded default. The demo starts from an empty
database file of its own, here in examples/quickstart/.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.chdir(HERE)
for leftover in HERE.glob("tasks.db*"):
    leftover.unlink()

import jobs  # noqa: E402 - after the path is set

from tasks import JobFailed, config, queue  # noqa: E402


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def tasks_command(*args: str) -> None:
    print(f"$ python -m tasks {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", "tasks", *args, "--log-level", "warning"], check=False)


def main() -> int:
    say(f"backend: {config.get_backend().description}")
    say("dispatching: two emails, a flaky job, a job delayed by 2 s, a job that always fails")
    emails = [jobs.send_email.delay(to=to, subject="welcome") for to in ("ada@example.com", "alan@example.com")]
    flaky = jobs.flaky_report.delay("2026-11-29")
    delayed = jobs.reminder.later(2, time.time())
    doomed = jobs.charge_card.delay(42)
    print(f"queued: emails={queue('emails').size()} default={queue('default').size()} "
          f"scheduled={queue('default').scheduled_size()}", flush=True)

    say("starting a worker: python -m tasks worker jobs")
    worker = subprocess.Popen([sys.executable, "-m", "tasks", "worker", "jobs"])
    try:
        say("results")
        for handle in emails:
            print(f"send_email     -> {handle.result(timeout=30)}")
        print(f"flaky_report   -> {flaky.result(timeout=30)}")
        print(f"reminder       -> {delayed.result(timeout=30)}")
        try:
            doomed.result(timeout=30)
        except JobFailed as exc:
            print(f"charge_card    -> failed for good: {exc.error_type}: {exc.message}")
        sys.stdout.flush()
        say("the queues")
        tasks_command("queues", "--app", "jobs")
        say("the failed set (retry with: python -m tasks retry default)")
        tasks_command("failed", "default")
    finally:
        say("stopping the worker with SIGTERM (it finishes what it runs, then exits 0)")
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=60)
        print(f"worker exited with status {code}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
