from slack_bolt import Ack, BoltContext, Respond

from ... import operations
from ...interaction import for_button, then_answer_in_modal


def destroy_button(ack: Ack, body: dict, respond: Respond, context: BoltContext) -> None:
    """Sent after the user confirmed in the button's confirm dialog."""
    ack()
    asked = for_button("destroy", body, respond, context)
    if asked is None:
        return
    bot, asker, command = asked
    then_answer_in_modal(asker, body.get("trigger_id"), "Destroy", f"Destroying `{command.stack}`…",
                         operations.destroy, command.stack)
