"""The outbox's calls to Slack, and what their failures mean.

Every post carries its outbox nonce in Slack's message metadata. When a post's answer is lost (a
timeout, a reset connection, a 5xx: Slack may have posted it all the same), the outbox looks the
nonce up in the channel or thread before posting again, so a message appears once.
https://docs.slack.dev/messaging/message-metadata
"""

from __future__ import annotations

import logging
import random
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

EVENT_TYPE = "yadockeri_message"
# where the bot cannot post: the post may fall back to another channel, and its owner is told
CANNOT_POST = frozenset({"not_in_channel", "channel_not_found", "is_archived", "restricted_action",
                         "restricted_action_read_only_channel", "restricted_action_thread_only_channel",
                         "cannot_dm_bot", "messages_tab_disabled", "team_access_not_granted"})
# answers that say Slack is in trouble, not the call: try again later
TRANSIENT = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout"})


def classify(error: BaseException) -> tuple[str, float, str]:
    """(kind, retry_after, code): `rate_limited` (wait retry_after), `retry` (Slack or the network
    is in trouble; the call may have been done) or `refused` (it will not be done)."""
    if not isinstance(error, SlackApiError):
        return "retry", 0.0, type(error).__name__
    response = error.response
    status = getattr(response, "status_code", 200)
    code = str(response.get("error") or "") if response is not None else ""
    if status == 429 or code == "ratelimited":
        return "rate_limited", retry_after(getattr(response, "headers", None)), "ratelimited"
    if status >= 500 or code in TRANSIENT or not code:
        return "retry", 0.0, code or f"HTTP {status}"
    return "refused", 0.0, code


def backoff(attempts: int) -> float:
    """Seconds before the next try: 2, 4, 8, 16, then 30, with jitter (many posts retry at once)."""
    return min(30.0, 2.0 ** min(attempts, 5)) * random.uniform(0.8, 1.2)


def retry_after(headers: object) -> float:
    if isinstance(headers, dict):
        for key, value in headers.items():
            if str(key).lower() == "retry-after":
                value = value[0] if isinstance(value, (list, tuple)) else value
                try:
                    return max(1.0, float(value))
                except (TypeError, ValueError):
                    break
    return 1.0


def post_message(client: WebClient, *, channel: str, thread_ts: str | None, text: str, blocks: list[dict],
                 nonce: str) -> Any:
    return client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text, blocks=blocks,
                                   unfurl_links=False, unfurl_media=False,
                                   metadata={"event_type": EVENT_TYPE, "event_payload": {"nonce": nonce}})


def find_posted(client: WebClient, *, channel: str, thread_ts: str | None, nonce: str, since: float) -> str | None:
    """The ts of the bot's message carrying this nonce, posted since `since` (epoch seconds), if any."""
    oldest = f"{max(0.0, since - 120):.6f}"  # clocks differ a little
    if thread_ts:
        answer = client.conversations_replies(channel=channel, ts=thread_ts, oldest=oldest, limit=200,
                                              include_all_metadata=True)
    else:
        answer = client.conversations_history(channel=channel, oldest=oldest, limit=200, include_all_metadata=True)
    for message in answer.get("messages") or []:
        metadata = message.get("metadata") or {}
        if metadata.get("event_type") == EVENT_TYPE and (metadata.get("event_payload") or {}).get("nonce") == nonce:
            return str(message["ts"])
    return None


def look_up(client: WebClient, *, channel: str, thread_ts: str | None, nonce: str, since: float) -> str | None:
    """find_posted, or None when Slack refuses the look-up (no history scope, say): then the
    message is posted again, which may show it twice. Trouble on Slack's side raises (retry)."""
    try:
        return find_posted(client, channel=channel, thread_ts=thread_ts, nonce=nonce, since=since)
    except Exception as error:
        kind, _, code = classify(error)
        if kind != "refused":
            raise
        log.warning("cannot look up whether a message landed (%s); posting it again", code)
        return None
