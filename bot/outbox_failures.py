"""What the outbox does when a call to Slack fails (bot/outbox_calls.classify says what it means):
a 429 blocks its budget key for Retry-After; Slack's or the network's trouble is retried with
backoff (a post is then `uncertain`: it may have landed, so it is looked up before it is posted
again); a refusal falls back to another channel where that helps, else the post is given up and
its owner told."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .outbox_calls import CANNOT_POST, backoff, classify

if TYPE_CHECKING:
    from .outbox import Post
    from .outbox_budget import Budget
    from .outbox_journal import Journal

log = logging.getLogger(__name__)

MAX_AGE = 6 * 3600.0  # a message Slack could not take for this long is given up


class Failures:
    _cond: threading.Condition
    budget: Budget
    journal: Journal | None

    def _failed(self, post: Post, method: str, key: str, error: BaseException) -> None:
        kind, wait, code = classify(error)
        if kind == "rate_limited":
            with self._cond:
                self.budget.blocked(key, time.monotonic(), wait)
                post.in_flight = False
                self._cond.notify_all()
            log.info("Slack rate-limited %s; waiting %ss", key, wait)
        elif kind == "retry":
            self._retry_later(post, method, code)
        else:
            self._refused(post, method, code)

    def _retry_later(self, post: Post, method: str, why: str) -> None:
        if method == "chat.postMessage" and not post.uncertain:
            post.uncertain = True  # it may have landed: look before posting again
            if self.journal is not None:
                self.journal.uncertain(post)
        with self._cond:
            post.attempts += 1
            post.in_flight = False
            if time.time() - post.created > MAX_AGE:
                log.warning("giving up on a Slack message after %d attempts over %ds: %s", post.attempts,
                            MAX_AGE, why)
                self._give_up(post)
            else:
                delay = backoff(post.attempts)
                post.not_before = time.monotonic() + delay
                log.info("Slack %s failed (%s); again in %.0fs", method, why, delay)
            self._cond.notify_all()

    def _refused(self, post: Post, method: str, code: str) -> None:
        redirected = None
        with self._cond:  # (given up below, once its owner was told: in flight until then)
            if post.ts is None and post.upload is None and code in CANNOT_POST and post.fallback \
                    and post.fallback != post.channel:
                redirected = post.fallback
                post.channel, post.thread_ts, post.parent, post.fallback = redirected, None, None, None
                post.in_flight = False
                self._cond.notify_all()
        if redirected is None:
            log.warning("Slack refused %s in %s: %s", method, post.channel, code)
        if post.ts is None and post.on_failed is not None:
            safely(post.on_failed, code, redirected)
        if redirected is None:
            with self._cond:
                self._give_up(post)
                self._cond.notify_all()

    def _give_up(self, post: Post) -> None:
        post.dead, post.in_flight = True, False
        post.done.set()
        if self.journal is not None and post.upload is None:
            self.journal.dead(post)





def safely(function: Callable, *args: object) -> None:
    try:
        function(*args)
    except Exception:
        log.exception("outbox callback failed")
