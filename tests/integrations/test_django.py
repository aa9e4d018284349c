"""tasks.contrib.django in a real Django project (SQLite for Django and for tasks), driven through manage.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import start_line, table
from tests.integrations.django_site import manage, shell, write_project

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.rerun_once("runs manage.py and worker pools in subprocesses; a stall can miss their bounds"),
]

PLACE_ORDER = """
from django.db import transaction
from tasks import queue
from tasks.contrib.django import after_commit
from shop.jobs import send_receipt
from shop.models import Order
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The project, migrated: an empty ``Order`` table, no jobs yet."""
    root = write_project(tmp_path)
    migrated = manage(root, "migrate", "--verbosity", "0")
    assert migrated.returncode == 0, migrated.stderr
    return root


def test_a_dispatch_after_commit_is_sent_when_the_transaction_commits(project: Path) -> None:
    # When an order is placed in a transaction that dispatches its receipt after the commit, now and in an hour
    out = shell(
        project,
        PLACE_ORDER
        + """
with transaction.atomic():
    order = Order.objects.create(email="ada@example.com")
    handle = after_commit(send_receipt).delay(order.pk)
    reminder = after_commit(send_receipt.with_options(job_id="reminder-1")).later(3600, order.pk)
    print("inside the transaction:", queue("receipts").size(), queue("receipts").scheduled_size())
print("after the commit:", queue("receipts").size(), queue("receipts").scheduled_size())
print("handles:", handle.status(), reminder.id, reminder.status())
""",
    )

    # Then nothing is sent while the transaction runs, and both jobs, under the handles' ids, once it commits
    assert "inside the transaction: 0 0" in out
    assert "after the commit: 1 1" in out
    assert "handles: queued reminder-1 scheduled" in out


def test_a_dispatch_after_commit_in_a_transaction_that_rolls_back_is_never_sent(project: Path) -> None:
    # When the transaction that dispatched the receipt rolls back
    out = shell(
        project,
        PLACE_ORDER
        + """
try:
    with transaction.atomic():
        order = Order.objects.create(email="ada@example.com")
        handle = after_commit(send_receipt).delay(order.pk)
        raise RuntimeError("payment declined")
except RuntimeError:
    pass
print("orders:", Order.objects.count(), "queued:", queue("receipts").size())
try:
    handle.status()
except LookupError:
    print("the job was never sent")
""",
    )

    # Then neither the order nor its job exists
    assert "orders: 0 queued: 0" in out
    assert "the job was never sent" in out


def test_a_dispatch_after_commit_that_cannot_be_encoded_fails_in_the_transaction(project: Path) -> None:
    # When the arguments cannot be encoded (JSON cannot carry an object)
    out = shell(
        project,
        PLACE_ORDER
        + """
from tasks import SerializationError
try:
    with transaction.atomic():
        order = Order.objects.create(email="ada@example.com")
        after_commit(send_receipt).delay(order)
except SerializationError as exc:
    print("refused at the call:", type(exc).__name__)
print("orders:", Order.objects.count(), "queued:", queue("receipts").size())
""",
    )

    # Then the call raises, so the transaction rolls back with nothing sent
    assert "refused at the call: SerializationError" in out
    assert "orders: 0 queued: 0" in out


def test_manage_py_tasks_worker_runs_jobs_that_use_the_orm(project: Path) -> None:
    # Given an order whose receipt was dispatched after the commit
    shell(
        project,
        PLACE_ORDER
        + """
with transaction.atomic():
    after_commit(send_receipt).delay(Order.objects.create(email="ada@example.com").pk)
""",
    )

    # When a burst worker runs in the project
    worker = manage(project, "tasks", "worker", "--burst", "--concurrency", "1")

    # Then it found the app's jobs module by itself, and the job changed the row through the ORM
    assert worker.returncode == 0, worker.stderr
    assert "shop.jobs.send_receipt" in start_line(worker.stderr)
    assert "succeeded" in worker.stderr
    out = shell(project, "from shop.models import Order\nprint('sent:', Order.objects.get().receipt_sent)")
    assert "sent: True" in out


def test_each_job_in_a_worker_opens_and_closes_its_database_connections_as_a_request_does(project: Path) -> None:
    # Given two jobs for one worker process, each telling whether a connection was left open before it
    sent = shell(
        project, "from shop.jobs import connection_state\nfor _ in range(2): print(connection_state.delay().id)"
    )
    ids = sent.split()[-2:]

    # When the worker runs them one after the other
    assert manage(project, "tasks", "worker", "--burst", "--concurrency", "1", "--no-scheduler").returncode == 0

    # Then the second did not inherit the first one's connection (CONN_MAX_AGE is 0: closed when a job ends)
    out = shell(
        project, f"from tasks import JobHandle\nfor i in {ids!r}: print(JobHandle(i, 'checks').result(timeout=0))"
    )
    assert out.splitlines()[-2:] == ["started without a connection"] * 2


def test_manage_py_tasks_forwards_every_command_to_the_tasks_cli(project: Path) -> None:
    # Given a job that failed for good
    shell(project, "from shop.jobs import refund\nrefund.delay(7)")
    assert manage(project, "tasks", "worker", "--burst", "--concurrency", "1", "--no-scheduler").returncode == 0

    # When the failed set is listed, then retried, from manage.py
    failed = manage(project, "tasks", "failed", "refunds")
    retried = manage(project, "tasks", "retry", "refunds")
    queues = manage(project, "tasks", "queues")

    # Then each command ran on the project's backend, with its jobs known
    assert failed.returncode == 0, failed.stderr
    assert "order 7 was never paid" in failed.stdout
    assert "1 job(s) moved back to refunds" in retried.stdout
    rows = {row[0]: row[1:] for row in table(queues.stdout)}
    assert rows["refunds"] == ["1", "0", "0", "0", "0"]  # ready again, nothing failed, no worker listening
    assert "receipts" in rows  # known from the jobs module, though nothing was sent to it


def test_manage_py_tasks_exits_with_the_status_of_the_tasks_cli(project: Path) -> None:
    # When the backend does not answer (nothing listens on port 1)
    done = manage(project, "tasks", "queues", TASKS_URL="redis://127.0.0.1:1/0")

    # Then the command fails as python -m tasks does: status 2, one line saying why, no traceback
    assert done.returncode == 2
    assert done.stderr.startswith("error: ")
    assert "Traceback" not in done.stderr


def test_settings_tasks_fills_the_environment_and_the_environment_wins(project: Path, tmp_path: Path) -> None:
    show = "from tasks import config\nprint('url:', config.settings().url, 'prefix:', config.settings().prefix)"

    # When only settings.TASKS names the backend, it is in force
    assert f"url: sqlite:///{project / 'tasks.db'} prefix: shop" in shell(project, show)

    # When TASKS_URL is set as well, the variable wins, and settings.TASKS still gives the rest
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert f"url: {other} prefix: shop" in shell(project, show, TASKS_URL=other)
