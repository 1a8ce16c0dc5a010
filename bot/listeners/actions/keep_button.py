from slack_bolt import Ack, BoltContext, Respond

from ... import operations
from ...blocks.common import KEEP_FOR
from ...interaction import allowed, asker_for_action, button_command


def keep_button(ack: Ack, body: dict, respond: Respond, context: BoltContext) -> None:
    """Keep 1 day / Keep 7 days on a warning: the warning becomes who kept the stack, and until when."""
    ack()
    bot = context["yadockeri"]
    asker = asker_for_action(bot, body, respond)
    command = button_command("keep", body, asker)
    if command is None or not allowed(bot, asker):
        return
    seconds = KEEP_FOR.get((body.get("actions") or [{}])[0].get("action_id", ""), KEEP_FOR["keep_1d"])
    bot.submit(asker, operations.keep, command.stack, seconds, False, True)  # replaces the warning
