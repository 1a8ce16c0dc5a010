"""The Slack rendering of a deployment's progress: the engine's Reporter for Slack.

One message per deployment, posted in the stack's thread (or, for a stack without one, in the
channel it was asked from, where it becomes the stack's thread), updated in place through the
outbox. When the deployment ends, a reply in the thread gives each step with its time and, for
a failure, the log tail (the whole tail attached as a file when it is long; as text where Slack
takes no file from the bot, e.g. a public channel it posts in without being a member); it
mentions the requester, the one notification of their deployment.

When the message goes into the stack's existing thread, the person who asked is also answered
where they asked: what started, with a link to the thread (they would not know where to look).

The engine calls these methods from its threads; they only change what the message should show
and nudge the outbox, so they are quick and never wait for Slack.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from typing import TYPE_CHECKING

from stacks.progress import Reporter
from stacks.store import DeploymentRecord, LockRecord
from stacks.text import inert

from .asker import Asker
from .blocks.common import as_dicts
from .blocks.deployment import (
    TAIL_LINES_SHOWN,
    Progress,
    StepLine,
    cannot_post_note,
    details_message,
    progress_message,
    started_answer,
    tail_message,
)
from .mentions import thread_asked_in
from .outbox import MessageRef, Post
from .text import code

if TYPE_CHECKING:
    from .runtime import Bot

log = logging.getLogger(__name__)

REFRESH_SECONDS = 10.0  # how often the elapsed time moves while no step changes
UPLOAD_WAIT = 15 * 60.0  # how long a log file may take to be shared before its text is given up too


class SlackReporter(Reporter):
    def __init__(self, bot: Bot, asker: Asker, *, answer: str = "thread") -> None:
        """answer: when the asker is answered where they asked, besides the message: "thread" when
        the message goes into the stack's existing thread, "prompt" always, replacing the prompt
        they clicked, "none" when the caller answers them itself."""
        self.bot = bot
        self.asker = asker
        bot.names.of(asker.user)  # (made in the pool: its name is known before an engine thread renders it)
        self._answer = answer
        self._told = threading.Lock()  # answers to the asker, one at a time: "started" never after the end
        self._told_end = False
        self._lock = threading.Lock()
        self._t0 = time.monotonic()
        self._progress: Progress | None = None
        self._changed_keys: list[str] | None = None
        self.post: Post | None = None
        self.details: Post | None = None
        self._tell_at_end = False
        self.finished_event = threading.Event()

    # What the message shows -------------------------------------------------------------------
    def render(self) -> tuple[str, list[dict]]:
        with self._lock:
            progress = copy.deepcopy(self._progress)
            if progress is None:
                return "…", []
            if not progress.finished:
                progress.elapsed = time.monotonic() - self._t0
        text, blocks = progress_message(progress, lambda actor: self.bot.names.of(actor, wait=False))
        return text, as_dicts(blocks)

    @property
    def progress(self) -> Progress | None:
        with self._lock:
            return copy.deepcopy(self._progress)

    def _touch(self, *, final: bool = False) -> None:
        if self.post is not None:
            self.post.touch(final=final)

    def set_changed_keys(self, keys: list[str]) -> None:
        """The env keys a change touched (never values): shown in the message of its rollout."""
        with self._lock:
            self._changed_keys = list(keys)
            if self._progress is not None:
                self._progress.changed_keys = list(keys)
        self._touch()

    # Reporter ---------------------------------------------------------------------------------
    def queued(self, deployment: DeploymentRecord) -> None:
        with self._lock:
            self._t0 = time.monotonic()
            self._progress = Progress(deployment.id, deployment.stack, deployment.kind, deployment.branch,
                                      deployment.requested_by, changed_keys=self._changed_keys,
                                      pull_request=self.bot.engine.pull_request_url(deployment.stack))
        thread = self.bot.thread_of(deployment.stack)
        notify = self.bot.settings.notify_channel
        if thread is not None:
            channel, thread_ts = thread.channel, thread.ts
        elif self.asker.channel is not None:
            channel, thread_ts = self.asker.channel, None
        elif notify:
            channel, thread_ts = notify, None
        else:
            self._tell_at_end = True
            return
        fallback = notify if notify and notify != channel else None
        tag = {"deployment": deployment.id, "thread_of": deployment.stack if deployment.kind != "destroy" else None}
        self.post = self.bot.outbox.post(channel, self.render, thread_ts=thread_ts, fallback=fallback, tag=tag,
                                         on_failed=self._cannot_post, refresh_every=REFRESH_SECONDS)
        asked_in = thread_asked_in(self.asker)  # a mention in a thread; the stack's own: nothing to add there
        elsewhere = (thread is not None or asked_in is not None) and asked_in != thread
        if self._answer == "prompt" or (self._answer == "thread" and elsewhere):
            self.bot.submit(self.asker, self._say_started, thread, channel)  # the permalink is asked of Slack

    def _say_started(self, bot: Bot, asker: Asker, thread: MessageRef | None, channel: str) -> None:
        where = bot.link_to(thread) if thread is not None else f"<#{channel}>"
        progress = self.progress
        if progress is None:
            return
        prompt = self._answer == "prompt"
        self.tell_asker(started_answer(progress, where, bot.names.of(asker.user) if prompt else None), replace=prompt)

    def tell_asker(self, text: str, *, replace: bool = False, final: bool = False, title: str = "yadockeri",
                   thread: MessageRef | None = None) -> None:
        """Answer the asker, unless how it ended was told already (final: this is how it ended);
        `thread`: where it may go if the asker can no longer be answered privately."""
        with self._told:
            if self._told_end:
                return
            self.asker.tell(text, replace=replace, title=title, thread=thread)
            self._told_end = final

    def waiting(self, deployment: DeploymentRecord, holder: LockRecord) -> None:
        with self._lock:
            if self._progress is None:
                return
            self._progress.state = "waiting"
            self._progress.holder_deployment = holder.deployment_id or None
            self._progress.holder = holder.holder
            self._progress.holder_since = holder.acquired_at
        self._touch()

    def started(self, deployment: DeploymentRecord) -> None:
        with self._lock:
            if self._progress is None:
                return
            self._progress.state = "running"
        self._touch()

    def step(self, deployment_id: int, name: str, state: str, seconds: float | None, detail: str | None) -> None:
        with self._lock:
            if self._progress is None:
                return
            steps = self._progress.steps
            if state == "running":
                steps.append(StepLine(name, "running"))
            else:
                line = next((s for s in reversed(steps) if s.name == name and s.state == "running"), None)
                if line is None:
                    steps.append(StepLine(name, state, seconds, detail))
                else:
                    line.state, line.seconds, line.detail = state, seconds, detail
        self._touch()

    def finished(self, deployment: DeploymentRecord, urls: list[str]) -> None:
        with self._lock:
            if self._progress is None:
                return
            p = self._progress
            p.state = deployment.state if deployment.state in ("succeeded", "failed", "interrupted") else "failed"
            p.elapsed = time.monotonic() - self._t0
            p.urls, p.commit, p.error = list(urls), deployment.commit, deployment.error
            p.branch = deployment.branch
            final = copy.deepcopy(p)
        self._touch(final=True)
        tail = inert(deployment.log_tail or "")  # also the attached file: someone may `cat` it
        attach = final.state != "succeeded" and len(tail.splitlines()) > TAIL_LINES_SHOWN
        if self.post is not None:
            text, blocks = details_message(final, tail, tail_attached=attach)  # mentions the requester, once
            self.details = self.bot.outbox.post(self.post.channel, lambda: (text, as_dicts(blocks)),
                                                parent=self.post, final=True)
            if attach:
                upload = self.bot.outbox.attach(self.post, tail.encode(), f"{final.stack}-{final.deployment_id}.log",
                                                f"log tail of deployment #{final.deployment_id} ({final.stack})")
                self._as_text_unless_shared(upload, final, tail)
        with self._lock:
            self.finished_event.set()
            tell = self._tell_at_end
        if tell or self.asker.shows_answers_in_view:
            self.tell_asker(self.summary(final), final=True, thread=self._thread(final.stack))

    def _as_text_unless_shared(self, upload: Post, final: Progress, tail: str) -> None:
        """The tail as text in the thread if Slack refuses the file (the bot posts in a public
        channel it is not in, say: chat:write.public does not cover files), so nothing is lost."""
        parent = self.post

        def wait_then_say() -> None:
            if not upload.wait(UPLOAD_WAIT) or not upload.dead or parent is None:
                return
            log.info("the log tail of deployment #%s was not shared as a file: posting it as text", final.deployment_id)
            text, blocks = tail_message(final, tail)
            self.bot.outbox.say(parent.channel, text, as_dicts(blocks), parent=parent)

        threading.Thread(target=wait_then_say, name=f"yadockeri-tail-{final.deployment_id}", daemon=True).start()

    def _thread(self, stack: str) -> MessageRef | None:
        """Where an answer the asker can no longer get privately may go: this deployment's thread
        once its message is posted, else the stack's."""
        post = self.post
        if post is not None and post.ts is not None and post.thread_root is not None:
            return MessageRef(post.channel, post.thread_root)
        return self.bot.thread_of(stack)

    @staticmethod
    def summary(final: Progress) -> str:
        """The end of a deployment in one answer (a modal, an ephemeral message)."""
        text = progress_message(final)[0]
        if final.changed_keys:
            text += "\nchanged: " + ", ".join(code(k) for k in final.changed_keys)
        return text

    # Where the message went -------------------------------------------------------------------
    def _cannot_post(self, error: str, redirected: str | None) -> None:
        with self._lock:
            stack = self._progress.stack if self._progress else "the stack"
            if not redirected:
                self._tell_at_end = True
            ended = self.finished_event.is_set()
            final = copy.deepcopy(self._progress)
        self.asker.tell(cannot_post_note(error, stack, redirected))
        if not redirected and ended and final is not None and not self.asker.shows_answers_in_view:
            self.tell_asker(self.summary(final), final=True, thread=self._thread(final.stack))  # ended before Slack said no
