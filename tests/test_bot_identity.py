"""The bot learns who it is (auth.test) without making Slack a condition for starting: a token
Slack refuses stops it with a clear error; Slack being down at start does not, and the identity
is learnt once Slack is back. The strict Slack stand-in."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient

from bot.identity import SlackIdentity
from stacks.errors import ConfigError
from tests.support.slack_standin import SlackStandin
from tests.test_bot_support import make_standin, wait_for


def client(slack: SlackStandin, token: str | None = None) -> WebClient:
    return WebClient(token=token or slack.bot_token, base_url=slack.base_url, retry_handlers=[], timeout=3)


def test_a_token_slack_refuses_stops_the_bot_with_a_clear_error() -> None:
    with make_standin() as slack:
        with pytest.raises(ConfigError, match="invalid_auth"):
            SlackIdentity(client(slack, "xoxb-not-the-token")).verify()


def test_slack_down_at_start_does_not_stop_the_bot_and_the_identity_comes_later(monkeypatch) -> None:
    monkeypatch.setattr("bot.identity.RETRY_SECONDS", 0.2)
    with make_standin() as slack:
        slack.outage(2, "503")
        identity = SlackIdentity(client(slack))
        identity.verify()  # no error
        first = identity.identity(None, "T0STANDIN")
        assert first.bot_token == slack.bot_token and first.bot_user_id is None
        learnt = wait_for(lambda: identity.identity(None, "T0STANDIN").bot_user_id, 30, "the identity learnt")
        assert learnt == slack.bot_user_id
