"""Messages whose buttons mean nothing once one was used, remembered so that every copy is
replaced by what happened.

The Keep warning of an idle stack is posted twice (the stack's thread and the notify channel);
when someone keeps the stack (a button of either copy, `keep`, the command line or the API) or
it is reaped, both copies are updated to say so, without buttons. The copies are posted with
the topic `prompt:<stack>` and so found again in the outbox's journal after a restart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .outbox import MessageRef, Outbox, Post, Rendered

POSTED_WAIT = 10.0  # a copy still being posted when it is settled: wait this long for its ts
MAX_STACKS = 1000


def topic(stack: str) -> str:
    return f"prompt:{stack}"


class OpenPrompts:
    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox
        self._lock = threading.Lock()
        self._copies: dict[str, list[Post]] = {}

    def remember(self, stack: str, copies: list[Post]) -> None:
        """The copies of one prompt about `stack` (a newer prompt replaces an older one's memory)."""
        with self._lock:
            if stack not in self._copies and len(self._copies) >= MAX_STACKS:
                self._copies.pop(next(iter(self._copies)))
            self._copies[stack] = list(copies)

    def has(self, stack: str) -> bool:
        with self._lock:
            if stack in self._copies:
                return True
        return bool(self._outbox.journal and self._outbox.journal.about(topic(stack)))

    def settle(self, stack: str, render: Callable[[], Rendered]) -> int:
        """Replace every copy of the prompt about `stack` with `render()`'s message; how many.
        Waits for a copy still being posted (call it from the bot's pool, not an engine thread)."""
        with self._lock:
            copies = self._copies.pop(stack, [])
        refs: set[MessageRef] = set()
        for post in copies:
            if post.ref is None:
                post.wait(POSTED_WAIT)
            if post.ref is not None:
                refs.add(post.ref)
        journal = self._outbox.journal
        if journal is not None:  # copies posted before a restart
            refs |= {MessageRef(channel, ts) for channel, ts in journal.about(topic(stack))}
            journal.forget_topic(topic(stack))
        for ref in refs:
            self._outbox.update(ref, render)
        return len(refs)
