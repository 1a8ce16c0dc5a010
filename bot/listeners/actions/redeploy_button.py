from slack_bolt import Ack, BoltContext, Respond

from ... import operations
from ...interaction import allowed, asker_for_action, button_command, then_answer_in_modal


def redeploy_button(ack: Ack, body: dict, respond: Respond, context: BoltContext) -> None:
    ack()
    bot = context["yadockeri"]
    asker = asker_for_action(bot, body, respond)
    command = button_command("redeploy", body, asker)
    if command is None or not allowed(bot, asker):
        return
    then_answer_in_modal(asker, body.get("trigger_id"), "Redeploy", f"Redeploying `{command.stack}`…",
                         operations.redeploy, command.stack)
