"""@job: how a function becomes a job, how it is named, and which options are refused when the decorator runs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tasks import ConfigurationError, Job, job, registry
from tests import jobs
from tests.support.processes import ROOT


def make_function(module: str = "myapp.emails", qualname: str = "send") -> Callable[..., Any]:
    """A plain function that looks as if it were defined at the top of ``module``."""

    def send(to: str) -> str:
        return f"sent to {to}"

    send.__module__ = module
    send.__qualname__ = qualname
    return send


# --- bare and with arguments ---------------------------------------------------------------------------------


def test_bare_job_registers_the_function_with_every_default(forget_jobs: list[str]) -> None:
    # Given a plain function
    fn = make_function(qualname="bare_send")

    # When it is decorated bare
    wrapped = job(fn)
    forget_jobs.append(wrapped.name)

    # Then it is a Job named module.qualname, registered with the documented defaults
    assert isinstance(wrapped, Job)
    assert wrapped.name == "myapp.emails.bare_send"
    definition = registry.lookup("myapp.emails.bare_send")
    assert definition is not None and definition.func is fn
    assert definition.queue == "default"
    assert definition.policy.max_attempts == 3
    assert definition.policy.backoff == 5.0
    assert definition.policy.max_backoff_s == 3600.0
    assert definition.policy.jitter is False
    assert definition.timeout_s is None
    assert definition.result_ttl_s == 86400.0
    assert definition.serializer == "json"


def test_job_with_arguments_keeps_every_option(forget_jobs: list[str]) -> None:
    # Given a function and every option
    fn = make_function(qualname="configured_send")

    # When it is decorated with arguments
    wrapped = job(
        name="emails.send",
        queue="emails",
        max_attempts=7,
        backoff=[1, 2],
        max_backoff=60,
        jitter=True,
        timeout=30,
        result_ttl=120,
    )(fn)
    forget_jobs.append(wrapped.name)

    # Then the registered definition carries them all
    definition = registry.lookup("emails.send")
    assert definition is not None
    assert (definition.queue, definition.timeout_s, definition.result_ttl_s) == ("emails", 30.0, 120.0)
    assert definition.policy.max_attempts == 7
    assert list(definition.policy.backoff) == [1, 2]  # type: ignore[arg-type]
    assert (definition.policy.max_backoff_s, definition.policy.jitter) == (60, True)
    assert wrapped.options.queue == "emails"


def test_empty_parentheses_behave_like_the_bare_decorator(forget_jobs: list[str]) -> None:
    wrapped = job()(make_function(qualname="parenthesised"))
    forget_jobs.append(wrapped.name)
    assert wrapped.name == "myapp.emails.parenthesised"
    assert registry.lookup(wrapped.name) is not None


def test_the_job_keeps_the_function_identity() -> None:
    assert jobs.add.__name__ == "add"
    assert jobs.add.__wrapped__(1, 2) == 3
    assert jobs.record.__doc__ is not None and "TASKS_TEST_RECORD" in jobs.record.__doc__


def test_decorating_twice_is_refused() -> None:
    with pytest.raises(TypeError, match="applied twice"):
        job(jobs.add)  # type: ignore[call-overload]


# --- option validation at decoration time ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "fix"),
    [
        ({"queue": "bad queue!"}, ValueError, "letters, digits"),
        ({"queue": ""}, ValueError, "letters, digits"),
        ({"queue": "{emails}"}, ValueError, "letters, digits"),
        ({"queue": "emails\n"}, ValueError, "letters, digits"),
        ({"queue": "x" * 101}, ValueError, "letters, digits"),
        ({"backoff": -1}, ValueError, "backoff must be a finite number >= 0"),
        ({"backoff": float("nan")}, ValueError, "backoff must be a finite number >= 0"),
        ({"backoff": float("inf")}, ValueError, "backoff must be a finite number >= 0"),
        ({"backoff": [1, float("nan")]}, ValueError, "every backoff step"),
        ({"backoff": [1, -2]}, ValueError, "every backoff step"),
        ({"backoff": []}, ValueError, "at least one delay"),
        ({"backoff": "fast"}, TypeError, "backoff must be seconds"),
        ({"backoff": True}, TypeError, "backoff must be seconds"),
        ({"max_attempts": 0}, ValueError, "max_attempts must be an int >= 1"),
        ({"max_attempts": -3}, ValueError, "max_attempts must be an int >= 1"),
        ({"max_attempts": 2.5}, ValueError, "max_attempts must be an int >= 1"),
        ({"max_backoff": -1}, ValueError, "max_backoff must be >= 0"),
        ({"max_backoff": float("nan")}, ValueError, "max_backoff must be >= 0"),
        ({"timeout": 0}, ValueError, "timeout must be a finite number of seconds > 0"),
        ({"timeout": -5}, ValueError, "timeout must be a finite number of seconds > 0"),
        ({"timeout": float("nan")}, ValueError, "timeout must be a finite number of seconds > 0"),
        ({"timeout": float("inf")}, ValueError, "timeout must be a finite number of seconds > 0"),
        ({"result_ttl": 0}, ValueError, "result_ttl must be a finite number of seconds > 0"),
        ({"result_ttl": float("nan")}, ValueError, "result_ttl must be a finite number of seconds > 0"),
        ({"result_ttl": float("inf")}, ValueError, "result_ttl must be a finite number of seconds > 0"),
        ({"serializer": "pickle"}, ValueError, "serializer must be 'json' or 'dill'"),
        ({"name": ""}, ValueError, "non-empty string"),
    ],
)
def test_a_bad_option_is_refused_when_the_decorator_runs(
    options: dict[str, Any], error: type[Exception], fix: str, forget_jobs: list[str]
) -> None:
    # Given a function and one bad option
    fn = make_function(qualname="refused")
    forget_jobs.append("myapp.emails.refused")

    # When it is decorated, Then the decorator itself raises, naming the fix
    with pytest.raises(error, match=fix):
        job(**options)(fn)

    # And nothing was registered
    assert registry.lookup("myapp.emails.refused") is None


def test_an_unknown_option_is_refused_with_a_did_you_mean() -> None:
    with pytest.raises(TypeError) as caught:
        job(queu="emails")  # type: ignore[call-overload]
    message = str(caught.value)
    assert "'queu'" in message
    assert "did you mean 'queue'?" in message
    assert "valid options:" in message


def test_an_unknown_option_with_no_close_match_lists_the_valid_ones() -> None:
    with pytest.raises(TypeError) as caught:
        job(colour="blue")  # type: ignore[call-overload]
    assert "did you mean" not in str(caught.value)
    assert "max_attempts" in str(caught.value)


def test_a_bad_serializer_is_a_value_error() -> None:
    # ConfigurationError is a ValueError: callers may catch either
    with pytest.raises(ValueError, match="'json' or 'dill'"):
        job(serializer="yaml")(make_function(qualname="yaml_job"))
    assert issubclass(ConfigurationError, ValueError)


# --- naming ---------------------------------------------------------------------------------------------------


def test_the_default_name_is_module_dot_qualname(forget_jobs: list[str]) -> None:
    # Given a method-like qualname in a package module
    fn = make_function(module="shop.billing", qualname="Invoices.charge")

    # When it is decorated without a name
    wrapped = job(fn)
    forget_jobs.append(wrapped.name)

    # Then its name is the module and the qualified name
    assert wrapped.name == "shop.billing.Invoices.charge"


def test_an_explicit_name_wins(forget_jobs: list[str]) -> None:
    wrapped = job(name="billing.charge")(make_function(module="shop.billing", qualname="charge"))
    forget_jobs.append(wrapped.name)
    assert wrapped.name == "billing.charge"
    assert registry.lookup("shop.billing.charge") is None


def test_the_shared_test_jobs_are_registered_under_their_names() -> None:
    assert jobs.add.name == "tests.add"
    assert registry.lookup("tests.add") is jobs.add.definition


def test_a_nested_function_needs_a_name() -> None:
    def inner() -> None: ...

    with pytest.raises(ValueError, match=r"inside a function: give it a name with @job\(name="):
        job(inner)


def test_a_nested_function_with_a_name_is_accepted(forget_jobs: list[str]) -> None:
    def inner() -> int:
        return 1

    wrapped = job(name="tests.nested_with_name")(inner)
    forget_jobs.append(wrapped.name)
    assert registry.lookup("tests.nested_with_name") is wrapped.definition


def test_a_function_from_main_needs_a_name(forget_jobs: list[str]) -> None:
    # Given a function whose module is __main__
    fn = make_function(module="__main__", qualname="send")

    # When it is decorated bare, Then the error says why and how to fix it
    with pytest.raises(ValueError, match=r"__main__.*@job\(name="):
        job(fn)

    # And with a name it is accepted
    wrapped = job(name="scripts.send")(fn)
    forget_jobs.append(wrapped.name)
    assert wrapped.name == "scripts.send"


@pytest.mark.timeout(60)
def test_a_script_run_as_main_cannot_declare_an_unnamed_job(tmp_path: Path) -> None:
    # Given a script that declares a job without a name, run as __main__
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            """
            from tasks import job

            @job(name="script.named")
            def named() -> None: ...

            print("named ok")

            @job
            def unnamed() -> None: ...
            """
        )
    )

    # When it runs
    done = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=60)

    # Then the named job is fine and the unnamed one stops the script with the fix
    assert "named ok" in done.stdout
    assert done.returncode != 0
    assert "ConfigurationError" in done.stderr
    assert "@job(name='...')" in done.stderr


# --- duplicates -----------------------------------------------------------------------------------------------


def test_two_functions_under_one_name_are_refused(forget_jobs: list[str]) -> None:
    # Given a job registered under a name
    first = job(name="tests.duplicate")(make_function(qualname="first"))
    forget_jobs.append(first.name)

    # When another function claims the same name
    with pytest.raises(ValueError) as caught:
        job(name="tests.duplicate")(make_function(qualname="second"))

    # Then it is refused, pointing at the first one and the fix, and the first one stays
    assert "already registered" in str(caught.value)
    assert "name=" in str(caught.value)
    assert registry.lookup("tests.duplicate") is first.definition


def test_the_same_function_registered_again_is_not_a_clash(forget_jobs: list[str]) -> None:
    # Given a function registered once (a module imported under two names decorates it twice)
    fn = make_function(qualname="reimported")
    job(fn)
    forget_jobs.append("myapp.emails.reimported")

    # When the very same function is decorated again, Then it is accepted
    again = job(fn)
    assert registry.lookup("myapp.emails.reimported") is again.definition
