"""``delay()`` checks the arguments against the job's signature in the caller: a wrong call sends nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tasks import bulk, job, queue
from tasks.arguments import checker
from tests import jobs


def test_too_many_arguments_raise_at_once_and_nothing_is_sent(app: str) -> None:
    with pytest.raises(TypeError, match=r"cannot dispatch tests.add: add\(\) takes 2 positional arguments but 3"):
        jobs.add.delay(1, 2, 3)  # type: ignore[call-arg]
    assert queue("default").size() == 0


@pytest.mark.parametrize(
    ("args", "kwargs", "says"),
    [
        ((1,), {}, "missing 1 required positional argument: 'b'"),
        ((1, 2), {"c": 3}, "got an unexpected keyword argument 'c'"),
        ((1,), {"a": 2}, "got multiple values for argument 'a'"),
    ],
    ids=["missing", "unexpected", "twice"],
)
def test_every_way_a_call_can_be_wrong_is_refused_with_pythons_own_words(
    args: tuple[Any, ...], kwargs: dict[str, Any], says: str, app: str
) -> None:
    with pytest.raises(TypeError, match=says):
        jobs.add.delay(*args, **kwargs)
    assert queue("default").size() == 0


def test_later_on_and_with_options_check_too(app: str) -> None:
    with pytest.raises(TypeError):
        jobs.add.later(10, 1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        jobs.add.on("other").delay(b=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        jobs.async_add.with_options(job_id="x").delay(1)  # type: ignore[call-arg]
    assert (queue("default").scheduled_size(), queue("other").size()) == (0, 0)


def test_a_wrong_call_inside_bulk_raises_there_and_the_block_sends_nothing(app: str) -> None:
    with pytest.raises(TypeError), bulk():
        jobs.add.delay(1, 2)
        jobs.add.delay(1, 2, 3)  # type: ignore[call-arg]
    assert queue("default").size() == 0


def test_right_calls_of_every_kind_of_signature_are_sent(app: str, forget_jobs: list[str]) -> None:
    # Given a job with positional-only, defaulted, variadic and keyword-only parameters
    @job(name="tests.every_kind")
    def every_kind(a: int, /, b: int = 1, *rest: int, c: int, d: int = 2, **more: int) -> int:
        return a

    forget_jobs.append("tests.every_kind")

    # Then every call Python accepts is sent, and one it refuses is not
    every_kind.delay(1, c=3)
    every_kind.delay(1, 2, 3, 4, c=3, d=4, e=5)
    with pytest.raises(TypeError, match=r"missing 1 required positional argument: .a."):  # a= goes to **more
        every_kind.delay(a=1, c=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="keyword-only argument: 'c'"):
        every_kind.delay(1)  # type: ignore[call-arg]
    assert queue("default").size() == 2


def test_the_check_copies_names_and_kinds_only_never_defaults() -> None:
    calls: list[str] = []

    def noisy_default() -> int:
        calls.append("evaluated")
        return 1

    def func(a: int, b: int = noisy_default()) -> None: ...

    check = checker(func)
    assert check is not None
    check(1)
    check(1, 2)
    assert calls == ["evaluated"]  # only when func itself was defined
    assert checker(dict) is None  # no signature to copy: not checked here, the worker will tell
