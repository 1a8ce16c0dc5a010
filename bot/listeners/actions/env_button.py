from slack_bolt import Ack, BoltContext, Respond

from ... import operations
from ...interaction import allowed, asker_for_action, button_command, open_now


def env_button(ack: Ack, body: dict, respond: Respond, context: BoltContext) -> None:
    ack()
    bot = context["yadockeri"]
    asker = asker_for_action(bot, body, respond)
    command = button_command("env", body, asker)
    if command is None or not allowed(bot, asker):
        return
    # the modal opens now, before anything slow: the trigger_id lives 3 s
    open_now(asker, operations.open_env_modal, command.stack, body.get("trigger_id") or "",
             push=asker.surface == "modal")
