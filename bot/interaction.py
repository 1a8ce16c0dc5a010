"""Helpers for interaction callbacks (buttons, forms): who clicked where, and how to answer."""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_sdk.errors import SlackApiError

from stacks.commands import Command, parse
from stacks.errors import YadockeriError

from .asker import Asker
from .blocks.modals import read_metadata
from .runtime import Bot
from .text import error_text

log = logging.getLogger(__name__)


def asker_for_action(bot: Bot, body: dict, respond: Callable | None) -> Asker:
    """A button click: in a message (answers go to its response_url) or in a view (a modal or the App Home)."""
    user = (body.get("user") or {}).get("id") or ""
    container = body.get("container") or {}
    if container.get("type") == "view":
        view = body.get("view") or {}
        surface = "home" if view.get("type") == "home" else "modal"
        channel = read_metadata(view.get("private_metadata")).get("channel") or None if surface == "modal" else None
        return Asker(bot, user, channel, surface=surface)
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    return Asker(bot, user, channel, respond=respond, surface="message")


def button_command(verb: str, body: dict, asker: Asker) -> Command | None:
    """The clicked button's stack through the one parser, as if typed: `VERB STACK`."""
    action = (body.get("actions") or [{}])[0]
    try:
        return parse([verb, str(action.get("value") or "")], origin="slack")
    except YadockeriError as error:
        asker.refuse(error)
        return None


def allowed(bot: Bot, asker: Asker) -> bool:
    if bot.channel_allowed(asker.channel):
        return True
    asker.tell(bot.refusal())
    return False


def answer_in_modal(bot: Bot, asker: Asker, trigger_id: str | None, title: str, text: str) -> None:
    """From a view (App Home, modal) there is no response_url: show the answer in a modal that
    opens now (the trigger_id lives 3 s) and is updated when the answer is known."""
    if asker.surface in ("home", "modal") and trigger_id:
        from .operations import working_modal

        asker.view_id = working_modal(bot, trigger_id, title, text, push=asker.surface == "modal")


def open_now(asker: Asker, function: Callable[..., None], *args: object, **kwargs: object) -> None:
    """Run a modal-opening operation right here, in the listener (its trigger_id lives 3 s)."""
    try:
        function(asker.bot, asker, *args, **kwargs)
    except YadockeriError as error:
        asker.refuse(error)
    except SlackApiError as error:
        log.warning("Slack refused to open a modal: %s", error.response.get("error"))
        asker.tell(f":warning: Slack would not open the form ({error_text(str(error.response.get('error')))}); "
                   "try again.")
    except Exception as error:
        log.exception("opening a modal failed")
        asker.tell(f":boom: internal error ({type(error).__name__}); the details are in yadockeri's log.")
