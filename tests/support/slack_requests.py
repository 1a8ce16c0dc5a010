"""Requests as Slack sends them to an app: signed HTTP bodies and the payloads inside them.

HTTP mode (https://docs.slack.dev/authentication/verifying-requests-from-slack):

    body = slash_command_body("deploy akira feature-x")
    headers = {"Content-Type": FORM_CONTENT_TYPE, **sign(secret, body)}
    requests.post(f"{bot_url}/slack/events", data=body, headers=headers)

Socket Mode uses the same payloads (the `*_payload` functions) inside envelopes; see `SocketModeStandin`.
Shapes follow Slack's documentation and the payload samples in slackapi/bolt-python's tests.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

TEAM_ID = "T0STANDIN"
TEAM_DOMAIN = "standin"
API_APP_ID = "A0STANDIN"
BOT_ID = "B0STANDIN"
BOT_USER_ID = "U0BOT"
VERIFICATION_TOKEN = "standin-verification-token"  # deprecated by Slack, still sent


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Slack's request signature headers: v0=HMAC-SHA256(secret, "v0:{timestamp}:{body}")."""
    ts = int(time.time()) if timestamp is None else timestamp
    base = b"v0:" + str(ts).encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": f"v0={digest}"}


def signed_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """`sign()` plus the form Content-Type every slash command and interaction request carries."""
    return {"Content-Type": FORM_CONTENT_TYPE, **sign(secret, body, timestamp)}


def fake_trigger_id() -> str:
    """A well-formed trigger_id that no stand-in issued (use `SlackStandin.new_trigger_id()` for real ones)."""
    return f"{secrets.randbelow(10**13)}.{secrets.randbelow(10**10)}.{secrets.token_hex(16)}"


def fake_response_url(kind: str = "commands") -> str:
    return f"https://hooks.slack.com/{kind}/{TEAM_ID}/{secrets.randbelow(10**13)}/{secrets.token_urlsafe(18)}"


def interactive_body(payload: dict[str, Any]) -> bytes:
    """Interactions arrive form-encoded, as one `payload` field holding JSON."""
    return urlencode({"payload": json.dumps(payload)}).encode()


# -- slash commands -------------------------------------------------------------------------------


def slash_command_payload(
    text: str,
    *,
    user_id: str = "U123",
    user_name: str = "akira",
    channel_id: str = "C123",
    channel_name: str = "yadockeri",
    command: str = "/yadockeri",
    trigger_id: str | None = None,
    response_url: str | None = None,
    team_id: str = TEAM_ID,
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = API_APP_ID,
) -> dict[str, str]:
    """The fields of a slash command, in Slack's order (all strings, as in the form body)."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": team_domain,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url or fake_response_url("commands"),
        "trigger_id": trigger_id or fake_trigger_id(),
    }


def slash_command_body(text: str, **fields: Any) -> bytes:
    """application/x-www-form-urlencoded body of a slash command (see `slash_command_payload`)."""
    return urlencode(slash_command_payload(text, **fields)).encode()


# -- block_actions --------------------------------------------------------------------------------


def block_actions_payload(
    action_id: str,
    value: str | None = None,
    *,
    user_id: str = "U123",
    user_name: str = "akira",
    channel_id: str = "C123",
    channel_name: str = "yadockeri",
    message_ts: str = "1700000000.000100",
    trigger_id: str | None = None,
    block_id: str = "actions",
    button_text: str = "Button",
    message: dict[str, Any] | None = None,
    view: dict[str, Any] | None = None,
    response_url: str | None = None,
    team_id: str = TEAM_ID,
    api_app_id: str = API_APP_ID,
) -> dict[str, Any]:
    """A button click. In a message by default; pass `view` (a view as views.open returned it) for a modal."""
    action = {
        "action_id": action_id,
        "block_id": block_id,
        "text": {"type": "plain_text", "text": button_text, "emoji": True},
        "type": "button",
        "action_ts": f"{time.time():.6f}",
    }
    if value is not None:
        action["value"] = value
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(user_id, user_name, team_id),
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or fake_trigger_id(),
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "actions": [action],
    }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view["id"]}
        payload["view"] = view
        payload["state"] = view.get("state", {"values": {}})
        return payload
    payload["container"] = {"type": "message", "message_ts": message_ts, "channel_id": channel_id,
                            "is_ephemeral": False}
    payload["channel"] = {"id": channel_id, "name": channel_name}
    payload["message"] = message or _bot_message(message_ts, team_id)
    payload["state"] = {"values": {}}
    payload["response_url"] = response_url or fake_response_url("actions")
    return payload


def block_actions_body(action_id: str, value: str | None = None, **fields: Any) -> bytes:
    return interactive_body(block_actions_payload(action_id, value, **fields))


# -- views ----------------------------------------------------------------------------------------


def state_values(values: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """{block_id: {action_id: "text"}} -> Slack's view.state.values.

    A plain string becomes `{"type": "plain_text_input", "value": ...}`; a dict is taken as the
    element's full state (e.g. `{"type": "static_select", "selected_option": {...}}`)."""
    return {
        block_id: {
            action_id: state if isinstance(state, dict) else {"type": "plain_text_input", "value": state}
            for action_id, state in actions.items()
        }
        for block_id, actions in values.items()
    }


def view_payload_view(
    callback_id: str,
    *,
    values: dict[str, dict[str, Any]] | None = None,
    private_metadata: str = "",
    view_id: str = "V0STANDIN1",
    title: str = "yadockeri",
    blocks: list[dict[str, Any]] | None = None,
    team_id: str = TEAM_ID,
    api_app_id: str = API_APP_ID,
) -> dict[str, Any]:
    """The `view` object inside view_submission / view_closed payloads."""
    return {
        "id": view_id,
        "team_id": team_id,
        "type": "modal",
        "blocks": blocks if blocks is not None else [],
        "private_metadata": private_metadata,
        "callback_id": callback_id,
        "state": {"values": state_values(values or {})},
        "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
        "title": {"type": "plain_text", "text": title, "emoji": True},
        "clear_on_close": False,
        "notify_on_close": False,
        "close": {"type": "plain_text", "text": "Cancel", "emoji": True},
        "submit": {"type": "plain_text", "text": "Submit", "emoji": True},
        "previous_view_id": None,
        "root_view_id": view_id,
        "app_id": api_app_id,
        "external_id": "",
        "app_installed_team_id": team_id,
        "bot_id": BOT_ID,
    }


def view_submission_payload(
    callback_id: str,
    values: dict[str, dict[str, Any]],
    *,
    user_id: str = "U123",
    user_name: str = "akira",
    private_metadata: str = "",
    view_id: str = "V0STANDIN1",
    trigger_id: str | None = None,
    blocks: list[dict[str, Any]] | None = None,
    team_id: str = TEAM_ID,
    api_app_id: str = API_APP_ID,
) -> dict[str, Any]:
    """A modal submitted; `values` as `{block_id: {action_id: "text"}}` (see `state_values`)."""
    view = view_payload_view(callback_id, values=values, private_metadata=private_metadata, view_id=view_id,
                             blocks=blocks, team_id=team_id, api_app_id=api_app_id)
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "user": _user(user_id, user_name, team_id),
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or fake_trigger_id(),
        "view": view,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def view_submission_body(callback_id: str, values: dict[str, dict[str, Any]], **fields: Any) -> bytes:
    return interactive_body(view_submission_payload(callback_id, values, **fields))


def view_closed_payload(
    callback_id: str,
    *,
    user_id: str = "U123",
    user_name: str = "akira",
    private_metadata: str = "",
    view_id: str = "V0STANDIN1",
    is_cleared: bool = False,
    team_id: str = TEAM_ID,
    api_app_id: str = API_APP_ID,
) -> dict[str, Any]:
    """A modal closed with Cancel/X (sent only for views opened with notify_on_close)."""
    view = view_payload_view(callback_id, private_metadata=private_metadata, view_id=view_id,
                             team_id=team_id, api_app_id=api_app_id)
    view["notify_on_close"] = True
    return {
        "type": "view_closed",
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "user": _user(user_id, user_name, team_id),
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "view": view,
        "is_cleared": is_cleared,
        "is_enterprise_install": False,
        "enterprise": None,
    }


def view_closed_body(callback_id: str, **fields: Any) -> bytes:
    return interactive_body(view_closed_payload(callback_id, **fields))


# -- pieces ---------------------------------------------------------------------------------------


def _user(user_id: str, user_name: str, team_id: str) -> dict[str, str]:
    return {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id}


def _bot_message(ts: str, team_id: str) -> dict[str, Any]:
    return {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "app_id": API_APP_ID, "text": "",
            "ts": ts, "team": team_id, "blocks": []}
