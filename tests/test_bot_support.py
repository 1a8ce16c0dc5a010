"""Fixtures and helpers for the Slack bot's tests (imported by the other tests/test_bot_*.py).

A bot runs for real: the Bolt app behind waitress on a free port (HTTP mode) or connected to
the Socket Mode stand-in, talking to the strict Slack Web API stand-in. Requests are signed
exactly as Slack signs them (tests/support/slack_requests.py).
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import SecretStr
from slack_bolt import App

from bot.app import build_app
from bot.runtime import Bot
from bot.server import HttpServer, serve_http
from stacks.config import AppConfig, Settings
from stacks.engine import Engine
from tests.support.engines import NO_DOCKER
from tests.support.helpers import wait_until
from tests.support.slack_requests import (
    block_actions_body,
    signed_headers,
    slash_command_body,
    view_submission_body,
)
from tests.support.slack_standin import RecordedCall, SlackStandin

SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
CHANNEL, NOTIFY = "C123", "C0NOTIFY"
OUTSIDE = "C0OUT"  # public, the bot not in it: it posts there (chat:write.public) but shares no file
PRIVATE = "G0PRIV"  # private, the bot not in it: it cannot post there at all
OWNER, OTHER, ADMIN = "U123", "U456", "U0ADMIN"


def test_support_module_has_no_tests_of_its_own() -> None:
    """(pytest collects this file; tests/conftest.py imports its fixtures for the bot's test modules.)"""


def make_standin(**kwargs: Any) -> SlackStandin:
    slack = SlackStandin(**kwargs)
    slack.add_channel(NOTIFY, "yadockeri-notify")
    slack.add_channel(OUTSIDE, "elsewhere", is_member=False)
    slack.add_channel(PRIVATE, "secret", is_member=False, is_private=True)
    slack.add_user(OTHER, "toru")
    slack.add_user(ADMIN, "boss", is_admin=True)
    return slack


@pytest.fixture
def slack() -> Iterator[SlackStandin]:
    with make_standin(socket_mode=True) as standin:
        yield standin


def slack_settings(settings: Settings, slack: SlackStandin, **overrides: Any) -> Settings:
    """The same settings plus the bot's: tokens and API URL of the stand-in, a notify channel, an admin."""
    values: dict[str, Any] = {
        "slack_bot_token": SecretStr(slack.bot_token),
        "slack_signing_secret": SecretStr(SECRET),
        "slack_api_url": slack.base_url,
        "notify_channel": NOTIFY,
        "admins": ADMIN,
    }
    values.update(overrides)
    return settings.model_copy(update=values)


@pytest.fixture
def quiet_engine(tmp_path: Path) -> Iterator[Engine]:
    """An engine with its own database and no stacks; used by tests that never reach Docker."""
    repo = tmp_path / "repo"
    repo.mkdir()
    engine = Engine(Settings(data_dir=tmp_path / "data", apps={"demo": AppConfig(repo=str(repo), default=True)}),
                    docker_host=NO_DOCKER)  # what asks Docker (a list's router network) hears it is not there
    engine.start()
    yield engine
    engine.close()


@dataclass
class RunningBot:
    bot: Bot
    app: App
    slack: SlackStandin
    server: HttpServer | None = None
    engine_calls: list[tuple[str, tuple, dict]] = field(default_factory=list)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}"

    def send(self, body: bytes, *, secret: str = SECRET, timestamp: int | None = None,
             content_type: str | None = None, headers: dict[str, str] | None = None) -> requests.Response:
        signed = signed_headers(secret, body, timestamp)
        if content_type:
            signed["Content-Type"] = content_type
        return requests.post(self.url + "/slack/events", data=body, headers={**signed, **(headers or {})}, timeout=10)

    def event(self, event: dict[str, Any], *, event_id: str | None = None, retry: int = 0) -> requests.Response:
        """An Events API request (JSON), as Slack sends it; `retry`: as Slack delivers it again
        (the same event_id, X-Slack-Retry-Num) when the app's 200 came late."""
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else None
        return self.send(json.dumps(event_payload(event, event_id)).encode(), content_type="application/json",
                         headers=headers)

    def command(self, text: str, *, user: str = OWNER, channel: str = CHANNEL) -> tuple[requests.Response, str]:
        """A signed slash command; returns the HTTP answer (the ack) and its response_url."""
        response_url = self.slack.new_response_url()
        body = slash_command_body(text, user_id=user, channel_id=channel, response_url=response_url,
                                  trigger_id=self.slack.new_trigger_id(user))
        return self.send(body), response_url

    def click(self, action_id: str, value: str, *, user: str = OWNER, channel: str = CHANNEL,
              message_ts: str = "1700000000.000100", view: dict | None = None) -> tuple[requests.Response, str]:
        response_url = self.slack.new_response_url()
        fields: dict[str, Any] = {"user_id": user, "trigger_id": self.slack.new_trigger_id(user)}
        if view is not None:
            fields["view"] = view
        else:
            fields.update(channel_id=channel, message_ts=message_ts, response_url=response_url)
        return self.send(block_actions_body(action_id, value, **fields)), response_url

    def submit(self, view: dict, values: dict[str, dict[str, Any]], *, user: str = OWNER) -> requests.Response:
        """Submit a modal the bot opened (as the stand-in stored it) with these input values."""
        body = view_submission_body(view["callback_id"], values, user_id=user, view_id=view["id"],
                                    private_metadata=view["private_metadata"], blocks=view["blocks"])
        return self.send(body)

    def answers(self, response_url: str, timeout: float = 10.0) -> list[dict]:
        """What the bot posted to a response_url (waits for the first)."""
        self.slack.wait_for(lambda: self.slack.responses(response_url), timeout, f"an answer to {response_url}")
        return [r.payload for r in self.slack.responses(response_url)]

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
        self.bot.close()


def event_payload(event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {
        "token": "standin-verification-token", "team_id": "T0STANDIN", "api_app_id": "A0STANDIN",
        "event": {"event_ts": f"{time.time():.6f}", **event},
        "type": "event_callback", "event_id": event_id or f"Ev0{uuid.uuid4().hex[:12].upper()}", "event_time": int(time.time()),
        "authorizations": [{"team_id": "T0STANDIN", "user_id": "U0BOT", "is_bot": True, "is_enterprise_install": False}],
        "is_ext_shared_channel": False,
    }


def home_opened(user: str) -> dict[str, Any]:
    return {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home"}


def spy_on(engine: Engine, calls: list[tuple[str, tuple, dict]]) -> None:
    """Record every call of the engine's front-end methods (so a test can say: none happened)."""
    for name in ("deploy", "redeploy", "destroy", "change_env", "list_stacks", "capacity", "status", "env", "logs",
                 "stack", "set_thread", "set_deployment_message"):
        original = getattr(engine, name)

        def recorder(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            calls.append((_name, args, kwargs))
            return _original(*args, **kwargs)

        setattr(engine, name, recorder)


def start_bot(engine: Engine, settings: Settings, slack: SlackStandin, *, http: bool = True) -> RunningBot:
    bot = Bot(engine, settings)
    running = RunningBot(bot=bot, app=build_app(bot, socket_mode=not http), slack=slack)
    spy_on(engine, running.engine_calls)
    bot.start(engine.interrupted_at_start)
    if http:
        assert settings.slack_signing_secret is not None
        running.server = serve_http(running.app, signing_secret=settings.slack_signing_secret.get_secret_value(),
                                    host="127.0.0.1", port=0)
    return running


@pytest.fixture
def quiet_bot(quiet_engine: Engine, slack: SlackStandin) -> Iterator[RunningBot]:
    running = start_bot(quiet_engine, slack_settings(quiet_engine.settings, slack), slack)
    yield running
    running.close()


@pytest.fixture
def bot(engine: Engine, settings: Settings, slack: SlackStandin) -> Iterator[RunningBot]:
    """The bot on the real engine, swarm and router (conftest's `engine`): the end-to-end tests'."""
    running = start_bot(engine, slack_settings(settings, slack), slack)
    yield running
    running.close()


# Looking at what the stand-in recorded -------------------------------------------------------------
def texts(blocks: Sequence[object] | None) -> str:
    """Every text of some blocks, joined (for `in` checks)."""
    return json.dumps(blocks or [], ensure_ascii=False)


def top_level(slack: SlackStandin, channel: str = CHANNEL) -> list[dict]:
    return [m for m in slack.messages(channel) if "thread_ts" not in m or m["thread_ts"] == m["ts"]]


def updates_of(slack: SlackStandin, ts: str) -> list[RecordedCall]:
    return [c for c in slack.calls("chat.update") if c.params.get("ts") == ts]


def assert_update_rate(slack: SlackStandin) -> None:
    """At most one chat.update a second per message (by arrival time at 'Slack')."""
    by_ts: dict[str, list[float]] = {}
    for call in slack.calls("chat.update"):
        by_ts.setdefault(str(call.params.get("ts")), []).append(call.at)
    for ts, times in by_ts.items():
        gaps = [b - a for a, b in pairwise(times)]
        assert all(gap >= 1.0 for gap in gaps), (ts, gaps)


def everything_sent(slack: SlackStandin) -> str:
    """Every parameter and answer of every recorded Web API call, and every response_url post."""
    calls = [{"method": c.method, "params": c.params, "response": c.response} for c in slack.calls()]
    posts = [r.payload for r in slack.responses()]
    return json.dumps([calls, posts], default=lambda o: o.decode("utf-8", "replace") if isinstance(o, bytes) else str(o),
                      ensure_ascii=False) + "".join((f.content or b"").decode("utf-8", "replace") for f in slack.files())


def wait_for(predicate: Any, timeout: float = 30.0, what: str = "condition", interval: float = 0.05) -> Any:
    return wait_until(predicate, timeout, interval, what=what)


def dead_runner() -> str:
    """A runner id of this host whose process is gone (so recovery marks its work interrupted)."""
    return f"{socket.gethostname()}:999999999:12345"


def bot_process(env: dict[str, str], port: int, *, capture: bool = True) -> subprocess.Popen[str]:
    """`yadockeri bot` as a real process, once its /healthz answers."""
    import sys

    output = subprocess.PIPE if capture else subprocess.DEVNULL
    process = subprocess.Popen([sys.executable, "-m", "yadockeri", "bot"], env=env, text=True,
                               stdout=output, stderr=subprocess.STDOUT)

    def healthy() -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return process.poll() is not None

    wait_for(healthy, 60, "the bot serving")
    assert process.poll() is None, process.communicate()[0] if capture else "the bot ended"
    return process
