"""`@yadockeri <words>` in a channel or a thread does what `/yadockeri <words>` does: signed
app_mention events to the real Bolt app, answers as replies in the mention's thread, an event
Slack delivers again acted on once, forms offered as buttons (a mention has no trigger_id).
A real engine on SQLite and the strict Slack stand-in; no Docker."""

from __future__ import annotations

import time
from typing import Any

from bot.asker import Asker
from bot.mentions import MentionReply, mention_words
from bot.progress import SlackReporter
from stacks.engine import Engine
from tests.support.slack_requests import BOT_USER_ID
from tests.support.slack_standin import SlackStandin
from tests.test_bot_support import CHANNEL, OTHER, OWNER, RunningBot, slack_settings, start_bot, texts, top_level, wait_for

MENTION_TS = "1700000500.000100"
THREAD_TS = "1700000400.000100"


def mention(words: str, *, user: str = OWNER, ts: str = MENTION_TS, thread_ts: str | None = None) -> dict[str, Any]:
    """An app_mention event as Slack sends it (the bot's mention first, as Slack writes it)."""
    event: dict[str, Any] = {"type": "app_mention", "user": user, "text": f"<@{BOT_USER_ID}> {words}", "ts": ts,
                             "channel": CHANNEL, "team": "T0STANDIN", "client_msg_id": f"m-{ts}"}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def replies(slack: SlackStandin, thread_ts: str, what: str = "a reply") -> list[dict]:
    return wait_for(lambda: slack.replies(CHANNEL, thread_ts), 10, what)


def a_stack(engine: Engine, name: str = "akira", owner: str = OWNER) -> str:
    engine.store.create_deployment(stack=name, app="demo", branch="main", kind="deploy", actor=owner, source="slack",
                                   create=True)
    return name


def buttons(message: dict) -> dict[str, dict]:
    return {e["action_id"]: e for b in message.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]}


def test_the_words_after_the_mention_are_the_commands_words() -> None:
    assert mention_words("<@U0BOT> deploy akira feature-x", "U0BOT") == "deploy akira feature-x"
    assert mention_words("  <@U0BOT|yadockeri>: list", "U0BOT") == "list"
    assert mention_words("hey <@U0BOT> status akira", "U0BOT") == "status akira"  # the bot's mention, wherever
    assert mention_words("<@U0BOT> deploy akira <http://fix.io|fix.io>", "U0BOT") == "deploy akira fix.io"
    assert mention_words("<@U0BOT> env akira set A=b&amp;c&lt;d&gt;", "U0BOT") == "env akira set A=b&c<d>"
    assert mention_words("<@U0OTHER> help", None) == "help"  # the bot's own ID unknown: the first mention
    assert mention_words("<@U0BOT>", "U0BOT") == ""


def test_a_mention_in_a_channel_answers_like_the_slash_command_in_its_thread(quiet_bot: RunningBot,
                                                                             quiet_engine: Engine,
                                                                             slack: SlackStandin) -> None:
    a_stack(quiet_engine)
    _, response_url = quiet_bot.command("list")
    by_command = quiet_bot.answers(response_url)[0]
    assert quiet_bot.event(mention("list")).status_code == 200
    (reply,) = replies(slack, MENTION_TS)  # the mention starts a thread
    assert reply["blocks"] == by_command["blocks"] and "akira" in texts(reply["blocks"])

    quiet_bot.event(mention("keep akira --for 2d", user=OTHER, ts="1700000501.000100"))
    kept = replies(slack, "1700000501.000100")[0]
    assert kept["text"].startswith(":pushpin: toru kept `akira` until <!date^")  # named: no ping for one's own act
    assert quiet_engine.store.require_stack("akira").keep_until is not None
    assert [e.actor for e in quiet_engine.store.events("akira") if e.action == "keep"] == [OTHER]


def test_a_mention_in_a_thread_answers_in_that_thread(quiet_bot: RunningBot, slack: SlackStandin) -> None:
    quiet_bot.event(mention("help", ts=MENTION_TS, thread_ts=THREAD_TS))
    (reply,) = replies(slack, THREAD_TS)
    assert "deploy STACK BRANCH" in texts(reply["blocks"])
    assert slack.replies(CHANNEL, MENTION_TS) == []  # not a thread of its own


def test_a_deploy_asked_in_a_thread_says_there_where_its_message_is(quiet_bot: RunningBot, quiet_engine: Engine,
                                                                    slack: SlackStandin) -> None:
    """The deploy's message starts the stack's thread in the channel, not in the thread it was asked
    in: that thread is told where. (Without Docker the engine refuses a deploy: its reporter is driven.)"""
    deployment, _ = quiet_engine.store.create_deployment(stack="fresh", app="demo", branch="main", kind="deploy",
                                                         actor=OWNER, source="slack", create=True)
    reply = MentionReply(quiet_bot.bot, CHANNEL, OWNER, THREAD_TS, in_thread=True)
    SlackReporter(quiet_bot.bot, Asker(quiet_bot.bot, OWNER, CHANNEL, respond=reply, surface="mention")).queued(deployment)
    (told,) = replies(slack, THREAD_TS)
    assert told["text"] == (f":arrow_forward: *deploy* of `fresh` from `main` started (#{deployment.id}); "
                            f"follow it in <#{CHANNEL}>.")
    wait_for(lambda: [m for m in top_level(slack) if "fresh" in m["text"]], 10, "the deploy's message in the channel")


def test_a_redeploy_asked_in_the_stacks_own_thread_adds_nothing_there(quiet_bot: RunningBot, quiet_engine: Engine,
                                                                      slack: SlackStandin) -> None:
    a_stack(quiet_engine)
    root = quiet_bot.bot.client.chat_postMessage(channel=CHANNEL, text="deploy of akira")["ts"]
    quiet_engine.set_thread("akira", f"{CHANNEL}:{root}")
    redeploy, _ = quiet_engine.store.create_deployment(stack="akira", app="demo", branch="main", kind="redeploy",
                                                       actor=OTHER, source="slack", create=True)
    reply = MentionReply(quiet_bot.bot, CHANNEL, OTHER, root, in_thread=True)
    SlackReporter(quiet_bot.bot, Asker(quiet_bot.bot, OTHER, CHANNEL, respond=reply, surface="mention")).queued(redeploy)
    wait_for(lambda: [r for r in slack.replies(CHANNEL, root) if "redeploy" in r["text"]], 10, "the progress there")
    time.sleep(0.5)  # the pool would have answered by now
    assert len(slack.replies(CHANNEL, root)) == 1 and slack.calls("chat.getPermalink") == []


def test_wrong_words_get_the_usage_and_reach_no_engine(quiet_bot: RunningBot, slack: SlackStandin) -> None:
    quiet_bot.event(mention("deplyo akira main"))
    (reply,) = replies(slack, MENTION_TS)
    assert reply["text"].startswith(":warning:") and "deploy" in texts(reply["blocks"])
    assert quiet_bot.engine_calls == []


def test_an_event_delivered_again_acts_once(quiet_bot: RunningBot, quiet_engine: Engine, slack: SlackStandin) -> None:
    a_stack(quiet_engine)
    event = mention("keep akira --for 1d")
    assert quiet_bot.event(event, event_id="Ev0KEEP1").status_code == 200
    assert quiet_bot.event(event, event_id="Ev0KEEP1", retry=1).status_code == 200  # Slack's retry: the same id
    replies(slack, MENTION_TS)
    quiet_bot.event(mention("help", ts="1700000502.000100"), event_id="Ev0HELP1")  # a later event still acts
    replies(slack, "1700000502.000100")
    time.sleep(0.5)  # the retry would have acted by now
    assert len(slack.replies(CHANNEL, MENTION_TS)) == 1
    assert len([e for e in quiet_engine.store.events("akira") if e.action == "keep"]) == 1


def test_a_form_is_offered_as_a_button_that_opens_it(quiet_bot: RunningBot, quiet_engine: Engine,
                                                     slack: SlackStandin) -> None:
    a_stack(quiet_engine)
    quiet_bot.event(mention("env akira"))
    (offer,) = replies(slack, MENTION_TS)
    assert buttons(offer)["env"]["value"] == "akira" and slack.calls("views.open") == []
    quiet_bot.click("env", "akira", message_ts=offer["ts"])  # the click brings a trigger_id
    opened = slack.wait_for_call("views.open", 10)
    assert opened.ok and opened.response["view"]["callback_id"] == "env"

    quiet_bot.event(mention("", ts="1700000503.000100"))  # `@yadockeri` alone: the deploy form
    (offer,) = replies(slack, "1700000503.000100")
    assert "deploy_form" in buttons(offer)
    quiet_bot.click("deploy_form", buttons(offer)["deploy_form"]["value"], message_ts=offer["ts"])
    deploy_form = wait_for(lambda: [c for c in slack.calls("views.open") if c.ok][1:], 10, "the deploy form")[0]
    assert deploy_form.response["view"]["callback_id"] == "deploy"


def test_env_of_an_unknown_stack_is_refused_without_a_button(quiet_bot: RunningBot, slack: SlackStandin) -> None:
    quiet_bot.event(mention("env nosuch"))
    (reply,) = replies(slack, MENTION_TS)
    assert "nosuch" in reply["text"] and buttons(reply) == {}


def test_values_typed_in_a_mention_are_not_applied(quiet_bot: RunningBot, quiet_engine: Engine,
                                                   slack: SlackStandin) -> None:
    a_stack(quiet_engine)
    quiet_bot.event(mention("env akira set API_KEY=hunter2-secret"))
    (reply,) = replies(slack, MENTION_TS)
    assert reply["text"].startswith(":warning: Nothing changed") and buttons(reply)["env"]["value"] == "akira"
    assert "change_env" not in [name for name, _, _ in quiet_bot.engine_calls] and quiet_engine.env("akira") == {}
    assert "hunter2" not in str(slack.calls())


def test_a_token_asked_by_mention_is_shown_only_to_its_owner(quiet_bot: RunningBot, slack: SlackStandin) -> None:
    quiet_bot.event(mention("token"))
    shown = slack.wait_for_call("chat.postEphemeral", 10)
    assert shown.ok and shown.params["user"] == OWNER and "thread_ts" not in shown.params  # no thread yet
    assert "your token" in str(shown.params["text"])
    time.sleep(0.3)
    assert slack.replies(CHANNEL, MENTION_TS) == [] and slack.messages(CHANNEL) == []
    quiet_bot.event(mention("token", ts="1700000504.000100", thread_ts=THREAD_TS))
    in_thread = wait_for(lambda: slack.calls("chat.postEphemeral")[1:], 10, "the second token")[0]
    assert in_thread.params.get("thread_ts") == THREAD_TS


def test_a_mention_where_yadockeri_does_not_work_is_refused(quiet_engine: Engine, slack: SlackStandin) -> None:
    from tests.test_bot_support import NOTIFY, slack_settings, start_bot

    running = start_bot(quiet_engine, slack_settings(quiet_engine.settings, slack, channels=NOTIFY), slack)
    try:
        running.event(mention("list"))
        (reply,) = replies(slack, MENTION_TS)
        assert "works in <#C0NOTIFY> only" in reply["text"]
        assert running.engine_calls == []
    finally:
        running.close()


def test_an_event_delivered_again_after_a_restart_acts_once(quiet_engine: Engine, slack: SlackStandin) -> None:
    """Slack retries an event it thinks was missed; a retry that comes after the bot restarted
    is still acted on once (the event ids acted on are kept in the database)."""
    a_stack(quiet_engine)
    settings = slack_settings(quiet_engine.settings, slack)
    first = start_bot(quiet_engine, settings, slack)
    try:
        assert first.event(mention("keep akira --for 1d"), event_id="Ev0RESTART1").status_code == 200
        replies(slack, MENTION_TS)
    finally:
        first.close()
    again = start_bot(quiet_engine, settings, slack)  # a new process would read the same database
    try:
        assert again.event(mention("keep akira --for 1d"), event_id="Ev0RESTART1", retry=1).status_code == 200
        again.event(mention("help", ts="1700000503.000100"), event_id="Ev0HELP2")  # a later event still acts
        replies(slack, "1700000503.000100")
        time.sleep(0.5)
        assert len(slack.replies(CHANNEL, MENTION_TS)) == 1
        assert len([e for e in quiet_engine.store.events("akira") if e.action == "keep"]) == 1
    finally:
        again.close()
