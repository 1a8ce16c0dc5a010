from slack_bolt import BoltContext

from ... import operations
from ...asker import Asker
from ...interaction import bot_of


def app_home_opened(event: dict, context: BoltContext) -> None:
    """Events are acked by Bolt before this runs; the home view is published from the bot's pool."""
    if event.get("tab", "home") != "home":
        return
    bot = bot_of(context)
    bot.submit(Asker(bot, event.get("user") or "", None, surface="home"), operations.publish_home, 0)
