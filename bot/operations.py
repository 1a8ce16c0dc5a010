"""What the bot does for a request, once it is acked: each calls one engine function and
renders its answer. They run in the bot's pool (`Bot.submit`), except the ones that open a
modal, which must use their trigger_id at once (it lives 3 s) and only read the database.

Engine errors (YadockeriError) raised here are answered to the asker by `Bot.submit`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from stacks.store import StackRecord
from stacks.text import inert
from stacks.tokens import personal_name

from .asker import Asker
from .blocks.common import DEPLOY_FORM, ENV, form_button, section
from .blocks.deployment import cancelled_answer, kept_message
from .blocks.home import home_view, restricted_home_view
from .blocks.modals import deploy_modal, env_modal, message_modal
from .blocks.stacks import (
    destroy_prompt,
    list_message,
    logs_file_message,
    logs_fit,
    logs_message,
    status_message,
    summary_message,
)
from .outbox import MessageRef
from .progress import SlackReporter
from .runtime import Bot
from .text import code

log = logging.getLogger(__name__)

LOG_LINES = 100


def _where(bot: Bot, reporter: SlackReporter) -> str:
    post = reporter.post
    if post is None:
        return "here when it is done"
    if post.thread_ts:
        return "in " + bot.link_to(MessageRef(post.channel, post.thread_ts))
    return f"in <#{post.channel}>"


# Mutations ------------------------------------------------------------------------------------
# (A modal that asked says what is being done already; the reporter tells it how it ended.)
def deploy(bot: Bot, asker: Asker, stack: str, branch: str, app: str | None) -> None:
    reporter = SlackReporter(bot, asker)
    bot.engine.deploy(stack, branch, bot.actor(asker.user), app=app, reporter=reporter)


def redeploy(bot: Bot, asker: Asker, stack: str) -> None:
    reporter = SlackReporter(bot, asker)
    bot.engine.redeploy(stack, bot.actor(asker.user), reporter=reporter)


def destroy(bot: Bot, asker: Asker, stack: str) -> None:
    reporter = SlackReporter(bot, asker)
    bot.engine.destroy(stack, bot.actor(asker.user), reporter=reporter)


def destroy_confirmed(bot: Bot, asker: Asker, stack: str) -> None:
    """Destroy from its prompt: once the engine took it, the prompt becomes who confirmed, and where
    it runs (a refusal is answered apart, and the prompt stays for someone who may)."""
    reporter = SlackReporter(bot, asker, answer="prompt")
    bot.engine.destroy(stack, bot.actor(asker.user), reporter=reporter)


def destroy_cancelled(bot: Bot, asker: Asker, stack: str) -> None:
    asker.tell(cancelled_answer(stack, bot.names.of(asker.user)), replace=True, title="Destroy")


def change_env(bot: Bot, asker: Asker, stack: str, set_values: dict[str, str], unset: list[str]) -> None:
    reporter = SlackReporter(bot, asker, answer="none")  # the answer below says where, with the keys
    changed, _ = bot.engine.change_env(stack, set_values, unset, bot.actor(asker.user), reporter=reporter)
    if not changed:
        asker.tell(f"Nothing changed in the env of {code(stack)}: the values were already so.", title="Env vars")
        return
    reporter.set_changed_keys(changed)
    if asker.shows_answers_in_view and reporter.finished_event.is_set():
        return  # the modal shows how it ended already
    keys = ", ".join(code(k) for k in changed)
    where = _where(bot, reporter)  # (asks Slack for a link: the rollout may end meanwhile, and say so first)
    reporter.tell_asker(f":key: Changed {keys} of {code(stack)}. They apply without a rebuild; "
                        f"follow the rollout {where}.", title="Env vars")


# Reads ----------------------------------------------------------------------------------------
def show_list(bot: Bot, asker: Asker, page: int = 0, replace: bool = False) -> None:
    stacks = bot.engine.list_stacks()
    urls = {s.name: bot.settings.stack_url(s.name) for s in stacks}
    text, blocks = list_message(stacks, urls, page, next_=_upcoming(bot, stacks), person=bot.names.of,
                                capacity=bot.engine.capacity())
    asker.tell(text, blocks, replace=replace, title="Stacks")


def show_summary(bot: Bot, asker: Asker) -> None:
    """`list --summary`: how many stacks against the limits, and the router network's room."""
    text, blocks = summary_message(bot.engine.capacity())
    asker.tell(text, blocks, title="Stacks")


def show_status(bot: Bot, asker: Asker, stack: str) -> None:
    text, blocks = status_message(bot.engine.status(stack), person=bot.names.of)
    asker.tell(text, blocks, title="Status")


def show_logs(bot: Bot, asker: Asker, stack: str, process: str) -> None:
    lines = bot.engine.logs(stack, process, tail=LOG_LINES)
    if logs_fit(lines):
        text, blocks = logs_message(stack, process, lines)
        asker.tell(text, blocks, title="Logs")
        return
    thread = bot.thread_of(stack)
    channel = thread.channel if thread else asker.channel
    permalink = None
    if channel is not None:
        try:
            answer = bot.client.files_upload_v2(
                channel=channel, thread_ts=thread.ts if thread else None, content=inert("\n".join(lines)) + "\n",
                filename=f"{stack}-{process}.log", title=f"{stack} {process}: last {len(lines)} log lines",
                initial_comment=f"Last {len(lines)} log lines of {code(stack)} {code(process)}, "
                                f"as asked by {bot.names.of(asker.user)}",
            )
            file = answer.get("file") or (answer.get("files") or [{}])[0]
            permalink = file.get("permalink") or ""
        except Exception as error:  # noqa: BLE001 - not in that channel, say: show what fits instead
            log.info("could not upload logs of %s: %s", stack, error)
    if permalink is None:
        shown: list[str] = []
        for line in reversed(lines):
            if not logs_fit([line, *shown]):
                break
            shown.insert(0, line)
        text, blocks = logs_message(stack, process, shown)
        asker.tell(text, blocks, title="Logs")
        return
    text, blocks = logs_file_message(stack, process, len(lines), permalink or None)
    asker.tell(text, blocks, title="Logs")


def keep(bot: Bot, asker: Asker, stack: str, seconds: int | None, forever: bool = False,
         replace: bool = False) -> None:
    """Protect a stack from sleep and reap; the answer (or the warning it replaces) says until when."""
    until = bot.engine.keep(stack, bot.actor(asker.user), seconds=seconds, forever=forever)
    text, blocks = kept_message(stack, bot.names.of(asker.user), None if forever else until)
    asker.tell(text, blocks, replace=replace, title="Keep")


def personal_token(bot: Bot, asker: Asker, revoke: bool) -> None:
    """The asker's token for the HTTP API, shown once and only to them (a new one replaces the
    old); or forgotten."""
    actor = bot.actor(asker.user)
    if revoke:
        bot.engine.tokens.revoke(personal_name(asker.user), actor)
        asker.tell(":wastebasket: your API token is revoked: it is refused from now on.", title="Token")
        return
    token = bot.engine.tokens.create_personal(asker.user, actor)
    asker.tell(f":key: your token for the yadockeri API (it acts as you; any earlier one is revoked). It is shown "
               f"this once, only to you: keep it like a password.\n```{token}```\n"
               "Use it as `Authorization: Bearer <token>`; `/yadockeri token revoke` forgets it.", title="Token")


def confirm_destroy(bot: Bot, asker: Asker, stack: str) -> None:
    text, blocks = destroy_prompt(bot.engine.stack(stack), bot.names.of)
    asker.tell(text, blocks, title="Destroy")


def offer_env_form(bot: Bot, asker: Asker, stack: str, typed_values: bool = False) -> None:
    """Where there is no trigger_id to open the env form with (a mention): a button that opens it.
    typed_values: values were typed in a message, which everyone there reads; none is applied."""
    bot.engine.stack(stack)  # an unknown stack is refused here, not when the button is clicked
    text = (f":warning: Nothing changed: values typed in a message are read by everyone here. Delete yours, "
            f"and set them in the form of {code(stack)}:" if typed_values else
            f"The env vars of {code(stack)} are edited in a form (values stay masked):")
    asker.tell(text, [section(text), form_button("Edit env vars", ENV, stack)], title="Env vars")


def offer_deploy_form(bot: Bot, asker: Asker) -> None:
    text = "Deploy a branch with the form (app, stack name, branch), or say `deploy STACK BRANCH`."
    asker.tell(text, [section(text), form_button("Open the deploy form", DEPLOY_FORM, "")], title="Deploy")


def publish_home(bot: Bot, asker: Asker, page: int = 0) -> None:
    if not bot.channel_allowed(None):
        bot.client.views_publish(user_id=asker.user, view=restricted_home_view(sorted(bot.settings.channel_ids)))
        return
    stacks = bot.engine.list_stacks()
    urls = {s.name: bot.settings.stack_url(s.name) for s in stacks}
    view = home_view(stacks, urls, page, datetime.now(UTC), _upcoming(bot, stacks), bot.engine.capacity())
    bot.client.views_publish(user_id=asker.user, view=view)


# Modals (run in the listener: the trigger_id must be used within 3 s) ------------------------
def open_env_modal(bot: Bot, asker: Asker, stack: str, trigger_id: str, *, push: bool = False) -> None:
    masked = bot.engine.env(stack)  # the database only; values come masked
    view = env_modal(stack, masked, channel=asker.channel or "")
    (bot.client.views_push if push else bot.client.views_open)(trigger_id=trigger_id, view=view)


def open_deploy_modal(bot: Bot, asker: Asker, trigger_id: str) -> None:
    apps = {name: app.branch for name, app in bot.settings.apps.items()}
    default = next((name for name, app in bot.settings.apps.items() if app.default), None) or \
        (next(iter(apps)) if len(apps) == 1 else None)
    bot.client.views_open(trigger_id=trigger_id, view=deploy_modal(apps, default, asker.channel or ""))


def working_modal(bot: Bot, trigger_id: str, title: str, text: str, *, push: bool = False) -> str | None:
    """Open a modal that says what is being done; its id lets the answer replace it."""
    try:
        opened = (bot.client.views_push if push else bot.client.views_open)(
            trigger_id=trigger_id, view=message_modal(title, text))
        return opened["view"]["id"]
    except Exception as error:  # noqa: BLE001 - a modal that cannot open is logged, the answer goes elsewhere
        log.info("could not open a modal: %s", error)
        return None



def _upcoming(bot: Bot, stacks: list[StackRecord]) -> dict[str, str]:
    """What happens next to each stack (`sleeps in 1h 59m`), for lists and the App Home."""
    return {s.name: bot.engine.next_for(s) for s in stacks}
