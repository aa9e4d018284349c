"""settings.TASKS and the words manage.py hands to the tasks CLI: pure functions, no Django project needed."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ImproperlyConfigured

from tasks.contrib.django import conf
from tasks.contrib.django.management.commands.tasks import BOOT_MODULE, tasks_argv


def test_no_settings_tasks_means_the_defaults() -> None:
    assert conf.read(None) == conf.DjangoTasksSettings(environment={}, app=(), autodiscover=True)


def test_settings_tasks_names_the_environment_variables_it_fills() -> None:
    options = conf.read({"URL": "redis://localhost:6379/1", "PREFIX": "shop", "SECRET": "s3cret", "APP": "x.jobs"})

    assert options.environment == {
        "TASKS_URL": "redis://localhost:6379/1",
        "TASKS_PREFIX": "shop",
        "TASKS_SECRET": "s3cret",
    }
    assert options.app == ("x.jobs",)
    assert "s3cret" not in repr(options)


def test_the_environment_wins_over_settings_tasks() -> None:
    environ = {"TASKS_URL": "redis://prod:6379/0", "TASKS_PREFIX": ""}

    filled = conf.fill_environment({"TASKS_URL": "sqlite:///dev.db", "TASKS_PREFIX": "shop"}, environ)

    assert filled == ["TASKS_PREFIX"]  # an empty variable counts as unset, as tasks.config reads it
    assert environ == {"TASKS_URL": "redis://prod:6379/0", "TASKS_PREFIX": "shop"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("redis://localhost", "must be a dict"),
        ({"URLS": "redis://localhost"}, "unknown key 'URLS' (did you mean 'URL'?)"),
        ({"URL": "postgres://db/x"}, "settings.TASKS['URL']: unsupported backend URL"),
        ({"PREFIX": ""}, "settings.TASKS['PREFIX'] must be a non-empty string"),
        ({"APP": ["ok.jobs", 3]}, "settings.TASKS['APP'] must be a list of module names"),
        ({"AUTODISCOVER": "no"}, "settings.TASKS['AUTODISCOVER'] must be True or False"),
    ],
)
def test_a_wrong_settings_tasks_is_refused_naming_the_fix(value: object, message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        conf.read(value)


def test_a_wrong_secret_is_refused_without_showing_it() -> None:
    with pytest.raises(ImproperlyConfigured) as raised:
        conf.read({"SECRET": 12345})

    assert "12345" not in str(raised.value)


def test_the_worker_and_the_scheduler_set_django_up_in_their_processes_first() -> None:
    assert tasks_argv(["worker", "--burst"]) == ["worker", BOOT_MODULE, "--burst"]
    assert tasks_argv(["worker", "extra.jobs"]) == ["worker", BOOT_MODULE, "extra.jobs"]
    assert tasks_argv(["scheduler"]) == ["scheduler", BOOT_MODULE]


def test_other_commands_go_to_the_cli_as_they_stand_without_django_options() -> None:
    assert tasks_argv(["retry", "emails", "--id", "42"]) == ["retry", "emails", "--id", "42"]
    assert tasks_argv(["failed", "--settings", "site.settings", "emails"]) == ["failed", "emails"]
    assert tasks_argv(["queues", "--pythonpath=/srv/app"]) == ["queues"]
    assert tasks_argv([]) == []
