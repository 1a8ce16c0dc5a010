"""What people see of what they asked: an answer where they asked when the progress goes to the
stack's thread (with a link to it), the requester mentioned once when their deployment ends,
notices that name people without pinging them (but tell an owner what others did to their stack),
and prompts replaced by what happened once used (the destroy prompt; both copies of a Keep warning).

A real engine on SQLite, the real Bolt app over HTTP and the strict Slack stand-in; no Docker:
a deployment's life in Slack is driven through the bot's reporter with records from the store."""

from __future__ import annotations

import json
import time

import pytest
from slack_bolt.context.respond import Respond

from bot.asker import Asker
from bot.progress import SlackReporter
from stacks.engine import Engine, StackEvent
from stacks.store import DeploymentRecord
from tests.support.slack_standin import SlackStandin
from tests.test_bot_support import (
    ADMIN,
    CHANNEL,
    NOTIFY,
    OTHER,
    OWNER,
    RunningBot,
    slack_settings,
    start_bot,
    texts,
    top_level,
    wait_for,
)


def a_stack_with_thread(running: RunningBot, engine: Engine, stack: str, owner: str = OWNER) -> str:
    """A stack in the database (no Docker) whose thread is a message of the bot's; its ts."""
    engine.store.create_deployment(stack=stack, app="demo", branch="main", kind="deploy", actor=owner, source="slack",
                                   create=True)
    root = running.bot.client.chat_postMessage(channel=CHANNEL, text=f"deploy of {stack}")["ts"]
    engine.set_thread(stack, f"{CHANNEL}:{root}")
    return root


def queued(engine: Engine, stack: str, kind: str, actor: str) -> DeploymentRecord:
    deployment, _ = engine.store.create_deployment(stack=stack, app="demo", branch="main", kind=kind, actor=actor,
                                                   source="slack" if actor.startswith("U") else "cli", create=True)
    return deployment


def command_asker(running: RunningBot, user: str) -> tuple[Asker, str]:
    """Who typed a slash command, answered through its response_url (as Bolt's `respond`)."""
    url = running.slack.new_response_url()
    return Asker(running.bot, user, CHANNEL, respond=Respond(response_url=url), surface="command"), url


def permalink(slack: SlackStandin, ts: str) -> str:
    return f"https://{slack.team_domain}.slack.com/archives/{CHANNEL}/p{ts.replace('.', '')}"


def actions_of(message: dict) -> list[str]:
    return [e["action_id"] for b in message.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]]


# 1. an answer where it was asked -----------------------------------------------------------------
def test_a_redeploy_into_the_stacks_thread_is_answered_where_it_was_typed(quiet_bot: RunningBot, quiet_engine: Engine,
                                                                          slack: SlackStandin) -> None:
    root = a_stack_with_thread(quiet_bot, quiet_engine, "akira")
    redeploy = queued(quiet_engine, "akira", "redeploy", OTHER)
    asker, response_url = command_asker(quiet_bot, OTHER)
    SlackReporter(quiet_bot.bot, asker).queued(redeploy)

    (answer,) = quiet_bot.answers(response_url)
    assert answer["response_type"] == "ephemeral" and not answer.get("replace_original")
    said = texts(answer["blocks"])
    assert f"*redeploy* of `akira` from `main` started (#{redeploy.id}); follow it in " in said
    assert f"<{permalink(slack, root)}|the stack's thread>" in said and f"<{permalink(slack, root)}|" in answer["text"]
    (asked,) = slack.calls("chat.getPermalink")
    assert (asked.params["channel"], asked.params["message_ts"]) == (CHANNEL, root)
    wait_for(lambda: [r for r in slack.replies(CHANNEL, root) if "redeploy" in r["text"]], 10, "the progress in the thread")


def test_a_first_deploy_posts_where_it_was_typed_and_needs_no_other_answer(quiet_bot: RunningBot, quiet_engine: Engine,
                                                                          slack: SlackStandin) -> None:
    asker, response_url = command_asker(quiet_bot, OWNER)
    reporter = SlackReporter(quiet_bot.bot, asker)
    reporter.queued(queued(quiet_engine, "fresh", "deploy", OWNER))
    wait_for(lambda: [m for m in top_level(slack) if "fresh" in m["text"]], 10, "the deploy's message in the channel")
    time.sleep(0.5)  # the pool would have answered by now
    assert slack.responses(response_url) == [] and slack.calls("chat.getPermalink") == []


# 2. the requester told once, when it ends -------------------------------------------------------
@pytest.mark.parametrize("requester", [OTHER, "cli:bob", "api:ci", "github"])
def test_the_requester_is_mentioned_once_when_their_deployment_ends(quiet_bot: RunningBot, quiet_engine: Engine,
                                                                    slack: SlackStandin, requester: str) -> None:
    root = a_stack_with_thread(quiet_bot, quiet_engine, "akira")
    deployment = queued(quiet_engine, "akira", "redeploy", requester)
    # the bot reports to whoever asked; a deployment asked elsewhere (CLI, API, GitHub) is reported to an admin here
    asker = Asker(quiet_bot.bot, requester if requester.startswith("U") else ADMIN, CHANNEL)
    reporter = SlackReporter(quiet_bot.bot, asker)
    reporter.queued(deployment)
    message_ts = wait_for(lambda: reporter.post is not None and reporter.post.ts, 10, "the deployment's message")
    quiet_engine.store.finish_deployment(deployment.id, "failed", error="build failed: exit 3", log_tail="boom\n")
    reporter.finished(quiet_engine.store.get_deployment(deployment.id), [])

    details = wait_for(lambda: [r for r in slack.replies(CHANNEL, root) if "Deployment #" in r["text"]], 10, "details")
    posted = [json.dumps([m["text"], m.get("blocks")]) for m in slack.messages(CHANNEL)]
    if requester.startswith("U"):
        assert details[0]["text"].startswith(f"<@{requester}> Deployment #{deployment.id}: *redeploy* of `akira`")
        assert [p for p in posted if "<@" in p] == [json.dumps([details[0]["text"], details[0]["blocks"]])]
        progress = next(m for m in slack.messages(CHANNEL) if m["ts"] == message_ts)
        assert "redeploy by toru" in texts(progress["blocks"])  # named there, not mentioned
    else:
        assert not [p for p in posted if "<@" in p]  # `cli:bob`, `api:ci`, `github` are nobody to ping
        assert details[0]["text"].startswith(f"Deployment #{deployment.id}")


# 3. notices --------------------------------------------------------------------------------------
def test_notices_name_people_and_mention_an_owner_only_for_what_others_did(quiet_bot: RunningBot,
                                                                          slack: SlackStandin) -> None:
    bot = quiet_bot.bot
    bot.on_event(StackEvent("created", "mine", OWNER, "http://mine.y.localhost", owner=OWNER))
    bot.on_event(StackEvent("destroyed", "mine", OWNER, None, owner=OWNER))
    bot.on_event(StackEvent("destroyed", "bobs", ADMIN, None, owner=OTHER))  # an admin, someone else's stack
    bot.on_event(StackEvent("reaped", "old", "scheduler", None, owner=OTHER))
    bot.on_event(StackEvent("failed", "ci", "cli:bob", "build failed\nmore", owner="cli:bob"))
    bot.on_event(StackEvent("kept", "old", OTHER, "forever", owner=OWNER))  # keeping is no news to ping for
    lines = wait_for(lambda: len(slack.messages(NOTIFY)) == 6 and [m["text"] for m in slack.messages(NOTIFY)], 10,
                     "six notices")
    assert lines == [
        ":new: akira created `mine`: <http://mine.y.localhost>",
        ":wastebasket: akira destroyed `mine`",
        f":wastebasket: boss destroyed `bobs` · owner <@{OTHER}>",
        f":wastebasket: `old` was reaped: nobody used it for a long time · owner <@{OTHER}>",
        ":x: `ci`: deployment by `cli:bob` failed: build failed",
        ":pushpin: toru kept `old` forever",
    ]
    assert len([c for c in slack.calls("users.info") if c.params.get("user") == OWNER]) == 1  # asked once, then known


def test_a_notice_shows_the_id_when_slack_cannot_name_someone(quiet_bot: RunningBot, slack: SlackStandin) -> None:
    quiet_bot.bot.on_event(StackEvent("created", "ghost", "U0GONE", None, owner="U0GONE"))
    notice = wait_for(lambda: slack.messages(NOTIFY), 10, "the notice")[0]
    assert notice["text"] == ":new: `U0GONE` created `ghost`"  # users.info: user_not_found; still no ping


# 4. used prompts ---------------------------------------------------------------------------------
def destroy_prompt_of(running: RunningBot, stack: str, user: str = OWNER) -> dict:
    answer, response_url = running.command(f"destroy {stack}", user=user)
    assert answer.status_code == 200
    prompt = running.answers(response_url)[0]
    assert actions_of(prompt) == ["destroy_confirmed", "destroy_cancel"]
    return prompt


def test_a_cancelled_destroy_prompt_says_so_and_keeps_no_buttons(quiet_bot: RunningBot, quiet_engine: Engine) -> None:
    a_stack_with_thread(quiet_bot, quiet_engine, "akira")
    destroy_prompt_of(quiet_bot, "akira")
    answer, response_url = quiet_bot.click("destroy_cancel", "akira")
    assert answer.status_code == 200
    (replaced,) = quiet_bot.answers(response_url)
    assert replaced["replace_original"] is True and actions_of(replaced) == []
    assert replaced["text"] == ":no_entry_sign: akira cancelled: `akira` is not destroyed."
    assert "destroy" not in [name for name, _, _ in quiet_bot.engine_calls]
    assert quiet_engine.store.require_stack("akira").state != "destroying"


def test_a_refused_destroy_leaves_the_prompt_for_someone_who_may(quiet_bot: RunningBot, quiet_engine: Engine) -> None:
    a_stack_with_thread(quiet_bot, quiet_engine, "akira")
    destroy_prompt_of(quiet_bot, "akira", user=OTHER)
    _, response_url = quiet_bot.click("destroy_confirmed", "akira", user=OTHER)  # not the owner
    (refused,) = quiet_bot.answers(response_url)
    assert "only the owner" in refused["text"] and not refused.get("replace_original")
    assert quiet_engine.store.get_stack("akira") is not None


def test_a_confirmed_destroy_prompt_becomes_who_confirmed_and_where_it_runs(quiet_bot: RunningBot, quiet_engine: Engine,
                                                                          slack: SlackStandin) -> None:
    root = a_stack_with_thread(quiet_bot, quiet_engine, "akira")
    destroy = queued(quiet_engine, "akira", "destroy", OWNER)
    asker, response_url = command_asker(quiet_bot, OWNER)  # the click's response_url
    SlackReporter(quiet_bot.bot, asker, answer="prompt").queued(destroy)
    (replaced,) = quiet_bot.answers(response_url)
    assert replaced["replace_original"] is True and actions_of(replaced) == []
    assert replaced["blocks"][0]["text"]["text"] == (
        f":wastebasket: akira confirmed: *destroy* of `akira` started (#{destroy.id}); follow it in "
        f"<{permalink(slack, root)}|the stack's thread>.")


def warned(running: RunningBot, engine: Engine, stack: str) -> tuple[dict, dict]:
    """The Keep warning of `stack`, as the scheduler's event makes it: (thread copy, notify copy)."""
    root = a_stack_with_thread(running, engine, stack)
    running.bot.on_event(StackEvent("warned", stack, "scheduler", "idle for 3d", owner=OWNER))
    in_thread = wait_for(lambda: [r for r in running.slack.replies(CHANNEL, root) if "will be" in r["text"]], 10,
                         "the warning in the thread")[0]
    in_notify = wait_for(lambda: [m for m in running.slack.messages(NOTIFY) if "will be" in m["text"]], 10,
                         "the warning in the notify channel")[0]
    assert actions_of(in_thread) == actions_of(in_notify) == ["keep_1d", "keep_7d"]
    assert f"owner <@{OWNER}>" in in_notify["text"] and "<@" not in in_thread["text"]  # told once, in the notices
    return in_thread, in_notify


def now_of(slack: SlackStandin, channel: str, ts: str) -> dict:
    return next(m for m in slack.messages(channel) if m["ts"] == ts)


def test_keep_on_one_copy_of_a_warning_replaces_both(quiet_bot: RunningBot, quiet_engine: Engine,
                                                     slack: SlackStandin) -> None:
    in_thread, in_notify = warned(quiet_bot, quiet_engine, "idle")
    answer, response_url = quiet_bot.click("keep_1d", "idle", user=OTHER, channel=NOTIFY, message_ts=in_notify["ts"])
    assert answer.status_code == 200
    assert quiet_bot.answers(response_url)[0]["replace_original"] is True
    for channel, copy in ((CHANNEL, in_thread), (NOTIFY, in_notify)):
        now = wait_for(lambda c=channel, m=copy: "kept" in now_of(slack, c, m["ts"])["text"] and now_of(slack, c, m["ts"]),
                       10, f"the copy in {channel} replaced")
        assert now["text"].startswith(":pushpin: toru kept `idle` until <!date^") and actions_of(now) == []
    assert quiet_engine.store.require_stack("idle").keep_until is not None


def test_a_reap_replaces_both_copies_of_its_warning(quiet_bot: RunningBot, quiet_engine: Engine,
                                                    slack: SlackStandin) -> None:
    in_thread, in_notify = warned(quiet_bot, quiet_engine, "gone")
    quiet_bot.bot.on_event(StackEvent("reaped", "gone", "scheduler", None, owner=OWNER))
    for channel, copy in ((CHANNEL, in_thread), (NOTIFY, in_notify)):
        now = wait_for(lambda c=channel, m=copy: "reaped" in now_of(slack, c, m["ts"])["text"] and now_of(slack, c, m["ts"]),
                       10, f"the copy in {channel} replaced")
        assert actions_of(now) == [] and "<@" not in now["text"]


def test_both_copies_of_a_warning_are_replaced_after_a_restart_too(quiet_engine: Engine, slack: SlackStandin) -> None:
    """The copies are found again in the outbox's journal by a bot that did not post them."""
    settings = slack_settings(quiet_engine.settings, slack)
    first = start_bot(quiet_engine, settings, slack)
    try:
        in_thread, in_notify = warned(first, quiet_engine, "idle")
        wait_for(lambda: len(quiet_engine.store.messages_about("prompt:idle")) == 2, 10, "both copies delivered")
    finally:
        first.close()
    again = start_bot(quiet_engine, settings, slack)  # a restart: the copies are not in its memory
    try:
        answer, response_url = again.command("keep idle --for 1d", user=OTHER)
        assert answer.status_code == 200
        for channel, copy in ((CHANNEL, in_thread), (NOTIFY, in_notify)):
            now = wait_for(lambda c=channel, m=copy: "kept" in now_of(slack, c, m["ts"])["text"] and now_of(slack, c, m["ts"]),
                           10, f"the copy in {channel} replaced")
            assert now["text"].startswith(":pushpin: toru kept `idle` until") and actions_of(now) == []
        assert quiet_engine.store.messages_about("prompt:idle") == []  # settled: not replaced again
    finally:
        again.close()
