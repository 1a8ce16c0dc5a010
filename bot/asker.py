"""Who asked for something, from where, and how to answer them (and only them)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_sdk.models.blocks import Block

from .blocks.common import as_dicts
from .blocks.modals import message_modal
from .blocks.stacks import plain_message
from .text import error_text, fallback

if TYPE_CHECKING:
    from .runtime import Bot

log = logging.getLogger(__name__)


@dataclass
class Asker:
    bot: Bot
    user: str
    channel: str | None  # where the request came from; None for the App Home
    respond: Callable[..., Any] | None = None  # the request's response_url, when it has one
    view_id: str | None = None  # a modal showing the answer (forms, App Home buttons)
    surface: str = "command"  # command, message, modal, home

    @property
    def shows_answers_in_view(self) -> bool:
        return self.view_id is not None

    def tell(self, text: str, blocks: list[Block] | None = None, *, replace: bool = False,
             title: str = "yadockeri") -> None:
        """An answer only the asker sees: in their modal, through the response_url, or ephemerally."""
        if blocks is None:
            text, blocks = plain_message(text)
        try:
            if self.view_id is not None:
                view = message_modal(title, text)
                view.blocks = blocks[:100]
                self.bot.client.views_update(view_id=self.view_id, view=view)
            elif self.respond is not None:
                answer = self.respond(text=fallback(text), blocks=as_dicts(blocks), response_type="ephemeral",
                                      replace_original=replace)
                if getattr(answer, "status_code", 200) != 200:
                    log.warning("response_url answered %s: %s", answer.status_code, getattr(answer, "body", ""))
            elif self.channel is not None:
                self.bot.client.chat_postEphemeral(channel=self.channel, user=self.user, text=fallback(text),
                                                   blocks=as_dicts(blocks))
            else:
                log.info("no way to answer %s: %s", self.user, text)
        except Exception:
            log.exception("could not answer %s", self.user)

    def refuse(self, error: BaseException | str) -> None:
        self.tell(f":warning: {error_text(error)}")
