"""/yadockeri: the one slash command.

It is acked at once, with nothing to say, and its words are then read in the bot's pool
(bot/words.py, which `@yadockeri` shares). Wrong words get the usage, only for the asker,
through the command's response_url, and never reach the engine."""

from __future__ import annotations

from slack_bolt import Ack, BoltContext, Respond

from ...asker import Asker
from ...interaction import bot_of
from ...words import read_words


def yadockeri_command(ack: Ack, command: dict, respond: Respond, context: BoltContext) -> None:
    bot = bot_of(context)
    channel, user = command.get("channel_id") or "", command.get("user_id") or ""
    if not bot.channel_allowed(channel):
        ack(text=bot.refusal(), response_type="ephemeral")
        return
    ack()
    asker = Asker(bot, user, channel, respond=respond, surface="command")
    # urgent: the words may ask for a form, whose trigger_id lives 3 s
    bot.submit(asker, read_words, command.get("text") or "", command.get("trigger_id") or "", urgent=True)
