from slack_bolt import Ack, BoltContext, Respond

from ... import operations
from ...interaction import for_button, open_now


def env_button(ack: Ack, body: dict, respond: Respond, context: BoltContext) -> None:
    ack()
    asked = for_button("env", body, respond, context)
    if asked is None:
        return
    bot, asker, command = asked
    # the modal opens now, before anything slow: the trigger_id lives 3 s
    open_now(asker, operations.open_env_modal, command.stack, body.get("trigger_id") or "",
             push=asker.surface == "modal")
