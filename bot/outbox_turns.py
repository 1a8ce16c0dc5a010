"""Who goes next: of the posts with something to send, final states first, then the change that
has waited longest; the ticks of a running deployment's elapsed time only with budget to spare
(bot/outbox_budget.py). Called by the outbox's loop under its lock."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .outbox import Post
    from .outbox_budget import Budget

FINAL, CHANGE, TICK = 0, 1, 2
TICK_SPARE = 2.0  # tokens a tick must leave in its bucket for the changes that may come


def priority(post: Post, now: float) -> int | None:
    """FINAL, CHANGE or TICK if the post has something to send once its turn comes; None if not.
    A reply whose message was given up is marked dead (the loop gives it up)."""
    if post.dead or post.in_flight or post.done.is_set():
        return None
    if post.parent is not None and post.parent.ts is None:
        if post.parent.dead:
            post.dead = True
        return None
    if post.sent < post.wanted:
        return FINAL if post.final else CHANGE
    if post.refresh_every and not post.final and post.ts and now - post.last_done >= post.refresh_every:
        post.tick = True  # keep the elapsed time moving while nothing else happens
        return TICK
    return None


def pick(posts: list[Post], budget: Budget, busy: set[str], now: float) -> tuple[list[tuple[Post, str, str]], float]:
    """The posts to send now, each with (method, budget key), marked in flight; and when to look again."""
    ready, wake = [], now + 0.5
    for post in posts:
        turn = priority(post, now)
        if turn is None:
            continue
        if post.not_before > now:
            wake = min(wake, post.not_before)
            continue
        ready.append((turn, post.stale_since or now, id(post), post))
    due = []
    for turn, _, _, post in sorted(ready):
        key = budget.key(post.method, post.parent.channel if post.parent else post.channel)
        if key in busy:
            continue
        at = budget.ready_at(key, now, spare=TICK_SPARE if turn == TICK else 0.0)
        if at > now:
            wake = min(wake, at)
            continue
        budget.take(key, now)
        post.in_flight = True
        busy.add(key)
        due.append((post, post.method, key))
    return due, wake
