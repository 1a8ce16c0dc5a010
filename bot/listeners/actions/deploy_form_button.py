from slack_bolt import Ack, BoltContext, Respond

from ... import operations
from ...interaction import allowed, asker_for_action, bot_of, open_now


def deploy_form_button(ack: Ack, body: dict, respond: Respond, context: BoltContext) -> None:
    """The deploy form, offered as a button where there was no trigger_id to open it (a mention)."""
    ack()
    bot = bot_of(context)
    asker = asker_for_action(bot, body, respond)
    if not allowed(bot, asker):
        return
    open_now(asker, operations.open_deploy_modal, body.get("trigger_id") or "")  # the trigger_id lives 3 s
