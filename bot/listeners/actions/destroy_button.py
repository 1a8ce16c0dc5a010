from slack_bolt import Ack, BoltContext, Respond

from ... import operations
from ...interaction import allowed, asker_for_action, button_command, then_answer_in_modal


def destroy_button(ack: Ack, body: dict, respond: Respond, context: BoltContext) -> None:
    """Sent after the user confirmed in the button's confirm dialog."""
    ack()
    bot = context["yadockeri"]
    asker = asker_for_action(bot, body, respond)
    command = button_command("destroy", body, asker)
    if command is None or not allowed(bot, asker):
        return
    then_answer_in_modal(asker, body.get("trigger_id"), "Destroy", f"Destroying `{command.stack}`…",
                         operations.destroy, command.stack)
