"""The deploy form: app, stack, branch. Wrong fields come back as errors on those fields."""

from __future__ import annotations

from slack_bolt import Ack, BoltContext

from stacks.commands import parse
from stacks.errors import YadockeriError
from stacks.names import check_branch, check_stack_name
from stacks.text import inert_line

from ... import operations
from ...asker import Asker
from ...blocks.modals import input_value, message_modal, read_metadata
from ...interaction import bot_of
from ...text import clip, code


def deploy_submitted(ack: Ack, body: dict, view: dict, context: BoltContext) -> None:
    bot = bot_of(context)
    values = view.get("state", {}).get("values", {})
    stack = input_value(values, "stack").strip()
    branch = input_value(values, "branch").strip()
    app = input_value(values, "app").strip() or None
    errors: dict[str, str] = {}
    for block_id, check, value in (("stack", check_stack_name, stack), ("branch", check_branch, branch)):
        try:
            check(value)
        except YadockeriError as error:
            errors[block_id] = clip(inert_line(str(error)), 250)
    if app is not None and app not in bot.settings.apps:
        errors["app"] = f"no app named {app}"
    if not errors:
        try:  # the same parser as the command, as if typed
            command = parse(["deploy", stack, branch, *(["--app", app] if app else [])], origin="slack")
        except YadockeriError as error:
            errors["stack"] = clip(inert_line(str(error).splitlines()[0]), 250)
    channel = read_metadata(view.get("private_metadata")).get("channel") or None
    if not errors and not bot.channel_allowed(channel):
        errors["stack"] = clip(bot.refusal(), 250)
    if errors:
        ack(response_action="errors", errors=errors)
        return
    ack(response_action="update", view=message_modal("Deploy", f"Deploying {code(stack)} from {code(branch)}…"))
    asker = Asker(bot, body["user"]["id"], channel, view_id=view.get("id"), surface="modal")
    bot.submit(asker, operations.deploy, command.stack, command.branch, command.app)
