"""People by name: messages that say what someone did name them without a mention.

Slack has no silent mention: `<@U123>` in a posted message notifies U123. A notice about what
someone did themselves, or a list of stacks with their owners, must not ping anyone, so it shows
their Slack name instead (users.info, asked once per person and kept for a while). Mentions are
written on purpose only where someone should be told (bot.text.mention).

What renders in an engine thread (a deployment's message) never waits for Slack: it takes the
name known so far (`wait=False`) and asks for it on the side, so that the next rendering has it.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from slack_sdk import WebClient

from .text import is_slack_user, named

log = logging.getLogger(__name__)

KEEP_SECONDS = 3600.0  # a renamed person shows their old name for at most this long
RETRY_SECONDS = 60.0  # after users.info failed, the ID is shown meanwhile
MAX_PEOPLE = 5000


class Names:
    def __init__(self, client: WebClient, *, keep: float = KEEP_SECONDS) -> None:
        self._client = client  # no retry handlers: a name is never worth waiting for
        self._keep = keep
        self._lock = threading.Lock()
        self._known: dict[str, tuple[float, str | None]] = {}  # user -> (valid until, name)
        self._asking: set[str] = set()
        self._aside = ThreadPoolExecutor(max_workers=1, thread_name_prefix="yadockeri-names")

    def close(self) -> None:
        self._aside.shutdown(wait=False, cancel_futures=True)

    def of(self, actor: str | None, *, wait: bool = True) -> str:
        """mrkdwn naming `actor` without notifying them (their name, else their ID as code).
        wait=False: only a name known already; an unknown one is asked for on the side."""
        if not is_slack_user(actor):
            return named(actor)
        assert actor is not None
        return named(actor, self._name(actor) if wait else self._known_name(actor))

    def _known_name(self, user: str) -> str | None:
        with self._lock:
            known = self._known.get(user)
            if known is not None and known[0] > time.monotonic():
                return known[1]
            asking = user in self._asking
            self._asking.add(user)
        if not asking:
            try:
                self._aside.submit(self._name, user)
            except RuntimeError:  # closing
                pass
        return known[1] if known is not None else None

    def _name(self, user: str) -> str | None:
        now = time.monotonic()
        with self._lock:
            known = self._known.get(user)
        if known is not None and known[0] > now:
            return known[1]
        name, keep = self._ask(user), self._keep
        if name is None:
            keep = RETRY_SECONDS
        with self._lock:
            if len(self._known) >= MAX_PEOPLE:
                self._known.clear()  # rare: a cache of names needs no finer eviction
            self._known[user] = (now + keep, name)
            self._asking.discard(user)
        return name

    def _ask(self, user: str) -> str | None:
        try:
            answer = self._client.users_info(user=user)
        except Exception as error:  # noqa: BLE001 - the ID is shown instead; logged
            log.info("could not read the name of %s: %s", user, error)
            return None
        person = answer.get("user") or {}
        profile = person.get("profile") or {}
        return profile.get("display_name") or profile.get("real_name") or person.get("real_name") \
            or person.get("name") or None
