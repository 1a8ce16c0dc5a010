"""views.*: modals opened with a trigger id (usable once, for `trigger_ttl` seconds), pushed, updated
(by id or external id, with hash checks; `not_found` once the user closed it) and App Home tabs
published; views checked like Slack does."""

from __future__ import annotations

import copy
import re
import secrets
import time
from typing import Any

from .. import blockkit
from .base import ApiError, Method, Params, Trigger, invalid_arguments
from .workspace import Workspace

TRIGGER_ID = re.compile(r"\d+\.\d+\.[0-9a-f]+")


class ViewsApi:
    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    def methods(self) -> dict[str, Method]:
        return {
            "views.open": self.open,
            "views.push": self.push,
            "views.update": self.update,
            "views.publish": self.publish,
        }

    def new_trigger_id(self, user_id: str | None) -> str:
        """A trigger_id as Slack puts in interaction payloads: usable once, for `trigger_ttl` seconds."""
        trigger_id = f"{7_000_000_000_000 + self._ws.next_id()}.4200000000.{secrets.token_hex(16)}"
        self._ws.state.triggers[trigger_id] = Trigger(trigger_id, time.monotonic(), user_id)
        return trigger_id

    def open(self, params: Params) -> dict[str, Any]:
        trigger = self._usable_trigger(params.get("trigger_id"))
        view = _view_param(params, blockkit.MODAL)
        self._check_external_id(view)
        trigger.used = True  # exchanged only by a call that succeeds
        return {"ok": True, "view": self._store_view(view)}

    def push(self, params: Params) -> dict[str, Any]:
        return self.open(params)

    def update(self, params: Params) -> dict[str, Any]:
        current = self._view_to_update(params.get("view_id"), params.get("external_id"))
        view = _view_param(params, current["type"])
        _check_hash(current, params.get("hash"))
        self._check_external_id(view, replacing=current["id"])
        return {"ok": True, "view": self._store_view(view, replacing=current)}

    def publish(self, params: Params) -> dict[str, Any]:
        state = self._ws.state
        user = self._ws.user(params.get("user_id"))
        view = _view_param(params, blockkit.HOME)
        current_id = state.home_views.get(user.id)
        current = state.views[current_id] if current_id else None
        if current is not None:
            _check_hash(current, params.get("hash"))
        self._check_external_id(view, replacing=current_id)
        stored = self._store_view(view, replacing=current)
        state.home_views[user.id] = stored["id"]
        return {"ok": True, "view": stored}

    def _usable_trigger(self, trigger_id: Any) -> Trigger:
        if not trigger_id:
            raise invalid_arguments(["invalid `trigger_id` [json-pointer:/trigger_id]"])
        well_formed = isinstance(trigger_id, str) and TRIGGER_ID.fullmatch(trigger_id)
        trigger = self._ws.state.triggers.get(trigger_id) if well_formed else None
        if trigger is None:
            raise ApiError("invalid_trigger_id")
        if trigger.used:
            raise ApiError("exchanged_trigger_id")
        if time.monotonic() - trigger.issued_at > self._ws.trigger_ttl:
            raise ApiError("expired_trigger_id")
        return trigger

    def _check_external_id(self, view: dict[str, Any], replacing: str | None = None) -> None:
        external_id = view.get("external_id")
        views = self._ws.state.views.values()
        if external_id and any(v["external_id"] == external_id and v["id"] != replacing for v in views):
            raise ApiError("duplicate_external_id")

    def _view_to_update(self, view_id: Any, external_id: Any) -> dict[str, Any]:
        if not view_id and not external_id:
            raise invalid_arguments(["missing required field: view_id or external_id [json-pointer:/view_id]"])
        views = self._ws.state.views
        if view_id:
            found = views.get(view_id)
        else:
            found = next((v for v in views.values() if v["external_id"] == external_id), None)
        if found is None or found["id"] in self._ws.state.closed_views:
            raise ApiError("not_found")  # also a modal the user closed: it is gone
        return found

    def _store_view(self, view: dict[str, Any], replacing: dict[str, Any] | None = None) -> dict[str, Any]:
        ws = self._ws
        view_id = replacing["id"] if replacing else f"V0{ws.next_id():08X}"
        stored = {
            "id": view_id,
            "team_id": ws.team_id,
            "type": view["type"],
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "title": view.get("title"),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "previous_view_id": replacing["previous_view_id"] if replacing else None,
            "root_view_id": replacing["root_view_id"] if replacing else view_id,
            "app_id": ws.app_id,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": ws.team_id,
            "bot_id": ws.bot_id,
        }
        ws.state.views[view_id] = stored
        return copy.deepcopy(stored)


def _view_param(params: Params, expected_type: str) -> dict[str, Any]:
    view = params.get("view")
    if view is None:
        raise invalid_arguments(["missing required field: view [json-pointer:/view]"])
    errors = blockkit.view_errors(view, expected_type)
    if errors:
        raise invalid_arguments(errors)
    return view


def _check_hash(current: dict[str, Any], given: Any) -> None:
    if given and given != current["hash"]:
        raise ApiError("hash_conflict")
