from slack_bolt import Ack, BoltContext, Respond

from ... import operations
from ...interaction import for_button, then_answer_in_modal


def destroy_confirmed(ack: Ack, body: dict, respond: Respond, context: BoltContext) -> None:
    """Destroy on a destroy prompt: once the engine took it, the prompt becomes who confirmed it."""
    ack()
    asked = for_button("destroy", body, respond, context)
    if asked is None:
        return
    bot, asker, command = asked
    then_answer_in_modal(asker, body.get("trigger_id"), "Destroy", f"Destroying `{command.stack}`…",
                         operations.destroy_confirmed, command.stack)


def destroy_cancel(ack: Ack, body: dict, respond: Respond, context: BoltContext) -> None:
    """Cancel on a destroy prompt: the prompt becomes who cancelled it; nothing else happens."""
    ack()
    asked = for_button("destroy", body, respond, context)
    if asked is None:
        return
    bot, asker, command = asked
    bot.submit(asker, operations.destroy_cancelled, command.stack)
