"""A pull request's review stack in Slack: its deployments' messages (the stack's thread) and the
notify channel's notices link the pull request; a URL that could break Slack's link syntax is
never linked. A real engine on SQLite and the strict Slack stand-in; no Docker."""

from __future__ import annotations

from bot.asker import Asker
from bot.progress import SlackReporter
from stacks.engine import Engine, StackEvent
from tests.support.slack_standin import SlackStandin
from tests.test_bot_support import ADMIN, CHANNEL, NOTIFY, RunningBot, texts, top_level, wait_for

PULL = "https://github.com/acme/shop/pull/7"


def a_pull_requests_stack(engine: Engine, stack: str, html_url: str) -> None:
    engine.store.create_deployment(stack=stack, app="demo", branch="pull/7/head", kind="deploy", actor="github",
                                   source="github", create=True)
    engine.store.save_pull_request(repo="acme/shop", number=7, app="demo", stack=stack, head_sha="a" * 40,
                                   fork=False, open_=True, html_url=html_url)


def test_the_stacks_thread_and_notices_link_the_pull_request(quiet_bot: RunningBot, quiet_engine: Engine,
                                                              slack: SlackStandin) -> None:
    a_pull_requests_stack(quiet_engine, "pr-7", PULL)
    quiet_bot.bot.on_event(StackEvent("slept", "pr-7", "scheduler", None, None))
    notice = wait_for(lambda: [m for m in slack.messages(NOTIFY) if "pr-7" in m["text"]], what="the notice")[0]
    assert f"<{PULL}|pull request>" in notice["text"]

    # an admin acts on it from Slack: the deployment's message (which starts the stack's thread) links it
    (deployment,) = quiet_engine.store.deployments("pr-7")
    SlackReporter(quiet_bot.bot, Asker(quiet_bot.bot, ADMIN, CHANNEL)).queued(deployment)
    message = wait_for(lambda: [m for m in top_level(slack, CHANNEL) if "pr-7" in texts(m.get("blocks"))],
                       what="the deployment's message")[0]
    assert f"<{PULL}|pull request>" in texts(message["blocks"])


def test_a_url_that_could_break_the_link_is_not_linked(quiet_bot: RunningBot, quiet_engine: Engine,
                                                       slack: SlackStandin) -> None:
    a_pull_requests_stack(quiet_engine, "pr-8", "https://github.com/x|click <!channel>")
    quiet_bot.bot.on_event(StackEvent("slept", "pr-8", "scheduler", None, None))
    notice = wait_for(lambda: [m for m in slack.messages(NOTIFY) if "pr-8" in m["text"]], what="the notice")[0]
    assert "pull request" not in notice["text"] and "<!channel>" not in notice["text"]
