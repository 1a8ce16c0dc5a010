from slack_bolt import Ack, BoltContext, Respond

from ... import operations
from ...interaction import allowed, answer_in_modal, asker_for_action, button_command


def status_button(ack: Ack, body: dict, respond: Respond, context: BoltContext) -> None:
    ack()
    bot = context["yadockeri"]
    asker = asker_for_action(bot, body, respond)
    command = button_command("status", body, asker)
    if command is None or not allowed(bot, asker):
        return
    answer_in_modal(bot, asker, body.get("trigger_id"), "Status", f"Looking at `{command.stack}`…")
    bot.submit(asker, operations.show_status, command.stack)
