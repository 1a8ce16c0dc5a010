"""poll_until, the one wait loop of the engine (pure control flow; the waits on Docker that use
it are tested against a real swarm)."""

from __future__ import annotations

import pytest

from stacks.polling import poll_until


def test_returns_the_first_answer_asking_at_once() -> None:
    answers = iter([None, None, "ready"])
    asked: list[int] = []

    def done() -> str | None:
        asked.append(1)
        return next(answers)

    assert poll_until(done, timeout=5, interval=0, timed_out=lambda: "late") == "ready"
    assert len(asked) == 3


def test_false_and_empty_answers_count_as_answers() -> None:
    assert poll_until(lambda: "", timeout=5, interval=0, timed_out=lambda: "late") == ""
    assert poll_until(lambda: False, timeout=5, interval=0, timed_out=lambda: True) is False


def test_after_the_timeout_says_what_timed_out_says_or_raises_it() -> None:
    assert poll_until(lambda: None, timeout=0.05, interval=0.01, timed_out=lambda: "late") == "late"

    def refuse() -> str:
        raise TimeoutError("did not happen")

    with pytest.raises(TimeoutError, match="did not happen"):
        poll_until(lambda: None, timeout=0.05, interval=0.01, timed_out=refuse)


def test_stop_ends_the_wait_with_none() -> None:
    stops = iter([False, True])
    assert poll_until(lambda: None, timeout=60, interval=0, timed_out=lambda: "late", stop=lambda: next(stops)) is None


def test_an_error_of_the_question_is_not_swallowed() -> None:
    def broken() -> None:
        raise RuntimeError("docker away")

    with pytest.raises(RuntimeError, match="docker away"):
        poll_until(broken, timeout=60, interval=0, timed_out=lambda: None)
