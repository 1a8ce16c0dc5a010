"""The env form: changed values, new KEY=VALUE lines, keys to remove. Invalid keys come back as
errors on the field that holds them; values are never echoed anywhere."""

from __future__ import annotations

from slack_bolt import Ack, BoltContext

from stacks.errors import YadockeriError
from stacks.names import check_env_key, check_stack_name

from ... import operations
from ...asker import Asker
from ...blocks.modals import SET_PREFIX, input_value, message_modal, read_metadata, selected_values
from ...interaction import bot_of
from ...text import clip, code


def env_submitted(ack: Ack, body: dict, view: dict, context: BoltContext) -> None:
    bot = bot_of(context)
    meta = read_metadata(view.get("private_metadata"))
    values = view.get("state", {}).get("values", {})
    set_values, unset, errors = read_env_form(values)
    channel = meta.get("channel") or None
    try:
        stack = check_stack_name(meta.get("stack", ""))
    except YadockeriError as error:
        errors["add"] = clip(str(error), 250)
    if not errors and not bot.channel_allowed(channel):
        errors["add"] = clip(bot.refusal(), 250)
    if errors:
        ack(response_action="errors", errors=errors)
        return
    ack(response_action="update", view=message_modal("Env vars", f"Changing the env of {code(stack)}…"))
    asker = Asker(bot, body["user"]["id"], channel, view_id=view.get("id"), surface="modal")
    bot.submit(asker, operations.change_env, stack, set_values, unset)


def read_env_form(values: dict) -> tuple[dict[str, str], list[str], dict[str, str]]:
    """(values to set, keys to unset, errors by block_id)."""
    set_values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for block_id in values:
        if not block_id.startswith(SET_PREFIX):
            continue
        value = input_value(values, block_id)
        if value == "":
            continue  # left empty: unchanged
        try:
            set_values[check_env_key(block_id[len(SET_PREFIX):])] = value
        except YadockeriError as error:
            errors[block_id] = clip(str(error), 250)
    for number, line in enumerate(input_value(values, "add").splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep:
            errors["add"] = f"line {number} is not KEY=VALUE"
            break
        try:
            key = check_env_key(key.strip())
        except YadockeriError as error:
            errors["add"] = clip(f"line {number}: {error}", 250)
            break
        if key in set_values and set_values[key] != value.rstrip("\r"):
            errors["add"] = f"line {number}: {key} is given two different values"
            break
        set_values[key] = value.rstrip("\r")
    unset: list[str] = []
    for key in selected_values(values, "remove"):
        if key in set_values:
            errors["remove"] = f"{key} is both changed and removed; pick one"
            break
        unset.append(key)
    if not set_values and not unset and not errors:
        errors["add"] = "Nothing to change: type a new value, add KEY=VALUE lines or pick keys to remove."
    return set_values, unset, errors
