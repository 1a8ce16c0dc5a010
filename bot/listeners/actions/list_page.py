from slack_bolt import Ack, BoltContext, Respond

from ... import operations
from ...interaction import allowed, asker_for_action, bot_of


def list_page(ack: Ack, body: dict, action: dict, respond: Respond, context: BoltContext) -> None:
    """Previous / Next under a `list` answer: the answer is replaced by that page."""
    ack()
    bot = bot_of(context)
    asker = asker_for_action(bot, body, respond)
    if not allowed(bot, asker):
        return
    page = int(action.get("value") or 0) if str(action.get("value") or "0").isdigit() else 0
    bot.submit(asker, operations.show_list, page, True)
