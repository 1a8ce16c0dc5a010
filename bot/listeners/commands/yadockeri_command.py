"""/yadockeri: the one slash command.

It is acked at once, with nothing to say, and its words are then read by the engine's parser
(origin "slack") in the bot's pool: reading them may run git (to check a branch name), and a
burst of commands must not wait for that. Wrong words get the usage, only for the asker, through
the command's response_url, and never reach the engine."""

from __future__ import annotations

from collections.abc import Callable

from slack_bolt import Ack, BoltContext, Respond

from stacks.commands import Command, parse, usage
from stacks.errors import UsageError

from ... import operations
from ...asker import Asker
from ...interaction import bot_of
from ...runtime import Bot
from ...text import error_text, esc


def yadockeri_command(ack: Ack, command: dict, respond: Respond, context: BoltContext) -> None:
    bot = bot_of(context)
    channel, user = command.get("channel_id") or "", command.get("user_id") or ""
    if not bot.channel_allowed(channel):
        ack(text=bot.refusal(), response_type="ephemeral")
        return
    ack()
    asker = Asker(bot, user, channel, respond=respond, surface="command")
    # urgent: the words may ask for a form, whose trigger_id lives 3 s
    bot.submit(asker, read_words, command.get("text") or "", command.get("trigger_id") or "", urgent=True)


def read_words(bot: Bot, asker: Asker, text: str, trigger_id: str) -> None:
    try:
        parsed = parse(text, origin="slack")
    except UsageError as error:
        asker.tell(usage_answer(str(error)))
        return
    VERBS[parsed.verb](bot, asker, parsed, trigger_id)


def usage_answer(message: str) -> str:
    """The first line says what is wrong; the usage follows as preformatted text."""
    first, _, rest = message.partition("\n")
    return f":warning: {error_text(first)}" + (f"\n```{esc(rest)}```" if rest else "")


Verb = Callable[[Bot, Asker, Command, str], None]


def _form(bot: Bot, asker: Asker, cmd: Command, trigger_id: str) -> None:
    operations.open_deploy_modal(bot, asker, trigger_id)


def _help(bot: Bot, asker: Asker, cmd: Command, trigger_id: str) -> None:
    asker.tell(f"```{esc(usage('slack', cmd.topic))}```")


def _keep(bot: Bot, asker: Asker, cmd: Command, trigger_id: str) -> None:
    bot.submit(asker, operations.keep, cmd.stack, cmd.keep_seconds, cmd.forever)


def _deploy(bot: Bot, asker: Asker, cmd: Command, trigger_id: str) -> None:
    bot.submit(asker, operations.deploy, cmd.stack, cmd.branch, cmd.app)


def _redeploy(bot: Bot, asker: Asker, cmd: Command, trigger_id: str) -> None:
    bot.submit(asker, operations.redeploy, cmd.stack)


def _destroy(bot: Bot, asker: Asker, cmd: Command, trigger_id: str) -> None:
    # asks first: the answer carries a Destroy button with a confirm dialog
    bot.submit(asker, operations.confirm_destroy, cmd.stack)


def _env(bot: Bot, asker: Asker, cmd: Command, trigger_id: str) -> None:
    if cmd.changes_env:
        bot.submit(asker, operations.change_env, cmd.stack, dict(cmd.env_set), list(cmd.env_unset))
    else:
        operations.open_env_modal(bot, asker, cmd.stack or "", trigger_id)  # here: the trigger_id lives 3 s


def _list(bot: Bot, asker: Asker, cmd: Command, trigger_id: str) -> None:
    bot.submit(asker, operations.show_list)


def _status(bot: Bot, asker: Asker, cmd: Command, trigger_id: str) -> None:
    bot.submit(asker, operations.show_status, cmd.stack)


def _logs(bot: Bot, asker: Asker, cmd: Command, trigger_id: str) -> None:
    bot.submit(asker, operations.show_logs, cmd.stack, cmd.process or "web")


def _token(bot: Bot, asker: Asker, cmd: Command, trigger_id: str) -> None:
    bot.submit(asker, operations.personal_token, cmd.token_action == "revoke-mine")


VERBS: dict[str, Verb] = {
    "": _form, "help": _help, "keep": _keep, "deploy": _deploy, "redeploy": _redeploy, "destroy": _destroy,
    "env": _env, "list": _list, "status": _status, "logs": _logs, "token": _token,
}
