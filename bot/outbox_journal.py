"""The outbox's memory: each message kept in the database (through the engine's store) from the
moment it is asked for until Slack has it, so that an outage of Slack or a restart of yadockeri
loses nothing (stacks/queries/outbox.py).

What is kept is what was rendered when the owner last said the message changed (`touch`); the
ticks of the elapsed time in between are not kept. A failure to write is logged and the
message still goes out from memory: the database being briefly away must not silence Slack.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stacks.queries.outbox import OutboxRecord
    from stacks.store import Store

    from .outbox import Post

log = logging.getLogger(__name__)

Rendered = tuple[str, list[dict]]
KEEP_DELIVERED = timedelta(days=7)


def dump(content: Rendered) -> str:
    return json.dumps([content[0], content[1]], ensure_ascii=False, separators=(",", ":"))


def load(content: str) -> Rendered:
    text, blocks = json.loads(content)
    return str(text), list(blocks or [])


class Journal:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _write(self, what: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Exception:  # the message still goes out from memory
            log.exception("the outbox could not %s in the database", what)
            return None

    def keep(self, post: Post, content: Rendered) -> None:
        parent_id = post.parent.id if post.parent is not None else None
        post.id = self._write("keep a message", self.store.keep_message, nonce=post.nonce, channel=post.channel,
                              thread_ts=post.thread_ts, parent_id=parent_id, ts=post.ts, fallback=post.fallback,
                              content=dump(content), tag=json.dumps(post.tag) if post.tag else None,
                              final=post.final, topic=post.topic)

    def about(self, topic: str) -> list[tuple[str, str]]:
        """(channel, ts) of the delivered messages about `topic`, from before a restart too."""
        return self._write("read messages", self.store.messages_about, topic) or []

    def forget_topic(self, topic: str) -> None:
        self._write("forget a topic", self.store.forget_topic, topic)

    def forget_delivered(self) -> None:
        """Delivered messages are kept a week: a reply or a prompt's other copy may still need them."""
        self._write("forget delivered messages", self.store.forget_delivered, KEEP_DELIVERED)

    def want(self, post: Post, content: Rendered, wanted: int) -> None:
        if post.id is not None:
            self._write("keep a change", self.store.want_message, post.id, dump(content), wanted, post.final)

    def sent(self, post: Post, version: int, *, done: bool) -> None:
        if post.id is not None:
            self._write("mark a message sent", self.store.message_sent, post.id, sent=version, channel=post.channel,
                        thread_ts=post.thread_ts, ts=post.ts, done=done)

    def uncertain(self, post: Post) -> None:
        if post.id is not None:
            self._write("mark a message uncertain", self.store.message_uncertain, post.id, True)

    def dead(self, post: Post) -> None:
        if post.id is not None:
            self._write("give a message up", self.store.message_dead, post.id)

    def pending(self) -> list[OutboxRecord]:
        return self._write("read its messages", self.store.pending_messages) or []

    def parent_ts(self, parent_id: int) -> tuple[str, str | None] | None:
        """(channel, ts) of a message delivered before the restart, for a reply still pending."""
        record = self._write("read a message", self.store.outbox_message, parent_id)
        if record is None or record.ts is None:
            return None
        return record.channel, record.thread_ts or record.ts
