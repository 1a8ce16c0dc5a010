from slack_bolt import Ack, BoltContext, Respond

from ... import operations
from ...blocks.common import KEEP_FOR
from ...interaction import for_button


def keep_button(ack: Ack, body: dict, respond: Respond, context: BoltContext) -> None:
    """Keep 1 day / Keep 7 days on a warning: the warning becomes who kept the stack, and until when.
    The warning is also in the notify channel, where Keep works even if YADOCKERI_CHANNELS leaves it out."""
    ack()
    asked = for_button("keep", body, respond, context, notices=True)
    if asked is None:
        return
    bot, asker, command = asked
    seconds = KEEP_FOR.get((body.get("actions") or [{}])[0].get("action_id", ""), KEEP_FOR["keep_1d"])
    bot.submit(asker, operations.keep, command.stack, seconds, False, True)  # replaces the warning
