from slack_bolt import Ack, BoltContext

from ... import operations
from ...asker import Asker
from ...interaction import bot_of


def home_page(ack: Ack, body: dict, action: dict, context: BoltContext) -> None:
    """Previous / Next on the App Home: publish that page."""
    ack()
    bot = bot_of(context)
    page = int(action.get("value") or 0) if str(action.get("value") or "0").isdigit() else 0
    bot.submit(Asker(bot, (body.get("user") or {}).get("id") or "", None, surface="home"), operations.publish_home, page)
