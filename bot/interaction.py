"""Helpers for interaction callbacks (buttons, forms): who clicked where, and how to answer."""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_bolt import BoltContext

from stacks.commands import Command, parse
from stacks.errors import YadockeriError

from .asker import Asker
from .blocks.modals import read_metadata
from .runtime import Bot

log = logging.getLogger(__name__)


BOT_KEY = "yadockeri"  # where the app's middleware (bot/app.py) puts the Bot in Bolt's context


def bot_of(context: BoltContext) -> Bot:
    """The Bot of this app, typed (the app's middleware puts it in every request's context)."""
    bot = context.get(BOT_KEY)
    if not isinstance(bot, Bot):
        raise RuntimeError("the yadockeri middleware did not run for this request")
    return bot


def for_button(verb: str, body: dict, respond: Callable | None, context: BoltContext, *,
               notices: bool = False) -> tuple[Bot, Asker, Command] | None:
    """What every stack button does first: who asks, which command the button stands for, and
    whether that person may use yadockeri here (`notices`: a button of the notify channel's
    notices, which works there too). None when the answer was already given."""
    bot = bot_of(context)
    asker = asker_for_action(bot, body, respond)
    command = button_command(verb, body, asker)
    if command is None or not allowed(bot, asker, notices=notices):
        return None
    return bot, asker, command


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


def allowed(bot: Bot, asker: Asker, *, notices: bool = False) -> bool:
    if bot.channel_allowed(asker.channel, notices=notices):
        return True
    asker.tell(bot.refusal())
    return False


def then_answer_in_modal(asker: Asker, trigger_id: str | None, title: str, text: str,
                         function: Callable[..., None], *args: object) -> None:
    """Run an operation; from a view (App Home, modal), where there is no response_url, first open a
    modal saying what is being done (now: the trigger_id lives 3 s), which the answer then replaces."""
    bot = asker.bot
    if asker.surface not in ("home", "modal") or not trigger_id:
        bot.submit(asker, function, *args)
        return

    def open_then_submit(bot: Bot, asker: Asker) -> None:
        from .operations import working_modal

        asker.view_id = working_modal(bot, trigger_id, title, text, push=asker.surface == "modal")
        bot.submit(asker, function, *args)

    bot.submit(asker, open_then_submit, urgent=True)


def open_now(asker: Asker, function: Callable[..., None], *args: object, **kwargs: object) -> None:
    """Run a modal-opening operation at once, ahead of other work (its trigger_id lives 3 s)."""

    def run(bot: Bot, asker: Asker) -> None:
        function(bot, asker, *args, **kwargs)

    asker.bot.submit(asker, run, urgent=True)
