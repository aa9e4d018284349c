"""The embedded default: with no URL anywhere, jobs go to ./tasks.db; a bare ``.db`` path is a SQLite URL."""

from __future__ import annotations

from pathlib import Path

import pytest

import tasks.config
from tasks import ConfigurationError, configure, queue
from tasks.backends.redis import RedisBackend
from tasks.backends.sqlite import SQLiteBackend, path_from_url
from tasks.config import backend_from_url, get_backend, normalize_url
from tests import jobs


def test_with_no_url_the_backend_is_tasks_db_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given no configure(url=...) and no TASKS_URL, in some directory
    monkeypatch.chdir(tmp_path)

    # When a job is dispatched
    handle = jobs.add.delay(1, 2)

    # Then it went to ./tasks.db, which the backend names by its absolute path
    backend = get_backend()
    assert isinstance(backend, SQLiteBackend)
    assert backend.path == tmp_path / "tasks.db"
    assert (tmp_path / "tasks.db").exists()
    assert backend.description == f"SQLite file {tmp_path / 'tasks.db'} (this machine only)"
    assert handle.status() == "queued" and queue("default").size() == 1


@pytest.mark.parametrize("relative", [True, False])
def test_tasks_url_may_be_a_bare_path_ending_in_db(
    relative: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TASKS_URL", "data/jobs.db" if relative else str(tmp_path / "data" / "jobs.db"))
    (tmp_path / "data").mkdir()
    backend = get_backend()
    assert isinstance(backend, SQLiteBackend) and backend.path == tmp_path / "data" / "jobs.db"


def test_a_relative_path_is_fixed_when_the_backend_is_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    configure(url="sqlite:///here.db")
    backend = get_backend()
    monkeypatch.chdir("/")
    assert isinstance(backend, SQLiteBackend) and backend.path == tmp_path / "here.db"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///tasks.db", "sqlite:///tasks.db"),
        ("sqlite:////var/lib/app/tasks.db", "sqlite:////var/lib/app/tasks.db"),
        ("tasks.db", "sqlite:///tasks.db"),
        ("/var/lib/app/tasks.db", "sqlite:////var/lib/app/tasks.db"),
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("rediss://:secret@example.com:6380/1", "rediss://:secret@example.com:6380/1"),
        ("unix:///run/redis.sock", "unix:///run/redis.sock"),
        ("memory://", "memory://"),
    ],
)
def test_every_scheme_we_speak_is_accepted(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


def test_absolute_and_relative_sqlite_urls_name_the_file_as_sqlalchemy_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert path_from_url("sqlite:///sub/a.db") == tmp_path / "sub" / "a.db"
    assert path_from_url(f"sqlite:///{tmp_path}/b.db") == tmp_path / "b.db"
    assert path_from_url("sqlite:///~/c.db") == Path.home() / "c.db"


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite:///:memory:", "tasks.sqlite", "postgres://x/y"])
def test_a_url_that_names_no_usable_store_fails_at_configure(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        configure(url=url)
    assert "sqlite:///" in str(caught.value)


def test_each_url_builds_its_own_kind_of_backend(tmp_path: Path) -> None:
    sqlite = backend_from_url(f"sqlite:///{tmp_path}/x.db", prefix="p")
    memory = backend_from_url("memory://config-test", prefix="p")
    redis = backend_from_url("redis://127.0.0.1:1/0", prefix="p")  # nothing connects until used
    assert isinstance(sqlite, SQLiteBackend) and sqlite.ns == "p"
    assert isinstance(memory, RedisBackend) and isinstance(redis, RedisBackend)
    for backend in (sqlite, memory, redis):
        backend.close()
    assert tasks.config.DEFAULT_URL == "sqlite:///tasks.db"
