"""`@yadockeri <words>`: the slash command's words, typed where a slash command cannot be (a thread)."""

from slack_bolt import BoltContext

from ...asker import Asker
from ...interaction import bot_of
from ...mentions import MentionReply, mention_words
from ...words import read_words


def app_mention(event: dict, body: dict, context: BoltContext) -> None:
    """Events are acked by Bolt before this runs. Slack delivers an event again when our 200 came
    late (X-Slack-Retry-Num), with the same event_id: it is acted on once."""
    bot = bot_of(context)
    user, channel = event.get("user") or "", event.get("channel") or ""
    if event.get("bot_id") or not user or not channel:
        return  # a bot's message (ours too) is never obeyed
    event_id = body.get("event_id")
    if event_id and not bot.seen_events.first_time(str(event_id)):
        return
    reply = MentionReply(bot, channel, user, event.get("thread_ts") or event.get("ts") or "",
                         in_thread=bool(event.get("thread_ts")))
    asker = Asker(bot, user, channel, respond=reply, surface="mention")
    if not bot.channel_allowed(channel):
        asker.tell(bot.refusal())
        return
    bot.submit(asker, read_words, mention_words(event.get("text") or "", context.bot_user_id), None)
