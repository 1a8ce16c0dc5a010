"""Every message the bot posts in a channel goes through the outbox.

A `Post` is one Slack message: posted once (chat.postMessage), then updated in place
(chat.update) whenever its owner says it changed (`touch`). The outbox sends from its own
threads, so whoever reports progress (the engine's workers) never waits for Slack, and:

- nothing is lost: with a journal (bot/outbox_journal.py) each message is kept in the database
  when it is asked for and each change when it is touched, and retried with backoff through
  Slack's outages and yadockeri's restarts until Slack has it; a post whose answer was lost is
  looked up before it is posted again (bot/outbox_calls.py), so it appears once;
- it keeps Slack's limits: at most one call per message a second (changes asked for meanwhile
  merge, and the newest content is sent); a token bucket per method and workspace (per channel
  for chat.postMessage) shared by all messages (bot/outbox_budget.py); after a 429 nothing of
  that method before Retry-After;
- who goes first when the budget is short: final states, then the message whose change has
  waited longest; the ticks of a running deployment's elapsed time only with budget to spare;
- a reply waits for the message it replies to, and goes where that message went;
- where the bot cannot post (not in the channel, a read-only channel, a DM), a post may fall
  back to another channel (the notify channel), and its owner is told so.

Every message's top-level `text` goes through bot.text.fallback here (Slack parses it for
mentions and links, without `verbatim`), and a message without blocks gets one verbatim
section of that text, so no caller can post untrusted text unguarded.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient

from .blocks.common import section
from .outbox_budget import Budget
from .outbox_calls import look_up, post_message
from .outbox_failures import Failures, safely
from .outbox_turns import pick
from .text import fallback

if TYPE_CHECKING:
    from .outbox_journal import Journal

log = logging.getLogger(__name__)

MIN_INTERVAL = 1.0  # seconds between two calls on one message

Rendered = tuple[str, list[dict]]
Tagged = Callable[[dict, "MessageRef", bool], None]


@dataclass(frozen=True)
class MessageRef:
    channel: str
    ts: str

    def __str__(self) -> str:
        return f"{self.channel}:{self.ts}"

    @classmethod
    def parse(cls, text: str | None) -> MessageRef | None:
        if not text or ":" not in text:
            return None
        channel, _, ts = text.partition(":")
        return cls(channel, ts) if channel and ts else None


class Post:
    """One message the outbox owns. Call `touch()` when what `render()` gives has changed."""

    def __init__(self, outbox: Outbox, *, channel: str, render: Callable[[], Rendered], thread_ts: str | None = None,
                 parent: Post | None = None, fallback: str | None = None, ts: str | None = None,
                 on_posted: Callable[[MessageRef, bool], None] | None = None,
                 on_failed: Callable[[str, str | None], None] | None = None, refresh_every: float | None = None,
                 upload: tuple[bytes, str, str] | None = None, tag: dict | None = None,
                 topic: str | None = None) -> None:
        self._outbox = outbox
        self.channel, self.thread_ts, self.parent, self.fallback, self.ts = channel, thread_ts, parent, fallback, ts
        self.render, self.on_posted, self.on_failed = render, on_posted, on_failed
        self.refresh_every = refresh_every
        self.upload = upload  # (content, filename, title): a file shared in the thread instead of a message
        self.tag = tag  # what the bot learns once it is posted (kept: a restart must learn it too)
        self.topic = topic  # what it is about, to find it again after a restart ("prompt:akira")
        self.id: int | None = None  # in the journal
        self.nonce = secrets.token_hex(16)
        self.created = time.time()
        self.wanted, self.sent = 1, 0  # versions asked for, sent
        self.final = self.dead = self.in_flight = self.tick = self.uncertain = False
        self.not_before = self.last_done = 0.0
        self.stale_since: float | None = time.monotonic()
        self.attempts = 0
        self.done = threading.Event()

    @property
    def ref(self) -> MessageRef | None:
        return MessageRef(self.channel, self.ts) if self.ts else None

    @property
    def thread_root(self) -> str | None:
        """The ts replies to this message go under: its own thread's, or itself."""
        return self.thread_ts or self.ts

    @property
    def method(self) -> str:
        if self.upload is not None:
            return "files.upload"
        return "chat.update" if self.ts else "chat.postMessage"

    def touch(self, *, final: bool = False) -> None:
        self._outbox._touch(self, final)

    def replace(self, render: Callable[[], Rendered]) -> bool:
        """Its final content, if it was not delivered yet (False: it was; update it by its ref)."""
        return self._outbox._touch(self, True, render)

    def wait(self, timeout: float | None = None) -> bool:
        """Until everything asked of this post was sent (or given up)."""
        return self.done.wait(timeout)


class Outbox(Failures):
    def __init__(self, client: WebClient, *, upload_client: WebClient | None = None, senders: int = 4,
                 min_interval: float = MIN_INTERVAL, before_send: Callable[[], None] | None = None,
                 journal: Journal | None = None, on_tagged: Tagged | None = None, budget: Budget | None = None) -> None:
        self._client = client  # no retry handlers: 429 and network errors are handled here
        self._upload_client = upload_client or client
        self._min_interval = min_interval
        self._before_send = before_send  # the bot's ack-first gate
        self.journal = journal
        self._on_tagged = on_tagged
        self.budget = budget or Budget()
        self._cond = threading.Condition()
        self._posts: list[Post] = []
        self._busy: set[str] = set()  # budget keys with a call in flight
        self._senders = ThreadPoolExecutor(max_workers=senders, thread_name_prefix="yadockeri-slack")
        self._thread = threading.Thread(target=self._loop, name="yadockeri-outbox", daemon=True)
        self._stopping = False

    # Life cycle -------------------------------------------------------------------------------
    def start(self) -> Outbox:
        if not self._thread.is_alive():
            if self.journal is not None:
                from .outbox_restore import restore
                self.journal.forget_delivered()
                for post in restore(self, self.journal):
                    self._add(post)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Send what is pending (up to timeout), then stop; what is kept is sent after a restart."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while any(not p.dead and (p.sent < p.wanted or p.in_flight) for p in self._posts) \
                    and time.monotonic() < deadline:
                self._cond.wait(max(0.0, min(deadline - time.monotonic(), 0.1)))
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._senders.shutdown(wait=True)

    # What owners call -------------------------------------------------------------------------
    def post(self, channel: str, render: Callable[[], Rendered], *, thread_ts: str | None = None,
             parent: Post | None = None, fallback: str | None = None, final: bool = False,
             on_posted: Callable[[MessageRef, bool], None] | None = None,
             on_failed: Callable[[str, str | None], None] | None = None,
             refresh_every: float | None = None, tag: dict | None = None, topic: str | None = None) -> Post:
        """A new message in `channel` (in `thread_ts`'s thread, or in `parent`'s once it is posted).

        on_posted(ref, top_level) runs once it exists; on_failed(error, fallback_channel) when it
        cannot be posted where asked (fallback_channel is where it goes instead, if anywhere)."""
        post = Post(self, channel=channel, render=render, thread_ts=thread_ts, parent=parent, fallback=fallback,
                    on_posted=on_posted, on_failed=on_failed, refresh_every=refresh_every, tag=tag, topic=topic)
        post.final = final
        return self._keep(post)

    def say(self, channel: str, text: str, blocks: list[dict] | None = None, *, thread_ts: str | None = None,
            parent: Post | None = None, topic: str | None = None) -> Post:
        """A one-off message."""
        return self.post(channel, lambda: (text, blocks or []), thread_ts=thread_ts, parent=parent, final=True,
                         topic=topic)

    def update(self, ref: MessageRef, render: Callable[[], Rendered]) -> Post:
        """Replace an existing message (one posted before a restart, say)."""
        post = Post(self, channel=ref.channel, render=render, ts=ref.ts)
        post.final = True
        return self._keep(post)

    def attach(self, parent: Post, content: bytes, filename: str, title: str) -> Post:
        """A file shared in parent's thread once parent is posted (kept in memory only)."""
        post = Post(self, channel=parent.channel, render=lambda: ("", []), parent=parent,
                    upload=(content, filename, title))
        post.final = True
        return self._add(post)

    def tagged(self, key: str, value: object) -> Post | None:
        """A post not yet delivered whose tag says key=value (one kept from before a restart, say)."""
        with self._cond:
            return next((p for p in self._posts if p.tag and p.tag.get(key) == value and not p.done.is_set()), None)

    def _keep(self, post: Post) -> Post:
        if self.journal is not None:
            self.journal.keep(post, post.render())
        return self._add(post)

    def _add(self, post: Post) -> Post:
        with self._cond:
            self._posts.append(post)
            self._cond.notify_all()
        return post

    def _touch(self, post: Post, final: bool, render: Callable[[], Rendered] | None = None) -> bool:
        with self._cond:
            if post.dead or post.done.is_set():
                return False
            if render is not None:
                post.render, post.refresh_every = render, None
            post.wanted += 1
            post.final = post.final or final
            if post.stale_since is None:
                post.stale_since = time.monotonic()
            wanted = post.wanted
            self._cond.notify_all()
        if self.journal is not None:
            self.journal.want(post, post.render(), wanted)
        return True

    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
                now = time.monotonic()
                due, wake = pick(self._posts, self.budget, self._busy, now)
                for post in self._posts:
                    if post.dead and not post.done.is_set():  # its parent was given up
                        self._give_up(post)
                self._posts = [p for p in self._posts if not p.done.is_set()]
                if not due:
                    self._cond.wait(max(0.005, wake - now))
                    continue
            for post, method, key in due:
                try:
                    self._senders.submit(self._send, post, method, key)
                except RuntimeError:  # shutting down
                    with self._cond:
                        post.in_flight = False
                        self._busy.discard(key)

    # Sending ----------------------------------------------------------------------------------
    def _send(self, post: Post, method: str, key: str) -> None:
        try:
            if self._before_send is not None:
                self._before_send()
            self._call(post, method, key)
        except Exception as error:  # noqa: BLE001 - a failure is the post's, never the sender's
            self._failed(post, method, key, error)
        finally:
            with self._cond:
                self._busy.discard(key)
                self._cond.notify_all()

    def _call(self, post: Post, method: str, key: str) -> None:
        with self._cond:
            version = post.wanted
            if post.parent is not None:
                post.channel = post.parent.channel
                post.thread_ts = post.parent.thread_root
            channel, thread_ts, ts = post.channel, post.thread_ts, post.ts
        if post.upload is not None:
            content, filename, title = post.upload
            self._upload_client.files_upload_v2(channel=channel, thread_ts=thread_ts, content=content,
                                                filename=filename, title=title)
            self._done(post, version, posted=None, top_level=thread_ts is None)
            return
        text, blocks = post.render()
        if not blocks and text:
            blocks = [section(text).to_dict()]  # verbatim, unlike a bare text
        text = fallback(text)
        if ts is not None:
            self._client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
            self._done(post, version, posted=None, top_level=thread_ts is None)
            return
        found = look_up(self._client, channel=channel, thread_ts=thread_ts, nonce=post.nonce,
                        since=post.created) if post.uncertain else None
        if found is not None:  # Slack took it before; its answer was lost
            self._done(post, 0, posted=(found, channel), top_level=thread_ts is None)
            return
        if self.journal is not None and not post.uncertain:
            self.journal.uncertain(post)  # until its answer is recorded: a restart in between looks it up first
        answer: Any = post_message(self._client, channel=channel, thread_ts=thread_ts, text=text, blocks=blocks,
                                   nonce=post.nonce)
        self._done(post, version, posted=(answer["ts"], answer.get("channel") or channel),
                   top_level=thread_ts is None)

    def _done(self, post: Post, version: int, *, posted: tuple[str, str] | None, top_level: bool) -> None:
        with self._cond:
            now = time.monotonic()
            if posted is not None:
                post.ts, post.channel = posted
                post.uncertain = False
            post.sent = max(post.sent, version)
            post.attempts, post.tick, post.in_flight = 0, False, False
            post.last_done = now
            post.not_before = now + self._min_interval
            for other in self._posts:  # Slack answers again: what waits out a failure goes now (budget-paced)
                if other.attempts and other.not_before > now:
                    other.not_before = now
            if post.sent >= post.wanted:
                post.stale_since = None
            finished = post.final and post.sent >= post.wanted
            self._cond.notify_all()
            ref = post.ref
        if self.journal is not None and post.upload is None:
            self.journal.sent(post, post.sent, done=finished)
        if posted is not None and ref is not None:
            if post.on_posted is not None:
                safely(post.on_posted, ref, top_level)
            if post.tag and self._on_tagged is not None:
                safely(self._on_tagged, post.tag, ref, top_level)
        if finished:
            with self._cond:
                if post.sent >= post.wanted:  # nothing new was asked meanwhile
                    post.done.set()
                self._cond.notify_all()
