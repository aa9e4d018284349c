"""The pytest plugin serves a user's project: pytest run in a subprocess on a small project of its own."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

#: A user's jobs: an order dispatches a receipt, whose first attempt fails for a flaky mail server.
JOBS = '''
    from tasks import Retry, current_job, job


    @job(name="shop.send_receipt", queue="emails", max_attempts=3, backoff=60)
    def send_receipt(order_id: int, email: str) -> str:
        attempt = current_job().attempt
        if attempt == 1 and email.endswith("@flaky.example"):
            raise Retry()
        return f"receipt {order_id} to {email} on attempt {attempt}"


    @job(name="shop.place_order")
    def place_order(order_id: int, email: str) -> str:
        return send_receipt.delay(order_id, email).id
'''

#: The user's tests, each using the plugin's fixtures as docs/testing.md shows.
TESTS = '''
    from tasks import JobHandle, queue

    import shop


    def test_an_order_dispatches_its_receipt(tasks_fake):
        shop.place_order.delay(1, "a@example.com")
        tasks_fake.assert_dispatched(shop.place_order, order_id=1)
        tasks_fake.assert_not_dispatched(shop.send_receipt)

        tasks_fake.run_all()

        tasks_fake.assert_dispatched(shop.send_receipt, order_id=1, email="a@example.com")


    def test_a_worker_sends_the_receipt_retrying_without_waiting(tasks_memory, tasks_worker):
        order = shop.place_order.delay(2, "b@flaky.example")

        assert tasks_worker() == 3

        receipt = JobHandle(order.result(timeout=5), "emails")
        assert receipt.result(timeout=5) == "receipt 2 to b@flaky.example on attempt 2"


    def test_each_test_has_a_backend_of_its_own(tasks_memory):
        assert tasks_memory.url.startswith("memory://")
        assert queue("default").size() == queue("emails").size() == 0


    def test_a_job_called_directly_knows_it_is_a_first_attempt():
        assert shop.send_receipt(3, "c@example.com") == "receipt 3 to c@example.com on attempt 1"
'''


def user_project(root: Path) -> Path:
    (root / "shop.py").write_text(textwrap.dedent(JOBS))
    (root / "test_shop.py").write_text(textwrap.dedent(TESTS))
    return root


def run_pytest(project: Path, *options: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options]
    return subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=90)


@pytest.mark.timeout(120)
def test_the_installed_plugins_fixtures_serve_a_users_tests(tmp_path: Path) -> None:
    # Given a user's project with jobs and tests that use the fixtures, and nothing else
    project = user_project(tmp_path)

    # When pytest runs there, with the plugin found through its entry point
    ran = run_pytest(project)

    # Then every test passes, and no datastore file was made on the way
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "4 passed" in ran.stdout
    assert not (project / "tasks.db").exists()


@pytest.mark.timeout(120)
def test_the_plugin_can_be_named_with_p_and_its_fixtures_come_from_it_alone(tmp_path: Path) -> None:
    project = user_project(tmp_path)

    # When the entry point is turned off and the module named with -p, Then the tests pass
    named = run_pytest(project, "-p", "no:tasks", "-p", "tasks.testing.plugin")
    assert named.returncode == 0, named.stdout + named.stderr
    assert "4 passed" in named.stdout

    # And without the plugin, the fixtures are missing: they come from it
    without = run_pytest(project, "-p", "no:tasks")
    assert without.returncode != 0
    assert "fixture 'tasks_fake' not found" in without.stdout
    assert "1 passed, 3 errors" in without.stdout
