"""The bot's gate (bot/gate.py) is held by every request from Slack until it is acked, whatever its
kind, and no longer: the bot's own work waits for acks, never for the work listeners do after them.
GatedApp wraps App.dispatch for this; a Bolt middleware could not (see GatedApp). No Docker: a Bolt
app on the Slack stand-in, requests handed to dispatch as the HTTP and Socket Mode adapters do."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from slack_bolt import BoltRequest, BoltResponse
from slack_sdk import WebClient

from bot.app import GatedApp
from bot.gate import AckFirst
from tests.support.slack_requests import (
    FORM_CONTENT_TYPE,
    block_actions_body,
    interactive_body,
    slash_command_body,
    view_submission_body,
)
from tests.support.slack_standin import SlackStandin

ACK_AFTER = 0.5  # seconds a listener takes before it acks
FORM = {"content-type": [FORM_CONTENT_TYPE]}
OPTIONS_REQUEST = {
    "type": "block_suggestion", "action_id": "pick", "block_id": "b", "value": "ak", "api_app_id": "A0STANDIN",
    "team": {"id": "T0STANDIN"}, "user": {"id": "U123"}, "container": {"type": "view", "view_id": "V1"},
}
EVENT_REQUEST = {
    "type": "event_callback", "team_id": "T0STANDIN", "api_app_id": "A0STANDIN", "event_id": "Ev1", "event_time": 1,
    "event": {"type": "app_home_opened", "user": "U123", "channel": "D0HOME", "tab": "home"},
}
# What the listener of each kind acks with; Bolt's ack() takes the fields of the answer.
REQUESTS: dict[str, tuple[bytes, dict[str, Any]]] = {
    "command": (slash_command_body("list"), {}),
    "action": (block_actions_body("act", "v"), {}),
    "view_submission": (view_submission_body("cb", {}), {"response_action": "clear"}),
    "options": (interactive_body(OPTIONS_REQUEST), {"options": []}),
}


@pytest.fixture
def slack() -> Iterator[SlackStandin]:
    with SlackStandin() as standin:  # Bolt asks auth.test once
        yield standin


def gated_app(slack: SlackStandin, gate: AckFirst) -> GatedApp:
    return GatedApp(gate, client=WebClient(token=slack.bot_token, base_url=slack.base_url),
                    request_verification_enabled=False, process_before_response=False,
                    raise_error_for_unhandled_request=False, listener_executor=ThreadPoolExecutor(4))


def dispatch_while_waiting(app: GatedApp, gate: AckFirst, body: bytes,
                           headers: dict[str, Any]) -> tuple[BoltResponse, float]:
    """(the answer, when gate.wait() returned), gate.wait() called once the request is in flight."""
    answers: list[BoltResponse] = []
    dispatching = threading.Thread(
        target=lambda: answers.append(app.dispatch(BoltRequest(body=body.decode(), headers=headers))))
    dispatching.start()
    time.sleep(0.1)  # in flight: its listener is not done
    gate.wait()
    waited_until = time.monotonic()
    dispatching.join(10)
    return answers[0], waited_until


@pytest.mark.parametrize("kind", sorted(REQUESTS))
def test_a_request_holds_the_gate_until_its_listener_acks(slack: SlackStandin, kind: str) -> None:
    gate = AckFirst(quiet=0.05, max_wait=10)
    app = gated_app(slack, gate)
    body, answer = REQUESTS[kind]
    acked_at: list[float] = []

    def slow_ack(ack: Callable[..., None]) -> None:
        time.sleep(ACK_AFTER)
        acked_at.append(time.monotonic())
        ack(**answer)

    app.command("/yadockeri")(slow_ack)
    app.action("act")(slow_ack)
    app.view("cb")(slow_ack)
    app.options("pick")(slow_ack)

    response, waited_until = dispatch_while_waiting(app, gate, body, FORM)
    assert response.status == 200 and json.loads(response.body or "{}") == answer
    assert acked_at and waited_until >= acked_at[0]  # the bot's work waited for the ack


def test_an_event_lets_go_of_the_gate_at_its_ack_not_when_its_listener_ends(slack: SlackStandin) -> None:
    gate = AckFirst(quiet=0.05, max_wait=10)
    app = gated_app(slack, gate)
    ended = threading.Event()

    def slow_listener() -> None:  # Bolt acks an event before its listener runs
        time.sleep(4 * ACK_AFTER)
        ended.set()

    app.event("app_home_opened")(slow_listener)
    started = time.monotonic()
    response, waited_until = dispatch_while_waiting(app, gate, json.dumps(EVENT_REQUEST).encode(),
                                                    {"content-type": ["application/json"]})
    assert response.status == 200
    assert waited_until - started < 2 * ACK_AFTER and not ended.is_set()
    assert ended.wait(10)


def test_a_request_no_listener_acks_lets_go_of_the_gate_when_answered(slack: SlackStandin) -> None:
    gate = AckFirst(quiet=0.05, max_wait=10)
    app = gated_app(slack, gate)  # nothing listens: Bolt answers 404 itself
    started = time.monotonic()
    response, waited_until = dispatch_while_waiting(app, gate, slash_command_body("list"), FORM)
    assert response.status == 404
    assert waited_until - started < 2  # not held until max_wait
