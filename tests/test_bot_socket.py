"""The bot in Socket Mode: the WebSocket stand-in (apps.connections.open hands out its URL) carries
the same requests as HTTP mode, and they come to the same result."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from bot.server import SocketModeServer
from stacks.config import Settings
from stacks.engine import Engine
from tests.conftest import free_port, unique
from tests.support.helpers import page
from tests.support.slack_requests import slash_command_payload
from tests.support.slack_standin import SlackStandin
from tests.test_bot_support import (
    CHANNEL,
    RunningBot,
    slack_settings,
    start_bot,
    top_level,
    wait_for,
)


def socket_bot(engine: Engine, settings: Settings, slack: SlackStandin) -> tuple[RunningBot, SocketModeServer, int]:
    running = start_bot(engine, slack_settings(settings, slack), slack, http=False)
    port = free_port()
    server = SocketModeServer(running.app, slack.app_token, host="127.0.0.1", port=port).start()
    assert slack.socket_mode is not None
    slack.socket_mode.wait_connected()
    return running, server, port


@pytest.fixture
def over_socket(quiet_engine: Engine, slack: SlackStandin) -> Iterator[tuple[RunningBot, int]]:
    running, server, port = socket_bot(quiet_engine, quiet_engine.settings, slack)
    yield running, port
    server.stop()
    running.close()


def send_command(slack: SlackStandin, text: str) -> tuple[dict, str]:
    """A slash command in an envelope; returns the app's ack and the command's response_url."""
    assert slack.socket_mode is not None
    response_url = slack.new_response_url()
    payload = slash_command_payload(text, response_url=response_url, trigger_id=slack.new_trigger_id())
    envelope_id = slack.socket_mode.send_envelope("slash_commands", payload)
    return slack.socket_mode.wait_for_ack(envelope_id, timeout=3), response_url


def test_socket_mode_connects_with_the_app_token_and_reports_health(over_socket: tuple[RunningBot, int],
                                                                    slack: SlackStandin) -> None:
    _, port = over_socket
    assert slack.calls("apps.connections.open")[0].token == slack.app_token
    assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200


def test_a_slash_command_over_the_socket_comes_to_the_same_result(over_socket: tuple[RunningBot, int],
                                                                 quiet_engine: Engine, slack: SlackStandin) -> None:
    running, _ = over_socket
    ack, response_url = send_command(slack, "list")
    assert ack.get("payload") in (None, "", {})  # acked at once, answered after
    wait_for(lambda: slack.responses(response_url), 10, "the list")
    listed = slack.responses(response_url)[0].payload
    assert listed["response_type"] == "ephemeral" and "No stacks yet" in listed["text"]

    ack, response_url = send_command(slack, "frobnicate")
    assert ack.get("payload") in (None, "", {})
    wait_for(lambda: slack.responses(response_url), 10, "the usage")
    usage = slack.responses(response_url)[0].payload
    assert "unknown command `frobnicate`" in usage["text"] and usage["response_type"] == "ephemeral"

    ack, _ = send_command(slack, "")
    opened = slack.wait_for_call("views.open", 5)
    assert opened.ok and opened.response["view"]["callback_id"] == "deploy"
    assert [name for name, _, _ in running.engine_calls if name in ("deploy", "destroy", "change_env")] == []

    http = start_bot(quiet_engine, slack_settings(quiet_engine.settings, slack), slack)  # the same, over HTTP
    try:
        _, http_url = http.command("list")
        assert http.answers(http_url)[0] == listed
        _, http_url = http.command("frobnicate")
        assert http.answers(http_url)[0] == usage
    finally:
        http.close()


@pytest.mark.swarm
def test_deploy_over_the_socket(engine: Engine, settings: Settings, slack: SlackStandin) -> None:
    running, server, _ = socket_bot(engine, settings, slack)
    try:
        stack = unique("k")
        ack, _ = send_command(slack, f"deploy {stack} main")
        assert ack.get("payload") in (None, "", {})
        url = settings.stack_url(stack)
        wait_for(lambda: any(url in m["text"] and "is up" in m["text"] for m in top_level(slack, CHANNEL)), 240,
                 f"{stack} is up")
        assert page(settings, stack)["content"] == "main-1"
    finally:
        server.stop()
        running.close()
