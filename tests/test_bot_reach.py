"""Every answer reaches someone, in Slack as it really behaves (the stand-in plays it): a public
channel the bot posts in without being a member (chat:write.public) takes no file from it;
read-only and thread-only channels refuse its posts; a response_url takes 5 posts within 30
minutes; a modal the user closed cannot be updated; Keep buttons live in the notify channel.

Signed requests to the real bot (Bolt behind waitress) and a real engine on SQLite whose deploys
are held: the test plays the runner (the deployment is recorded in the real store, its reporter
hears queued at once and finished when the test says), so nothing reaches Docker.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from slack_bolt.context.respond import Respond

from bot.asker import RESPONSE_URL_TTL, RESPONSE_URL_USES, Asker
from stacks.engine import Actor, Engine, StackEvent
from stacks.progress import Reporter
from stacks.store import DeploymentRecord
from tests.support.slack_standin import SlackStandin
from tests.test_bot_support import (
    CHANNEL,
    NOTIFY,
    OTHER,
    OUTSIDE,
    OWNER,
    PRIVATE,
    RunningBot,
    make_standin,
    slack_settings,
    start_bot,
    texts,
    top_level,
    wait_for,
)


@dataclass
class HeldDeploys:
    """Stands in for Engine.deploy: records the deployment in the real store and tells its reporter
    it is queued; `finish` ends it as the runner would (state, log tail, the stack's URLs)."""

    engine: Engine
    held: list[tuple[DeploymentRecord, Reporter]] = field(default_factory=list)

    def deploy(self, stack: str, branch: str, actor: Actor, *, app: str | None = None,
               reporter: Reporter | None = None, env: dict[str, str] | None = None) -> None:
        assert reporter is not None, "the bot always reports"
        deployment, _ = self.engine.store.create_deployment(stack=stack, app=app or "demo", branch=branch,
                                                            kind="deploy", actor=actor.id, source=actor.source,
                                                            create=True, admin=actor.admin)
        reporter.queued(deployment)
        self.held.append((deployment, reporter))

    def finish(self, stack: str, state: str = "succeeded", error: str | None = None,
               log_tail: str | None = None) -> DeploymentRecord:
        deployment, reporter = wait_for(lambda: next((h for h in self.held if h[0].stack == stack), None), 10,
                                        f"the deploy of {stack}")
        store = self.engine.store
        reporter.started(store.get_deployment(deployment.id))
        store.finish_deployment(deployment.id, state, error=error, log_tail=log_tail, commit="c" * 40)
        final = store.get_deployment(deployment.id)
        reporter.finished(final, self.engine.settings.stack_urls(stack) if state == "succeeded" else [])
        return final


@pytest.fixture
def held(quiet_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> HeldDeploys:
    holder = HeldDeploys(quiet_engine)
    monkeypatch.setattr(quiet_engine, "deploy", holder.deploy)
    return holder


@pytest.fixture
def make_bot(quiet_engine: Engine) -> Iterator[Callable[..., RunningBot]]:
    """A bot in HTTP mode on the quiet engine: make_bot(standin options, setting=value, ...)."""
    made: list[RunningBot] = []

    def make(standin: dict[str, Any] | None = None, **settings: Any) -> RunningBot:
        slack = make_standin(**(standin or {})).start()
        running = start_bot(quiet_engine, slack_settings(quiet_engine.settings, slack, **settings), slack)
        made.append(running)
        return running

    yield make
    for running in made:
        running.close()
        running.slack.stop()


def direct_messages(slack: SlackStandin, user: str) -> list[dict]:
    return slack.messages(slack.direct_channel(user))


# Where the bot may post -----------------------------------------------------------------------
def test_in_a_public_channel_it_is_not_in_it_posts_and_a_refused_log_file_comes_as_text(
        make_bot: Callable[..., RunningBot], held: HeldDeploys, quiet_engine: Engine) -> None:
    running = make_bot()
    slack = running.slack
    _, response_url = running.command("deploy tail1 main", channel=OUTSIDE)
    message = wait_for(lambda: next(iter(top_level(slack, OUTSIDE)), None), 10, "the deploy's message there")
    wait_for(lambda: quiet_engine.stack("tail1").thread == f"{OUTSIDE}:{message['ts']}", 10,
             "the stack's thread there")
    tail = "\n".join(f"web.1 | line {n:03d} " + "x" * 140 for n in range(200))
    held.finish("tail1", "failed", error="the release command failed", log_tail=tail)

    def as_text() -> list[dict]:
        return [r for r in slack.replies(OUTSIDE, message["ts"]) if "Log tail of deployment" in texts(r.get("blocks"))]

    (reply,) = wait_for(as_text, 10, "the tail as text")
    shown = texts(reply["blocks"])
    assert "line 199" in shown and "line 100" in shown and "line 000" not in shown  # the newest lines, clipped
    assert "of 200 lines" in shown and "Slack did not take it as a file here" in shown
    (refused,) = slack.calls("files.completeUploadExternal")
    assert refused.error == "not_in_channel" and [f.completed for f in slack.files()] == [False]
    details = [r for r in slack.replies(OUTSIDE, message["ts"]) if "Last lines of the log" in texts(r.get("blocks"))]
    assert len(details) == 1
    time.sleep(0.3)
    assert slack.responses(response_url) == []  # nothing to excuse: the progress is where it was asked


def test_a_long_tail_shared_as_a_file_is_not_posted_as_text_too(make_bot: Callable[..., RunningBot],
                                                              held: HeldDeploys) -> None:
    running = make_bot()
    slack = running.slack
    running.command("deploy tail2 main", channel=CHANNEL)
    message = wait_for(lambda: next(iter(top_level(slack, CHANNEL)), None), 10, "the deploy's message")
    held.finish("tail2", "failed", error="boom", log_tail="\n".join(f"line {n}" for n in range(100)))
    share = wait_for(lambda: [r for r in slack.replies(CHANNEL, message["ts"]) if r.get("files")], 10, "the file")
    assert share[0]["files"][0]["name"] == f"tail2-{held.held[0][0].id}.log"
    time.sleep(0.5)
    assert not [r for r in slack.replies(CHANNEL, message["ts"]) if "Log tail of deployment" in texts(r.get("blocks"))]


@pytest.mark.parametrize("kind,why", [
    ("read_only", "this channel is read-only: it does not allow me to post here"),
    ("thread_only", "this channel takes replies in threads only"),
])
def test_read_only_and_thread_only_channels_send_the_progress_to_the_notify_channel(
        make_bot: Callable[..., RunningBot], held: HeldDeploys, kind: str, why: str) -> None:
    running = make_bot()
    slack = running.slack
    slack.add_channel("C0LIMITED", "limited", **{kind: True})
    _, response_url = running.command("deploy lim main", channel="C0LIMITED")
    (note,) = running.answers(response_url)
    assert why in note["text"] and "The progress of `lim` is in <#C0NOTIFY>" in note["text"]
    assert "/invite" not in note["text"]  # an invitation would change nothing there
    wait_for(lambda: [m for m in top_level(slack, NOTIFY) if "lim" in texts(m.get("blocks"))], 10, "the progress")
    assert slack.messages("C0LIMITED") == []


def test_where_it_is_not_invited_it_says_how_to_invite_it(make_bot: Callable[..., RunningBot],
                                                         held: HeldDeploys) -> None:
    running = make_bot()
    _, response_url = running.command("deploy inv main", channel=PRIVATE)
    (note,) = running.answers(response_url)
    assert "I am not in this channel; invite me with `/invite @yadockeri`" in note["text"]
    assert "<#C0NOTIFY>" in note["text"]


# response_url limits --------------------------------------------------------------------------
def test_a_deploy_that_ends_after_its_response_url_expired_is_told_in_a_direct_message(
        make_bot: Callable[..., RunningBot], held: HeldDeploys) -> None:
    running = make_bot({"response_url_ttl": 2.0}, notify_channel=None)
    slack = running.slack
    started = time.monotonic()
    _, response_url = running.command("deploy late main", channel=PRIVATE)  # nowhere to post the progress
    (note,) = running.answers(response_url)
    assert "I will tell you when `late` is done" in note["text"]
    time.sleep(max(0.0, 2.2 - (time.monotonic() - started)))
    held.finish("late")
    (dm,) = wait_for(lambda: direct_messages(slack, OWNER), 10, "the direct message")
    assert "`late` is up" in dm["text"] and "http://late." in dm["text"]
    (expired,) = slack.responses(response_url, refused=True)[1:]
    assert expired.status == 404 and "`late` is up" in expired.payload["text"]  # tried there first: expired_url
    assert slack.responses(response_url) == [slack.responses(response_url, refused=True)[0]]


def test_past_five_answers_or_thirty_minutes_a_response_url_is_left_for_a_direct_message(
        make_bot: Callable[..., RunningBot]) -> None:
    running = make_bot()
    slack = running.slack
    url = slack.new_response_url()
    asker = Asker(running.bot, OWNER, CHANNEL, respond=Respond(response_url=url))
    for n in range(RESPONSE_URL_USES + 2):
        asker.tell(f"answer {n}")
    assert [r.payload["text"] for r in slack.responses(url, refused=True)] == [f"answer {n}" for n in range(5)]
    assert [m["text"] for m in direct_messages(slack, OWNER)] == ["answer 5", "answer 6"]

    old_url = slack.new_response_url()  # Slack would still take it; the bot counts 30 minutes from the request
    old = Asker(running.bot, OTHER, CHANNEL, respond=Respond(response_url=old_url),
                asked_at=time.monotonic() - RESPONSE_URL_TTL - 1)
    old.tell("an answer after 30 minutes")
    assert slack.responses(old_url, refused=True) == []
    assert [m["text"] for m in direct_messages(slack, OTHER)] == ["an answer after 30 minutes"]


def test_an_answer_nobody_in_slack_asked_for_goes_nowhere(make_bot: Callable[..., RunningBot]) -> None:
    running = make_bot()
    Asker(running.bot, "scheduler", None).tell("the scheduler's trouble")
    Asker(running.bot, OWNER, None, surface="event").tell("trouble announcing a restart")  # OWNER asked nothing
    assert running.slack.calls("chat.postMessage") == [] and running.slack.responses() == []
    Asker(running.bot, OWNER, None, surface="home").tell("an App Home button's answer")  # OWNER asked
    assert [m["text"] for m in direct_messages(running.slack, OWNER)] == ["an App Home button's answer"]


# Closed modals --------------------------------------------------------------------------------
@pytest.mark.parametrize("channel", [CHANNEL, PRIVATE])
def test_a_deploy_form_closed_before_the_end_gets_its_summary_in_the_thread_else_a_dm(
        make_bot: Callable[..., RunningBot], held: HeldDeploys, channel: str) -> None:
    running = make_bot(notify_channel=None)
    slack = running.slack
    running.command("", channel=channel)  # /yadockeri alone: the deploy form
    view = slack.wait_for_call("views.open", 5).response["view"]
    reply = running.submit(view, {"stack": {"value": "shut"}, "branch": {"value": "main"}})
    assert reply.json()["response_action"] == "update"
    wait_for(lambda: held.held, 10, "the deploy")
    if channel == CHANNEL:
        wait_for(lambda: running.bot.thread_of("shut"), 10, "the deploy's message, the stack's thread")
    else:  # nowhere to post: the form says it will tell how it ends
        wait_for(lambda: "I will tell you when" in texts(slack.view(view["id"])["blocks"]), 10, "the note")
    slack.close_view(view["id"])
    held.finish("shut")
    if channel == CHANNEL:
        (message,) = top_level(slack, CHANNEL)
        told = wait_for(lambda: [r for r in slack.replies(CHANNEL, message["ts"]) if f"<@{OWNER}>" in r["text"]
                                 and "Deployment #" not in r["text"]],  # (the details reply mentions them too)
                        10, "the summary in the thread")
        assert len(told) == 1 and "`shut` is up" in told[0]["text"] and direct_messages(slack, OWNER) == []
    else:
        (dm,) = wait_for(lambda: direct_messages(slack, OWNER), 10, "the summary as a direct message")
        assert "`shut` is up" in dm["text"]
    refused = [c for c in slack.calls("views.update") if c.params.get("view_id") == view["id"] and not c.ok]
    assert [c.error for c in refused] == ["not_found"]
    assert "is up" not in texts(slack.view(view["id"])["blocks"])


# Keep buttons ---------------------------------------------------------------------------------
def test_keep_works_in_the_notify_channel_outside_yadockeri_channels(make_bot: Callable[..., RunningBot],
                                                                    quiet_engine: Engine) -> None:
    running = make_bot(channels=CHANNEL)
    slack = running.slack
    quiet_engine.store.create_deployment(stack="idle", app="demo", branch="main", kind="deploy", actor=OWNER,
                                         source="slack", create=True)
    running.bot.on_event(StackEvent("warned", "idle", "scheduler", "no request for 2d", None))
    warning = wait_for(lambda: next((m for m in slack.messages(NOTIFY) if "will be" in m["text"]), None), 10,
                       "the warning with Keep buttons")
    answer, response_url = running.click("keep_7d", "idle", user=OTHER, channel=NOTIFY, message_ts=warning["ts"])
    assert answer.status_code == 200
    (kept,) = running.answers(response_url)
    assert kept["replace_original"] is True and "toru kept `idle`" in kept["text"]  # named, not pinged
    assert quiet_engine.store.require_stack("idle").keep_until is not None

    _, response_url = running.click("status", "idle", channel=NOTIFY)  # only Keep: other buttons stay refused
    assert "works in <#C123> only" in running.answers(response_url)[0]["text"]
    _, response_url = running.click("keep_1d", "idle", channel=OUTSIDE)  # and Keep only there
    assert "works in <#C123> only" in running.answers(response_url)[0]["text"]
    assert [e.actor for e in quiet_engine.store.events("idle") if e.action == "keep"] == [OTHER]
