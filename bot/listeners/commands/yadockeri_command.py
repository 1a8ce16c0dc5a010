"""/yadockeri: the one slash command. Words go through the engine's parser (origin "slack");
wrong words get a usage answer at once and never reach the engine."""

from __future__ import annotations

from collections.abc import Callable

from slack_bolt import Ack, BoltContext, Respond

from stacks.commands import Command, parse, usage
from stacks.errors import UsageError

from ... import operations
from ...asker import Asker
from ...interaction import open_now
from ...runtime import Bot
from ...text import error_text, esc

KEEP_LATER = (":hourglass: `keep` is not available from Slack yet: stacks are not put to sleep or reaped "
              "in this version, so there is nothing to keep them from.")


def yadockeri_command(ack: Ack, command: dict, respond: Respond, context: BoltContext) -> None:
    bot: Bot = context["yadockeri"]
    channel, user = command.get("channel_id") or "", command.get("user_id") or ""
    if not bot.channel_allowed(channel):
        ack(text=bot.refusal(), response_type="ephemeral")
        return
    try:
        parsed = parse(command.get("text") or "", origin="slack")
    except UsageError as error:
        ack(text=usage_answer(str(error)), response_type="ephemeral")
        return
    asker = Asker(bot, user, channel, respond=respond, surface="command")
    VERBS[parsed.verb](bot, asker, parsed, ack, command.get("trigger_id") or "")


def usage_answer(message: str) -> str:
    """The first line says what is wrong; the usage follows as preformatted text."""
    first, _, rest = message.partition("\n")
    return f":warning: {error_text(first)}" + (f"\n```{esc(rest)}```" if rest else "")


Verb = Callable[[Bot, Asker, Command, Ack, str], None]


def _form(bot: Bot, asker: Asker, cmd: Command, ack: Ack, trigger_id: str) -> None:
    ack()
    open_now(asker, operations.open_deploy_modal, trigger_id)


def _help(bot: Bot, asker: Asker, cmd: Command, ack: Ack, trigger_id: str) -> None:
    ack(text=f"```{esc(usage('slack', cmd.topic))}```", response_type="ephemeral")


def _keep(bot: Bot, asker: Asker, cmd: Command, ack: Ack, trigger_id: str) -> None:
    ack(text=KEEP_LATER, response_type="ephemeral")


def _deploy(bot: Bot, asker: Asker, cmd: Command, ack: Ack, trigger_id: str) -> None:
    ack()
    bot.submit(asker, operations.deploy, cmd.stack, cmd.branch, cmd.app)


def _redeploy(bot: Bot, asker: Asker, cmd: Command, ack: Ack, trigger_id: str) -> None:
    ack()
    bot.submit(asker, operations.redeploy, cmd.stack)


def _destroy(bot: Bot, asker: Asker, cmd: Command, ack: Ack, trigger_id: str) -> None:
    ack()  # asks first: the answer carries a Destroy button with a confirm dialog
    bot.submit(asker, operations.confirm_destroy, cmd.stack)


def _env(bot: Bot, asker: Asker, cmd: Command, ack: Ack, trigger_id: str) -> None:
    ack()
    if cmd.changes_env:
        bot.submit(asker, operations.change_env, cmd.stack, dict(cmd.env_set), list(cmd.env_unset))
        return
    open_now(asker, operations.open_env_modal, cmd.stack or "", trigger_id)  # now: trigger_id lives 3 s


def _list(bot: Bot, asker: Asker, cmd: Command, ack: Ack, trigger_id: str) -> None:
    ack()
    bot.submit(asker, operations.show_list)


def _status(bot: Bot, asker: Asker, cmd: Command, ack: Ack, trigger_id: str) -> None:
    ack()
    bot.submit(asker, operations.show_status, cmd.stack)


def _logs(bot: Bot, asker: Asker, cmd: Command, ack: Ack, trigger_id: str) -> None:
    ack()
    bot.submit(asker, operations.show_logs, cmd.stack, cmd.process or "web")


VERBS: dict[str, Verb] = {
    "": _form, "help": _help, "keep": _keep, "deploy": _deploy, "redeploy": _redeploy, "destroy": _destroy,
    "env": _env, "list": _list, "status": _status, "logs": _logs,
}
