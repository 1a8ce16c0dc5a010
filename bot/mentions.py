"""`@yadockeri <words>` in a channel or a thread does what `/yadockeri <words>` does.

A slash command cannot be typed in a thread; a mention can. Its words are the text after the
bot's mention, as the person typed them (Slack's escaping and link markup undone), read by the
same reader (bot/words.py). The answers are replies in the mention's thread (the mention starts
one when it is not in a thread), posted through the outbox; what only the asker may read (a
token) comes ephemerally. A mention has no trigger_id: a verb that opens a form answers with a
button that opens it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .outbox import MessageRef

if TYPE_CHECKING:
    from .asker import Asker
    from .runtime import Bot

_ANY_MENTION = re.compile(r"^\s*<@[UW][A-Z0-9]+(?:\|[^>]*)?>")
_LABELLED_LINK = re.compile(r"<(?:https?://|mailto:)[^<>|]*\|([^<>]*)>")
_BARE_LINK = re.compile(r"<((?:https?://|mailto:)[^<>|]*)>")


def mention_words(text: str, bot_user: str | None) -> str:
    """The words after the bot's mention (`<@U0BOT> deploy akira main` -> `deploy akira main`)."""
    own = re.search(rf"<@{re.escape(bot_user)}(?:\|[^>]*)?>", text) if bot_user else None
    if own is not None:
        text = text[own.end():]
    else:
        text = _ANY_MENTION.sub("", text, count=1)
    text = _LABELLED_LINK.sub(r"\1", text)  # Slack links what looks like a domain: `a.io` -> <http://a.io|a.io>
    text = _BARE_LINK.sub(r"\1", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return text.strip().lstrip(":,").strip()


class MentionReply:
    """The `respond` of a mention's Asker: an answer is a reply in the mention's thread."""

    def __init__(self, bot: Bot, channel: str, user: str, thread_ts: str, *, in_thread: bool,
                 private: bool = False) -> None:
        self.bot, self.channel, self.user = bot, channel, user
        self.thread_ts = thread_ts  # the thread the mention is in, or the mention itself
        self.in_thread = in_thread
        self.private = private

    def privately(self) -> MentionReply:
        return MentionReply(self.bot, self.channel, self.user, self.thread_ts, in_thread=self.in_thread, private=True)

    def __call__(self, *, text: str, blocks: list[dict] | None = None, **_: object) -> None:
        """(as Asker.tell calls a response_url's respond; replace_original cannot apply to a new reply)"""
        if not self.private:
            self.bot.outbox.say(self.channel, text, blocks, thread_ts=self.thread_ts)
            return
        # Slack shows an ephemeral reply only in a thread that exists: a mention's own ts is none yet
        self.bot.client.chat_postEphemeral(channel=self.channel, user=self.user, text=text, blocks=blocks,
                                           thread_ts=self.thread_ts if self.in_thread else None)


def thread_asked_in(asker: Asker) -> MessageRef | None:
    """The thread a mention was typed in (None: not a mention, or not in a thread)."""
    reply = asker.respond
    if not isinstance(reply, MentionReply) or not reply.in_thread:
        return None
    return MessageRef(reply.channel, reply.thread_ts)
