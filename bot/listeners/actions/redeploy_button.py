from slack_bolt import Ack, BoltContext, Respond

from ... import operations
from ...interaction import for_button, then_answer_in_modal


def redeploy_button(ack: Ack, body: dict, respond: Respond, context: BoltContext) -> None:
    ack()
    asked = for_button("redeploy", body, respond, context)
    if asked is None:
        return
    bot, asker, command = asked
    then_answer_in_modal(asker, body.get("trigger_id"), "Redeploy", f"Redeploying `{command.stack}`…",
                         operations.redeploy, command.stack)
