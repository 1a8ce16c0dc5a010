"""Every message the bot posts in a channel goes through the outbox.

A `Post` is one Slack message: posted once (chat.postMessage), then updated in place
(chat.update) whenever its owner says it changed. The outbox sends from its own threads, so
whoever reports progress (the engine's workers) never waits for Slack, and it keeps Slack's
rules for us:

- at most one call per message a second: an update waits until a second after the previous
  call on that message ended (so, by arrival time, calls of one message are >= 1 s apart);
  updates asked for meanwhile are merged, and the newest content is rendered at send time;
- after an HTTP 429, nothing more of that method is sent before its Retry-After has passed
  (one call of a method is in flight at a time, so none can slip in after the 429 either:
  Slack's own limits are far below what one call at a time allows);
- a reply waits for the message it replies to, and goes where that message went;
- where the bot cannot post (not in the channel, a DM), a post may fall back to another
  channel (the notify channel), and its owner is told so.

Every message's top-level `text` goes through bot.text.fallback here (Slack parses it for
mentions and links, without `verbatim`), and a message without blocks gets one verbatim
section of that text, so no caller can post untrusted text unguarded.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from .blocks.common import section
from .text import fallback

log = logging.getLogger(__name__)

MIN_INTERVAL = 1.0  # seconds between two calls on one message
CANNOT_POST = frozenset({"not_in_channel", "channel_not_found", "is_archived", "restricted_action",
                         "cannot_dm_bot", "messages_tab_disabled", "team_access_not_granted"})
MAX_ATTEMPTS = 5

Rendered = tuple[str, list[dict]]


@dataclass(frozen=True)
class MessageRef:
    """Where a message is: what the engine stores, opaque to it, as "CHANNEL:TS"."""

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

    def __init__(self, outbox: Outbox, *, channel: str, render: Callable[[], Rendered], thread_ts: str | None,
                 parent: Post | None, fallback: str | None, ts: str | None,
                 on_posted: Callable[[MessageRef, bool], None] | None,
                 on_failed: Callable[[str, str | None], None] | None,
                 refresh_every: float | None, upload: tuple[bytes, str, str] | None) -> None:
        self._outbox = outbox
        self.channel = channel
        self.thread_ts = thread_ts
        self.parent = parent
        self.fallback = fallback
        self.ts = ts
        self.render = render
        self.on_posted = on_posted
        self.on_failed = on_failed
        self.refresh_every = refresh_every
        self.upload = upload  # (content, filename, title): a file shared in the thread instead of a message
        self.wanted = 1  # versions asked for
        self.sent = 0  # versions sent
        self.final = False
        self.dead = False
        self.in_flight = False
        self.not_before = 0.0
        self.last_done = 0.0
        self.attempts = 0
        self.done = threading.Event()

    @property
    def ref(self) -> MessageRef | None:
        return MessageRef(self.channel, self.ts) if self.ts else None

    @property
    def thread_root(self) -> str | None:
        """The ts replies to this message go under: its own thread's, or itself."""
        return self.thread_ts or self.ts

    def touch(self, *, final: bool = False) -> None:
        self._outbox._touch(self, final)

    def wait(self, timeout: float | None = None) -> bool:
        """Until everything asked of this post was sent (or given up)."""
        return self.done.wait(timeout)


class Outbox:
    def __init__(self, client: WebClient, *, upload_client: WebClient | None = None, senders: int = 4,
                 min_interval: float = MIN_INTERVAL, before_send: Callable[[], None] | None = None) -> None:
        self._client = client  # no retry handlers: 429 and network errors are handled here
        self._upload_client = upload_client or client
        self._min_interval = min_interval
        self._before_send = before_send  # the bot's ack-first gate
        self._cond = threading.Condition()
        self._posts: list[Post] = []
        self._blocked: dict[str, float] = {}
        self._busy: set[str] = set()  # methods with a call in flight
        self._senders = ThreadPoolExecutor(max_workers=senders, thread_name_prefix="yadockeri-slack")
        self._thread = threading.Thread(target=self._loop, name="yadockeri-outbox", daemon=True)
        self._stopping = False

    # Life cycle -------------------------------------------------------------------------------
    def start(self) -> Outbox:
        if not self._thread.is_alive():
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Send what is pending (up to timeout), then stop."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while any(not p.dead and (p.sent < p.wanted or p.in_flight) for p in self._posts):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.1))
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
             refresh_every: float | None = None) -> Post:
        """A new message in `channel` (in `thread_ts`'s thread, or in `parent`'s once it is posted).

        on_posted(ref, top_level) runs once it exists; on_failed(error, fallback_channel) when it
        cannot be posted where asked (fallback_channel is where it goes instead, if anywhere)."""
        post = Post(self, channel=channel, render=render, thread_ts=thread_ts, parent=parent, fallback=fallback,
                    ts=None, on_posted=on_posted, on_failed=on_failed, refresh_every=refresh_every, upload=None)
        post.final = final
        return self._add(post)

    def say(self, channel: str, text: str, blocks: list[dict] | None = None, *, thread_ts: str | None = None,
            parent: Post | None = None) -> Post:
        """A one-off message."""
        return self.post(channel, lambda: (text, blocks or []), thread_ts=thread_ts, parent=parent, final=True)

    def update(self, ref: MessageRef, render: Callable[[], Rendered]) -> Post:
        """Replace an existing message (one posted before a restart, say)."""
        post = Post(self, channel=ref.channel, render=render, thread_ts=None, parent=None, fallback=None,
                    ts=ref.ts, on_posted=None, on_failed=None, refresh_every=None, upload=None)
        post.final = True
        return self._add(post)

    def attach(self, parent: Post, content: bytes, filename: str, title: str) -> Post:
        """A file shared in parent's thread once parent is posted."""
        post = Post(self, channel=parent.channel, render=lambda: ("", []), thread_ts=None, parent=parent,
                    fallback=None, ts=None, on_posted=None, on_failed=None, refresh_every=None,
                    upload=(content, filename, title))
        post.final = True
        return self._add(post)

    def _add(self, post: Post) -> Post:
        with self._cond:
            self._posts.append(post)
            self._cond.notify_all()
        return post

    def _touch(self, post: Post, final: bool) -> None:
        with self._cond:
            if post.dead or post.done.is_set():
                return
            post.wanted += 1
            post.final = post.final or final
            self._cond.notify_all()

    # The loop ---------------------------------------------------------------------------------
    def _method(self, post: Post) -> str:
        if post.upload is not None:
            return "files.upload"
        return "chat.update" if post.ts else "chat.postMessage"

    def _due_at(self, post: Post, now: float) -> float:
        if post.dead or post.in_flight:
            return math.inf
        if post.sent >= post.wanted:
            if post.refresh_every and not post.final and post.ts and now - post.last_done >= post.refresh_every:
                post.wanted += 1  # keep the elapsed time moving while nothing else happens
            else:
                return math.inf
        if post.parent is not None and post.parent.ts is None:
            if post.parent.dead:
                post.dead = True
                post.done.set()
            return math.inf
        method = self._method(post)
        if method in self._busy:
            return math.inf
        return max(post.not_before, self._blocked.get(method, 0.0))

    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
                now = time.monotonic()
                due, wake = [], now + 0.5
                for post in self._posts:
                    at = self._due_at(post, now)
                    if at <= now:
                        post.in_flight = True
                        self._busy.add(self._method(post))
                        due.append((post, self._method(post)))
                    else:
                        wake = min(wake, at)
                self._posts = [p for p in self._posts if not p.done.is_set()]
                if not due:
                    self._cond.wait(max(0.005, wake - now))
                    continue
            for post, method in due:
                try:
                    self._senders.submit(self._send, post, method)
                except RuntimeError:  # shutting down
                    with self._cond:
                        post.in_flight = False
                        self._busy.discard(method)

    def _send(self, post: Post, method: str) -> None:
        try:
            if self._before_send is not None:
                self._before_send()
            self._call(post, method)
        finally:
            with self._cond:
                self._busy.discard(method)
                self._cond.notify_all()

    def _call(self, post: Post, method: str) -> None:
        with self._cond:
            version = post.wanted
            if post.parent is not None:
                post.channel = post.parent.channel
                post.thread_ts = post.parent.thread_root
            channel, thread_ts, ts = post.channel, post.thread_ts, post.ts
        posted_now = False
        try:
            if post.upload is not None:
                content, filename, title = post.upload
                self._upload_client.files_upload_v2(channel=channel, thread_ts=thread_ts, content=content,
                                                    filename=filename, title=title)
            else:
                text, blocks = post.render()
                if not blocks and text:
                    blocks = [section(text).to_dict()]  # verbatim, unlike a bare text
                text = fallback(text)
                if ts is None:
                    answer = self._client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text,
                                                           blocks=blocks, unfurl_links=False, unfurl_media=False)
                    posted_now = True
                else:
                    answer = self._client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        except SlackApiError as error:
            self._failed(post, method, error)
            return
        except Exception as error:  # noqa: BLE001 - network trouble: try again a little later
            self._retry_later(post, f"{type(error).__name__}: {error}")
            return
        with self._cond:
            now = time.monotonic()
            if posted_now:
                post.ts = answer["ts"]
                post.channel = answer.get("channel") or channel
            post.sent = max(post.sent, version)
            post.attempts = 0
            post.last_done = now
            post.not_before = now + self._min_interval
            post.in_flight = False
            finished = post.final and post.sent >= post.wanted
            self._cond.notify_all()
            ref, top_level = post.ref, thread_ts is None
        if posted_now and post.on_posted is not None and ref is not None:
            self._callback(post.on_posted, ref, top_level)
        if finished:
            with self._cond:
                if post.sent >= post.wanted:  # nothing new was asked meanwhile
                    post.done.set()
                self._cond.notify_all()

    def _failed(self, post: Post, method: str, error: SlackApiError) -> None:
        response = error.response
        code = response.get("error") if response is not None else None
        if response is not None and response.status_code == 429:
            wait = _retry_after(response.headers)
            with self._cond:
                now = time.monotonic()
                self._blocked[method] = max(self._blocked.get(method, 0.0), now + wait)
                post.last_done = now
                post.in_flight = False
                self._cond.notify_all()
            log.info("Slack rate-limited %s; waiting %ss", method, wait)
            return
        redirected = None
        with self._cond:
            if post.ts is None and post.upload is None and code in CANNOT_POST and post.fallback \
                    and post.fallback != post.channel:
                redirected = post.fallback
                post.channel, post.thread_ts, post.parent, post.fallback = redirected, None, None, None
            else:
                post.dead = True
            post.in_flight = False
            self._cond.notify_all()
        if redirected is None:
            log.warning("Slack refused %s in %s: %s", method, post.channel, code)
        if post.ts is None and post.on_failed is not None:
            self._callback(post.on_failed, str(code), redirected)
        if post.dead:
            post.done.set()

    def _retry_later(self, post: Post, why: str) -> None:
        with self._cond:
            post.attempts += 1
            post.in_flight = False
            if post.attempts >= MAX_ATTEMPTS:
                post.dead = True
                post.done.set()
                log.warning("giving up on a Slack message after %d attempts: %s", post.attempts, why)
            else:
                post.not_before = time.monotonic() + min(30.0, 2.0 ** post.attempts)
            self._cond.notify_all()

    @staticmethod
    def _callback(function: Callable, *args: object) -> None:
        try:
            function(*args)
        except Exception:
            log.exception("outbox callback failed")


def _retry_after(headers: object) -> float:
    if isinstance(headers, dict):
        for key, value in headers.items():
            if str(key).lower() == "retry-after":
                value = value[0] if isinstance(value, (list, tuple)) else value
                try:
                    return max(1.0, float(value))
                except (TypeError, ValueError):
                    break
    return 1.0
