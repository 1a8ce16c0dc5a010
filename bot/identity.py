"""Who the bot is in Slack (auth.test), learnt without making Slack a condition for starting.

Bolt asks `auth.test` when the app is built and refuses to start if Slack does not answer; a
yadockeri restarted during an outage of Slack would then stay down, and with it everything kept
in its outbox. This `authorize` for Bolt checks the token at start (a wrong token still stops
the bot with a clear error), but when Slack is only unreachable it starts all the same, answers
requests with the token alone, and learns the bot's identity in the background once Slack is back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from stacks.errors import ConfigError

from .outbox_calls import classify

log = logging.getLogger(__name__)

RETRY_SECONDS = 30.0


class SlackIdentity:
    def __init__(self, client: WebClient) -> None:
        self._client = client
        self.token = client.token or ""
        self._result: AuthorizeResult | None = None
        self._lock = threading.Lock()
        self._next_try = 0.0

    def verify(self) -> None:
        """At start: a token Slack refuses is a configuration error; Slack being away is not."""
        try:
            self._learn()
        except SlackApiError as error:
            kind, _, code = classify(error)
            if kind == "refused":
                raise ConfigError(f"Slack refused SLACK_BOT_TOKEN ({code}): check the bot token") from None
            log.warning("Slack does not answer auth.test (%s): starting anyway; asking again later", code)
        except Exception as error:  # noqa: BLE001 - the network: start, and ask again later
            log.warning("Slack cannot be reached (%s): starting anyway; asking again later", type(error).__name__)

    def authorize(self) -> Callable[..., AuthorizeResult]:
        """For Bolt, which passes arguments by their names (a plain function, not a method)."""
        def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
            return self.identity(enterprise_id, team_id)
        return authorize

    def identity(self, enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        """Never waits for Slack."""
        if self._result is not None:
            return self._result
        if time.monotonic() >= self._next_try:
            self._next_try = time.monotonic() + RETRY_SECONDS
            threading.Thread(target=self._learn_quietly, name="yadockeri-auth", daemon=True).start()
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=self.token)

    def _learn(self) -> None:
        answer = self._client.auth_test()
        with self._lock:
            self._result = AuthorizeResult.from_auth_test_response(bot_token=self.token, auth_test_response=answer)

    def _learn_quietly(self) -> None:
        try:
            self._learn()
        except Exception as error:  # noqa: BLE001 - still away: the next request asks again later
            log.info("auth.test still fails (%s)", type(error).__name__)
