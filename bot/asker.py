"""Who asked for something, from where, and how to answer them (and only them).

The private ways to answer do not last: a modal is gone once the user closes it (views.update
answers `not_found`), and Slack takes at most 5 posts on a response_url, within 30 minutes (then
HTTP 404 `expired_url`). A deployment easily outlives both, so an answer that can no longer go
the private way goes to the stack's thread when the caller names one (mentioning the asker),
else as a direct message (chat.postMessage to the user's id: the app's Messages tab, needs only
chat:write).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block

from .blocks.common import as_dicts, section
from .blocks.modals import message_modal
from .blocks.stacks import plain_message
from .outbox import MessageRef
from .text import error_text, fallback, is_slack_user

if TYPE_CHECKING:
    from .runtime import Bot

log = logging.getLogger(__name__)

RESPONSE_URL_USES = 5  # Slack takes at most 5 posts on one response_url ...
RESPONSE_URL_TTL = 30 * 60.0  # ... within 30 minutes of the request


@dataclass
class Asker:
    bot: Bot
    user: str
    channel: str | None  # where the request came from; None for the App Home
    respond: Callable[..., Any] | None = None  # the request's response_url, when it has one
    view_id: str | None = None  # a modal showing the answer (forms, App Home buttons)
    surface: str = "command"  # command, message, modal, home; event: nobody asked (the engine's events)
    asked_at: float = field(default_factory=time.monotonic)  # when the request came: its response_url's age
    response_url_uses: int = 0
    private_gone: bool = False  # the modal closed or the response_url used up: answers go elsewhere
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def shows_answers_in_view(self) -> bool:
        return self.view_id is not None

    def tell(self, text: str, blocks: list[Block] | None = None, *, replace: bool = False,
             title: str = "yadockeri", thread: MessageRef | None = None) -> None:
        """An answer only the asker sees: in their modal, through the response_url, or ephemerally.
        When that way is gone: in `thread` if given (a public place the answer may go), else a DM."""
        if blocks is None:
            text, blocks = plain_message(text)
        try:
            if not self._told_privately(text, blocks, replace=replace, title=title):
                self._tell_elsewhere(text, blocks, thread)
        except Exception:
            log.exception("could not answer %s", self.user)

    def refuse(self, error: BaseException | str) -> None:
        self.tell(f":warning: {error_text(error)}")

    # The private ways -------------------------------------------------------------------------
    def _told_privately(self, text: str, blocks: list[Block], *, replace: bool, title: str) -> bool:
        """False when this request's private way is gone (or it never had one)."""
        if self.view_id is not None:
            return self._in_view(text, blocks, title)
        if self.private_gone:
            return False
        if self.respond is not None:
            return self._through_response_url(text, blocks, replace)
        if self.channel is not None:
            try:
                self.bot.client.chat_postEphemeral(channel=self.channel, user=self.user, text=fallback(text),
                                                   blocks=as_dicts(blocks))
                return True
            except SlackApiError as error:  # not in that channel, say
                log.info("could not answer %s in %s: %s", self.user, self.channel, error.response.get("error"))
        return False

    def _in_view(self, text: str, blocks: list[Block], title: str) -> bool:
        view = message_modal(title, text)
        view.blocks = blocks[:100]
        try:
            self.bot.client.views_update(view_id=self.view_id, view=view)
            return True
        except SlackApiError as error:
            if error.response.get("error") != "not_found":
                raise
        log.info("%s closed the modal %s: answering elsewhere", self.user, self.view_id)
        self.view_id, self.private_gone = None, True
        return False

    def _through_response_url(self, text: str, blocks: list[Block], replace: bool) -> bool:
        if not self._take_response_url() or self.respond is None:
            return False
        answer = self.respond(text=fallback(text), blocks=as_dicts(blocks), response_type="ephemeral",
                              replace_original=replace)
        status = getattr(answer, "status_code", 200)
        if status == 404:  # `expired_url`: Slack counted differently, or the clock did
            log.info("the response_url of %s has expired: %s", self.user, getattr(answer, "body", ""))
            self.private_gone = True
            return False
        if status != 200:
            log.warning("response_url answered %s: %s", status, getattr(answer, "body", ""))
        return True

    def _take_response_url(self) -> bool:
        """One of the response_url's posts, if it has any left (several threads may answer at once)."""
        with self._lock:
            if self.response_url_uses >= RESPONSE_URL_USES or time.monotonic() - self.asked_at > RESPONSE_URL_TTL:
                self.private_gone = True
                return False
            self.response_url_uses += 1
            return True

    # Elsewhere --------------------------------------------------------------------------------
    def _tell_elsewhere(self, text: str, blocks: list[Block], thread: MessageRef | None) -> None:
        client = self.bot.client
        if thread is not None:
            mention = f"<@{self.user}> " if is_slack_user(self.user) else ""
            try:
                client.chat_postMessage(channel=thread.channel, thread_ts=thread.ts, text=fallback(mention + text),
                                        blocks=as_dicts([section(mention.strip()), *blocks][:50] if mention else blocks),
                                        unfurl_links=False, unfurl_media=False)
                return
            except SlackApiError as error:
                log.info("could not answer %s in %s: %s", self.user, thread, error.response.get("error"))
        if self.surface == "event" or not is_slack_user(self.user):  # no one to bother with it
            log.info("no way to answer %s: %s", self.user, text)
            return
        client.chat_postMessage(channel=self.user, text=fallback(text), blocks=as_dicts(blocks),
                                unfurl_links=False, unfurl_media=False)
