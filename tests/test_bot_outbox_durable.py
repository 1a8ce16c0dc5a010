"""The outbox through Slack's outages and yadockeri's restarts, on the strict stand-in and a real
database built by the migrations: nothing asked for is lost, and nothing appears twice.

- an outage (503, a hang, a reset connection) delays messages; they arrive once Slack is back;
- a post Slack took whose answer was lost ("processed, then the connection dropped") is looked up
  by its metadata nonce and not posted again, also when yadockeri restarted in between;
- what was kept before a restart is sent after it, with the newest content asked for, and its
  owner learns where it went (the deployment's message, the stack's thread);
- under Slack's tier limits a burst shares the budget: no 429, final states first."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from cryptography.fernet import Fernet
from slack_sdk import WebClient

from bot.outbox import MessageRef, Outbox
from bot.outbox_journal import Journal
from stacks.store import Store
from tests.support.slack_standin import SlackStandin
from tests.test_bot_support import CHANNEL, make_standin, wait_for


@pytest.fixture
def standin() -> Iterator[SlackStandin]:
    with make_standin() as slack:
        yield slack


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    store = Store(db_url, Fernet(Fernet.generate_key()))
    yield store
    store.close()


def outbox(standin: SlackStandin, store: Store, tagged: list | None = None, timeout: int = 3) -> Outbox:
    client = WebClient(token=standin.bot_token, base_url=standin.base_url, retry_handlers=[], timeout=timeout)
    on_tagged = (lambda tag, ref, top: tagged.append((tag, ref))) if tagged is not None else None
    return Outbox(client, journal=Journal(store), on_tagged=on_tagged).start()


def texts(standin: SlackStandin, channel: str = CHANNEL) -> list[str]:
    return [m["text"] for m in standin.messages(channel)]


@pytest.mark.parametrize("mode", ["503", "timeout", "reset"])
def test_an_outage_delays_messages_and_loses_none(standin: SlackStandin, store: Store, mode: str) -> None:
    box = outbox(standin, store)
    try:
        standin.outage(4, mode)
        content = {"step": "queued"}
        post = box.post(CHANNEL, lambda: (f"deploy: {content['step']}", []))
        note = box.say(CHANNEL, "a notice")
        time.sleep(1)
        content["step"] = "live"
        post.touch(final=True)
        assert post.wait(60) and note.wait(60) and not post.dead and not note.dead
        assert sorted(texts(standin)) == ["a notice", "deploy: live"]  # each once, the newest content
        assert store.pending_messages() == []
    finally:
        box.stop()


def test_a_post_slack_took_but_whose_answer_was_lost_appears_once(standin: SlackStandin, store: Store) -> None:
    box = outbox(standin, store)
    try:
        standin.outage(1.5, "dropped")
        post = box.say(CHANNEL, "deployed")
        assert post.wait(60) and not post.dead
        assert texts(standin) == ["deployed"]
        assert len([c for c in standin.calls("chat.postMessage") if c.status == 200]) >= 1
        assert standin.calls("conversations.history")  # it looked before posting again
        (message,) = standin.messages(CHANNEL)
        assert post.ts == message["ts"]
    finally:
        box.stop()


def test_what_was_kept_before_a_restart_is_sent_after_it(standin: SlackStandin, store: Store) -> None:
    first = outbox(standin, store)
    standin.outage(600, "503")
    content = {"step": "build"}
    post = first.post(CHANNEL, lambda: (f"deploy #7: {content['step']}", []), tag={"deployment": 7})
    reply = first.say(CHANNEL, "details of #7", parent=post)
    content["step"] = "succeeded"
    post.touch(final=True)
    first.stop(timeout=1)  # yadockeri stops while Slack is down
    assert texts(standin) == [] and len(store.pending_messages()) == 2

    standin.end_outage()
    tagged: list = []
    second = outbox(standin, store, tagged)
    try:
        wait_for(lambda: store.pending_messages() == [], timeout=30, what="the kept messages delivered")
        (message,) = [m for m in standin.messages(CHANNEL) if m.get("thread_ts") in (None, m["ts"])]
        assert message["text"] == "deploy #7: succeeded"
        assert [r["text"] for r in standin.replies(CHANNEL, message["ts"])] == ["details of #7"]
        assert tagged == [({"deployment": 7}, MessageRef(CHANNEL, message["ts"]))]
        assert reply.ts is None  # the first process's objects never sent anything
    finally:
        second.stop()


def test_a_restart_after_a_lost_answer_does_not_post_twice(standin: SlackStandin, store: Store) -> None:
    first = outbox(standin, store)
    standin.outage(600, "dropped")  # Slack takes every post, and every answer is lost
    post = first.post(CHANNEL, lambda: ("deploy #8: running", []), tag={"deployment": 8})
    wait_for(lambda: standin.messages(CHANNEL) and store.pending_messages()[0].uncertain, timeout=30,
             what="a post taken by Slack, its answer lost")
    first.stop(timeout=0.5)
    standin.end_outage()
    tagged: list = []
    second = outbox(standin, store, tagged)
    try:
        wait_for(lambda: store.pending_messages() == [], timeout=30, what="the kept message delivered")
        assert texts(standin) == ["deploy #8: running"]  # found, not posted again
        assert tagged and tagged[0][1].ts == standin.messages(CHANNEL)[0]["ts"]
        assert post.ts is None
    finally:
        second.stop()


def test_a_burst_keeps_within_the_tier_limits_and_finals_go_first(standin: SlackStandin, store: Store) -> None:
    """20 deployments' messages in one channel, each changing every 0.2 s for 6 s, then final:
    Slack's real limits (1 post a second per channel with short bursts; 50 chat.update a minute)
    are never exceeded, and every message ends on its final content."""
    box = outbox(standin, store)
    try:
        states = {n: "step 0" for n in range(20)}
        def render(n: int) -> Callable[[], tuple[str, list[dict]]]:
            return lambda: (f"#{n} {states[n]}", [])

        posts = {n: box.post(CHANNEL, render(n), refresh_every=2) for n in range(20)}
        for tick in range(30):
            for n, post in posts.items():
                states[n] = f"step {tick}"
                post.touch()
            time.sleep(0.2)
        for n, post in posts.items():
            states[n] = "done"
            post.touch(final=True)
        assert all(post.wait(120) for post in posts.values())
        assert sorted(texts(standin)) == sorted(f"#{n} done" for n in range(20))
        assert [c for c in standin.calls() if c.status == 429] == []
        assert box.budget.rate_limited == 0
    finally:
        box.stop()


def test_a_post_slack_took_just_before_a_crash_is_not_posted_again(standin: SlackStandin, store: Store) -> None:
    """The process dies between Slack's answer and recording it: the message is kept as
    uncertain from before the call, so the next start looks it up instead of posting it again."""
    first = outbox(standin, store)
    assert first.journal is not None
    first.journal.sent = lambda *args, **kwargs: None  # type: ignore[method-assign]  # never recorded
    post = first.say(CHANNEL, "deployed")
    assert post.wait(10) and texts(standin) == ["deployed"]
    first.stop(timeout=0.5)
    (kept,) = store.pending_messages()
    assert kept.uncertain and kept.ts is None
    second = outbox(standin, store)
    try:
        wait_for(lambda: store.pending_messages() == [], timeout=30, what="the kept message settled")
        assert texts(standin) == ["deployed"] and standin.calls("conversations.history")
    finally:
        second.stop()
