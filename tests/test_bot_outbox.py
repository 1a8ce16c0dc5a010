"""The outbox keeps Slack's rules, checked on the stand-in's recorded calls: at most one
chat.update a second per message, nothing before Retry-After after a 429, replies after their
message, a fallback channel where the bot cannot post."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient

from bot.outbox import MessageRef, Outbox
from tests.support.slack_standin import SlackStandin
from tests.test_bot_support import CHANNEL, NOTIFY, PRIVATE, assert_update_rate, make_standin, updates_of


@pytest.fixture
def standin() -> Iterator[SlackStandin]:
    with make_standin() as slack:
        yield slack


@pytest.fixture
def outbox(standin: SlackStandin) -> Iterator[Outbox]:
    box = Outbox(WebClient(token=standin.bot_token, base_url=standin.base_url, retry_handlers=[])).start()
    yield box
    box.stop()


def counter_message(state: dict) -> tuple[str, list[dict]]:
    text = f"step {state['n']}"
    return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]


def test_many_changes_make_at_most_one_update_a_second(standin: SlackStandin, outbox: Outbox) -> None:
    state = {"n": 0}
    post = outbox.post(CHANNEL, lambda: counter_message(state))
    deadline = time.monotonic() + 3.5
    while time.monotonic() < deadline:  # a change every 10 ms for 3.5 s
        state["n"] += 1
        post.touch()
        time.sleep(0.01)
    state["n"] = 9999
    post.touch(final=True)
    assert post.wait(10)
    (message,) = standin.messages(CHANNEL)
    assert message["text"] == "step 9999"  # the newest content wins
    updates = updates_of(standin, message["ts"])
    assert 2 <= len(updates) <= 5, len(updates)  # merged, not one per change
    posted = standin.calls("chat.postMessage")[0]
    assert updates[0].at - posted.at >= 1.0
    assert_update_rate(standin)


def test_after_a_429_nothing_comes_before_retry_after(standin: SlackStandin, outbox: Outbox) -> None:
    state = {"n": 0}
    post = outbox.post(CHANNEL, lambda: counter_message(state))
    standin.wait_for(lambda: post.ts, 5)
    standin.rate_limit("chat.update", times=1, retry_after=2)
    for n in range(1, 4):
        state["n"] = n
        post.touch(final=n == 3)
        time.sleep(0.3)
    assert post.wait(15)
    limited = [c for c in standin.calls("chat.update") if c.status == 429]
    assert len(limited) == 1  # it waited instead of hammering
    later = [c for c in standin.calls("chat.update") if c.at > limited[0].at]
    assert later and later[0].at - limited[0].at >= 2.0
    assert later[-1].status == 200 and standin.messages(CHANNEL)[0]["text"] == "step 3"
    assert_update_rate(standin)


def test_a_429_on_posting_holds_every_new_message(standin: SlackStandin, outbox: Outbox) -> None:
    standin.rate_limit("chat.postMessage", times=1, retry_after=1)
    posts = [outbox.say(CHANNEL, f"line {n}") for n in range(3)]
    assert all(p.wait(10) for p in posts)
    calls = standin.calls("chat.postMessage")
    limited = next(c for c in calls if c.status == 429)
    assert all(c.at - limited.at >= 1.0 for c in calls if c.at > limited.at)
    assert sorted(m["text"] for m in standin.messages(CHANNEL)) == ["line 0", "line 1", "line 2"]


def test_replies_wait_for_their_message_and_follow_it(standin: SlackStandin, outbox: Outbox) -> None:
    gate = threading.Event()

    def slow_parent() -> tuple[str, list[dict]]:
        gate.wait(5)
        return "parent", []

    parent = outbox.post(CHANNEL, slow_parent, final=True)
    reply = outbox.say(CHANNEL, "details", parent=parent)
    time.sleep(0.3)
    assert standin.calls("chat.postMessage") == []
    gate.set()
    assert reply.wait(5)
    (root,) = [m for m in standin.messages(CHANNEL) if m["text"] == "parent"]
    assert [m["text"] for m in standin.replies(CHANNEL, root["ts"])] == ["details"]


def test_where_the_bot_cannot_post_it_falls_back_and_says_so(standin: SlackStandin, outbox: Outbox) -> None:
    told: list[tuple[str, str | None]] = []
    posted: list[tuple[MessageRef, bool]] = []
    post = outbox.post(PRIVATE, lambda: ("deploying akira", []), fallback=NOTIFY, final=True,
                       on_failed=lambda error, where: told.append((error, where)),
                       on_posted=lambda ref, top: posted.append((ref, top)))
    assert post.wait(5)
    assert told == [("channel_not_found", NOTIFY)]
    assert [m["text"] for m in standin.messages(NOTIFY)] == ["deploying akira"]
    assert posted == [(MessageRef(NOTIFY, standin.messages(NOTIFY)[0]["ts"]), True)]

    nowhere = outbox.post(PRIVATE, lambda: ("x", []), final=True, on_failed=lambda e, w: told.append((e, w)))
    assert nowhere.wait(5) and nowhere.dead and told[-1] == ("channel_not_found", None)


def test_an_existing_message_is_updated_in_place(standin: SlackStandin, outbox: Outbox) -> None:
    ts = WebClient(token=standin.bot_token, base_url=standin.base_url).chat_postMessage(channel=CHANNEL, text="old")["ts"]
    assert outbox.update(MessageRef(CHANNEL, ts), lambda: ("new", [])).wait(5)
    assert [m["text"] for m in standin.messages(CHANNEL)] == ["new"]
    gone = outbox.update(MessageRef(CHANNEL, "1600000000.000100"), lambda: ("lost", []))
    assert gone.wait(5) and gone.dead  # message_not_found: given up, not retried forever


def test_message_ref_round_trip() -> None:
    ref = MessageRef("C123", "1700000000.000100")
    assert str(ref) == "C123:1700000000.000100" and MessageRef.parse(str(ref)) == ref
    assert MessageRef.parse(None) is None and MessageRef.parse("C123") is None and MessageRef.parse(":1") is None
