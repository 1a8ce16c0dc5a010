"""chat.*: messages posted, updated, deleted, linked, and ephemeral ones; blocks checked like Slack does."""

from __future__ import annotations

import copy
from typing import Any

from .. import blockkit
from .base import ApiError, Method, Params
from .workspace import Workspace


class ChatApi:
    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    def methods(self) -> dict[str, Method]:
        return {
            "chat.postMessage": self.post_message,
            "chat.update": self.update,
            "chat.postEphemeral": self.post_ephemeral,
            "chat.delete": self.delete,
            "chat.getPermalink": self.get_permalink,
        }

    def post_message(self, params: Params) -> dict[str, Any]:
        ws = self._ws
        thread_ts = params.get("thread_ts") or None
        channel = ws.postable_channel(params.get("channel"), thread_ts)
        text, blocks = message_content(params)
        message = ws.bot_message(ws.next_ts(), text, blocks, thread_ts)
        if params.get("metadata") is not None:
            message["metadata"] = message_metadata(params["metadata"])
        ws.state.messages.setdefault(channel, {})[message["ts"]] = message
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": copy.deepcopy(message)}

    def update(self, params: Params) -> dict[str, Any]:
        ws = self._ws
        channel = ws.known_channel(params.get("channel"))
        message = self._find_message(channel, params.get("ts"))
        text, blocks = message_content(params)
        if "text" in params:
            message["text"] = text or ""
        if "blocks" in params:
            message["blocks"] = blocks
        message["edited"] = {"user": ws.bot_user_id, "ts": ws.next_ts()}
        return {"ok": True, "channel": channel, "ts": message["ts"], "text": message["text"],
                "message": copy.deepcopy(message)}

    def post_ephemeral(self, params: Params) -> dict[str, Any]:
        ws = self._ws
        channel = ws.member_channel(params.get("channel"))
        user = ws.user(params.get("user"))
        text, blocks = message_content(params)
        message_ts = ws.next_ts()
        ws.state.ephemerals.append({"channel": channel, "user": user.id, "message_ts": message_ts,
                                    "text": text or "", "blocks": blocks, "thread_ts": params.get("thread_ts")})
        return {"ok": True, "message_ts": message_ts}

    def delete(self, params: Params) -> dict[str, Any]:
        channel = self._ws.known_channel(params.get("channel"))
        message = self._find_message(channel, params.get("ts"))
        del self._ws.state.messages[channel][message["ts"]]
        return {"ok": True, "channel": channel, "ts": message["ts"]}

    def get_permalink(self, params: Params) -> dict[str, Any]:
        channel = self._ws.known_channel(params.get("channel"))
        message = self._find_message(channel, params.get("message_ts"))
        permalink = f"https://{self._ws.team_domain}.slack.com/archives/{channel}/p{message['ts'].replace('.', '')}"
        thread_ts = message.get("thread_ts")
        if thread_ts and thread_ts != message["ts"]:
            permalink += f"?thread_ts={thread_ts}&cid={channel}"
        return {"ok": True, "channel": channel, "permalink": permalink}

    def _find_message(self, channel: str, ts: Any) -> dict[str, Any]:
        message = self._ws.state.messages.get(channel, {}).get(ts) if isinstance(ts, str) else None
        if message is None:
            raise ApiError("message_not_found")
        return message


def message_content(params: Params) -> tuple[str | None, list[Any] | None]:
    """(text, blocks) of a chat.* call, checked like Slack does."""
    text, blocks = params.get("text"), params.get("blocks")
    if blocks is not None:
        if not isinstance(blocks, list):
            raise ApiError("invalid_blocks_format")
        errors = blockkit.block_errors(blocks, blockkit.MESSAGE)
        if errors:
            raise ApiError("invalid_blocks", errors=errors,
                           response_metadata={"messages": [f"[ERROR] {e}" for e in errors]})
    if not text and not blocks and not params.get("attachments"):
        raise ApiError("no_text")
    if isinstance(text, str) and len(text) > blockkit.MAX_MESSAGE_TEXT:
        raise ApiError("msg_too_long")
    return (str(text) if text is not None else None), blocks


def message_metadata(metadata: Any) -> dict[str, Any]:
    """Slack's message metadata: an event_type and an event_payload object."""
    if not isinstance(metadata, dict) or not isinstance(metadata.get("event_type"), str) \
            or not isinstance(metadata.get("event_payload"), dict):
        raise ApiError("invalid_metadata_format")
    return {"event_type": metadata["event_type"], "event_payload": copy.deepcopy(metadata["event_payload"])}
