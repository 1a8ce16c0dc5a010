"""The words after `/yadockeri` or after `@yadockeri`: one reader for both.

They are read by the engine's parser (origin "slack") in the bot's pool: reading them may run
git (to check a branch name), and a burst of commands must not wait for that. Wrong words get
the usage, only for the asker, and never reach the engine. Each verb then hands its operation to
the pool; verbs that open a form use the request's trigger_id at once (it lives 3 s), and where
there is none (a mention), answer with a button that opens the form (its click brings one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from stacks.commands import Command, parse, usage
from stacks.errors import UsageError

from . import operations
from .asker import Asker
from .mentions import MentionReply
from .runtime import Bot
from .text import error_text, esc


def read_words(bot: Bot, asker: Asker, text: str, trigger_id: str | None) -> None:
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


Verb = Callable[[Bot, Asker, Command, str | None], None]


def _form(bot: Bot, asker: Asker, cmd: Command, trigger_id: str | None) -> None:
    if trigger_id:
        operations.open_deploy_modal(bot, asker, trigger_id)
    else:
        bot.submit(asker, operations.offer_deploy_form)


def _help(bot: Bot, asker: Asker, cmd: Command, trigger_id: str | None) -> None:
    asker.tell(f"```{esc(usage('slack', cmd.topic))}```")


def _keep(bot: Bot, asker: Asker, cmd: Command, trigger_id: str | None) -> None:
    bot.submit(asker, operations.keep, cmd.stack, cmd.keep_seconds, cmd.forever)


def _deploy(bot: Bot, asker: Asker, cmd: Command, trigger_id: str | None) -> None:
    bot.submit(asker, operations.deploy, cmd.stack, cmd.branch, cmd.app)


def _redeploy(bot: Bot, asker: Asker, cmd: Command, trigger_id: str | None) -> None:
    bot.submit(asker, operations.redeploy, cmd.stack)


def _destroy(bot: Bot, asker: Asker, cmd: Command, trigger_id: str | None) -> None:
    # asks first: the answer is a prompt with Destroy and Cancel
    bot.submit(asker, operations.confirm_destroy, cmd.stack)


def _env(bot: Bot, asker: Asker, cmd: Command, trigger_id: str | None) -> None:
    stack = cmd.stack or ""
    if cmd.env_set and isinstance(asker.respond, MentionReply):
        bot.submit(asker, operations.offer_env_form, stack, True)  # the values are in a message for all to read
    elif cmd.changes_env:
        bot.submit(asker, operations.change_env, stack, dict(cmd.env_set), list(cmd.env_unset))
    elif trigger_id:
        operations.open_env_modal(bot, asker, stack, trigger_id)  # here: the trigger_id lives 3 s
    else:
        bot.submit(asker, operations.offer_env_form, stack)


def _list(bot: Bot, asker: Asker, cmd: Command, trigger_id: str | None) -> None:
    bot.submit(asker, operations.show_summary if cmd.summary else operations.show_list)


def _status(bot: Bot, asker: Asker, cmd: Command, trigger_id: str | None) -> None:
    bot.submit(asker, operations.show_status, cmd.stack)


def _logs(bot: Bot, asker: Asker, cmd: Command, trigger_id: str | None) -> None:
    bot.submit(asker, operations.show_logs, cmd.stack, cmd.process or "web")


def _token(bot: Bot, asker: Asker, cmd: Command, trigger_id: str | None) -> None:
    if isinstance(asker.respond, MentionReply):  # a token is shown to its owner only, never in the thread
        asker = replace(asker, respond=asker.respond.privately())
    bot.submit(asker, operations.personal_token, cmd.token_action == "revoke-mine")


VERBS: dict[str, Verb] = {
    "": _form, "help": _help, "keep": _keep, "deploy": _deploy, "redeploy": _redeploy, "destroy": _destroy,
    "env": _env, "list": _list, "status": _status, "logs": _logs, "token": _token,
}
