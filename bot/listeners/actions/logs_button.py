from slack_bolt import Ack, BoltContext, Respond

from ... import operations
from ...interaction import for_button, then_answer_in_modal


def logs_button(ack: Ack, body: dict, respond: Respond, context: BoltContext) -> None:
    ack()
    asked = for_button("logs", body, respond, context)
    if asked is None:
        return
    bot, asker, command = asked
    then_answer_in_modal(asker, body.get("trigger_id"), "Logs", f"Reading the logs of `{command.stack}`…",
                         operations.show_logs, command.stack, command.process or "web")
