"""Who goes next when the budget is short (bot/outbox_turns.py, bot/outbox_budget.py): final
states first, then the change that waited longest; ticks only with budget to spare; a key in
flight or blocked by a 429 waits. Pure logic: posts without an outbox."""

from __future__ import annotations

from bot.outbox import Post
from bot.outbox_budget import Budget
from bot.outbox_turns import pick

NOW = 1000.0


def a_post(channel: str = "C1", *, ts: str | None = "1.0", final: bool = False, stale_since: float = NOW,
           ticking: bool = False) -> Post:
    post = Post(None, channel=channel, render=lambda: ("x", []), ts=ts,  # type: ignore[arg-type]
                refresh_every=10 if ticking else None)
    post.final, post.stale_since = final, stale_since
    if ticking:  # nothing new: only the elapsed time would move
        post.sent = post.wanted
        post.last_done = NOW - 60
    return post


def test_a_final_state_goes_before_older_changes_when_one_call_is_left() -> None:
    budget = Budget({"chat.update": (1 / 60, 1)})
    older, final = a_post(stale_since=NOW - 30), a_post(final=True, stale_since=NOW - 1)
    due, _ = pick([older, final], budget, set(), NOW)
    assert [p for p, _, _ in due] == [final]
    assert pick([older], budget, set(), NOW + 1)[0] == []  # the bucket refills: the older change waits its turn
    assert len(pick([older], budget, set(), NOW + 61)[0]) == 1


def test_the_change_that_waited_longest_goes_first() -> None:
    budget = Budget({"chat.update": (1 / 60, 1)})
    newer, older = a_post(stale_since=NOW - 2), a_post(stale_since=NOW - 20)
    assert [p for p, _, _ in pick([newer, older], budget, set(), NOW)[0]] == [older]


def test_ticks_go_only_with_budget_to_spare() -> None:
    tight = Budget({"chat.update": (1 / 60, 5)})
    for _ in range(3):
        tight.take("chat.update", NOW)
    assert pick([a_post(ticking=True)], tight, set(), NOW)[0] == []  # 2 tokens left: kept for changes
    assert len(pick([a_post()], tight, set(), NOW)[0]) == 1  # a change takes one
    roomy = Budget({"chat.update": (1 / 60, 5)})
    tick = a_post(ticking=True)
    assert [p for p, _, _ in pick([tick], roomy, set(), NOW)[0]] == [tick] and tick.tick


def test_one_call_per_key_in_flight_and_none_before_retry_after() -> None:
    budget = Budget({"chat.update": (10.0, 10)})
    posts = [a_post(), a_post()]
    due, _ = pick(posts, budget, set(), NOW)
    assert len(due) == 1  # the other waits for the first's answer
    second = next(p for p in posts if p is not due[0][0])
    budget.blocked("chat.update", NOW, 5.0)
    assert pick([second], budget, set(), NOW + 4.9)[0] == []
    assert len(pick([second], budget, set(), NOW + 5.1)[0]) == 1


def test_posts_are_limited_per_channel() -> None:
    budget = Budget({"chat.postMessage": (1.0, 1)})
    here, there, here_too = a_post("C1", ts=None), a_post("C2", ts=None), a_post("C1", ts=None)
    due, _ = pick([here, there, here_too], budget, set(), NOW)
    assert {p.channel for p, _, _ in due} == {"C1", "C2"} and len(due) == 2
