"""At start, the messages a previous run of the bot kept but did not deliver become posts again,
with what was last asked of them (bot/outbox_journal.py)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from .outbox import Post
from .outbox_journal import Journal, Rendered, load

if TYPE_CHECKING:
    from .outbox import Outbox

log = logging.getLogger(__name__)


def restore(outbox: Outbox, journal: Journal) -> list[Post]:
    posts: dict[int, Post] = {}
    for record in journal.pending():
        content = load(record.content)
        post = Post(outbox, channel=record.channel, render=_fixed(content), thread_ts=record.thread_ts,
                    fallback=record.fallback, ts=record.ts, tag=json.loads(record.tag) if record.tag else None)
        post.id, post.nonce, post.created = record.id, record.nonce, record.created_at.timestamp()
        # final: its owner is gone (what a restart interrupted says so itself, Post.replace)
        post.wanted, post.sent, post.final, post.uncertain = record.wanted, record.sent, True, record.uncertain
        if record.parent_id is not None and record.ts is None:
            parent = posts.get(record.parent_id)
            if parent is not None:
                post.parent = parent
            else:  # delivered before the restart: reply under it
                where = journal.parent_ts(record.parent_id)
                if where is None:
                    log.warning("a kept reply lost its message (given up): not sent")
                    journal.dead(post)
                    continue
                post.channel, post.thread_ts = where
        posts[record.id] = post
    if posts:
        log.info("the outbox kept %d messages from before the restart: sending them", len(posts))
    return list(posts.values())


def _fixed(content: Rendered) -> Callable[[], Rendered]:
    return lambda: content
